"""Discord's side of a run: the writes it applied, grouped into messages and messages into jobs
(by the ``Request <id>`` line every job message carries; an end notification by the message it
replies to)."""

from __future__ import annotations

import itertools
import re
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime

from handwriting_ai.contracts.names import COMPLETED_V1, FAILED_V1
from tests.chaos.stand_in import Write

FINAL_TITLES = {
    COMPLETED_V1: ("Training completed",),
    FAILED_V1: ("Training failed", "Training cancelled"),
}
_FINAL = tuple(itertools.chain(*FINAL_TITLES.values()))
CONTINUED = "Continued from the earlier message"
_REQUEST = re.compile(r"^Request (\S+)$", re.MULTILINE)


def _embed(body: dict[str, object]) -> dict[str, object]:
    embeds = body.get("embeds")
    first = embeds[0] if isinstance(embeds, list) and embeds else None
    return {str(k): v for k, v in first.items()} if isinstance(first, dict) else {}


def _by(write: Write) -> str:
    """Who sent a write, and when (UTC, as the bots' logs write it)."""
    when = datetime.fromtimestamp(write.wall, UTC).strftime("%H:%M:%S.%f")[:-3]
    return f"{write.method} by {write.writer or '?'} at {when}"


def _title(write: Write) -> str:
    return str(_embed(write.body).get("title", ""))


@dataclass
class Message:
    id: str
    writes: list[Write]

    @property
    def title(self) -> str:
        return _title(self.writes[-1])

    @property
    def final(self) -> bool:
        return self.title.startswith(_FINAL)

    @property
    def continuation(self) -> bool:
        return str(self.writes[0].body.get("content", "")).startswith(CONTINUED)

    @property
    def notification(self) -> bool:
        first = self.writes[0].body
        return "message_reference" in first and not first.get("embeds")

    @property
    def changed_after_final(self) -> str | None:
        """What changed the message after it first showed a final state, if anything did."""
        finals = [i for i, w in enumerate(self.writes) if _title(w).startswith(_FINAL)]
        if not finals:
            return None
        shown = _embed(self.writes[finals[0]].body)
        first = self.writes[finals[0]]
        for write in self.writes[finals[0] + 1 :]:
            embed = _embed(write.body)
            if embed != shown:
                keys = sorted(
                    k for k in shown.keys() | embed.keys() if shown.get(k) != embed.get(k)
                )
                diff = {k: (shown.get(k), embed.get(k)) for k in keys}
                return (
                    f"{self.id}: {shown.get('title')!r} then {_title(write)!r}"
                    f" ({_by(first)}, then {_by(write)}; differing: {str(diff)[:800]})"
                )
        return None

    def edit_gaps(self) -> list[tuple[float, str]]:
        """Seconds since the edit before, and the title, of each edit showing a non-final state."""
        edits = [w for w in self.writes if w.method == "PATCH"]
        pairs = itertools.pairwise(edits)
        return [(b.at - a.at, _title(b)) for a, b in pairs if not _title(b).startswith(_FINAL)]


def _request_id(write: Write) -> str | None:
    found = _REQUEST.search(str(_embed(write.body).get("description", "")))
    return None if found is None else re.sub(r"\\(.)", r"\1", found.group(1))


def messages_of(writes: list[Write]) -> dict[str, list[Message]]:
    """Per request id, its messages in the order they were created."""
    by_id: dict[str, Message] = {}
    for write in writes:
        by_id.setdefault(write.message_id, Message(write.message_id, [])).writes.append(write)
    job_of: dict[str, str] = {}
    for message in by_id.values():
        found = next((r for w in message.writes if (r := _request_id(w)) is not None), None)
        if found is not None:
            job_of[message.id] = found
    out: dict[str, list[Message]] = defaultdict(list)
    for message in by_id.values():
        reference = message.writes[0].body.get("message_reference")
        replied = reference.get("message_id") if isinstance(reference, dict) else None
        job = job_of.get(message.id) or job_of.get(str(replied))
        if job is not None:
            out[job].append(message)
    return dict(out)
