"""The publisher a job uses, and the spool's delivery, made from settings."""

from __future__ import annotations

import logging
from typing import TextIO

from handwriting_ai.events.background import BackgroundPublisher
from handwriting_ai.events.publishers import (
    EventLog,
    FanOutPublisher,
    JsonLinesPublisher,
    NullPublisher,
    Publisher,
    RedisPublisher,
)
from handwriting_ai.events.spool import Spool, pending
from handwriting_ai.settings import Settings, redact_url

logger = logging.getLogger(__name__)


def open_publisher(
    settings: Settings, *, to_redis: bool = True, stream: TextIO | None = None
) -> Publisher:
    """A non-blocking publisher to Redis (``to_redis``) and/or JSON lines on ``stream``.

    Nothing is published with ``EVENTS__ENABLED=false``. Each sink gets its own
    ``BackgroundPublisher``, so a slow or absent Redis never delays the stream. Redis gets
    each event on the channel and in the log stream; lifecycle events it could not take by
    the end of the job are spooled in ``DIGITS__SPOOL_DIR`` and delivered by a later
    publisher of this machine. Call ``close(settings.events.close_timeout_s)`` at the end of
    the job.
    """
    events = settings.events
    sinks: list[Publisher] = []
    if events.enabled and to_redis:
        url = settings.redis_url_value()
        redis = redis_sink(settings)
        spool = Spool(settings.digits.spool_dir, redis.publish_text)
        name = f"events to {redact_url(url)} {settings.digits_events_channel}"
        sinks.append(BackgroundPublisher(redis, name=name, capacity=events.queue_size, spool=spool))
    if events.enabled and stream is not None:
        lines = JsonLinesPublisher(stream)
        sinks.append(
            BackgroundPublisher(lines, name="events to stream", capacity=events.queue_size)
        )
    if not sinks:
        return NullPublisher()
    return sinks[0] if len(sinks) == 1 else FanOutPublisher(sinks)


def redis_sink(settings: Settings) -> RedisPublisher:
    """The synchronous Redis sink: channel, event log, and the terminal script."""
    events = settings.events
    log = EventLog(settings.digits_events_stream, events.stream_maxlen, events.stream_max_age_s)
    return RedisPublisher(
        settings.redis_url_value(),
        settings.digits_events_channel,
        timeout_s=events.redis_timeout_s,
        log=log,
    )


def deliver_spool(settings: Settings) -> bool:
    """Delivers this machine's spool now, in this thread; False when some of it has to wait.

    For the worker's parent: at start and at each maintenance, so a job's spooled terminal
    event reaches Redis soon after Redis is back, before any worker reports the job lost.
    Nothing is opened when the spool is empty. Never raises.
    """
    if not settings.events.enabled:
        return True
    try:
        if not pending(settings.digits.spool_dir):
            return True
        sink = redis_sink(settings)
        try:
            return Spool(settings.digits.spool_dir, sink.publish_text).deliver()
        finally:
            sink.close()
    except Exception as exc:  # an unreadable spool folder, say: the worker goes on
        logger.error("spool delivery failed: %s", exc)
        return False
