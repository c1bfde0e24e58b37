"""The one way a job's terminal event reaches Redis: claim, log and publish in one script.

Why: a job's outcome is decided in several places (the work horse, live or from the spool;
the worker's parent; the lost-worker clean-up; Cancel; the intake). Each hands its terminal
event (``completed.v1`` or ``failed.v1``, and their legacy twins) to the Redis sink, which
sends it through ``Terminal.deliver``: one Lua script that, atomically,

1. claims the job's ``TERMINAL_KEY`` (its user id and request id) with SET NX and a TTL, the
   value being the event's JSON text;
2. XADDs the text to the event log (``MAXLEN ~``, and ``XTRIM MINID ~`` when due: the same
   retention policy as every other event) and marks it as logged (``eventlog.seen_key``, so
   the bots' channel bridge does not append it a second time);
3. PUBLISHes it on the channel.

The first terminal event of a job wins. A later one is neither logged nor published; it is
logged here once, naming both. The same text delivered again (a retry whose reply was lost,
a spool file sent twice) counts as delivered, not as a loser. A legacy twin is logged only
while its v1 event of the same kind holds the claim (``TERMINAL_LEGACY_KEY`` keeps it to one).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass

from redis import Redis

from handwriting_ai.contracts.names import (
    COMPLETED_V1,
    FAILED_V1,
    LEGACY_COMPLETED,
    LEGACY_FAILED,
    TERMINAL_KEY,
    TERMINAL_LEGACY_KEY,
)
from handwriting_ai.events.eventlog import SEEN_TTL_S, seen_key

log = logging.getLogger(__name__)

TERMINAL_TTL_S = 7 * 24 * 3600
"""How long a job's claim is kept: as long as the event log keeps events by default."""
LEGACY_OF = {LEGACY_COMPLETED: COMPLETED_V1, LEGACY_FAILED: FAILED_V1}
TERMINAL_TYPES = frozenset({COMPLETED_V1, FAILED_V1, *LEGACY_OF})

WON, LOST, ALREADY = 1, 0, 2
_SCRIPT = """
local claim, text = KEYS[1], ARGV[1]
if ARGV[2] ~= '' then
  local v1 = redis.call('GET', KEYS[2])
  if not v1 then return {0, ''} end
  local ok, decoded = pcall(cjson.decode, v1)
  if not ok or type(decoded) ~= 'table' or decoded['type'] ~= ARGV[2] then return {0, v1} end
end
local holder = redis.call('GET', claim)
if holder then
  if holder == text then return {2, holder} end
  return {0, holder}
end
redis.call('SET', claim, text, 'EX', ARGV[3])
if ARGV[5] ~= '' then
  redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[5], '*', 'event', text)
  if ARGV[6] ~= '' then redis.call('XTRIM', KEYS[3], 'MINID', '~', ARGV[6]) end
  redis.call('SET', KEYS[4], '1', 'EX', ARGV[7])
end
return {1, redis.call('PUBLISH', ARGV[4], text)}
"""


@dataclass(frozen=True)
class JobEnd:
    """Which job a terminal event ends, and its type."""

    type: str
    user_id: int
    request_id: str


@dataclass(frozen=True)
class Verdict:
    """What ``deliver`` did: ``won`` (logged and published now), ``already`` (this very text
    had won before: nothing sent again), else lost to ``holder`` (the winner's text, or ''
    for a legacy twin whose v1 event has not won)."""

    won: bool
    already: bool
    receivers: int
    holder: str


def terminal_job(event: Mapping[str, object]) -> JobEnd | None:
    """The job a terminal event ends; None for any other event."""
    kind, user, request = event.get("type"), event.get("user_id"), event.get("request_id")
    if not (kind in TERMINAL_TYPES and isinstance(kind, str) and isinstance(request, str)):
        return None
    if isinstance(user, int) and not isinstance(user, bool):
        return JobEnd(kind, user, request)
    return None


def terminal_job_of_text(text: str) -> JobEnd | None:
    """``terminal_job`` of an event's JSON text (a spooled line); None when it is not one."""
    try:
        value: object = json.loads(text)
    except ValueError:
        return None
    return terminal_job(value) if isinstance(value, dict) else None


def summary(text: str) -> str:
    """A terminal event in a few words, for the log line of a loser."""
    try:
        value: object = json.loads(text)
    except ValueError:
        return repr(text[:80])
    if not isinstance(value, dict):
        return repr(text[:80])
    detail = value.get("message", value.get("val_acc", ""))
    return f"{value.get('type')} ({detail!r})"


class Terminal:
    """Delivers terminal events through the script, registered once per client."""

    def __init__(
        self,
        client: Redis,
        channel: str,
        *,
        stream: str | None = None,
        maxlen: int = 0,
        ttl_s: int = TERMINAL_TTL_S,
    ) -> None:
        self.channel = channel
        self.stream = stream
        self.maxlen = maxlen
        self.ttl_s = ttl_s
        self._script = client.register_script(_SCRIPT)

    def deliver(self, text: str, job: JobEnd, *, trim_minid: str | None = None) -> Verdict:
        """Claims, logs and publishes ``text`` (the terminal event of ``job``) unless another
        terminal event of the job won first. Raises redis-py's errors (the caller retries)."""
        legacy = LEGACY_OF.get(job.type, "")
        ids = {"user_id": job.user_id, "request_id": job.request_id}
        v1_key = TERMINAL_KEY.format(**ids)
        claim = TERMINAL_LEGACY_KEY.format(**ids) if legacy else v1_key
        logged = self.stream is not None
        reply: object = self._script(
            keys=[claim, v1_key, self.stream if self.stream is not None else claim, seen_key(text)],
            args=[
                text,
                legacy,
                self.ttl_s,
                self.channel,
                self.maxlen if logged else "",
                trim_minid if logged and trim_minid is not None else "",
                SEEN_TTL_S,
            ],
        )
        code, value = _reply(reply)
        if code == WON:
            return Verdict(True, False, value if isinstance(value, int) else 0, text)
        holder = value if isinstance(value, str) else ""
        if code == ALREADY:
            return Verdict(False, True, 0, holder)
        log.warning(
            "job %r of user %d: dropped %s: the job already ended with %s",
            job.request_id,
            job.user_id,
            summary(text),
            summary(holder) if holder else f"no {legacy} event yet",
        )
        return Verdict(False, False, 0, holder)


def _reply(reply: object) -> tuple[int, int | str]:
    """The script's ``{code, value}``, checked and decoded."""
    if not isinstance(reply, list) or len(reply) != 2 or not isinstance(reply[0], int):
        raise ValueError(f"terminal script: unexpected reply {reply!r}")
    code, value = reply
    if isinstance(value, bytes):
        value = value.decode()
    if not isinstance(value, int | str):
        raise ValueError(f"terminal script: unexpected value {value!r}")
    return code, value
