"""Synchronous publishers and open_publisher, against a real Redis."""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import time
from collections.abc import Iterator

import pytest
from redis import Redis
from redis.client import PubSub

from handwriting_ai.events import builders as b
from handwriting_ai.events.background import BackgroundPublisher
from handwriting_ai.events.codec import Event, decode_event, encode_event
from handwriting_ai.events.eventlog import SEEN_TTL_S, log_range, seen_key
from handwriting_ai.events.factory import open_publisher
from handwriting_ai.events.publishers import (
    EventLog,
    FanOutPublisher,
    JsonLinesPublisher,
    NullPublisher,
    Publisher,
    PublishError,
    RedisPublisher,
)
from handwriting_ai.settings import EventsSettings, Settings
from tests.conftest import RedisServer, free_port

CTX = b.JobContext("req-pub", 42, "model-p", "run-p")


def job_events(batches: int = 5) -> list[Event]:
    """A whole job's events, in the order a trainer sends them."""
    events: list[Event] = [b.started(CTX, total_epochs=1), b.legacy_started(CTX, total_epochs=1)]
    events += [
        b.batch(
            CTX,
            epoch=1,
            total_epochs=1,
            batch=n,
            total_batches=batches,
            batch_loss=1.0 / n,
            batch_acc=0.1 * (n % 10),
            avg_loss=0.5,
            samples_per_sec=1000.0 + n,
        )
        for n in range(1, batches + 1)
    ]
    events += [
        b.epoch(CTX, epoch=1, total_epochs=1, train_loss=0.2, val_acc=0.9, time_s=1.0),
        b.best(CTX, epoch=1, val_acc=0.9),
        b.artifact(CTX, path="artifacts/model-p"),
        b.upload(CTX, status=0, model_bytes=10, manifest_bytes=2),
        b.prune(CTX, deleted_count=0),
        b.completed(CTX, val_acc=0.9),
        b.legacy_completed(CTX, val_acc=0.9),
    ]
    return events


@pytest.fixture
def subscriber(redis_server: RedisServer) -> Iterator[PubSub]:
    client = Redis.from_url(redis_server.url)
    pubsub = PubSub(client.connection_pool, ignore_subscribe_messages=True)
    pubsub.subscribe("digits:events")
    assert pubsub.get_message(timeout=2) is None  # the subscribe confirmation, consumed
    yield pubsub
    pubsub.close()
    client.close()


def receive(pubsub: PubSub, count: int, timeout_s: float = 10.0) -> list[bytes]:
    got: list[bytes] = []
    deadline = time.monotonic() + timeout_s
    while len(got) < count and time.monotonic() < deadline:
        message = pubsub.get_message(timeout=0.1)
        if message is not None:
            data: object = message["data"]
            assert isinstance(data, bytes)
            got.append(data)
    return got


def test_redis_subscriber_gets_exactly_what_was_published_in_order(
    redis_server: RedisServer, subscriber: PubSub
) -> None:
    events = job_events()
    publisher = RedisPublisher(redis_server.url, "digits:events")
    for event in events:
        publisher.publish(event)
    received = receive(subscriber, len(events))
    assert [decode_event(text) for text in received] == events
    assert [text.decode() for text in received] == [encode_event(e) for e in events]
    assert publisher.publish_text("{}") == 1  # one subscriber
    publisher.close()


def test_background_publisher_to_redis_delivers_a_whole_job_in_order(
    redis_server: RedisServer, subscriber: PubSub
) -> None:
    events = job_events(batches=200)
    publisher = BackgroundPublisher(RedisPublisher(redis_server.url, "digits:events"))
    for event in events:
        publisher.publish(event)
    assert [decode_event(text) for text in receive(subscriber, len(events))] == events
    publisher.close(10.0)
    assert publisher.stats.published == len(events)
    assert publisher.stats.dropped == publisher.stats.failed == 0


@pytest.mark.timing
def test_redis_errors_are_retryable_publish_errors_naming_no_password() -> None:
    url = f"redis://:hunter2@127.0.0.1:{free_port()}/0"
    publisher = RedisPublisher(url, "c", timeout_s=0.5)
    started = time.monotonic()
    with pytest.raises(PublishError) as caught:
        publisher.publish(b.started(CTX, total_epochs=1))
    assert time.monotonic() - started < 0.5  # refused at once: no retries inside the call
    assert caught.value.retryable
    assert "ConnectionError" in str(caught.value)
    assert "hunter2" not in str(caught.value)
    assert "redis://***@127.0.0.1" in str(caught.value)


def test_an_event_that_cannot_be_encoded_is_not_retryable() -> None:
    publisher = RedisPublisher(f"redis://127.0.0.1:{free_port()}/0", "c")
    event = b.best(CTX, epoch=1, val_acc=0.5)
    event["val_acc"] = float("nan")
    with pytest.raises(PublishError, match=r"\$\.val_acc") as caught:
        publisher.publish(event)
    assert not caught.value.retryable


def test_a_url_redis_cannot_use_is_refused_with_the_forms_it_takes() -> None:
    with pytest.raises(ValueError, match=r"'http://\*\*\*@h/' is not a Redis URL.*redis://"):
        RedisPublisher("http://u:pw@h/", "c")


def test_json_lines_one_event_per_line() -> None:
    stream = io.StringIO()
    publisher = JsonLinesPublisher(stream)
    events = job_events(batches=2)
    for event in events:
        publisher.publish(event)
    publisher.close()
    assert [decode_event(line) for line in stream.getvalue().splitlines()] == events


def test_json_lines_on_a_closed_stream_fails_for_good() -> None:
    stream = io.StringIO()
    publisher = JsonLinesPublisher(stream)
    stream.close()
    with pytest.raises(PublishError, match="write to stream failed") as caught:
        publisher.publish(b.started(CTX, total_epochs=1))
    assert not caught.value.retryable
    publisher.close()  # a closed stream is not an error at close


def test_json_lines_into_a_broken_pipe_fails_for_good() -> None:
    read_end, write_end = os.pipe()
    os.close(read_end)
    with os.fdopen(write_end, "w") as stream:
        publisher = JsonLinesPublisher(stream)
        with pytest.raises(PublishError, match="Broken pipe") as caught:
            publisher.publish(b.started(CTX, total_epochs=1))
        assert not caught.value.retryable
        publisher.close()  # the flush fails again: swallowed, nothing left to save
        with contextlib.suppress(BrokenPipeError):
            stream.close()


class Failing:
    """A sink that always fails, retryably or not."""

    def __init__(self, retryable: bool) -> None:
        self.retryable = retryable
        self.closed_with: float | None = None

    def publish(self, event: Event) -> None:
        raise PublishError(f"sink {self.retryable} failed", retryable=self.retryable)

    def close(self, timeout: float = 2.0) -> None:
        self.closed_with = timeout


def test_fan_out_publishes_to_every_sink_then_names_each_failure() -> None:
    stream = io.StringIO()
    first, last = Failing(retryable=True), Failing(retryable=False)
    fan = FanOutPublisher([first, JsonLinesPublisher(stream), last])
    event = b.started(CTX, total_epochs=1)
    with pytest.raises(PublishError, match="sink True failed; sink False failed") as caught:
        fan.publish(event)
    assert not caught.value.retryable  # one sink will never take it
    assert decode_event(stream.getvalue()) == event  # the healthy sink got it anyway
    with pytest.raises(PublishError) as again:
        FanOutPublisher([first]).publish(event)
    assert again.value.retryable
    FanOutPublisher([JsonLinesPublisher(stream)]).publish(event)  # no failure, no error
    fan.close(1.0)
    assert first.closed_with is not None and 0 < first.closed_with <= 1.0
    assert last.closed_with is not None and last.closed_with <= first.closed_with


def test_null_publisher_takes_everything_and_does_nothing() -> None:
    publisher = NullPublisher()
    publisher.publish(b.started(CTX, total_epochs=1))
    publisher.close()


def _settings(url: str, **events: object) -> Settings:
    return Settings.model_validate({"redis_url": url, "events": EventsSettings(**events)})


def test_open_publisher_disabled_publishes_nothing(
    redis_server: RedisServer, subscriber: PubSub
) -> None:
    stream = io.StringIO()
    publisher = open_publisher(_settings(redis_server.url, enabled=False), stream=stream)
    assert isinstance(publisher, NullPublisher)
    publisher.publish(b.started(CTX, total_epochs=1))
    publisher.close()
    assert stream.getvalue() == ""
    assert receive(subscriber, 1, timeout_s=0.3) == []


def test_open_publisher_redis_and_stream_both_get_every_event(
    redis_server: RedisServer, subscriber: PubSub
) -> None:
    stream = io.StringIO()
    publisher = open_publisher(_settings(redis_server.url, queue_size=64), stream=stream)
    assert isinstance(publisher, FanOutPublisher)
    events = job_events(batches=3)
    for event in events:
        publisher.publish(event)
    assert [decode_event(text) for text in receive(subscriber, len(events))] == events
    deadline = time.monotonic() + 5
    while stream.getvalue().count("\n") < len(events) and time.monotonic() < deadline:
        time.sleep(0.01)
    publisher.close(5.0)
    assert [decode_event(line) for line in stream.getvalue().splitlines()] == events
    client = Redis.from_url(redis_server.url)
    entries = log_range(client, "digits:events:log")
    client.close()
    assert [text for _id, text in entries] == [encode_event(e).encode() for e in events]


def test_open_publisher_one_sink_is_not_wrapped_in_a_fan_out(redis_server: RedisServer) -> None:
    settings = _settings(redis_server.url)
    redis_only: Publisher = open_publisher(settings)
    assert isinstance(redis_only, BackgroundPublisher)
    redis_only.close(1.0)
    stream_only = open_publisher(settings, to_redis=False, stream=io.StringIO())
    assert isinstance(stream_only, BackgroundPublisher)
    stream_only.close(1.0)
    assert isinstance(open_publisher(settings, to_redis=False), NullPublisher)


# -- the event log ---------------------------------------------------------------------------


def _entries(client: Redis, stream: str) -> list[bytes]:
    return [text for _id, text in log_range(client, stream)]


def test_each_event_is_published_and_logged_with_its_exact_text(
    redis_server: RedisServer, subscriber: PubSub
) -> None:
    log = EventLog("log", maxlen=1000, max_age_s=3600)
    publisher = RedisPublisher(redis_server.url, "digits:events", log=log)
    texts = [encode_event(e) for e in job_events(batches=2)]
    assert [publisher.publish_text(t) for t in texts] == [1] * len(texts)
    client = Redis.from_url(redis_server.url)
    assert _entries(client, "log") == [t.encode() for t in texts]
    assert receive(subscriber, len(texts)) == [t.encode() for t in texts]
    client.close()
    publisher.close()


def test_a_logged_event_is_marked_seen_before_its_publish_and_a_channel_only_one_is_not(
    redis_server: RedisServer,
) -> None:
    """The bots' channel bridge appends what it hears unless the text is marked: a publisher
    that logs marks it first (so no bot appends it twice); one without a log does not."""
    client = Redis.from_url(redis_server.url)
    logged = RedisPublisher(
        redis_server.url, "digits:events", log=EventLog("log", maxlen=1000, max_age_s=3600)
    )
    logged.publish_text('{"n": "é"}')
    key = seen_key('{"n": "é"}')
    assert key == "digits:events:seen:" + hashlib.sha256('{"n": "é"}'.encode()).hexdigest()
    assert client.get(key) == b"1"
    assert 0 < client.ttl(key) <= SEEN_TTL_S
    # One SET, in the same round trip and ahead of the PUBLISH.
    assert client.info("commandstats")["cmdstat_set"]["calls"] == 1
    # A terminal event goes through the terminal script, which marks it as it logs it.
    done = encode_event(b.completed(CTX, val_acc=0.9))
    assert logged.publish_text(done) == 0
    assert client.get(seen_key(done)) == b"1"
    assert [text for _id, text in log_range(client, "log")][-1] == done.encode()
    channel_only = RedisPublisher(redis_server.url, "digits:events")
    channel_only.publish_text("other")
    assert client.get(seen_key("other")) is None
    for closing in (client, logged, channel_only):
        closing.close()


def test_the_log_is_trimmed_by_count_approximately(redis_server: RedisServer) -> None:
    publisher = RedisPublisher(
        redis_server.url, "c", log=EventLog("log", maxlen=100, max_age_s=3600)
    )
    for n in range(1000):
        publisher.publish_text(f"e{n}")
    client = Redis.from_url(redis_server.url)
    length = client.xlen("log")
    assert 100 <= length < 300  # whole nodes of 100 entries go at once
    assert _entries(client, "log")[-1] == b"e999"
    client.close()
    publisher.close()


def test_the_log_is_trimmed_by_age_at_most_every_few_seconds(redis_server: RedisServer) -> None:
    client = Redis.from_url(redis_server.url)
    for n in range(1, 301):  # three full nodes of entries from 1970
        client.xadd("log", {"event": "ancient"}, id=f"{n}-0")
    publisher = RedisPublisher(
        redis_server.url, "c", log=EventLog("log", maxlen=10_000, max_age_s=60)
    )
    publisher.publish_text("new-1")
    assert _entries(client, "log") == [b"new-1"]
    publisher.publish_text("new-2")  # the next trim is not due yet: no XTRIM this time
    assert _entries(client, "log") == [b"new-1", b"new-2"]
    assert client.info("commandstats")["cmdstat_xtrim"]["calls"] == 1
    client.close()
    publisher.close()
