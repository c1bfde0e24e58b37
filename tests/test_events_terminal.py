"""The terminal script on a real Redis: the first terminal event of a job is its only one."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from redis import Redis
from redis.client import PubSub

from handwriting_ai.events import builders as b
from handwriting_ai.events.codec import encode_event
from handwriting_ai.events.eventlog import log_range
from handwriting_ai.events.publishers import EventLog, PublishError, RedisPublisher
from handwriting_ai.events.terminal import (
    TERMINAL_TTL_S,
    _reply,
    summary,
    terminal_job,
    terminal_job_of_text,
)
from tests.conftest import RedisServer

CTX = b.JobContext("req-end", 2**62 + 1, "model-end", "run-end")
STREAM = "digits:events:log"


@pytest.fixture
def publisher(redis_server: RedisServer) -> Iterator[RedisPublisher]:
    sink = RedisPublisher(redis_server.url, "ch", log=EventLog(STREAM, 1000, 3600))
    yield sink
    sink.close()


def _logged(client: Redis) -> list[str]:
    return [text.decode() for _, text in log_range(client, STREAM)]


def test_the_first_terminal_event_wins_and_a_later_one_is_logged_once_naming_both(
    publisher: RedisPublisher, client: Redis, caplog: pytest.LogCaptureFixture
) -> None:
    pubsub = PubSub(client.connection_pool, ignore_subscribe_messages=True)
    pubsub.subscribe("ch")
    completed = encode_event(b.completed(CTX, val_acc=0.75))
    assert publisher.publish_text(completed) == 1  # one subscriber received it
    publisher.publish(b.failed(CTX, error_kind="system", message="worker lost: no heartbeat"))
    assert publisher.publish_text(completed) == 0  # the same text again: delivered before
    assert _logged(client) == [completed]
    [line] = [r.getMessage() for r in caplog.records if "dropped" in r.getMessage()]
    assert "'req-end'" in line and str(2**62 + 1) in line
    assert "failed.v1 ('worker lost: no heartbeat')" in line and "completed.v1 (0.75)" in line
    key = f"digits:terminal:{2**62 + 1}:req-end"
    assert client.get(key) == completed.encode()
    assert TERMINAL_TTL_S - 10 < client.ttl(key) <= TERMINAL_TTL_S
    received = []
    deadline = time.monotonic() + 1.0
    while time.monotonic() < deadline:
        message = pubsub.get_message(timeout=0.1)
        if message is not None:
            received.append(message["data"])
    assert received == [completed.encode()]
    pubsub.close()


def test_another_job_has_its_own_claim(publisher: RedisPublisher, client: Redis) -> None:
    publisher.publish(b.failed(CTX, error_kind="user", message="cancelled by user 1"))
    other = b.JobContext("req-other", CTX.user_id, "model-end")
    publisher.publish(b.failed(other, error_kind="user", message="bad request"))
    assert len(_logged(client)) == 2


def test_a_legacy_twin_follows_its_v1_event_only(publisher: RedisPublisher, client: Redis) -> None:
    legacy_failed = b.legacy_failed(CTX, error_kind="system", message="x")
    publisher.publish(legacy_failed)  # no v1 event yet: dropped
    publisher.publish(b.completed(CTX, val_acc=0.5))
    publisher.publish(legacy_failed)  # its v1 kind lost: dropped
    publisher.publish(b.legacy_completed(CTX, val_acc=0.5))
    publisher.publish(b.legacy_completed(CTX, val_acc=0.6))  # one legacy terminal only
    types = [text.split('"type":"')[1].split('"')[0] for text in _logged(client)]
    assert types == ["digits.train.completed.v1", "completed"]


def test_the_log_is_trimmed_by_age_in_the_script_too(redis_server: RedisServer) -> None:
    client = Redis.from_url(redis_server.url)
    for n in range(1, 151):  # Redis keeps 100 entries a node: MINID ~ drops whole nodes
        client.xadd(STREAM, {"event": "old"}, id=f"{n}-0")
    sink = RedisPublisher(redis_server.url, "ch", log=EventLog(STREAM, 1000, 60))
    sink.publish(b.completed(CTX, val_acc=0.5))  # the first publish trims
    assert len(_logged(client)) == 51
    sink.publish(b.failed(b.JobContext("r2", 1, "m"), error_kind="user", message="x"))
    assert len(_logged(client)) == 52  # not due again: nothing trimmed
    sink.close()
    client.close()


def test_without_a_log_the_claim_and_the_publish_still_hold(
    redis_server: RedisServer, client: Redis
) -> None:
    sink = RedisPublisher(redis_server.url, "ch")
    sink.publish(b.completed(CTX, val_acc=0.5))
    sink.publish(b.failed(CTX, error_kind="system", message="late"))
    assert client.exists(STREAM) == 0
    assert b"completed.v1" in (client.get(f"digits:terminal:{CTX.user_id}:req-end") or b"")
    sink.close()


def test_a_failure_to_reach_redis_is_a_retryable_publish_error(client: Redis) -> None:
    sink = RedisPublisher("redis://127.0.0.1:1/0", "ch", timeout_s=0.2)
    with pytest.raises(PublishError) as raised:
        sink.publish(b.completed(CTX, val_acc=0.5))
    assert raised.value.retryable
    sink.close()


def test_which_events_are_terminal_and_their_summaries() -> None:
    assert (
        terminal_job(b.epoch(CTX, epoch=1, total_epochs=1, train_loss=0.1, val_acc=0.5, time_s=1.0))
        is None
    )
    assert (
        terminal_job({"type": "digits.train.failed.v1", "user_id": True, "request_id": "r"}) is None
    )
    assert terminal_job({"type": "digits.train.failed.v1", "user_id": 1}) is None
    end = terminal_job({"type": "failed", "user_id": 3, "request_id": "r"})
    assert end is not None and (end.type, end.user_id, end.request_id) == ("failed", 3, "r")
    assert terminal_job_of_text("not json") is None
    assert terminal_job_of_text("[1]") is None
    assert summary("not json") == "'not json'"
    assert summary("[1]") == "'[1]'"
    assert summary('{"type": "t", "message": "m"}') == "t ('m')"


def test_a_reply_of_the_wrong_shape_is_refused() -> None:
    assert _reply([1, 2]) == (1, 2)
    assert _reply([0, b"text"]) == (0, "text")
    for bad in (None, [1], ["1", 2], [1, [2]]):
        with pytest.raises(ValueError, match="unexpected"):
            _reply(bad)
