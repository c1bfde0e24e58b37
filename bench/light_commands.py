"""Start time and memory of the light commands: ``--help``, ``tail``, ``intake``, ``enqueue``.

An intake or tail replica should cost tens of MB, not the ~1.1 GB and 4-5 s that importing
torch took (issue 23, item 12). Each command runs ``ROUNDS`` times as ``python -m
handwriting_worker ...`` against a private redis-server: ``--help`` and ``enqueue`` until they
exit; ``tail`` until it has subscribed (PUBSUB NUMSUB), ``intake`` until it reads its stream
(a consumer of its group), then SIGTERM. Time is from spawn to that point; memory is the peak
RSS (VmHWM) at that point, and the CPU seconds used (what the start costs on an idle core: on
a loaded machine the wall time mostly waits for a core). Goal: <= 0.5 s and <= 100 MB each.
Writes bench/results/light.json. Run: ``python -m bench.light_commands`` (``make bench-light``).
"""

from __future__ import annotations

import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from redis import Redis

from demo.processes import start_redis

RESULTS = Path(__file__).parent / "results" / "light.json"
ROUNDS = 5
GOAL_S = 0.5
GOAL_MB = 100.0
CHANNEL = "bench:light:events"  # private names: a benchmark never touches real traffic
REQUESTS = "bench:light:requests"
QUEUE = "bench-light"


def _peak_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmHWM for pid {pid}")


Ready = Callable[[Path], bool]


def _cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def _run(args: list[str], env: dict[str, str], ready: Ready | None) -> tuple[float, float, float]:
    """Seconds from spawn until exit (``ready`` None) or until ``ready(its stderr)``; peak RSS
    in MB; CPU seconds it used (its start time on an idle core, whatever the load)."""
    log = Path(tempfile.mkstemp(prefix="bench-light-")[1])
    start = time.perf_counter()
    with log.open("wb") as stderr:
        child = subprocess.Popen(
            [sys.executable, "-m", "handwriting_worker", *args],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
    try:
        if ready is None:
            _, status, usage = os.wait4(child.pid, 0)
            elapsed = time.perf_counter() - start
            child.returncode = os.waitstatus_to_exitcode(status)
            if child.returncode != 0:
                raise RuntimeError(f"{args} exited {child.returncode}")
            return elapsed, usage.ru_maxrss / 1024, usage.ru_utime + usage.ru_stime
        deadline = start + 60
        while not ready(log):
            if child.poll() is not None or time.perf_counter() > deadline:
                raise RuntimeError(f"{args} did not start (exit {child.returncode})")
            time.sleep(0.005)
        elapsed = time.perf_counter() - start
        return elapsed, _peak_mb(child.pid), _cpu_s(child.pid)
    finally:
        log.unlink()
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)
            try:
                child.wait(10)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()


def measure(url: str) -> dict[str, dict[str, float | bool]]:
    env = dict(os.environ, REDIS_URL=url, RQ__QUEUE=QUEUE, DIGITS_EVENTS_CHANNEL=CHANNEL)
    env["DIGITS_REQUESTS_STREAM"] = REQUESTS
    client = Redis.from_url(url)

    def subscribed(_: Path) -> bool:
        counts: list[tuple[bytes | str, int]] = client.pubsub_numsub(CHANNEL)
        return counts[0][1] > 0

    def reading(stderr: Path) -> bool:  # its group made, it says so and reads
        return b"reading " + REQUESTS.encode() in stderr.read_bytes()

    commands: dict[str, tuple[list[str], Ready | None]] = {
        "--help": (["--help"], None),
        "enqueue": (["enqueue", "--user-id", "1", "--epochs", "1"], None),
        "tail": (["tail"], subscribed),
        "intake": (["intake"], reading),
    }
    out: dict[str, dict[str, float | bool]] = {}
    for name, (args, ready) in commands.items():
        _run(args, env, ready)  # warm the file cache
        runs = [_run(args, env, ready) for _ in range(ROUNDS)]
        seconds = [s for s, _, _ in runs]
        mbs = [m for _, m, _ in runs]
        cpus = [c for _, _, c in runs]
        out[name] = {
            "start_s_median": round(statistics.median(seconds), 3),
            "start_s_max": round(max(seconds), 3),
            "cpu_s_median": round(statistics.median(cpus), 3),
            "cpu_s_max": round(max(cpus), 3),
            "rss_mb_median": round(statistics.median(mbs), 1),
            "rss_mb_max": round(max(mbs), 1),
            "goal_met": max(seconds) <= GOAL_S and max(mbs) <= GOAL_MB,
        }
        print(name, out[name], flush=True)
    client.close()
    return out


def main() -> int:
    redis, url = start_redis(Path(__file__).parent)
    try:
        results = measure(url)
    finally:
        redis.stop()
    report = {
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs",
        "load_average_1m": round(os.getloadavg()[0], 2),
        "rounds": ROUNDS,
        # A child's peak RSS (wait4) counts the parent's pages at fork: this one stays light.
        "bench_process_rss_mb": round(_peak_mb(os.getpid()), 1),
        "goal": {"start_s": GOAL_S, "rss_mb": GOAL_MB},
        "commands": results,
    }
    RESULTS.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {RESULTS}")
    return 0 if all(r["goal_met"] for r in results.values()) else 1


if __name__ == "__main__":
    raise SystemExit(main())
