"""BackgroundPublisher: hand-over never blocks or raises; bounded; ordered; retries; recovers."""

from __future__ import annotations

import logging
import socket
import statistics
import threading
import time
from collections.abc import Iterator

import pytest
from redis import Redis
from redis.client import PubSub

from handwriting_ai.events import builders as b
from handwriting_ai.events.background import BackgroundPublisher, PublishStats
from handwriting_ai.events.codec import Event, decode_event
from handwriting_ai.events.publishers import PublishError, RedisPublisher
from tests.conftest import RedisServer, free_port
from tests.test_events_publishers import job_events, receive

CTX = b.JobContext("req-bg", 7, "model-bg", "run-bg")


def batch_event(n: int) -> Event:
    return b.batch(
        CTX,
        epoch=1,
        total_epochs=1,
        batch=n,
        total_batches=10_000,
        batch_loss=0.1,
        batch_acc=0.5,
        avg_loss=0.1,
        samples_per_sec=1.0,
    )


def epoch_event(n: int) -> Event:
    return b.epoch(CTX, epoch=n, total_epochs=1000, train_loss=0.1, val_acc=0.5, time_s=1.0)


class GatedSink:
    """Records events; blocks in publish while the gate is closed; fails while told to."""

    def __init__(self) -> None:
        self.gate = threading.Event()
        self.gate.set()
        self.entered = threading.Event()
        self.received: list[Event] = []
        self.fail_next = 0
        self.fail_retryable = True
        self.crash_next = 0
        self.closed = False

    def publish(self, event: Event) -> None:
        self.entered.set()
        self.gate.wait()
        if self.crash_next:
            self.crash_next -= 1
            raise RuntimeError("sink bug")
        if self.fail_next:
            self.fail_next -= 1
            raise PublishError("sink down", retryable=self.fail_retryable)
        self.received.append(event)

    def close(self, timeout: float = 2.0) -> None:
        self.closed = True


def wait_for(condition: threading.Event, what: str, timeout_s: float = 5.0) -> None:
    assert condition.wait(timeout_s), f"timed out waiting for {what}"


def blocked(capacity: int) -> tuple[GatedSink, BackgroundPublisher]:
    """A publisher whose thread is stuck in the sink with one event, so the queue fills."""
    sink = GatedSink()
    sink.gate.clear()
    publisher = BackgroundPublisher(sink, capacity=capacity)
    publisher.publish(epoch_event(0))
    wait_for(sink.entered, "the sink to be entered")
    return sink, publisher


def wait_drained(publisher: BackgroundPublisher, timeout_s: float = 5.0) -> None:
    deadline = time.monotonic() + timeout_s
    while publisher.pending:
        assert time.monotonic() < deadline, f"{publisher.pending} event(s) still queued"
        time.sleep(0.005)


def test_everything_is_published_in_order_and_counted() -> None:
    sink = GatedSink()
    publisher = BackgroundPublisher(sink)
    events = job_events(batches=50)
    for event in events:
        publisher.publish(event)
    wait_drained(publisher)
    publisher.close(5.0)
    assert sink.received == events
    assert publisher.stats == PublishStats(published=len(events))
    assert publisher.pending == 0
    assert sink.closed


def test_when_full_batches_are_dropped_first_and_evicted_for_lifecycle_events() -> None:
    # Batches take up to 6 places, lifecycle events all 8; the event in the sink holds one.
    sink, publisher = blocked(capacity=8)
    handed = [batch_event(n) for n in range(1, 11)]  # 5 queued, 5 dropped
    handed += [epoch_event(1), epoch_event(2)]  # queued: the queue is full
    handed += [epoch_event(3)]  # queued: the oldest queued batch (1) is evicted for it
    handed += [batch_event(99)]  # dropped
    for event in handed:
        publisher.publish(event)
    assert publisher.pending == 8
    assert publisher.stats.dropped == 7
    sink.gate.set()
    wait_drained(publisher)
    publisher.close(5.0)
    expected = [epoch_event(0), *handed[1:5], *handed[10:13]]
    assert [(e["type"], e.get("batch"), e.get("epoch")) for e in sink.received] == [
        (e["type"], e.get("batch"), e.get("epoch")) for e in expected
    ]
    assert publisher.stats == PublishStats(published=8, dropped=7)


def test_a_full_queue_of_lifecycle_events_refuses_one_more() -> None:
    sink, publisher = blocked(capacity=4)
    for n in range(1, 6):  # 3 queued behind the one in the sink; 2 find no batch to evict
        publisher.publish(epoch_event(n))
    assert (publisher.pending, publisher.stats.dropped) == (4, 2)
    sink.gate.set()
    publisher.close(5.0)
    assert [e.get("epoch") for e in sink.received] == [0, 1, 2, 3]


def test_a_full_queue_evicts_a_lifecycle_event_for_the_terminal_one_never_the_terminal() -> None:
    sink, publisher = blocked(capacity=4)
    for n in range(1, 4):  # 3 queued behind the one in the sink (the head): full
        publisher.publish(epoch_event(n))
    failed = b.failed(CTX, error_kind="system", message="x")
    completed = b.completed(CTX, val_acc=0.9)
    publisher.publish(failed)  # epoch 1 (the oldest after the head) goes for it
    publisher.publish(completed)  # epoch 2 goes
    publisher.publish(epoch_event(4))  # refused: the queue is full, no batch to evict
    publisher.publish(b.legacy_failed(CTX, error_kind="system", message="x"))  # epoch 3 goes
    publisher.publish(b.legacy_completed(CTX, val_acc=0.9))  # nothing to evict: over the limit
    assert (publisher.pending, publisher.stats.dropped) == (5, 4)
    sink.gate.set()
    publisher.close(5.0)
    assert [e["type"] for e in sink.received] == [
        "digits.train.epoch.v1",
        "digits.train.failed.v1",
        "digits.train.completed.v1",
        "failed",
        "completed",
    ]


def test_a_terminal_event_evicts_a_batch_before_any_lifecycle_event() -> None:
    sink, publisher = blocked(capacity=4)
    publisher.publish(batch_event(1))
    publisher.publish(epoch_event(1))
    publisher.publish(epoch_event(2))  # full: 1 batch + 2 epochs behind the head
    publisher.publish(b.completed(CTX, val_acc=0.9))  # the batch goes
    sink.gate.set()
    publisher.close(5.0)
    assert [e["type"] for e in sink.received][-1] == "digits.train.completed.v1"
    assert "digits.train.batch.v1" not in [e["type"] for e in sink.received]
    assert publisher.stats.dropped == 1


def test_close_evicts_queued_batches_so_the_terminal_event_goes_next() -> None:
    sink, publisher = blocked(capacity=64)
    terminal = b.completed(CTX, val_acc=0.9)
    for n in range(1, 31):
        publisher.publish(batch_event(n))
    publisher.publish(terminal)
    threading.Timer(0.05, sink.gate.set).start()
    publisher.close(5.0)
    assert [e["type"] for e in sink.received] == [
        "digits.train.epoch.v1",
        "digits.train.completed.v1",
    ]
    assert publisher.stats == PublishStats(published=2, dropped=30)


def test_lifecycle_events_are_kept_when_only_batches_could_not_fit() -> None:
    sink, publisher = blocked(capacity=4)
    for n in range(1, 20):
        publisher.publish(batch_event(n))
    publisher.publish(epoch_event(1))
    sink.gate.set()
    wait_drained(publisher)
    publisher.close(5.0)
    assert [e["type"] for e in sink.received][-1] == "digits.train.epoch.v1"
    assert len(sink.received) == 1 + 2 + 1  # in the sink, batches under 3/4, the epoch


@pytest.mark.timing
def test_hand_over_is_cheap_and_never_blocks_while_the_sink_is_stuck() -> None:
    sink, publisher = blocked(capacity=1024)
    costs: list[float] = []
    for n in range(5000):  # fills the queue, then drops: both paths are timed
        event = batch_event(n + 1) if n % 3 else epoch_event(n + 1)
        started = time.perf_counter()
        publisher.publish(event)
        costs.append(time.perf_counter() - started)
    assert statistics.median(costs) < 50e-6  # the benchmark measures the real figure
    assert max(costs) < 0.05  # no hand-over waits on the stuck sink
    sink.gate.set()
    publisher.close(5.0)


def test_retryable_failures_back_off_keep_the_event_and_log_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="handwriting_ai.events.background")
    sink = GatedSink()
    sink.fail_next = 3
    publisher = BackgroundPublisher(sink, min_backoff_s=0.001, max_backoff_s=0.002)
    events = job_events(batches=2)
    for event in events:
        publisher.publish(event)
    wait_drained(publisher)
    publisher.close(5.0)
    assert sink.received == events  # nothing lost, nothing reordered
    assert publisher.stats == PublishStats(published=len(events), errors=3)
    messages = [r.getMessage() for r in caplog.records]
    assert sum("sink down; retrying with backoff" in m for m in messages) == 1
    assert sum("publishing recovered" in m for m in messages) == 1
    assert messages[-1] == (
        f"events: published={len(events)} dropped=0 failed=0 spooled=0 errors=3"
    )


def test_a_non_retryable_failure_drops_only_that_event(caplog: pytest.LogCaptureFixture) -> None:
    sink = GatedSink()
    sink.fail_next, sink.fail_retryable = 1, False
    publisher = BackgroundPublisher(sink)
    events = job_events(batches=1)
    for event in events:
        publisher.publish(event)
    wait_drained(publisher)
    publisher.close(5.0)
    assert sink.received == events[1:]
    assert publisher.stats == PublishStats(published=len(events) - 1, failed=1, errors=1)
    assert "dropped a digits.train.started.v1 event: sink down" in caplog.text
    assert "failed=1" in caplog.records[-1].getMessage()
    assert caplog.records[-1].levelno == logging.WARNING


def test_a_sink_bug_neither_kills_the_thread_nor_reaches_the_caller() -> None:
    sink = GatedSink()
    sink.crash_next = 1
    publisher = BackgroundPublisher(sink)
    events = job_events(batches=1)
    for event in events:
        publisher.publish(event)
    wait_drained(publisher)
    publisher.close(5.0)
    assert sink.received == events[1:]
    assert publisher.stats.failed == 1


@pytest.mark.timing
@pytest.mark.parametrize("then_fails", [False, True])
def test_close_returns_within_its_bound_when_the_sink_hangs(then_fails: bool) -> None:
    sink, publisher = blocked(capacity=16)
    sink.fail_next = int(then_fails)
    for n in range(5):
        publisher.publish(epoch_event(n + 1))
    started = time.monotonic()
    publisher.close(0.2)
    assert time.monotonic() - started < 1.0
    assert publisher.stats == PublishStats(failed=6)  # the queued ones and the one in the sink
    assert not sink.closed  # not closed under the thread's feet
    publisher.publish(epoch_event(9))  # after close: dropped, no error
    assert publisher.stats.dropped == 1
    publisher.close(0.1)  # a second close does nothing
    sink.gate.set()  # the stuck publish now returns; the thread ends without counting it
    publisher._thread.join(5)
    assert not publisher._thread.is_alive()
    assert publisher.stats == PublishStats(dropped=1, failed=6)


@pytest.mark.timing
def test_close_does_not_wait_on_a_sink_known_to_be_down() -> None:
    sink = GatedSink()
    sink.fail_next = 1_000_000
    publisher = BackgroundPublisher(sink, min_backoff_s=0.05, max_backoff_s=0.05)
    for n in range(3):
        publisher.publish(epoch_event(n + 1))
    wait_errors(publisher, 1)
    started = time.monotonic()
    publisher.close(2.0)
    assert time.monotonic() - started < 0.2  # it used to retry until the 2 s deadline
    assert publisher.stats.failed == 3


@pytest.mark.timing
def test_a_failure_while_closing_is_not_retried() -> None:
    sink, publisher = blocked(capacity=16)
    sink.fail_next = 1_000_000
    publisher.publish(epoch_event(1))
    threading.Timer(0.05, sink.gate.set).start()  # the attempt in flight fails after close
    started = time.monotonic()
    publisher.close(2.0)
    assert time.monotonic() - started < 1.0
    assert publisher.stats == PublishStats(failed=2, errors=1)


def wait_errors(publisher: BackgroundPublisher, count: int, timeout_s: float = 5.0) -> None:
    deadline = time.monotonic() + timeout_s
    while publisher.stats.errors < count:
        assert time.monotonic() < deadline, "the sink was never tried"
        time.sleep(0.005)


def test_capacity_below_four_is_refused() -> None:
    with pytest.raises(ValueError, match="capacity 3: must be at least 4"):
        BackgroundPublisher(GatedSink(), capacity=3)


# -- Redis refused, silent, then back --------------------------------------------------------


class SilentServer:
    """Accepts TCP connections and never answers."""

    def __init__(self, port: int) -> None:
        self._listener = socket.socket()
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", port))
        self._listener.listen(16)
        self._accepted: list[socket.socket] = []
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            self._accepted.append(conn)

    def close(self) -> None:
        self._listener.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept()
        self._listener.close()
        self._thread.join(2)
        for conn in self._accepted:
            conn.close()


@pytest.fixture
def port() -> int:
    return free_port()


@pytest.fixture
def late_redis(port: int) -> Iterator[RedisServer]:
    server = RedisServer(port)
    yield server
    server.stop()


def hand_over_while_down(publisher: BackgroundPublisher, events: list[Event]) -> list[float]:
    costs = []
    for event in events:
        started = time.perf_counter()
        publisher.publish(event)
        costs.append(time.perf_counter() - started)
    return costs


def recovers(publisher: BackgroundPublisher, server: RedisServer, events: list[Event]) -> None:
    """Starts Redis where the publisher points, and checks every event gets there in order."""
    server.start()
    client = Redis.from_url(server.url)
    pubsub = PubSub(client.connection_pool, ignore_subscribe_messages=True)
    pubsub.subscribe("digits:events")
    pubsub.get_message(timeout=2)
    later = [epoch_event(500)]
    for event in later:  # handed over after the outage: a publish with a subscriber listening
        publisher.publish(event)
    received: list[bytes] = []
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not (received and b'"epoch":500' in received[-1]):
        received += receive(pubsub, 1, timeout_s=0.1)
    pubsub.close()
    client.close()
    publisher.close(5.0)
    # Events from the outage were published before anyone subscribed, unless the publisher
    # was still backing off: what the subscriber got is a tail of the whole, in order.
    whole = events + later
    got = [decode_event(text) for text in received]
    assert got == whole[len(whole) - len(got) :]
    assert got[-1] == later[-1]
    assert publisher.stats.published == len(whole)
    assert publisher.stats.errors >= 1


def slow_hand_overs(costs: list[float]) -> list[float]:
    return [c for c in costs if c > 0.1]


@pytest.mark.timing
def test_redis_refused_hand_over_stays_cheap_and_the_publisher_recovers(
    late_redis: RedisServer,
) -> None:
    sink = RedisPublisher(late_redis.url, "digits:events", timeout_s=0.5)
    publisher = BackgroundPublisher(sink, min_backoff_s=0.01, max_backoff_s=0.1)
    events = job_events(batches=20)
    costs = hand_over_while_down(publisher, events)
    deadline = time.monotonic() + 5
    while publisher.stats.errors < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert publisher.stats.errors >= 2  # it tried, failed and is retrying
    assert publisher.stats.published == 0
    assert slow_hand_overs(costs) == []
    recovers(publisher, late_redis, events)


@pytest.mark.timing
def test_redis_silent_hand_over_stays_cheap_and_the_publisher_recovers(
    port: int, late_redis: RedisServer
) -> None:
    silent = SilentServer(port)
    sink = RedisPublisher(late_redis.url, "digits:events", timeout_s=0.3)
    publisher = BackgroundPublisher(sink, min_backoff_s=0.01, max_backoff_s=0.1)
    events = job_events(batches=20)
    try:
        costs = hand_over_while_down(publisher, events)
        deadline = time.monotonic() + 5
        while publisher.stats.errors < 1 and time.monotonic() < deadline:
            costs += hand_over_while_down(publisher, [])
            time.sleep(0.01)
        assert publisher.stats.errors >= 1  # timed out waiting for an answer
        assert publisher.stats.published == 0
        assert slow_hand_overs(costs) == []
    finally:
        silent.close()
    recovers(publisher, late_redis, events)
