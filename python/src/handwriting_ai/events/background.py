"""``BackgroundPublisher``: the training thread hands events over; a thread does the I/O.

- ``publish`` (the hand-over) never blocks and never raises: an append to a deque and, when
  the worker sleeps, one ``Event.set``.
- Bounded: batch events are only taken while the queue is under 3/4 of ``capacity``; the other
  (lifecycle) events while there is any room, and when there is none a queued batch event is
  evicted to make room. A terminal event (completed, failed) is never refused: when no batch
  event can go, the oldest queued non-terminal event is evicted for it. Order is preserved.
- A failing sink: the event at the head is kept and tried again after a backoff (doubling up
  to ``max_backoff_s``); the sink reconnects by itself. One warning when publishing starts to
  fail and one note when it recovers, not one per event.
- ``close(timeout)`` first evicts the queued batch events (stale once the job ends: the
  terminal event must not wait behind them), then flushes what it can within ``timeout``
  and returns even if the sink hangs (the thread is a daemon). A sink known to be down (its
  last attempt failed) is not waited on at all, and no attempt is retried while closing.
  Lifecycle events left over go to the ``spool`` (when given), which the thread delivers
  when it starts and whenever the sink recovers. It logs the counts once. RQ's work horse
  leaves through ``os._exit``, so job code must call it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from dataclasses import dataclass
from itertools import islice

from handwriting_ai.contracts.names import BATCH_V1
from handwriting_ai.defaults import CLOSE_TIMEOUT_S, QUEUE_SIZE
from handwriting_ai.events.codec import Event, encode_event
from handwriting_ai.events.publishers import Publisher, PublishError
from handwriting_ai.events.spool import Spool
from handwriting_ai.events.terminal import TERMINAL_TYPES

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PublishStats:
    """What happened to the events handed over.

    ``published``: the sink took them. ``dropped``: refused at hand-over (queue full or
    closed) or evicted (batch events, to make room or at close). ``failed``: handed over but
    never published (the sink refused them for good, or ``close`` ran out of time) nor
    spooled. ``spooled``: left for the spool to deliver later. ``errors``: failed attempts,
    retries included.
    """

    published: int = 0
    dropped: int = 0
    failed: int = 0
    errors: int = 0
    spooled: int = 0


class BackgroundPublisher:
    """Non-blocking, bounded, order-preserving wrapper of a synchronous publisher."""

    def __init__(
        self,
        sink: Publisher,
        *,
        name: str = "events",
        capacity: int = QUEUE_SIZE,
        min_backoff_s: float = 0.05,
        max_backoff_s: float = 2.0,
        spool: Spool | None = None,
    ) -> None:
        if capacity < 4:
            raise ValueError(f"BackgroundPublisher capacity {capacity}: must be at least 4")
        self._sink = sink
        self._name = name
        self._capacity = capacity
        self._batch_capacity = capacity * 3 // 4
        self._min_backoff_s = min_backoff_s
        self._max_backoff_s = max_backoff_s
        self._queue: deque[Event] = deque()
        self._wake = threading.Event()
        self._close_requested = threading.Event()
        self._lock = threading.Lock()  # counters and the queue's head, vs. close()
        self._closing = False
        self._close_took_queue = False
        self._deadline = float("inf")
        self._published = 0
        self._dropped = 0
        self._failed = 0
        self._errors = 0
        self._spooled = 0
        self._batches = 0  # batch events in the queue
        self._spool = spool
        self._failing = False
        self._thread = threading.Thread(target=self._run, name=f"{name}-publisher", daemon=True)
        self._thread.start()

    # -- the training thread's side ----------------------------------------------------------

    def publish(self, event: Event) -> None:
        """Hands ``event`` over; never blocks, never raises."""
        try:
            size = len(self._queue)
            batch = event["type"] == BATCH_V1
            limit = self._batch_capacity if batch else self._capacity
            full = size >= limit and (batch or not self._evict_batches(1))
            if full and event["type"] in TERMINAL_TYPES:
                self._evict_for_terminal()
                full = False
            if self._closing or full:
                with self._lock:
                    self._dropped += 1
                return
            if batch:
                with self._lock:  # the count lets a full queue skip a pointless scan
                    self._queue.append(event)
                    self._batches += 1
            else:
                self._queue.append(event)
            if not self._wake.is_set():
                self._wake.set()
        except Exception:  # pragma: no cover - hand-over must never break training
            log.exception("%s: hand-over failed", self._name)

    @property
    def stats(self) -> PublishStats:
        """A snapshot of the counts."""
        with self._lock:
            return PublishStats(
                self._published, self._dropped, self._failed, self._errors, self._spooled
            )

    @property
    def pending(self) -> int:
        """Events waiting to be published."""
        return len(self._queue)

    def close(self, timeout: float = CLOSE_TIMEOUT_S) -> None:
        """Publishes what it can within ``timeout`` seconds, spools the rest, logs the counts."""
        with self._lock:
            if self._closing:
                return
            self._closing = True
            self._deadline = time.monotonic() + timeout
        self._evict_batches(len(self._queue))
        self._wake.set()
        self._close_requested.set()
        if not self._failing:  # a sink known to be down is not waited on
            self._thread.join(timeout)
        with self._lock:
            self._close_took_queue = True
            left = list(self._queue)
            self._queue.clear()
            self._batches = 0
        self._save(left)
        if not self._thread.is_alive():
            self._sink.close(max(self._deadline - time.monotonic(), 0.0))
        stats = self.stats
        level = logging.WARNING if stats.dropped or stats.failed or stats.spooled else logging.INFO
        log.log(
            level,
            "%s: published=%d dropped=%d failed=%d spooled=%d errors=%d",
            self._name,
            stats.published,
            stats.dropped,
            stats.failed,
            stats.spooled,
            stats.errors,
        )

    def _evict_batches(self, most: int) -> bool:
        """Removes up to ``most`` queued batch events, oldest first; True if any was removed.

        Never the head, which the thread may be publishing and reads unlocked. One eviction
        (a full queue) deletes in place: ``del`` runs under the GIL, and the oldest batch event
        is near the front. Many (at close) pop the rest from the right and put back the others.
        """
        with self._lock:
            if self._batches == 0:
                return False
            if most == 1:
                for index, event in enumerate(islice(self._queue, 1, None), start=1):
                    if event["type"] == BATCH_V1:
                        del self._queue[index]
                        self._dropped += 1
                        self._batches -= 1
                        return True
                return False  # pragma: no cover - the only batch event is the head
            rest = [self._queue.pop() for _ in range(len(self._queue) - 1)][::-1]
            evicted = 0
            for event in rest:
                if evicted < most and event["type"] == BATCH_V1:
                    evicted += 1
                else:
                    self._queue.append(event)
            self._dropped += evicted
            self._batches -= evicted
            return evicted > 0

    def _evict_for_terminal(self) -> None:
        """Makes room for a terminal event in a queue full of lifecycle events: evicts the
        oldest non-terminal one after the head (which the thread may be publishing). When
        only terminal events are queued, none goes: the new one goes in over the limit."""
        with self._lock:
            for index, queued in enumerate(islice(self._queue, 1, None), start=1):
                if queued["type"] not in TERMINAL_TYPES:
                    del self._queue[index]
                    self._dropped += 1
                    self._batches -= queued["type"] == BATCH_V1
                    return

    def _save(self, left: list[Event]) -> None:
        """Spools the lifecycle events in ``left``; counts the rest (and any it cannot save)."""
        lifecycle = [e for e in left if e["type"] != BATCH_V1]
        spooled = 0
        if self._spool is not None and lifecycle:
            try:
                self._spool.save([encode_event(e) for e in lifecycle])
                spooled = len(lifecycle)
            except Exception as exc:  # a full disk must not fail the job
                log.error("%s: could not spool %d event(s): %s", self._name, len(lifecycle), exc)
        with self._lock:
            self._spooled += spooled
            self._failed += len(left) - spooled

    # -- the background thread ---------------------------------------------------------------

    def _run(self) -> None:
        backoff = self._min_backoff_s
        self._deliver_spool()
        while True:
            if not self._queue:
                if self._closing:
                    return
                # Wait, then clear: a hand-over that raced the check above has set the event
                # (wait returns at once) or will find it set; the loop re-checks the queue.
                self._wake.wait(1.0)
                self._wake.clear()
                continue
            try:
                event = self._queue[0]
            except IndexError:  # pragma: no cover - close() emptied it since the check above
                continue
            try:
                self._sink.publish(event)
            except Exception as exc:  # a sink bug must not kill the thread and jam the queue
                error = (
                    exc
                    if isinstance(exc, PublishError)
                    else PublishError(repr(exc), retryable=False)
                )
                if self._on_error(event, error, backoff):
                    return
                backoff = min(backoff * 2, self._max_backoff_s) if error.retryable else backoff
                continue
            with self._lock:
                if self._close_took_queue:
                    return
                self._queue.popleft()
                self._batches -= event["type"] == BATCH_V1
                self._published += 1
            if self._failing:
                self._failing = False
                log.info("%s: publishing recovered", self._name)
                self._deliver_spool()
            backoff = self._min_backoff_s

    def _deliver_spool(self) -> None:
        """Delivers earlier jobs' spooled events, here in the thread: never on the trainer's."""
        if self._spool is None:
            return
        try:
            self._spool.deliver(stop=lambda: self._close_took_queue)
        except Exception as exc:  # an unreadable spool folder must not kill the thread
            log.error("%s: spool delivery failed: %s", self._name, exc)

    def _on_error(self, event: Event, exc: PublishError, backoff: float) -> bool:
        """Counts a failed attempt and waits before the next; True when the thread must end."""
        with self._lock:
            if self._close_took_queue:
                return True
            self._errors += 1
            if not exc.retryable:
                self._queue.popleft()
                self._batches -= event["type"] == BATCH_V1
                self._failed += 1
        if not exc.retryable:
            log.warning("%s: dropped a %s event: %s", self._name, event["type"], exc)
            return False
        if not self._failing:
            self._failing = True
            log.warning("%s: %s; retrying with backoff", self._name, exc)
        if self._closing:
            return True  # a sink that fails while closing is down: close() spools the rest
        # Not the wake event: hand-overs must not cut a backoff short, but close() does.
        self._close_requested.wait(backoff)
        return False
