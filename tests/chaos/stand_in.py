"""The Discord stand-in (tests/discord_api.py) with the faults the schedule injects, and a log
of every message write with the id of the message it wrote (a create's id is in its answer).

Server errors: Discord documents "5xx: the server had an error processing your request (these
are rare)" (https://discord.com/developers/docs/topics/opcodes-and-status-codes#http); its edge
answers 502 from the gateway and 500 with ``{"message": "500: Internal Server Error", "code":
0}``. The stand-in answers them without applying the request, as the error says.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from tests.discord_api import DiscordApi, Files

_SERVER_ERRORS = (
    (500, {"message": "500: Internal Server Error", "code": 0}),
    (502, {"message": "502: Bad Gateway", "code": 0}),
)


@dataclass(frozen=True)
class Write:
    """A create or edit that changed a message (answered 200; not a create whose nonce was
    already used, which changes nothing)."""

    at: float
    method: str
    message_id: str
    body: dict[str, object]
    writer: str = ""
    """Who sent it: the bot's token (each bot of a run has its own, named after it)."""
    wall: float = 0.0
    """Wall-clock time (epoch s), to line the write up with the bots' logs."""


@dataclass
class ChaosDiscord(DiscordApi):
    server_error_count: int = 0
    """Answer the next N requests with a 5xx."""
    server_errors: int = 0
    writes: list[Write] = field(default_factory=list)

    def _answer(
        self, method: str, path: str, body: object, authorization: str | None, files: Files
    ) -> tuple[int, object, dict[str, str]]:
        # Called under the stand-in's lock: writes are logged in the order they were applied.
        if self.server_error_count > 0:
            self.server_error_count -= 1
            self.server_errors += 1
            status, error = _SERVER_ERRORS[self.server_errors % 2]
            return status, error, {}
        status, answer, headers = super()._answer(method, path, body, authorization, files)
        if status == 200 and isinstance(body, dict) and "/messages" in path:
            message_id = answer.get("id") if isinstance(answer, dict) else None
            # A create whose nonce Discord already saw answers with that message, unchanged (every
            # answer is the whole message, nonce included: an id seen before tells it apart).
            reused = method == "POST" and any(w.message_id == message_id for w in self.writes)
            if isinstance(message_id, str) and not reused:
                writer = (authorization or "").removeprefix("Bot ")
                write = Write(time.monotonic(), method, message_id, body, writer, time.time())
                self.writes.append(write)
        return status, answer, headers

    def all_writes(self) -> list[Write]:
        with self._lock:
            return list(self.writes)
