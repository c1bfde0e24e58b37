"""The spool: lifecycle events Redis could not take wait on disk and are delivered in order."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from pydantic import SecretStr
from redis import Redis

from handwriting_ai.events import builders as b
from handwriting_ai.events.background import BackgroundPublisher
from handwriting_ai.events.codec import decode_event, encode_event
from handwriting_ai.events.eventlog import log_range
from handwriting_ai.events.factory import deliver_spool, open_publisher
from handwriting_ai.events.publishers import PublishError
from handwriting_ai.events.spool import Spool
from handwriting_ai.settings import DigitsSettings, EventsSettings, Settings
from tests.conftest import RedisServer, free_port
from tests.test_events_background import GatedSink, SilentServer, epoch_event, wait_errors
from tests.test_events_publishers import job_events

CTX = b.JobContext("req-spool", 9, "model-s", "run-s")


class Sent:
    """A ``send`` that records lines and fails while told to."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.fail_after: int | None = None

    def __call__(self, text: str) -> None:
        if self.fail_after is not None and len(self.lines) >= self.fail_after:
            raise PublishError("redis down", retryable=True)
        self.lines.append(text)


def test_save_writes_one_whole_file_and_deliver_sends_files_in_order(tmp_path: Path) -> None:
    sent = Sent()
    spool = Spool(tmp_path / "spool", sent)
    assert spool.pending() == [] and spool.deliver()  # no folder yet: nothing to do
    assert spool.save([]) is None
    first = spool.save(["a", "b"])
    second = spool.save(["c"])
    assert first is not None and second is not None
    assert first.read_text(encoding="utf-8") == "a\nb\n"
    assert spool.pending() == [first, second]
    assert [p.name for p in (tmp_path / "spool").iterdir() if p.name.startswith(".")] == []
    assert spool.deliver()
    assert sent.lines == ["a", "b", "c"]
    assert spool.pending() == [] and list((tmp_path / "spool").iterdir()) == []


def test_a_failed_send_puts_back_the_lines_not_sent_and_keeps_the_order(tmp_path: Path) -> None:
    sent = Sent()
    spool = Spool(tmp_path, sent)
    first = spool.save(["a", "b", "c"])
    spool.save(["d"])
    sent.fail_after = 1
    assert not spool.deliver()
    assert sent.lines == ["a"]
    assert first is not None and first.read_text(encoding="utf-8") == "b\nc\n"
    sent.fail_after = None
    assert spool.deliver()
    assert sent.lines == ["a", "b", "c", "d"]


def test_deliver_stops_when_told_to(tmp_path: Path) -> None:
    sent = Sent()
    spool = Spool(tmp_path, sent)
    spool.save(["a"])
    assert not spool.deliver(stop=lambda: True)
    assert sent.lines == [] and len(spool.pending()) == 1


def test_a_claim_of_a_dead_process_is_taken_back_a_live_ones_is_left(tmp_path: Path) -> None:
    sent = Sent()
    spool = Spool(tmp_path, sent)
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        check=True,
        capture_output=True,
        text=True,
    )
    dead_pid = int(dead.stdout)
    (tmp_path / f"1-a.jsonl.claimed-{dead_pid}").write_text("from-dead\n", encoding="utf-8")
    (tmp_path / f"2-b.jsonl.claimed-{os.getpid()}").write_text("in-flight\n", encoding="utf-8")
    (tmp_path / "3-c.jsonl.claimed-x").write_text("odd\n", encoding="utf-8")
    (tmp_path / ".4-d.jsonl.1.tmp").write_text("half\n", encoding="utf-8")
    assert spool.deliver()
    assert sent.lines == ["from-dead"]


def test_a_claim_freed_by_another_process_first_is_skipped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spool = Spool(tmp_path, Sent())
    (tmp_path / "1-a.jsonl.claimed-999999999").write_text("x\n", encoding="utf-8")

    def gone(src: object, dst: object) -> None:
        raise FileNotFoundError(src)

    monkeypatch.setattr(os, "replace", gone)
    assert spool.pending() == []


def test_a_file_another_process_claims_first_is_skipped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sent = Sent()
    spool = Spool(tmp_path, sent)
    spool.save(["a"])

    def taken(src: object, dst: object) -> None:
        raise FileNotFoundError(src)

    monkeypatch.setattr(os, "rename", taken)
    assert spool.deliver()
    assert sent.lines == []


# -- the background publisher spools at close and delivers when it starts or recovers ------


@pytest.mark.timing
def test_close_spools_the_lifecycle_events_left_and_not_the_batches(tmp_path: Path) -> None:
    sink = GatedSink()
    sink.fail_next = 1_000_000
    spool = Spool(tmp_path, Sent())
    publisher = BackgroundPublisher(sink, min_backoff_s=0.05, spool=spool)
    events = job_events(batches=3)
    for event in events:
        publisher.publish(event)
    wait_errors(publisher, 1)
    started = time.monotonic()
    publisher.close(2.0)
    assert time.monotonic() - started < 0.5
    lifecycle = [e for e in events if e["type"] != "digits.train.batch.v1"]
    stats = publisher.stats
    assert (stats.published, stats.dropped, stats.failed) == (0, 3, 0)
    assert stats.spooled == len(lifecycle)
    (path,) = spool.pending()
    assert [decode_event(line) for line in path.read_text().splitlines()] == lifecycle


def test_events_that_cannot_be_spooled_are_counted_as_failed(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("", encoding="utf-8")
    sink = GatedSink()
    sink.fail_next = 1_000_000
    publisher = BackgroundPublisher(sink, spool=Spool(blocker / "spool", Sent()))
    publisher.publish(epoch_event(1))
    wait_errors(publisher, 1)
    publisher.close(2.0)
    assert publisher.stats.failed == 1 and publisher.stats.spooled == 0
    assert "could not spool 1 event(s)" in caplog.text
    assert "spool delivery failed" in caplog.text  # the thread's first look at the folder


def test_the_thread_delivers_the_spool_when_the_sink_recovers(tmp_path: Path) -> None:
    sent = Sent()
    spool = Spool(tmp_path, sent)
    spool.save(["old-1", "old-2"])
    sent.fail_after = 0  # down when the thread starts: it leaves the spool for later
    sink = GatedSink()
    sink.fail_next = 2
    publisher = BackgroundPublisher(sink, min_backoff_s=0.01, spool=spool)
    publisher.publish(epoch_event(1))
    wait_errors(publisher, 2)
    sent.fail_after = None
    deadline = time.monotonic() + 5
    while len(sent.lines) < 2:
        assert time.monotonic() < deadline, "the spool was never delivered"
        time.sleep(0.01)
    publisher.close(2.0)
    assert sent.lines == ["old-1", "old-2"]
    assert spool.pending() == []


# -- with a real Redis: refused or silent at the end of a job, delivered when it is back --


def _settings(url: str, spool_dir: Path) -> Settings:
    return Settings(
        redis_url=url,
        events=EventsSettings(redis_timeout_s=0.3),
        digits=DigitsSettings(spool_dir=spool_dir),
    )


def _log(url: str) -> list[str]:
    client = Redis.from_url(url)
    try:
        return [text.decode() for _id, text in log_range(client, "digits:events:log")]
    finally:
        client.close()


@pytest.mark.timing
@pytest.mark.parametrize("down", ["refused", "silent"])
def test_redis_down_at_the_end_close_is_prompt_and_the_next_publisher_delivers(
    tmp_path: Path, down: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    port = free_port()
    silent = SilentServer(port) if down == "silent" else None
    server = RedisServer(port)
    settings = _settings(server.url, tmp_path / "spool")
    events = job_events(batches=3)
    try:
        publisher = open_publisher(settings)
        for event in events:
            publisher.publish(event)
        time.sleep(0.4)  # the first attempt has failed (refused at once, silent after 0.3 s)
        started = time.monotonic()
        publisher.close(settings.events.close_timeout_s)
        assert time.monotonic() - started < 0.2
    finally:
        if silent is not None:
            silent.close()
    lifecycle = [encode_event(e) for e in events if e["type"] != "digits.train.batch.v1"]
    server.start()
    try:
        later = open_publisher(settings)  # the next job: delivers first, then its own
        terminal = b.completed(CTX, val_acc=0.5)
        later.publish(terminal)
        later.close(5.0)
        assert _log(server.url) == [*lifecycle, encode_event(terminal)]
        assert list((tmp_path / "spool").iterdir()) == []
    finally:
        server.stop()


def test_deliver_spool_now_for_the_worker(redis_server: RedisServer, tmp_path: Path) -> None:
    settings = Settings(
        redis_url=SecretStr(redis_server.url), digits=DigitsSettings(spool_dir=tmp_path / "s")
    )
    assert deliver_spool(settings)  # nothing spooled: nothing to do
    ctx = b.JobContext("r-spooled", 3, "m")
    Spool(tmp_path / "s", print).save([encode_event(b.failed(ctx, error_kind="user", message="x"))])
    off = settings.model_copy(update={"events": EventsSettings(enabled=False)})
    assert deliver_spool(off)  # events off: left alone
    assert deliver_spool(settings)
    client = Redis.from_url(redis_server.url)
    assert len(log_range(client, settings.digits_events_stream)) == 1
    client.close()
    (tmp_path / "file").write_text("not a folder")
    broken = settings.model_copy(update={"digits": DigitsSettings(spool_dir=tmp_path / "file")})
    assert not deliver_spool(broken)
