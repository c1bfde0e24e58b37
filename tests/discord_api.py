"""A real HTTP server on 127.0.0.1 standing in for the part of Discord's REST API the bot uses.

It speaks ``POST /api/v10/users/@me/channels`` (open a DM), ``POST .../channels/<id>/messages``
(create) and ``PATCH .../channels/<id>/messages/<id>`` (edit), records every request with its
parsed JSON body and the time it arrived, and can answer 429 (``retry_after``) to the next
requests or 404 Unknown Message for messages marked deleted.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from tests.http_stub import QuietHandler, serve

API_PREFIX = "/api/v10"
DM_PATH = "/users/@me/channels"
_CREATE = re.compile(r"^/channels/([^/]+)/messages$")
_EDIT = re.compile(r"^/channels/([^/]+)/messages/([^/]+)$")
UNKNOWN_MESSAGE = 10008


@dataclass(frozen=True)
class Request:
    """One request the server received; ``path`` has the ``/api/v10`` prefix removed."""

    method: str
    path: str
    raw: str
    body: object
    authorization: str | None
    at: float
    """``time.monotonic()`` when the request arrived."""
    status: int
    """What the server answered."""

    @property
    def is_create(self) -> bool:
        return self.method == "POST" and _CREATE.match(self.path) is not None

    @property
    def is_edit(self) -> bool:
        return self.method == "PATCH" and _EDIT.match(self.path) is not None

    @property
    def is_dm(self) -> bool:
        return self.method == "POST" and self.path == DM_PATH


@dataclass
class DiscordApi:
    """Behaviour knobs and what was received; ``url`` is the base to give the bot."""

    rate_limit_count: int = 0
    """Answer the next N requests with 429."""
    retry_after_s: float = 0.5
    deleted: set[str] = field(default_factory=set)
    """Message ids that answer 404 Unknown Message."""
    requests: list[Request] = field(default_factory=list)
    url: str = ""
    _next_id: int = 1000
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def snapshot(self) -> list[Request]:
        with self._lock:
            return list(self.requests)

    def answered(self) -> list[Request]:
        """Requests answered 200 (the ones that changed something)."""
        return [r for r in self.snapshot() if r.status == 200]

    def messages(self) -> list[Request]:
        """Successful create and edit requests, in order of arrival."""
        return [r for r in self.answered() if r.is_create or r.is_edit]

    def latest_embed(self) -> dict[str, object] | None:
        """The embed of the newest successful create or edit."""
        sent = self.messages()
        return None if not sent else embed_of(sent[-1])

    def _answer(self, method: str, path: str, body: object) -> tuple[int, object]:
        if self.rate_limit_count > 0:
            self.rate_limit_count -= 1
            retry = self.retry_after_s
            return 429, {
                "message": "You are being rate limited.",
                "retry_after": retry,
                "global": False,
            }
        if method == "POST" and path == DM_PATH:
            recipient = body.get("recipient_id") if isinstance(body, dict) else None
            if not isinstance(recipient, str) or not recipient.isdigit():
                return 400, {"code": 50035, "message": "Invalid Form Body"}
            return 200, {"id": f"7{recipient}", "type": 1}
        create = _CREATE.match(path)
        edit = _EDIT.match(path)
        if (method == "POST" and create) or (method == "PATCH" and edit):
            if not isinstance(body, dict) or not isinstance(body.get("embeds"), list):
                return 400, {"code": 50035, "message": "Invalid Form Body"}
            if edit is not None:
                channel_id, message_id = edit.group(1), edit.group(2)
                if message_id in self.deleted:
                    return 404, {"code": UNKNOWN_MESSAGE, "message": "Unknown Message"}
            else:
                assert create is not None
                channel_id, message_id = create.group(1), str(self._next_id)
                self._next_id += 1
            return 200, {"id": message_id, "channel_id": channel_id}
        return 404, {"code": 0, "message": "404: Not Found"}

    def handle(
        self, method: str, raw_path: str, raw: str, authorization: str | None
    ) -> tuple[int, object]:
        path = raw_path.split("?", 1)[0].removeprefix(API_PREFIX)
        try:
            body: object = json.loads(raw) if raw else None
        except json.JSONDecodeError:
            body = None
        with self._lock:
            status, answer = self._answer(method, path, body)
            self.requests.append(
                Request(method, path, raw, body, authorization, time.monotonic(), status)
            )
        return status, answer


def embed_of(request: Request) -> dict[str, object]:
    """The first embed of a create or edit request's body."""
    body = request.body
    assert isinstance(body, dict)
    embeds = body["embeds"]
    assert isinstance(embeds, list) and embeds
    embed = embeds[0]
    assert isinstance(embed, dict)
    return {str(k): v for k, v in embed.items()}


def fields_of(embed: dict[str, object]) -> dict[str, str]:
    """An embed's fields as name -> value."""
    out: dict[str, str] = {}
    fields = embed.get("fields", [])
    assert isinstance(fields, list)
    for item in fields:
        assert isinstance(item, dict)
        name, value = item["name"], item["value"]
        assert isinstance(name, str) and isinstance(value, str)
        out[name] = value
    return out


@contextmanager
def serve_discord_api(api: DiscordApi) -> Iterator[DiscordApi]:
    """Runs the stand-in on a free port for the duration of the block."""

    class Handler(QuietHandler):
        def _serve(self) -> None:
            raw = self.rfile.read(int(self.headers.get("Content-Length", "0"))).decode()
            status, answer = api.handle(
                self.command, self.path, raw, self.headers.get("Authorization")
            )
            retry = {"Retry-After": str(api.retry_after_s)} if status == 429 else {}
            self.reply(status, json.dumps(answer).encode(), retry)

        def do_POST(self) -> None:
            self._serve()

        def do_PATCH(self) -> None:
            self._serve()

        def do_GET(self) -> None:
            self._serve()

    with serve(Handler) as base:
        api.url = f"{base}/api"
        yield api
