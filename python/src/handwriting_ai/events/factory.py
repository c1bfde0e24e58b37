"""The publisher a job uses, made from settings."""

from __future__ import annotations

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
from handwriting_ai.events.spool import Spool
from handwriting_ai.settings import Settings, redact_url


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
        log = EventLog(settings.digits_events_stream, events.stream_maxlen, events.stream_max_age_s)
        redis = RedisPublisher(
            url, settings.digits_events_channel, timeout_s=events.redis_timeout_s, log=log
        )
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
