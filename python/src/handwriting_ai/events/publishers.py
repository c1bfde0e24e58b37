"""Where events go: the ``Publisher`` protocol and its synchronous implementations.

Synchronous publishers do the I/O in the caller's thread and raise ``PublishError`` when it
fails; training code never calls them directly, it hands events to a
``BackgroundPublisher`` (see ``background.py``), which never blocks and never raises.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, TextIO

from redis import Redis
from redis.backoff import NoBackoff
from redis.exceptions import RedisError
from redis.retry import Retry

from handwriting_ai.defaults import CLOSE_TIMEOUT_S, REDIS_TIMEOUT_S
from handwriting_ai.events.codec import Event, EventEncodeError, encode_event
from handwriting_ai.events.eventlog import SEEN_TTL_S, seen_key
from handwriting_ai.events.terminal import JobEnd, Terminal, terminal_job, terminal_job_of_text
from handwriting_ai.settings import redact_url

TRIM_EVERY_S = 10.0
"""How often the log is trimmed by age (one XTRIM MINID ~ in the pipeline, at most this often)."""


class Publisher(Protocol):
    """Something events can be published to."""

    def publish(self, event: Event) -> None:
        """Publishes one event (synchronous ones raise ``PublishError`` on failure)."""

    def close(self, timeout: float = CLOSE_TIMEOUT_S) -> None:
        """Flushes what it can within ``timeout`` seconds and releases its resources."""


class PublishError(Exception):
    """Publishing one event failed; ``retryable`` when trying again later may succeed."""

    def __init__(self, message: str, *, retryable: bool) -> None:
        super().__init__(message)
        self.retryable = retryable


class NullPublisher:
    """Publishes nothing (``EVENTS__ENABLED=false``)."""

    def publish(self, event: Event) -> None:
        """Discards ``event``."""

    def close(self, timeout: float = CLOSE_TIMEOUT_S) -> None:
        """Nothing to release."""


@dataclass(frozen=True)
class EventLog:
    """The Redis Stream every event is also appended to, and its retention."""

    stream: str
    maxlen: int
    max_age_s: int


class RedisPublisher:
    """PUBLISH to a Redis Pub/Sub channel (and XADD to the event log, in the same round trip).

    Short timeouts and no retries inside a call: redis-py 8 retries failed commands by
    default; here a failure raises at once (within ``timeout_s``) and the background publisher
    decides when to try again. The client reconnects by itself on the next call after a
    failure. With ``log``, each event is PUBLISHed and XADDed (one field, ``event``: the exact
    JSON text; ``MAXLEN ~``) in one pipeline, and at most every ``TRIM_EVERY_S`` seconds an
    ``XTRIM MINID ~`` drops entries older than ``log.max_age_s``: approximate trimming only
    removes whole stream nodes, so it costs next to nothing. Before the PUBLISH the pipeline
    marks the text as logged (``eventlog.seen_key``), so the bots' channel bridge, which appends
    what channel-only producers publish, leaves it alone. A terminal event (completed or
    failed) goes through ``terminal.Terminal`` instead: claimed, logged (and marked) and
    published in one script, so a job's first terminal event is its only one.
    """

    def __init__(
        self,
        url: str,
        channel: str,
        *,
        timeout_s: float = REDIS_TIMEOUT_S,
        log: EventLog | None = None,
    ) -> None:
        self.channel = channel
        self.log = log
        self.where = f"{redact_url(url)} channel {channel}"
        self._next_trim = 0.0
        try:
            self._client = Redis.from_url(
                url,
                socket_connect_timeout=timeout_s,
                socket_timeout=timeout_s,
                retry=Retry(NoBackoff(), 0),
                health_check_interval=0,
            )
        except ValueError as exc:
            raise ValueError(
                f"REDIS_URL {redact_url(url)!r} is not a Redis URL ({exc}); use "
                "redis://[:password@]host[:port][/db], rediss://... or unix:///path"
            ) from None
        self.terminal = Terminal(
            self._client,
            channel,
            stream=log.stream if log is not None else None,
            maxlen=log.maxlen if log is not None else 0,
        )

    def publish(self, event: Event) -> None:
        """Encodes and publishes ``event``; ``PublishError`` on a Redis or encoding error."""
        try:
            text = encode_event(event)
        except EventEncodeError as exc:
            raise PublishError(str(exc), retryable=False) from exc
        self.publish_text(text, terminal_job(event))

    def publish_text(self, text: str, end: JobEnd | None = None) -> int:
        """Publishes (and logs) encoded text; returns how many subscribers received it.

        A terminal event goes through the terminal script (``end``: which job it ends; read
        from the text when not given, as for a spooled line); 0 when another terminal event
        of its job won before it (the script logged that).
        """
        end = end if end is not None else terminal_job_of_text(text)
        try:
            if end is not None:
                return self._terminal(text, end)
            if self.log is None:
                return self._client.publish(self.channel, text)
            pipe = self._client.pipeline(transaction=False)
            pipe.set(seen_key(text), b"1", ex=SEEN_TTL_S)
            pipe.publish(self.channel, text)
            pipe.xadd(self.log.stream, {"event": text}, maxlen=self.log.maxlen, approximate=True)
            now = time.time()
            if now >= self._next_trim:
                oldest_ms = int((now - self.log.max_age_s) * 1000)
                pipe.xtrim(self.log.stream, minid=f"{oldest_ms}-0", approximate=True)
            replies = pipe.execute()
            if now >= self._next_trim:
                self._next_trim = now + TRIM_EVERY_S
            receivers: int = replies[1]
            return receivers
        except RedisError as exc:
            raise PublishError(
                f"publish to {self.where} failed: {type(exc).__name__}: {exc}", retryable=True
            ) from exc

    def _terminal(self, text: str, end: JobEnd) -> int:
        now = time.time()
        due = self.log is not None and now >= self._next_trim
        minid = f"{int((now - self.log.max_age_s) * 1000)}-0" if self.log and due else None
        # A reply of the wrong shape raises ValueError: the background publisher drops the
        # event as a sink bug (retrying would not change it).
        verdict = self.terminal.deliver(text, end, trim_minid=minid)
        if due:
            self._next_trim = now + TRIM_EVERY_S
        return verdict.receivers

    def close(self, timeout: float = CLOSE_TIMEOUT_S) -> None:
        """Closes the connection pool."""
        self._client.close()


class JsonLinesPublisher:
    """One JSON line per event to a text stream (stdout by default in the trainer)."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self._lock = threading.Lock()  # one line must never interleave with another

    def publish(self, event: Event) -> None:
        """Writes ``event`` as one line and flushes; ``PublishError`` if the stream fails."""
        try:
            text = encode_event(event)
            with self._lock:
                self._stream.write(text + "\n")
                self._stream.flush()
        except (OSError, ValueError) as exc:
            # A closed or broken stream does not come back; retrying would only spin.
            raise PublishError(f"write to stream failed: {exc}", retryable=False) from exc

    def close(self, timeout: float = CLOSE_TIMEOUT_S) -> None:
        """Flushes the stream; it stays open (it is the caller's, often stdout)."""
        try:
            with self._lock:
                self._stream.flush()
        except (OSError, ValueError):
            pass  # nothing left to save on a closed stream


class FanOutPublisher:
    """Publishes each event to several publishers.

    Every publisher gets the event even when an earlier one fails; afterwards one
    ``PublishError`` names every failure. Wrap each sink that can fail or be slow in its own
    ``BackgroundPublisher`` (and fan out to those), so a slow Redis never delays stdout and a
    retry never duplicates a line on a sink that already has it.
    """

    def __init__(self, publishers: Sequence[Publisher]) -> None:
        self._publishers = tuple(publishers)

    def publish(self, event: Event) -> None:
        """Publishes to every publisher, then raises if any failed."""
        errors: list[PublishError] = []
        for publisher in self._publishers:
            try:
                publisher.publish(event)
            except PublishError as exc:
                errors.append(exc)
        if errors:
            raise PublishError(
                "; ".join(str(e) for e in errors), retryable=all(e.retryable for e in errors)
            )

    def close(self, timeout: float = CLOSE_TIMEOUT_S) -> None:
        """Closes every publisher; together they take at most about ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        for publisher in self._publishers:
            publisher.close(max(deadline - time.monotonic(), 0.0))
