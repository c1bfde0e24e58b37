"""``/predict`` through the whole path, on 200 held-out digits: accuracy and time to the answer.

Each digit goes as a user sends it: a PNG attachment the Discord stand-in serves as its CDN
does, named by a signed interaction POSTed to the real bot's interactions endpoint (``npm
start``, its build); the bot fetches it, queues a ``digits.predict.v1`` in a private
redis-server, a warm ``predict-worker`` (the model loaded by a few requests first, not counted)
answers, and the bot edits its deferred answer, which the stand-in records. Time is from the
POST to the stand-in receiving that edit; requests go one at a time. Accuracy counts the digit
each answer reads against the label (a refused picture counts as wrong), next to ``evaluate``'s
accuracy on the same digits (``bench/predict_model.py``). Goals: within 0.5 points of
``evaluate``, p50 <= 1.5 s, p99 <= 3 s. Writes bench/results/predict.json.
Run: ``python -m bench.predict [--count N] [--retrain]`` (``make bench-predict``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import httpx

from bench.predict_client import APPLICATION_ID, Signer, predict_interaction
from bench.predict_model import (
    MODEL_ID,
    REPO,
    HeldOut,
    ensure_model,
    evaluate_command,
    evaluate_on,
    held_out,
)
from demo.processes import free_port, start_redis
from handwriting_ai.training.saved import load_saved
from tests.discord_api import DiscordApi, Request, serve_discord_api
from tests.e2e_support import Process, start_bot, wait_until
from tests.predict_support import digit_png

RESULTS = Path(__file__).parent / "results" / "predict.json"
COUNT = 200
WARMUP = 5
GOALS = {"accuracy_points_from_evaluate": 0.5, "p50_s": 1.5, "p99_s": 3.0}
ANSWER_TIMEOUT_S = 60.0
_READS = re.compile(r"^Reads ([0-9]) \(")


def percentile(values: Sequence[float], share: float) -> float:
    """The nearest-rank percentile: the smallest value at least ``share`` of them reach."""
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * share // 1))  # ceil, at least the first
    return ordered[int(rank) - 1]


def content_of(edit: Request) -> str:
    body = edit.body
    content = body.get("content") if isinstance(body, dict) else None
    return content if isinstance(content, str) else repr(body)


def digit_of(content: str) -> int | None:
    """The digit an answer reads; None for a refusal or a failure."""
    match = _READS.match(content)
    return None if match is None else int(match.group(1))


def _ready(child: Process, text: str) -> None:
    wait_until(f"{child.name} to say {text!r}", lambda: text in child.output() or None, 120)


class PredictPath:
    """The stand-in, the bot's endpoint and a key to sign with: one ``/predict`` at a time."""

    def __init__(self, api: DiscordApi, endpoint: str, signer: Signer) -> None:
        self.api, self.endpoint, self.signer = api, endpoint, signer
        self.client = httpx.Client(timeout=30)
        self.sent = 0

    def ask(self, picture: bytes) -> tuple[float, Request]:
        """Sends one picture; seconds from the POST to the edit of the answer, and the edit."""
        self.sent += 1
        token = f"bench-predict-{self.sent}"
        url = self.api.attach(f"901/{self.sent}/digit.png", picture)
        body = predict_interaction(token, url, len(picture), MODEL_ID)
        headers = self.signer.headers(body)
        start = time.monotonic()
        response = self.client.post(self.endpoint, content=body, headers=headers)
        if response.status_code != 200 or response.json().get("type") != 5:
            raise RuntimeError(f"the endpoint answered {response.status_code}: {response.text}")

        def edited() -> Request | None:
            return next(iter(self.api.interaction_edits(token)), None)

        edit = wait_until(f"the answer to {token}", edited, ANSWER_TIMEOUT_S, every_s=0.002)
        return edit.at - start, edit


def _through_the_bot(folder: Path, digits: HeldOut, tmp: Path) -> list[tuple[float, str]]:
    """(seconds, the answer's text) of each held-out digit, after WARMUP uncounted requests."""
    redis, url = start_redis(REPO)
    children: list[Process] = []
    try:
        with serve_discord_api(DiscordApi(global_per_second=1000)) as api:
            env = dict(os.environ, REDIS_URL=url, DIGITS__ARTIFACTS_ROOT=str(folder.parent))
            argv = [sys.executable, "-m", "handwriting_worker", "predict-worker"]
            children.append(Process("predict-worker", argv, env, tmp / "worker.log"))
            signer, port = Signer(tmp), free_port()
            bot = start_bot(
                url,
                api.url,
                tmp,
                DISCORD_PUBLIC_KEY=signer.public_key_hex,
                DISCORD_APPLICATION_ID=APPLICATION_ID,
                DIGITS_INTERACTIONS_PORT=str(port),
                DIGITS_ATTACHMENT_ORIGIN=api.url.removesuffix("/api"),
                DIGITS_PREDICTS_PER_MINUTE="100000",
            )
            children.append(bot)
            _ready(bot, "interactions endpoint listening")
            _ready(children[0], "predict worker reading")
            path = PredictPath(api, f"http://127.0.0.1:{port}/interactions", signer)
            pictures = [digit_png(image) for image in digits.images]
            for picture in pictures[:WARMUP]:
                path.ask(picture)
            answers = [path.ask(picture) for picture in pictures]
            path.client.close()
            return [(seconds, content_of(edit)) for seconds, edit in answers]
    finally:
        for child in reversed(children):
            child.stop()
        redis.stop()


def run(count: int, artifacts: Path, retrain: bool) -> dict[str, object]:
    """The whole benchmark; the figures written to RESULTS."""
    digits = held_out(count)
    folder, trained = ensure_model(artifacts, retrain)
    reference = evaluate_on(folder, digits)
    command = evaluate_command(folder, artifacts)
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="bench-predict-") as tmp:
        answers = _through_the_bot(folder, digits, Path(tmp))
    labels = [int(label) for label in digits.labels]
    reads = [digit_of(content) for _, content in answers]
    correct = sum(read == label for read, label in zip(reads, labels, strict=True))
    unread = Counter(
        content for (_, content), read in zip(answers, reads, strict=True) if read is None
    )
    accuracy = correct / count
    seconds = [s for s, _ in answers]
    p50, p99 = percentile(seconds, 0.5), percentile(seconds, 0.99)
    gap = abs(accuracy - reference) * 100
    manifest = load_saved(folder).manifest
    return {
        "bench": "predict",
        "command": "make bench-predict",
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs",
        "load_average_1m": {"before": round(load_before, 2), "after": round(os.getloadavg()[0], 2)},
        "conditions": (
            f"a shared machine, 1-minute load {load_before:.1f} on {os.cpu_count()} CPUs at the "
            "start (other sessions' tests and builds): times on an idle machine are lower"
            if load_before > (os.cpu_count() or 1)
            else "an idle machine"
        ),
        "goals": GOALS,
        "model": {
            "trained_now": trained,
            "arch": manifest["arch"],
            "epochs": manifest["epochs"],
            "train_size": manifest["dataset"]["train_size"],
            "run_id": manifest["run_id"],
            "train_time_s": manifest["time_s"],
            "manifest_val_acc": manifest["val_acc"],
            "evaluate_command": command,
        },
        "digits": {
            "count": count,
            "from": "the first of the offline set's validation split (never trained on)",
            "sent_as": "28x28 PNG attachments, one request at a time",
            "warmup_requests_not_counted": WARMUP,
        },
        "accuracy": {
            "through_the_bot": accuracy,
            "correct": correct,
            "refused_or_failed": sum(unread.values()),
            "refusals": dict(unread.most_common(5)),
            "evaluate_on_the_same_digits": reference,
            "gap_points": round(gap, 2),
            "goal_met": gap <= GOALS["accuracy_points_from_evaluate"],
        },
        "interaction_to_answer_edit_s": {
            "p50": round(p50, 3),
            "p90": round(percentile(seconds, 0.9), 3),
            "p99": round(p99, 3),
            "max": round(max(seconds), 3),
            "mean": round(sum(seconds) / count, 3),
            "goal_met": p50 <= GOALS["p50_s"] and p99 <= GOALS["p99_s"],
        },
    }


def main(argv: Sequence[str]) -> int:
    """``python -m bench.predict``."""
    parser = argparse.ArgumentParser(prog="python -m bench.predict", description=__doc__)
    parser.add_argument("--count", type=int, default=COUNT, help="held-out digits sent")
    parser.add_argument(
        "--artifacts",
        type=Path,
        default=REPO / "artifacts" / "bench",
        help="where the model is trained, or found from an earlier run",
    )
    parser.add_argument("--retrain", action="store_true", help="train again even if one is there")
    parser.add_argument("--out", type=Path, default=RESULTS, help="where the figures go")
    args = parser.parse_args(argv)
    count: object = args.count
    artifacts: object = args.artifacts
    out: object = args.out
    retrain: object = args.retrain
    assert isinstance(count, int) and isinstance(artifacts, Path) and isinstance(out, Path)
    figures = run(count, artifacts, retrain is True)
    out.write_text(json.dumps(figures, indent=2) + "\n")
    print(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
