"""A real HTTP server on 127.0.0.1 standing in for the part of Discord's REST API the bot uses.

It speaks ``POST /api/v10/users/@me/channels`` (open a DM), ``POST .../channels/<id>/messages``
(create), ``PATCH .../channels/<id>/messages/<id>`` (edit) and ``GET`` of the same path (read
one message, Discord's "Get Channel Message"), in JSON or multipart (``files[n]``
plus ``payload_json``), records every request with its parsed JSON body and the time it arrived,
and answers as Discord does (the sources are named where each answer is made):

- a global requests-per-second limit: 429 with ``retry_after`` and ``global: true``, and the
  ``Retry-After``, ``X-RateLimit-Global`` and ``X-RateLimit-Scope: global`` headers;
- 30046 on edits of messages older than a configurable age, sent as Discord sends it: HTTP 429
  with the code in the body (discord.py users see "429 Too Many Requests (error code: 30046)",
  aikaterna/aikaterna-cogs#302; the 429 body's optional ``code``, Discord's docs "Rate Limits" >
  "Rate Limit Response Structure");
- 50007 (403) for users whose DMs are closed, 10003 (404) for deleted channels, 10008 (404) for
  deleted messages, 10013 (404) for unknown users, 401 for a wrong token, 403 / 50001 for channels
  the bot may not use, 50035 (400) with its ``errors`` tree, 50006 for an empty create;
- ``nonce`` + ``enforce_nonce``: a create with a nonce already used answers with the earlier
  message as it stands, unchanged (Discord's docs, "Create Message");
- messages held as Discord holds them (content, embeds, components, attachments), every answer the
  whole message object; an edit without ``attachments`` keeps the message's attachments, one with
  ``attachments`` keeps only those listed plus the files it uploads (Discord's docs, "Edit
  Message");
- ``strict`` (an option, on by default): bodies Discord refuses are refused
  (``discord_body_rules.py``: embed limits, empty field values, a nonce over 25 characters,
  ``parse`` with ``users``).

It can also answer 429 to the next requests, or 404 Unknown Message for messages marked deleted.
For ``/predict`` it serves files as Discord's CDN serves attachments (``GET /attachments/<path>``,
see ``attach``) and records edits of an interaction's deferred answer (``PATCH
/webhooks/<application>/<token>/messages/@original``: no bot token, outside the global limit).
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import Message
from email.parser import BytesParser
from email.policy import HTTP

from tests.discord_body_rules import body_problem, field_error
from tests.http_stub import QuietHandler, serve

API_PREFIX = "/api/v10"
DM_PATH = "/users/@me/channels"
_CREATE = re.compile(r"^/channels/([^/]+)/messages$")
_EDIT = re.compile(r"^/channels/([^/]+)/messages/([^/]+)$")
_ORIGINAL = re.compile(r"^/webhooks/([0-9]+)/([^/]+)/messages/(?:@|%40)original$")
ATTACHMENTS = "/attachments/"
UNKNOWN_MESSAGE = 10008
UNKNOWN_CHANNEL = 10003
UNKNOWN_USER = 10013
INVALID_FORM_BODY = 50035
EMPTY_MESSAGE = 50006
MESSAGE_TOO_OLD = 30046
DMS_CLOSED = 50007
MISSING_ACCESS = 50001


Files = tuple[tuple[str, str, bytes], ...]
_HELD_FIELDS = ("id", "channel_id", "content", "embeds", "components", "attachments")


def invalid_form(errors: dict[str, object]) -> tuple[int, object, dict[str, str]]:
    """Discord's 400 / 50035 with its ``errors`` tree (Discord's docs, "Example JSON Error
    Response")."""
    return 400, {"code": INVALID_FORM_BODY, "errors": errors, "message": "Invalid Form Body"}, {}


def _iso(at: object) -> str | None:
    if not isinstance(at, float):
        return None
    wall = time.time() - (time.monotonic() - at)
    return datetime.fromtimestamp(wall, UTC).isoformat()


def whole_message(held: dict[str, object]) -> dict[str, object]:
    """A held message as Discord answers with it: the whole message object (Discord's docs,
    "Message Resource" > "Message Object"), attachments with their CDN urls."""
    channel_id = held["channel_id"]
    attachments = held["attachments"]
    assert isinstance(attachments, list)
    cdn = "https://cdn.discordapp.com/attachments"
    reply_to = held.get("reply_to")
    answer: dict[str, object] = {
        "id": held["id"],
        "type": 0 if reply_to is None else 19,
        "channel_id": channel_id,
        "author": {"id": "1", "username": "digits", "discriminator": "0", "bot": True},
        "content": held["content"],
        "timestamp": _iso(held.get("created")),
        "edited_timestamp": _iso(held.get("edited")),
        "tts": False,
        "mention_everyone": False,
        "mentions": [],
        "mention_roles": [],
        "attachments": [
            {
                **a,
                "url": f"{cdn}/{channel_id}/{a['id']}/{a['filename']}",
                "proxy_url": f"{cdn}/{channel_id}/{a['id']}/{a['filename']}",
                "content_type": "image/png",
            }
            for a in attachments
            if isinstance(a, dict)
        ],
        "embeds": held["embeds"],
        "pinned": False,
        "flags": 0,
        "components": held["components"],
    }
    if held.get("nonce") is not None:
        answer["nonce"] = held["nonce"]
    if reply_to is not None:
        answer["message_reference"] = {"channel_id": channel_id, "message_id": reply_to}
    return answer


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
    files: tuple[tuple[str, str, bytes], ...] = ()
    """Uploaded files of a multipart request: (form field, file name, bytes)."""

    @property
    def is_create(self) -> bool:
        return self.method == "POST" and _CREATE.match(self.path) is not None

    @property
    def is_edit(self) -> bool:
        return self.method == "PATCH" and _EDIT.match(self.path) is not None

    @property
    def interaction_token(self) -> str | None:
        """The token of the interaction whose deferred answer this edits; None for other
        requests."""
        match = _ORIGINAL.match(self.path) if self.method == "PATCH" else None
        return None if match is None else match.group(2)

    @property
    def is_notification(self) -> bool:
        """A create without an embed that replies to another message (the end notification)."""
        body = self.body
        return (
            self.is_create
            and isinstance(body, dict)
            and "message_reference" in body
            and not body.get("embeds")
        )

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
    retry_after_header: bool = True
    """Send ``Retry-After`` with the scripted 429s (False: the body alone says how long)."""
    global_per_second: int = 50
    """Discord's global limit: more requests than this in any second answer 429 (global)."""
    max_edit_age_s: float | None = None
    """Edits of messages older than this answer 30046; None: never."""
    dms_closed: set[str] = field(default_factory=set)
    """User ids whose DMs are closed: messages in their DM channel answer 403 / 50007."""
    forbidden_channels: set[str] = field(default_factory=set)
    """Channels the bot may not post in (403 / 50001)."""
    token: str | None = None
    """When set, any other ``Authorization`` than ``Bot <token>`` answers 401."""
    limit_hits: int = 0
    """429s answered because the global limit was exceeded (not the scripted ones)."""
    answer_delay_s: float = 0.0
    """Message requests take effect at once but are answered this much later (a request in
    flight, for killing the bot in the middle of one)."""
    strict: bool = True
    """Refuse bodies Discord would refuse (``discord_body_rules.py``)."""
    deleted_channels: set[str] = field(default_factory=set)
    """Channel ids that answer 404 Unknown Channel (10003)."""
    unknown_users: set[str] = field(default_factory=set)
    """User ids that answer 404 Unknown User (10013) when a DM is opened."""
    attachments: dict[str, tuple[bytes, str]] = field(default_factory=dict)
    """What ``GET /attachments/<path>`` serves, by path: the bytes and their content type."""
    _next_id: int = 1000
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _recent: list[float] = field(default_factory=list)
    _created_at: dict[str, float] = field(default_factory=dict)
    _nonces: dict[str, str] = field(default_factory=dict)
    _held: dict[str, dict[str, object]] = field(default_factory=dict)
    """Each message as Discord holds it: id, channel_id, content, embeds, components,
    attachments (and the nonce and reply it was created with)."""
    _last_shown: str | None = None
    """The message with an embed created or edited last."""

    def snapshot(self) -> list[Request]:
        with self._lock:
            return list(self.requests)

    def answered(self) -> list[Request]:
        """Requests answered 200 (the ones that changed something)."""
        return [r for r in self.snapshot() if r.status == 200]

    def messages(self) -> list[Request]:
        """Successful creates and edits of the live message, in order of arrival (end
        notifications are in ``notifications()``)."""
        return [r for r in self.answered() if (r.is_create or r.is_edit) and not r.is_notification]

    def notifications(self) -> list[Request]:
        """Successful end notifications (replies without an embed), in order of arrival."""
        return [r for r in self.answered() if r.is_notification]

    def attach(self, path: str, data: bytes, content_type: str = "image/png") -> str:
        """Serves ``data`` as Discord's CDN serves an attachment; its URL."""
        self.attachments[path] = (data, content_type)
        return f"{self.url.removesuffix('/api')}{ATTACHMENTS}{path}"

    def interaction_edits(self, token: str) -> list[Request]:
        """The edits of the deferred answer of the interaction ``token``, in order of arrival."""
        return [r for r in self.answered() if r.interaction_token == token]

    def too_many(self) -> int:
        """Requests answered 429, scripted or not."""
        return sum(1 for r in self.snapshot() if r.status == 429)

    def latest_embed(self) -> dict[str, object] | None:
        """The embed that the message created or edited last shows now (what a user sees, not
        what the last request asked for: a create with a reused nonce changes nothing)."""
        with self._lock:
            held = None if self._last_shown is None else self._held[self._last_shown]
            return None if held is None else embed_of_body(held)

    def held(self) -> list[dict[str, object]]:
        """Every message as Discord holds it now, oldest first: id, channel_id, content, embeds,
        components, attachments."""
        with self._lock:
            return [
                {k: v for k, v in message.items() if k in _HELD_FIELDS}
                for message in self._held.values()
            ]

    def _hold(
        self, message_id: str, channel_id: str, body: dict[str, object], files: Files, now: float
    ) -> dict[str, object]:
        """Applies a create or an edit to the held message; returns it as Discord answers."""
        held = self._held.get(message_id)
        if held is None:
            reference = body.get("message_reference")
            held = {
                "id": message_id,
                "channel_id": channel_id,
                "content": "",
                "embeds": [],
                "components": [],
                "attachments": [],
                "created": now,
                "edited": None,
                "nonce": body.get("nonce"),
                "reply_to": reference.get("message_id") if isinstance(reference, dict) else None,
            }
            self._held[message_id] = held
        else:
            held["edited"] = now
            # Without ``attachments`` an edit keeps them; with it, only those listed (by id) stay.
            listed = body.get("attachments")
            if isinstance(listed, list):
                ids = {item.get("id") for item in listed if isinstance(item, dict)}
                kept = held["attachments"]
                assert isinstance(kept, list)
                held["attachments"] = [a for a in kept if isinstance(a, dict) and a["id"] in ids]
        for name in ("content", "embeds", "components"):
            if name in body and body[name] is not None:
                held[name] = body[name]
        attachments = held["attachments"]
        assert isinstance(attachments, list)
        for field_name, filename, data in files:
            if re.fullmatch(r"files\[[0-9]+\]", field_name):
                attachments.append(
                    {"id": str(self._next_id), "filename": filename, "size": len(data)}
                )
                self._next_id += 1
        if body.get("embeds"):
            self._last_shown = message_id
        return whole_message(held)

    def _limited(self, now: float) -> tuple[int, object, dict[str, str]] | None:
        """The global sliding-second limit; an answer when it is exceeded."""
        self._recent[:] = [at for at in self._recent if at > now - 1.0]
        if len(self._recent) >= self.global_per_second:
            self.limit_hits += 1
            retry = max(0.001, round(self._recent[0] + 1.0 - now, 3))
            headers = {
                "Retry-After": str(retry),
                "X-RateLimit-Global": "true",
                "X-RateLimit-Scope": "global",
            }
            body = {"message": "You are being rate limited.", "retry_after": retry, "global": True}
            return 429, body, headers
        self._recent.append(now)
        return None

    def _message(
        self, method: str, path: str, body: object, now: float, files: Files
    ) -> tuple[int, object, dict[str, str]] | None:
        """Creates, edits and reads; None for any other path."""
        read = _EDIT.match(path) if method == "GET" else None
        if read is not None:
            # Discord's docs, "Message Resource" > "Get Channel Message": GET
            # /channels/{channel.id}/messages/{message.id} answers the message object.
            channel_id, message_id = read.group(1), read.group(2)
            if channel_id in self.deleted_channels:
                return 404, {"code": UNKNOWN_CHANNEL, "message": "Unknown Channel"}, {}
            if channel_id in self.forbidden_channels:
                return 403, {"code": MISSING_ACCESS, "message": "Missing Access"}, {}
            if message_id in self.deleted or message_id not in self._held:
                return 404, {"code": UNKNOWN_MESSAGE, "message": "Unknown Message"}, {}
            return 200, whole_message(self._held[message_id]), {}
        create = _CREATE.match(path)
        edit = _EDIT.match(path)
        if not ((method == "POST" and create) or (method == "PATCH" and edit)):
            return None
        match = create or edit
        assert match is not None
        channel_id = match.group(1)
        if channel_id in self.deleted_channels:
            return 404, {"code": UNKNOWN_CHANNEL, "message": "Unknown Channel"}, {}
        if not isinstance(body, dict):
            return invalid_form(field_error(("_body",), "BASE_TYPE_INVALID", "Invalid JSON"))
        problem = body_problem(body) if self.strict else None
        if problem is not None:
            return invalid_form(problem)
        if channel_id in self.forbidden_channels:
            return 403, {"code": MISSING_ACCESS, "message": "Missing Access"}, {}
        if channel_id.startswith("7") and channel_id[1:] in self.dms_closed:
            return 403, {"code": DMS_CLOSED, "message": "Cannot send messages to this user"}, {}
        if edit is not None:
            message_id = edit.group(2)
            if message_id in self.deleted or message_id not in self._held:
                return 404, {"code": UNKNOWN_MESSAGE, "message": "Unknown Message"}, {}
            created = self._created_at.get(message_id, now)
            if self.max_edit_age_s is not None and now - created > self.max_edit_age_s:
                # As Discord sends it: a 429 with the code in the body (see the module's doc).
                # retry_after: Discord's value is not documented; waiting does not help anyway.
                message = "Maximum number of edits to messages older than 1 hour reached."
                headers = {"Retry-After": "3", "X-RateLimit-Scope": "user"}
                answer = {"code": MESSAGE_TOO_OLD, "message": message, "retry_after": 3.0}
                return 429, {**answer, "global": False}, headers
            return 200, self._hold(message_id, channel_id, body, files, now), {}
        nonce = body.get("nonce") if body.get("enforce_nonce") is True else None
        if isinstance(nonce, str) and nonce in self._nonces:
            return 200, whole_message(self._held[self._nonces[nonce]]), {}
        if not (body.get("content") or body.get("embeds") or body.get("components") or files):
            return 400, {"code": EMPTY_MESSAGE, "message": "Cannot send an empty message"}, {}
        message_id = str(self._next_id)
        self._next_id += 1
        self._created_at[message_id] = now
        if isinstance(nonce, str):
            self._nonces[nonce] = message_id
        return 200, self._hold(message_id, channel_id, body, files, now), {}

    def _answer(
        self, method: str, path: str, body: object, authorization: str | None, files: Files
    ) -> tuple[int, object, dict[str, str]]:
        original = _ORIGINAL.match(path) if method == "PATCH" else None
        if original is not None:  # an interaction's webhook: its token is the credential
            if not isinstance(body, dict):
                return invalid_form(field_error(("_body",), "BASE_TYPE_INVALID", "Invalid JSON"))
            problem = body_problem(body) if self.strict else None
            if problem is not None:
                return invalid_form(problem)
            return 200, {"id": original.group(2), "content": body.get("content", "")}, {}
        if self.token is not None and authorization != f"Bot {self.token}":
            return 401, {"code": 0, "message": "401: Unauthorized"}, {}
        if self.rate_limit_count > 0:
            self.rate_limit_count -= 1
            retry = self.retry_after_s
            headers = {"Retry-After": str(retry)} if self.retry_after_header else {}
            body_429 = {"message": "You are being rate limited.", "retry_after": retry}
            return 429, {**body_429, "global": False}, headers
        now = time.monotonic()
        limited = self._limited(now)
        if limited is not None:
            return limited
        if method == "POST" and path == DM_PATH:
            recipient = body.get("recipient_id") if isinstance(body, dict) else None
            if not isinstance(recipient, str) or not recipient.isdigit():
                return invalid_form(
                    field_error(
                        ("recipient_id",),
                        "NUMBER_TYPE_COERCE",
                        f"Value {json.dumps(recipient)} is not snowflake.",
                    )
                )
            if recipient in self.unknown_users:
                return 404, {"code": UNKNOWN_USER, "message": "Unknown User"}, {}
            return 200, {"id": f"7{recipient}", "type": 1}, {}
        answered = self._message(method, path, body, now, files)
        if answered is not None:
            return answered
        return 404, {"code": 0, "message": "404: Not Found"}, {}

    def handle(
        self, method: str, raw_path: str, raw: str, authorization: str | None
    ) -> tuple[int, object]:
        """Answers one JSON request (status, body)."""
        status, answer, _ = self.handle_request(method, raw_path, raw, authorization)
        return status, answer

    def handle_request(
        self,
        method: str,
        raw_path: str,
        raw: str,
        authorization: str | None,
        files: tuple[tuple[str, str, bytes], ...] = (),
    ) -> tuple[int, object, dict[str, str]]:
        """Answers one request: status, body and headers."""
        path = raw_path.split("?", 1)[0].removeprefix(API_PREFIX)
        try:
            body: object = json.loads(raw) if raw else None
        except json.JSONDecodeError:
            body = None
        with self._lock:
            status, answer, headers = self._answer(method, path, body, authorization, files)
            self.requests.append(
                Request(method, path, raw, body, authorization, time.monotonic(), status, files)
            )
        return status, answer, headers


def parse_multipart(content_type: str, raw: bytes) -> tuple[str, Files]:
    """``payload_json`` and the uploaded files of a multipart/form-data body."""
    head = f"Content-Type: {content_type}\r\n\r\n".encode()
    parsed = BytesParser(policy=HTTP).parsebytes(head + raw)
    payload = ""
    files: list[tuple[str, str, bytes]] = []
    for part in parsed.iter_parts():
        assert isinstance(part, Message)
        name = part.get_param("name", header="content-disposition")
        data = part.get_payload(decode=True)
        if not isinstance(name, str) or not isinstance(data, bytes):
            continue
        filename = part.get_filename()
        if filename is None:
            if name == "payload_json":
                payload = data.decode()
        else:
            files.append((name, filename, data))
    return payload, tuple(files)


def embed_of(request: Request) -> dict[str, object]:
    """The first embed of a create or edit request's body."""
    body = request.body
    assert isinstance(body, dict)
    return embed_of_body(body)


def embed_of_body(body: dict[str, object]) -> dict[str, object]:
    """The first embed of a message body (a request's or a held message)."""
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
            data = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            content_type = self.headers.get("Content-Type", "")
            files: tuple[tuple[str, str, bytes], ...] = ()
            if content_type.startswith("multipart/form-data"):
                raw, files = parse_multipart(content_type, data)
            else:
                raw = data.decode()
            status, answer, headers = api.handle_request(
                self.command, self.path, raw, self.headers.get("Authorization"), files
            )
            if api.answer_delay_s > 0 and "/messages" in self.path:
                time.sleep(api.answer_delay_s)
            self.reply(status, json.dumps(answer).encode(), headers)

        def do_POST(self) -> None:
            self._serve()

        def do_PATCH(self) -> None:
            self._serve()

        def do_GET(self) -> None:
            if not self.path.startswith(ATTACHMENTS):
                self._serve()
                return
            served = api.attachments.get(self.path.removeprefix(ATTACHMENTS))
            if served is None:
                self.reply(404, b'{"message": "404: Not Found"}')
            else:
                self.reply(200, served[0], content_type=served[1])

    with serve(Handler) as base:
        api.url = f"{base}/api"
        yield api
