"""What a run left in Redis, read for the invariants: the event log (decodable entries), the
requests the bots queued, which log entries the bots' group acknowledged, and each job's
terminal events."""

from __future__ import annotations

import json
from collections import defaultdict

from redis import Redis

from handwriting_ai.contracts.names import COMPLETED_V1, EVENTS_STREAM, FAILED_V1, REQUESTS_STREAM

GROUP = "digits-bot"
"""The bots' consumer group (the bot's DEFAULT_BOT_GROUP), which also names their keys."""
LogEntry = tuple[str, str, dict[str, object]]
"""(entry id, text, event)."""


def entries(client: Redis, stream: str, field: bytes) -> list[tuple[str, str]]:
    """(entry id, text of ``field``) of every entry of ``stream`` that has the field."""
    out = []
    for item in client.xrange(stream) or []:
        entry_id, fields = item
        value = fields.get(field) if isinstance(fields, dict) else None
        if isinstance(entry_id, bytes) and isinstance(value, bytes):
            out.append((entry_id.decode(), value.decode(errors="replace")))
    return out


def read_log(client: Redis) -> list[LogEntry]:
    """(entry id, text, event) of every decodable entry of the event log."""
    out = []
    for entry_id, text in entries(client, EVENTS_STREAM, b"event"):
        try:
            event = json.loads(text)
        except ValueError:
            continue
        if isinstance(event, dict) and isinstance(event.get("request_id"), str):
            out.append((entry_id, text, event))
    return out


def requested_ids(client: Redis) -> list[str]:
    """Request ids of the /train requests in the requests stream, in order, each once."""
    found = []
    for _, text in entries(client, REQUESTS_STREAM, b"request"):
        request = json.loads(text)
        if isinstance(request, dict):
            found.append(str(request["request_id"]))
    return list(dict.fromkeys(found))


def requested(client: Redis) -> set[str]:
    return set(requested_ids(client))


def acknowledged(client: Redis) -> tuple[tuple[int, int], set[str]] | None:
    """The group's last delivered id and its pending ids; None when there is no group."""
    for group in client.xinfo_groups(EVENTS_STREAM):
        if group["name"] == GROUP.encode():
            last = str(group["last-delivered-id"].decode()).split("-")
            pending = client.xpending_range(EVENTS_STREAM, GROUP, "-", "+", 1_000_000)
            ids = {
                m.decode() if isinstance(m := p["message_id"], bytes) else str(m) for p in pending
            }
            return (int(last[0]), int(last[1])), ids
    return None


def terminals(log: list[LogEntry]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = defaultdict(list)
    for _, _, event in log:
        if event["type"] in (COMPLETED_V1, FAILED_V1):
            out[str(event["request_id"])].append(f"{event['type']} {event.get('message', '')}")
    return out
