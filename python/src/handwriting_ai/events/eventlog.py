"""Reading the event log (the Redis Stream the publisher appends every event to).

Each entry has one field, ``event``: the event's exact JSON text. redis-py types stream
replies loosely; these functions check the shape once and return ``(entry id, text)`` pairs.
A producer that appends an event also marks its text (``seen_key``) before it PUBLISHes it, so
the bots' channel bridge, which appends what producers only publish, leaves it alone.
"""

from __future__ import annotations

import hashlib

from redis import Redis

from handwriting_ai.contracts.names import EVENTS_SEEN_KEY

LogEntry = tuple[str, bytes]
FIELD = b"event"
SEEN_TTL_S = 120
"""How long an event text stays marked as logged (``seen_key``): the bots' channel bridge, which
hears the PUBLISH within milliseconds, then does not append it to the log a second time."""


def seen_key(text: str) -> str:
    """The key marking ``text`` as already in the event log (hex SHA-256 of its UTF-8 bytes)."""
    return EVENTS_SEEN_KEY.format(sha256=hashlib.sha256(text.encode()).hexdigest())


def _text(value: object) -> str:
    if isinstance(value, bytes):
        return value.decode()
    return str(value)


def parse_entries(reply: object) -> list[LogEntry]:
    """``[(id, {b"event": text})...]`` as ``[(id, text)...]``; entries without the field are
    kept with an empty text (the reader reports them as invalid)."""
    entries: list[LogEntry] = []
    if not isinstance(reply, list):
        return entries
    for item in reply:
        if not isinstance(item, tuple | list) or len(item) != 2:
            continue
        entry_id, fields = item
        value = fields.get(FIELD, b"") if isinstance(fields, dict) else b""
        entries.append((_text(entry_id), value if isinstance(value, bytes) else b""))
    return entries


def log_range(client: Redis, stream: str, start: str = "-", count: int = 500) -> list[LogEntry]:
    """Up to ``count`` entries from ``start`` (inclusive) on, oldest first."""
    return parse_entries(client.xrange(stream, min=start, max="+", count=count))


def log_read(
    client: Redis, stream: str, after: str, *, block_ms: int, count: int = 500
) -> list[LogEntry]:
    """Entries after ``after`` (exclusive), waiting up to ``block_ms`` for the first one.

    The reply (RESP2, redis-py's default) is ``[[stream, entries]]``, or None on a timeout.
    """
    reply = client.xread({stream: after}, count=count, block=block_ms)
    items = reply if isinstance(reply, list) else []
    return [entry for item in items for entry in parse_entries(_entries_of(item))]


def _entries_of(item: object) -> object:
    """The entries of one ``[stream, entries]`` pair of an XREAD reply."""
    return item[1] if isinstance(item, tuple | list) and len(item) == 2 else None
