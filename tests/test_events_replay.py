"""``tail --replay``: the history from the event log, in order, then live; against a real Redis."""

from __future__ import annotations

import argparse
import io
import threading
import time

import pytest
from redis import Redis

from handwriting_ai.events import builders as b
from handwriting_ai.events.codec import Event, encode_event
from handwriting_ai.events.eventlog import log_read, parse_entries
from handwriting_ai.events.publishers import EventLog, RedisPublisher
from handwriting_worker.commands.cli import main
from handwriting_worker.commands.replay import parse_since, run_replay
from handwriting_worker.commands.tail import format_event
from tests.conftest import RedisServer, free_port
from tests.test_events_publishers import job_events

STREAM = "digits:events:log"


def publish(url: str, events: list[Event]) -> None:
    log = EventLog(STREAM, maxlen=100_000, max_age_s=3600)
    publisher = RedisPublisher(url, "digits:events", log=log)
    for event in events:
        publisher.publish(event)
    publisher.close()


class Replay:
    """run_replay in a thread, writing to buffers."""

    def __init__(self, url: str, **options: object) -> None:
        self.out, self.err = io.StringIO(), io.StringIO()
        self.stop = threading.Event()
        self.status: int | None = None
        self._thread = threading.Thread(target=self._run, args=(url, options), daemon=True)
        self._thread.start()

    def _run(self, url: str, options: dict[str, object]) -> None:
        request_id = options.get("request_id")
        since = options.get("since_s")
        count = options.get("count")
        self.status = run_replay(
            url,
            STREAM,
            self.out,
            self.err,
            request_id=request_id if isinstance(request_id, str) else None,
            since_s=since if isinstance(since, float) else None,
            count=count if isinstance(count, int) else None,
            stop=self.stop,
            poll_s=0.05,
        )

    def wait_for(self, text: str, where: str = "out", timeout_s: float = 30.0) -> None:
        buffer = self.out if where == "out" else self.err
        deadline = time.monotonic() + timeout_s
        while text not in buffer.getvalue():
            assert time.monotonic() < deadline, f"{text!r} not in {buffer.getvalue()!r}"
            time.sleep(0.01)

    def finish(self, timeout_s: float = 5.0) -> int | None:
        self.stop.set()
        self._thread.join(timeout_s)
        return self.status


@pytest.mark.parametrize(
    ("text", "seconds"), [("90s", 90.0), ("10m", 600.0), ("2h", 7200.0), ("1.5d", 129600.0)]
)
def test_since_takes_a_number_and_a_unit(text: str, seconds: float) -> None:
    assert parse_since(text) == seconds


@pytest.mark.parametrize("text", ["10", "10x", "-5m", "0s", "m", ""])
def test_a_bad_since_names_the_value_and_the_forms_it_takes(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError) as caught:
        parse_since(text)
    assert str(caught.value) == (
        f"{text!r} is not a duration; use a positive number and a unit: s, m, h or d "
        "(for example 90s, 10m, 2h or 1d)"
    )


def test_cli_refuses_a_bad_since_with_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        main(["tail", "--replay", "--since", "ten minutes"])
    assert caught.value.code == 2
    assert "argument --since: 'ten minutes' is not a duration" in capsys.readouterr().err


def test_replay_of_a_finished_job_prints_its_whole_history_in_order_then_follows(
    redis_server: RedisServer,
) -> None:
    events = job_events(batches=600)  # more than one page of history
    publish(redis_server.url, events)
    replay = Replay(redis_server.url)
    replay.wait_for("tail: replayed", where="err")
    later = b.started(b.JobContext("req-later", 1, "m", "r"), total_epochs=1)
    publish(redis_server.url, [later])
    replay.wait_for("request=req-later")
    assert replay.finish() == 0
    assert replay.out.getvalue().splitlines() == [format_event(e) for e in [*events, later]]
    assert f"tail: replayed {len(events)} event(s); following the log {STREAM}" in (
        replay.err.getvalue()
    )


def test_replay_filters_by_request_and_stops_after_count(redis_server: RedisServer) -> None:
    mine = b.JobContext("req-mine", 1, "m", "r1")
    other = b.JobContext("req-other", 2, "m", "r2")
    events: list[Event] = [b.started(mine, total_epochs=1), b.started(other, total_epochs=1)]
    events += [b.completed(other, val_acc=0.1), b.completed(mine, val_acc=0.2)]
    publish(redis_server.url, events)
    client = Redis.from_url(redis_server.url)
    client.xadd(STREAM, {"event": "not json"})
    client.close()
    out, err = io.StringIO(), io.StringIO()
    status = run_replay(redis_server.url, STREAM, out, err, request_id="req-mine", count=3)
    assert status == 0
    lines = out.getvalue().splitlines()
    assert lines[:2] == [format_event(events[0]), format_event(events[3])]
    assert lines[2].startswith("INVALID ")  # not attributable: shown, never hidden
    out = io.StringIO()
    assert run_replay(redis_server.url, STREAM, out, err, count=1) == 0
    assert out.getvalue().splitlines() == [format_event(events[0])]


def test_replay_since_starts_that_long_ago(redis_server: RedisServer) -> None:
    client = Redis.from_url(redis_server.url)
    hour_ago_ms = int((time.time() - 3600) * 1000)
    old = b.started(b.JobContext("req-old", 1, "m", "r"), total_epochs=1)
    client.xadd(STREAM, {"event": encode_event(old)}, id=f"{hour_ago_ms}-0")
    client.close()
    new = b.started(b.JobContext("req-new", 1, "m", "r"), total_epochs=1)
    publish(redis_server.url, [new])
    replay = Replay(redis_server.url, since_s=600.0)
    replay.wait_for("tail: replayed 1 event(s)", where="err")
    assert replay.finish() == 0
    assert replay.out.getvalue().splitlines() == [format_event(new)]
    time.sleep(1.2)
    empty = Replay(redis_server.url, since_s=1.0)  # nothing in the last second: follows
    empty.wait_for("tail: replayed 0 event(s)", where="err")
    publish(redis_server.url, [old])
    empty.wait_for("request=req-old")
    assert empty.finish() == 0


def test_replay_without_redis_says_so_and_exits_1() -> None:
    url = f"redis://:secret@127.0.0.1:{free_port()}/0"
    out, err = io.StringIO(), io.StringIO()
    assert run_replay(url, STREAM, out, err) == 1
    assert err.getvalue().startswith(f"tail: cannot read the log {STREAM} at redis://***@")
    assert "start Redis or set REDIS_URL" in err.getvalue() and "secret" not in err.getvalue()


def test_replay_reconnects_with_backoff_and_goes_on_from_the_last_entry(
    redis_server: RedisServer,
) -> None:
    first = b.started(b.JobContext("req-1", 1, "m", "r"), total_epochs=1)
    publish(redis_server.url, [first])
    replay = Replay(redis_server.url)
    replay.wait_for("request=req-1")
    redis_server.stop()
    replay.wait_for("tail: lost the log", where="err")
    time.sleep(0.5)  # a few failed tries, one message
    assert replay.err.getvalue().count("tail: lost the log") == 1
    redis_server.start()  # no persistence: the log starts again, with a smaller id
    replay.wait_for("tail: reconnected", where="err")
    second = b.started(b.JobContext("req-2", 1, "m", "r"), total_epochs=1)
    time.sleep(0.05)
    publish(redis_server.url, [second])
    replay.wait_for("request=req-2")
    assert replay.finish() == 0
    assert replay.out.getvalue().splitlines() == [format_event(first), format_event(second)]


def test_replay_stopped_while_redis_is_away(redis_server: RedisServer) -> None:
    replay = Replay(redis_server.url)
    replay.wait_for("tail: replayed", where="err")
    redis_server.stop()
    replay.wait_for("tail: lost the log", where="err")
    assert replay.finish() == 0


def test_cli_tail_replay_with_count(
    redis_server: RedisServer,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("REDIS_URL", redis_server.url)
    monkeypatch.delenv("DIGITS_EVENTS_STREAM", raising=False)
    events = job_events(batches=1)
    publish(redis_server.url, events)
    assert main(["tail", "--since", "1h", "--json", "--count", "2", "--request-id", "req-pub"]) == 0
    assert capsys.readouterr().out.splitlines() == [encode_event(e) for e in events[:2]]


def test_log_replies_of_an_unexpected_shape_are_skipped(redis_server: RedisServer) -> None:
    assert parse_entries(None) == []
    assert parse_entries([("1-0",), ("2-0", "not fields"), (b"3-0", {b"event": "text"})]) == [
        ("2-0", b""),
        ("3-0", b""),
    ]
    client = Redis.from_url(redis_server.url)
    assert log_read(client, STREAM, "0-0", block_ms=10) == []  # a timeout answers nil
    client.close()
