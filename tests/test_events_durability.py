"""The event log survives a Redis restart when Redis keeps an append-only file (AOF).

The publisher goes on through the restart (it retries with backoff); afterwards the log holds
every event it handed over, in order: those acknowledged before the restart (read back from
the AOF) and those after. Without persistence, the ones before the restart are gone, which is
what the README warns about.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from redis import Redis

from handwriting_ai.events import builders as b
from handwriting_ai.events.codec import Event, encode_event
from handwriting_ai.events.eventlog import log_range
from handwriting_ai.events.factory import open_publisher
from handwriting_ai.settings import DigitsSettings, EventsSettings, Settings
from tests.conftest import RedisServer, free_port

CTX = b.JobContext("req-aof", 3, "model-aof", "run-aof")
EVENTS = 200
RESTART_AFTER = 80


def _log(url: str) -> list[str]:
    client = Redis.from_url(url)
    try:
        texts: list[str] = []
        start = "-"
        while True:
            page = log_range(client, "digits:events:log", start)
            texts += [text.decode() for _id, text in page]
            if len(page) < 500:
                return texts
            start = "(" + page[-1][0]
    finally:
        client.close()


@pytest.mark.parametrize("aof", [True, False])
def test_a_redis_restart_mid_job_loses_nothing_that_was_logged_with_aof(
    tmp_path: Path, aof: bool
) -> None:
    server = RedisServer(free_port(), aof_dir=tmp_path / "redis" if aof else None)
    server.start()
    settings = Settings(
        redis_url=server.url,
        events=EventsSettings(redis_timeout_s=0.5),
        digits=DigitsSettings(spool_dir=tmp_path / "spool"),
    )
    publisher = open_publisher(settings)
    events: list[Event] = [
        b.epoch(CTX, epoch=n, total_epochs=EVENTS, train_loss=0.1, val_acc=0.5, time_s=1.0)
        for n in range(1, EVENTS + 1)
    ]
    handed = threading.Event()

    def hand_over() -> None:
        for event in events:
            publisher.publish(event)
            time.sleep(0.002)
        handed.set()

    thread = threading.Thread(target=hand_over, daemon=True)
    try:
        thread.start()
        deadline = time.monotonic() + 30
        while len(_log(server.url)) < RESTART_AFTER:
            assert time.monotonic() < deadline, "the publisher never got going"
            time.sleep(0.01)
        before = _log(server.url)  # acknowledged by Redis before the restart
        server.stop()
        server.start()
        assert handed.wait(30)
        publisher.close(10.0)
        after = _log(server.url)
    finally:
        server.stop()
    texts = [encode_event(e) for e in events]
    if aof:
        assert set(before) <= set(after)  # nothing acknowledged was lost
        # Every event is there, in order; an event whose reply the restart cut off may be
        # there twice (retried), which the bot's idempotent folding absorbs.
        assert list(dict.fromkeys(after)) == texts
        assert list((tmp_path / "spool").glob("*")) == []
    else:
        assert not set(before) & set(after)  # without persistence the log restarts empty
        assert after == texts[len(texts) - len(after) :]
