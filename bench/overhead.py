"""What events cost training -> bench/results/overhead.json.

    python -m bench.overhead [--rounds 7] [--samples 8192] [--out bench/results/overhead.json]

The same job (same seed, data, threads and batches) is trained under each condition, through
the product's own path (the worker's ``JobEvents`` observer and ``open_publisher``):

- ``disabled``: EVENTS__ENABLED=false;
- ``redis_up_every_10`` / ``redis_up_every_1``: a real redis-server, a batch event every 10th or
  every batch;
- ``redis_refused``: REDIS_URL at a closed port;
- ``redis_silent``: REDIS_URL at a TCP server that accepts and never answers.

Conditions alternate within each round (rotated every round) so drift on a shared machine
hits them all alike. Two measures: the trainer's own training samples/s (data loading
included, validation excluded), and the whole job's wall time from opening the publisher to
its close returning (start-up, validation and the close's flush included: what a dead Redis
used to cost at the end). Each condition reports its medians over the rounds and the
median of its per-round ratio to ``disabled`` in the same round (paired, so slow drift
cancels); for wall time the ratio is disabled's time over the condition's, so for both
measures 1.0 is "as fast as disabled" and lower is slower. Because a whole job varies by
more between runs than events add to it, the time spent opening and closing the publisher is
also reported on its own (``open_close_ms``): what events add to a job outside its training
loop, where a dead Redis used to cost seconds. Torch runs on ``--threads``
threads (default 1): on a 2-core machine two torch threads plus anything else make
run-to-run noise larger than the effect measured.
"""

from __future__ import annotations

import argparse
import json
import shutil
import socket
import statistics
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

from pydantic import SecretStr

from handwriting_ai.data.digits import DigitsData, load_offline
from handwriting_ai.data.idx import write_bytes_atomic
from handwriting_ai.events import builders
from handwriting_ai.events.factory import open_publisher
from handwriting_ai.settings import DigitsSettings, EventsSettings, Settings
from handwriting_ai.training import TrainConfig, new_run_id, train_model
from handwriting_ai.training.threads import resolve_threads
from handwriting_worker.training.job import JobEvents

GOALS = {"redis_up": 0.99, "redis_down_or_silent": 0.98}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def redis_server() -> Iterator[str]:
    """A private redis-server on a free port."""
    port = _free_port()
    binary = shutil.which("redis-server") or "redis-server"
    args = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.02)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        process.terminate()
        process.wait(5)


@contextmanager
def silent_server() -> Iterator[str]:
    """Accepts connections and never answers (a hung Redis)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
                held.append(conn)
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield f"redis://127.0.0.1:{listener.getsockname()[1]}/0"
    finally:
        stop.set()
        thread.join(2)
        for conn in held:
            conn.close()
        listener.close()


def run_once(
    data: DigitsData, settings: Settings, artifacts: Path, batch_size: int, epochs: int
) -> tuple[float, float, float]:
    """Trains the bench job once under ``settings``; its training samples/s, wall time, and
    the time spent opening and closing the publisher (the part of the wall time that events
    add outside training, measured apart because a whole job varies more than it)."""
    started = time.perf_counter()
    run_id = new_run_id()
    ctx = builders.JobContext("bench-overhead", 0, "bench", run_id)
    publisher = open_publisher(settings)
    opened = time.perf_counter() - started
    events = JobEvents(ctx, publisher, legacy=False)
    closing = 0.0
    try:
        result = train_model(
            TrainConfig(model_id="bench", epochs=epochs, batch_size=batch_size, lr=0.01, seed=0),
            events,
            data_root=artifacts,
            artifacts_root=artifacts,
            threads=settings.train.threads,
            batch_every=settings.events.batch_every,
            run_id=run_id,
            data=data,
        )
    finally:
        closing = time.perf_counter()
        publisher.close(settings.events.close_timeout_s)
    ended = time.perf_counter()
    return result.samples_per_sec, ended - started, opened + ended - closing


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.overhead", description=__doc__)
    parser.add_argument(
        "--rounds", type=int, default=7, help="rounds of all conditions (about 1 min each)"
    )
    parser.add_argument("--samples", type=int, default=8192, help="training digits per epoch")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (0 = all CPUs)")
    parser.add_argument("--data-root", type=Path, default=Path("data/mnist"))
    parser.add_argument("--out", type=Path, default=Path("bench/results/overhead.json"))
    args = parser.parse_args()
    full = load_offline(args.data_root)
    data = replace(
        full,
        train_images=full.train_images[: args.samples],
        train_labels=full.train_labels[: args.samples],
    )
    threads = resolve_threads(args.threads)
    results: dict[str, list[float]] = {}
    walls: dict[str, list[float]] = {}
    edges: dict[str, list[float]] = {}
    with (
        redis_server() as up,
        silent_server() as silent,
        tempfile.TemporaryDirectory() as tmp,
    ):
        refused = f"redis://127.0.0.1:{_free_port()}/0"
        spool = DigitsSettings(spool_dir=Path(tmp) / "spool")  # never the repo's spool/
        base = Settings(digits=spool)
        conditions = {
            "disabled": (EventsSettings(enabled=False), up),
            "redis_up_every_10": (EventsSettings(batch_every=10), up),
            "redis_up_every_1": (EventsSettings(batch_every=1), up),
            "redis_refused": (EventsSettings(batch_every=10), refused),
            "redis_silent": (EventsSettings(batch_every=10), silent),
        }
        names = list(conditions)
        warm = base.model_copy(update={"events": EventsSettings(enabled=False)})
        run_once(data, warm, Path(tmp), args.batch_size, args.epochs)  # first run pays warm-up
        for round_no in range(args.rounds):
            order = names[round_no % len(names) :] + names[: round_no % len(names)]
            for name in order:
                events, url = conditions[name]
                settings = base.model_copy(
                    update={
                        "events": events,
                        "redis_url": SecretStr(url),
                        "train": base.train.model_copy(update={"threads": threads}),
                    }
                )
                rate, wall, edge = run_once(data, settings, Path(tmp), args.batch_size, args.epochs)
                results.setdefault(name, []).append(rate)
                walls.setdefault(name, []).append(wall)
                edges.setdefault(name, []).append(edge)
                print(
                    f"round {round_no + 1} {name}: {rate:.0f} samples/s, {wall:.2f} s"
                    f" (open+close {edge * 1000:.1f} ms)",
                    flush=True,
                )
    medians = {name: statistics.median(rates) for name, rates in results.items()}
    paired = {
        name: statistics.median(r / d for r, d in zip(rates, results["disabled"], strict=True))
        for name, rates in results.items()
    }
    wall_medians = {name: statistics.median(w) for name, w in walls.items()}
    wall_paired = {
        name: statistics.median(d / w for w, d in zip(w_list, walls["disabled"], strict=True))
        for name, w_list in walls.items()
    }
    report = {
        "what": "training samples/s and whole-job wall time under each events condition",
        "command": "make bench-overhead",
        "rounds": args.rounds,
        "train_samples_per_epoch": args.samples,
        "batch_size": args.batch_size,
        "epochs": args.epochs,
        "batches_per_run": args.epochs * -(-args.samples // args.batch_size),
        "threads": threads,
        "goals": GOALS,
        "conditions": {
            name: {
                "samples_per_sec": round(medians[name], 1),
                "ratio_to_disabled": round(paired[name], 4),
                "runs": [round(r, 1) for r in results[name]],
                "job_wall_s": round(wall_medians[name], 3),
                "job_wall_ratio_to_disabled": round(wall_paired[name], 4),
                "job_wall_runs": [round(w, 3) for w in walls[name]],
                "open_close_ms": round(statistics.median(edges[name]) * 1000, 2),
                "open_close_ms_max": round(max(edges[name]) * 1000, 2),
            }
            for name in names
        },
    }
    write_bytes_atomic(args.out, (json.dumps(report, indent=2) + "\n").encode())
    print(json.dumps(report["conditions"], indent=2))


if __name__ == "__main__":
    main()
