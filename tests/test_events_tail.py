"""``python -m handwriting_worker tail`` against a real Redis."""

from __future__ import annotations

import io
import os
import runpy
import shlex
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from redis import Redis

from handwriting_ai.events import builders as b
from handwriting_ai.events.codec import encode_event
from handwriting_worker.commands.cli import main
from handwriting_worker.commands.tail import format_event, format_message, run_tail
from tests.conftest import RedisServer, free_port

CTX = b.JobContext("req-t", 5, "model-t", "run-t")
CHANNEL = "digits:events"


def test_format_event_shows_type_request_run_and_own_fields() -> None:
    event = b.epoch(CTX, epoch=2, total_epochs=3, train_loss=0.123456, val_acc=0.98, time_s=3.0)
    line = format_event(event)
    assert line == (
        f"{event['ts']} digits.train.epoch.v1 request=req-t run=run-t epoch=2 total_epochs=3 "
        "train_loss=0.1235 val_acc=0.98 time_s=3"
    )
    failed = format_event(b.failed(CTX.with_run("r2"), error_kind="user", message="bad input"))
    assert failed.endswith('run=r2 error_kind=user message="bad input"')
    started = format_event(b.legacy_started(b.JobContext("q", 1, "m"), total_epochs=1))
    assert started == "- started request=q run=- total_epochs=1"


def test_format_message_raw_invalid_and_empty_strings() -> None:
    text = encode_event(b.artifact(CTX, path="a b"))
    assert format_message(text.encode(), raw=True) == text
    assert format_message(text, raw=False).endswith('path="a b"')
    invalid = format_message(b'{"type":"digits.train.best.v1"}', raw=True)
    assert invalid.startswith("INVALID invalid digits.train.best.v1: $: 'request_id' is a")
    assert invalid.endswith('| {"type":"digits.train.best.v1"}')
    long = format_message("x" * 1000, raw=False)
    assert long.endswith("| " + "x" * 200 + "...")


class Tail:
    """run_tail in a thread, writing to buffers."""

    def __init__(self, url: str, *, raw: bool = False, count: int | None = None) -> None:
        self.out, self.err = io.StringIO(), io.StringIO()
        self.stop = threading.Event()
        self.status: int | None = None
        self._thread = threading.Thread(
            target=self._run, args=(url, raw, count), daemon=True, name="tail"
        )
        self._thread.start()

    def _run(self, url: str, raw: bool, count: int | None) -> None:
        self.status = run_tail(
            url, CHANNEL, self.out, self.err, raw=raw, count=count, stop=self.stop, poll_s=0.05
        )

    def wait_for(self, text: str, where: str = "out", timeout_s: float = 10.0) -> None:
        buffer = self.out if where == "out" else self.err
        deadline = time.monotonic() + timeout_s
        while text not in buffer.getvalue():
            assert time.monotonic() < deadline, f"{text!r} not in {buffer.getvalue()!r}"
            time.sleep(0.01)

    def finish(self, timeout_s: float = 5.0) -> int | None:
        self.stop.set()
        self._thread.join(timeout_s)
        return self.status


def subscribers(client: Redis) -> int:
    counts = client.pubsub_numsub(CHANNEL)
    return int(counts[0][1])


def wait_subscribed(client: Redis, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while subscribers(client) == 0:
        assert time.monotonic() < deadline, "the tail never subscribed"
        time.sleep(0.01)


def test_tail_prints_each_event_and_goes_on_after_an_invalid_one(
    redis_server: RedisServer,
) -> None:
    client = Redis.from_url(redis_server.url)
    tail = Tail(redis_server.url, count=3)
    wait_subscribed(client)
    first = b.started(CTX, total_epochs=2)
    last = b.completed(CTX, val_acc=0.9)
    client.publish(CHANNEL, encode_event(first))
    client.publish(CHANNEL, "not json")
    client.publish(CHANNEL, encode_event(last))
    tail.wait_for("digits.train.completed.v1")
    assert tail.finish() == 0
    lines = tail.out.getvalue().splitlines()
    assert lines == [
        format_event(first),
        "INVALID $: not valid JSON: Expecting value: line 1 column 1 (char 0) | not json",
        format_event(last),
    ]
    assert f"tail: listening on {CHANNEL} at {redis_server.url}" in tail.err.getvalue()
    client.close()


def test_tail_json_prints_the_raw_text(redis_server: RedisServer) -> None:
    client = Redis.from_url(redis_server.url)
    tail = Tail(redis_server.url, raw=True)
    wait_subscribed(client)
    text = encode_event(b.best(CTX, epoch=1, val_acc=0.5))
    client.publish(CHANNEL, text)
    tail.wait_for(text)
    assert tail.finish() == 0
    assert tail.out.getvalue() == text + "\n"
    client.close()


def test_tail_without_redis_says_so_and_exits_1() -> None:
    url = f"redis://:secret@127.0.0.1:{free_port()}/0"
    out, err = io.StringIO(), io.StringIO()
    assert run_tail(url, CHANNEL, out, err) == 1
    assert err.getvalue().startswith(
        f"tail: cannot subscribe to {CHANNEL} at redis://***@127.0.0.1:"
    )
    assert "start Redis or set REDIS_URL" in err.getvalue()
    assert "secret" not in err.getvalue()


def test_tail_reconnects_when_redis_comes_back(redis_server: RedisServer) -> None:
    tail = Tail(redis_server.url)
    client = Redis.from_url(redis_server.url)
    wait_subscribed(client)
    client.close()
    redis_server.stop()
    tail.wait_for("tail: lost", where="err")
    time.sleep(0.3)  # at least one failed try to reconnect
    redis_server.start()
    tail.wait_for("tail: reconnected", where="err")
    client = Redis.from_url(redis_server.url)
    event = b.started(CTX, total_epochs=1)
    client.publish(CHANNEL, encode_event(event))
    tail.wait_for("digits.train.started.v1")
    assert tail.finish() == 0
    client.close()


def test_tail_stopped_while_redis_is_away(redis_server: RedisServer) -> None:
    tail = Tail(redis_server.url)
    client = Redis.from_url(redis_server.url)
    wait_subscribed(client)
    client.close()
    redis_server.stop()
    tail.wait_for("tail: lost", where="err")
    assert tail.finish() == 0


def test_cli_tail_help_names_the_default_url(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["tail", "--help"])
    assert "redis://127.0.0.1:6379/0 when unset" in " ".join(capsys.readouterr().out.split())


def test_cli_tail_with_count(
    redis_server: RedisServer,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("REDIS_URL", redis_server.url)
    monkeypatch.delenv("DIGITS_EVENTS_CHANNEL", raising=False)
    text = encode_event(b.prune(CTX, deleted_count=2))
    client = Redis.from_url(redis_server.url)

    def publish_when_subscribed() -> None:
        wait_subscribed(client)
        client.publish(CHANNEL, text)

    publisher = threading.Thread(target=publish_when_subscribed, daemon=True)
    publisher.start()
    assert main(["tail", "--json", "--count", "1"]) == 0
    publisher.join(5)
    assert capsys.readouterr().out == text + "\n"
    client.close()


def test_cli_tail_bad_settings_exit_2(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("EVENTS__BATCH_EVERY", "-1")
    assert main(["tail"]) == 2
    assert "tail: Invalid settings: EVENTS__BATCH_EVERY='-1'" in capsys.readouterr().err


def test_cli_tail_url_redis_py_refuses_exit_2(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("REDIS_URL", "redis://:pw@127.0.0.1:6379/0?db=x")
    assert main(["tail"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("tail: REDIS_URL 'redis://***@127.0.0.1:6379/0?db=x': ")
    assert "pw@" not in err


def test_python_m_handwriting_worker_runs_the_cli(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(sys, "argv", ["handwriting_worker", "tail", "--help"])
    with pytest.raises(SystemExit) as caught:
        runpy.run_module("handwriting_worker", run_name="__main__")
    assert caught.value.code == 0
    assert "usage: python -m handwriting_worker tail" in capsys.readouterr().out


@pytest.mark.parametrize(("args", "number"), [([], signal.SIGINT), (["--replay"], signal.SIGTERM)])
def test_ctrl_c_ends_the_tail_cleanly(
    redis_server: RedisServer, args: list[str], number: signal.Signals
) -> None:
    """The tail installs its own handlers: it ends on SIGINT even when it inherited SIGINT
    ignored (as it does when the test runner was started from a background job)."""
    env = dict(os.environ, REDIS_URL=redis_server.url)
    command = shlex.join([sys.executable, "-m", "handwriting_worker", "tail", *args])
    tail = subprocess.Popen(
        # `trap '' INT` then exec: the tail inherits SIGINT ignored, as under a background job.
        ["/bin/sh", "-c", f"trap '' INT; exec {command}"],
        env=env,
        cwd=Path(__file__).resolve().parent.parent,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        assert tail.stderr is not None
        ready = tail.stderr.readline()  # "listening on" / "replayed": handlers are installed
        assert ready.startswith(("tail: listening", "tail: replayed")), ready
        tail.send_signal(number)
        _out, err = tail.communicate(timeout=30)  # a bound, not a timing
    finally:
        if tail.poll() is None:
            tail.kill()
            tail.wait()
    assert tail.returncode == 0
    assert "Traceback" not in err
