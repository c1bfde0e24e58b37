"""``tail``: print every event on the channel as it arrives, one line each.

Invalid messages are printed as INVALID with the reason, and the tail goes on. A lost
connection is reported on stderr and retried every second until Redis is back. With
``request_id``, only that request's events are printed (and invalid messages, which cannot
be attributed). ``--replay`` reads the event log instead: see ``replay.py``.
Every line goes through ``printable`` first: anyone who can publish can put ESC sequences,
OSC 52 or a CR into a request id, and the operator's terminal must not act on them.
"""

from __future__ import annotations

import json
import threading
from typing import TextIO

from redis import Redis
from redis.backoff import NoBackoff
from redis.client import PubSub
from redis.exceptions import RedisError
from redis.retry import Retry

from handwriting_ai.events.codec import Event, EventDecodeError, decode_event
from handwriting_ai.printable import printable
from handwriting_ai.settings import redact_url

_BASE_FIELDS = ("type", "ts", "request_id", "user_id", "model_id", "run_id")
_MAX_RAW = 200  # how much of an invalid message is echoed
READ_MARGIN_S = 5.0
"""A reply may take this much longer than the wait asked for before the read fails."""


def _value(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, str) and (not value or any(c.isspace() for c in value)):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def format_event(event: Event) -> str:
    """One readable line: time, type, request, run, then the event's own fields."""
    fields = " ".join(f"{k}={_value(v)}" for k, v in event.items() if k not in _BASE_FIELDS)
    ts = event.get("ts", "-")  # legacy events carry no time
    run = event.get("run_id") or "-"
    head = f"{ts} {event['type']} request={event['request_id']} run={run}"
    return f"{head} {fields}".rstrip()


def format_message(data: bytes | str, *, raw: bool) -> str:
    """The line printed for one message: raw JSON text, an event line, or INVALID; escaped."""
    text = data.decode("utf-8", errors="replace") if isinstance(data, bytes) else data
    try:
        event = decode_event(data)
    except EventDecodeError as exc:
        shown = text if len(text) <= _MAX_RAW else text[:_MAX_RAW] + "..."
        return printable(f"INVALID {exc} | {shown}")
    return printable(text if raw else format_event(event))


def say(err: TextIO, line: str) -> None:
    """One status line on stderr, escaped (a Redis error can quote what a peer sent)."""
    err.write(printable(line) + "\n")
    err.flush()


def wanted(data: bytes | str, request_id: str | None) -> bool:
    """Whether a message is printed under the ``--request-id`` filter."""
    if request_id is None:
        return True
    try:
        return decode_event(data)["request_id"] == request_id
    except EventDecodeError:
        return True


def _subscribe(client: Redis, channel: str) -> PubSub:
    pubsub = PubSub(client.connection_pool, ignore_subscribe_messages=True)
    try:
        pubsub.subscribe(channel)
    except RedisError:
        pubsub.close()
        raise
    return pubsub


def run_tail(
    url: str,
    channel: str,
    out: TextIO,
    err: TextIO,
    *,
    raw: bool = False,
    count: int | None = None,
    stop: threading.Event | None = None,
    poll_s: float = 0.2,
    request_id: str | None = None,
) -> int:
    """Prints messages until ``count`` were printed or ``stop`` is set; the exit status."""
    stop = stop or threading.Event()
    where = f"{channel} at {redact_url(url)}"
    client = Redis.from_url(
        url,
        socket_connect_timeout=2.0,
        # A silent Redis (host lost, SIGSTOP, network cut) fails a read after this, so a stop
        # is seen: get_message itself waits only poll_s, but connecting and subscribing read.
        socket_timeout=poll_s + READ_MARGIN_S,
        socket_keepalive=True,
        retry=Retry(NoBackoff(), 0),
        health_check_interval=0,
    )
    try:
        pubsub = _subscribe(client, channel)
    except RedisError as exc:
        say(err, f"tail: cannot subscribe to {where}: {exc}; start Redis or set REDIS_URL")
        return 1
    say(err, f"tail: listening on {where} (Ctrl-C to stop)")
    printed = 0
    try:
        while not stop.is_set() and (count is None or printed < count):
            try:
                message = pubsub.get_message(timeout=poll_s)
            except RedisError as exc:
                say(err, f"tail: lost {where}: {exc}; reconnecting")
                pubsub.close()
                again = _reconnect(client, channel, err, stop)
                if again is None:
                    break
                pubsub = again
                continue
            # Only "message" entries arrive (subscribe confirmations are ignored): data is bytes.
            if message is None or not wanted(message["data"], request_id):
                continue
            out.write(format_message(message["data"], raw=raw) + "\n")
            out.flush()
            printed += 1
    finally:
        pubsub.close()
        client.close()
    return 0


def _reconnect(client: Redis, channel: str, err: TextIO, stop: threading.Event) -> PubSub | None:
    """Subscribes again, once a second, until it works; None when ``stop`` is set first."""
    while True:
        try:
            pubsub = _subscribe(client, channel)
        except RedisError:
            if stop.wait(1.0):
                return None
            continue
        say(err, f"tail: reconnected, listening on {channel}")
        return pubsub
