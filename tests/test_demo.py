"""``make demo`` runs to the final message, then shows one prediction by the model the job made,
and leaves no process behind, also on Ctrl-C."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

from redis import Redis
from redis.client import PubSub
from redis.exceptions import ConnectionError as RedisConnectionError

from handwriting_ai.contracts import names
from handwriting_ai.settings import RqSettings
from tests.conftest import RedisServer

ROOT = Path(__file__).resolve().parent.parent


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "REDIS_URL" and not k.startswith("DIGITS")}
    env["TRAIN__MAX_TRAIN_SAMPLES"] = "256"
    return env


def _redis_is_gone(output: str) -> None:
    match = re.search(r"private redis-server on redis://127.0.0.1:(\d+)/0", output)
    assert match is not None, output
    client = Redis(port=int(match.group(1)), socket_connect_timeout=0.5)
    try:
        client.ping()
        raise AssertionError("the demo's redis-server still answers")
    except RedisConnectionError:
        pass
    finally:
        client.close()


def _leftovers(marker: str) -> list[str]:
    """Processes whose environment names the demo's bot group (all the demo started)."""
    found = []
    for proc in Path("/proc").iterdir():
        try:
            if marker.encode() in (proc / "environ").read_bytes():
                found.append(proc.name)
        except OSError:
            continue
    return found


def test_the_demo_shows_one_message_to_its_final_state_a_prediction_and_stops_everything() -> None:
    demo = subprocess.Popen(
        [sys.executable, "-m", "demo", "--epochs", "1"],
        cwd=ROOT,
        env=_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    output, _ = demo.communicate(timeout=300)
    assert demo.returncode == 0, output
    assert "## Training completed" in output
    assert re.search(r"the bot has sent 1 message and [1-9]\d* edit\(s\)", output)
    # After the final message: one held-out digit, read by the model this job made.
    final = output.index("## Training completed")
    prediction = re.search(
        r"^demo: /predict with a held-out ([0-9]) \(a digit the job never trained on\) would "
        r"answer:\nReads ([0-9]) \([0-9.]+%\)\nTop three: [0-9] [0-9.]+% · [0-9] [0-9.]+% · "
        r"[0-9] [0-9.]+%\nModel: digits · run (\S+) · val_acc [0-9.]+%\n"
        r"The 28x28 input the model saw, after centring:\n\+-{28}\+\n(\|.{28}\|\n){14}\+-{28}\+\n",
        output,
        re.M,
    )
    assert prediction is not None and prediction.start() > final, output
    assert prediction.group(1) == "6"  # the first validation digit (labels are the data's)
    run_id = prediction.group(3).replace("-", "\\-")  # as the message escapes it
    assert f"\nRun {run_id}\n" in output[final : prediction.start()], "not the job's model"
    ink = output[prediction.end(3) : prediction.end()]
    assert any(c in ink for c in "#%@"), "the input drawn holds no ink"
    assert "demo: done after" in output[prediction.end() :]
    _redis_is_gone(output)
    assert _leftovers(f"digits-demo-{demo.pid}") == []


def test_ctrl_c_stops_every_process_the_demo_started() -> None:
    demo = subprocess.Popen(
        [sys.executable, "-m", "demo", "--epochs", "50"],
        cwd=ROOT,
        env=_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    assert demo.stdout is not None
    seen = ""
    deadline = time.monotonic() + 120
    while "queued request" not in seen and time.monotonic() < deadline:
        seen += demo.stdout.readline()
    assert "queued request" in seen, seen
    demo.send_signal(signal.SIGINT)
    rest, _ = demo.communicate(timeout=60)
    assert demo.returncode == 130, seen + rest
    assert "SIGINT: stopping everything" in rest
    _redis_is_gone(seen)
    assert _leftovers(f"digits-demo-{demo.pid}") == []


def test_with_redis_url_set_the_demo_touches_no_real_queue_stream_or_channel(
    redis_server: RedisServer,
) -> None:
    """`make demo` against someone's real Redis: a real user's job stays queued for the real
    workers, nothing reaches the real event log or channel, and the demo's own keys are gone."""
    env = _env() | {"REDIS_URL": redis_server.url}
    real = Redis.from_url(redis_server.url)
    listener = PubSub(real.connection_pool, ignore_subscribe_messages=True)
    listener.subscribe(names.EVENTS_CHANNEL)
    queued = subprocess.run(
        [sys.executable, "-m", "handwriting_worker", "enqueue", "--user-id", "7"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert queued.stdout.startswith("request_id ")
    real_queue = f"rq:queue:{RqSettings().queue}"
    try:
        demo = subprocess.run(
            [sys.executable, "-m", "demo", "--epochs", "1"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert demo.returncode == 0, demo.stdout + demo.stderr
        assert "## Training completed" in demo.stdout
        assert real.llen(real_queue) == 1, "the demo's worker took a real user's job"
        assert not real.exists(names.EVENTS_STREAM, names.REQUESTS_STREAM)
        heard = [listener.get_message(timeout=0.1) for _ in range(20)]
        assert [m for m in heard if m is not None] == [], "the demo published on the real channel"
        assert list(real.scan_iter(match="*digits-demo-*")) == [], "the demo left keys behind"
    finally:
        listener.close()
        real.close()
