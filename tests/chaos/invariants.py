"""The invariants a run must keep whatever faults hit it (issue 22, item 6), checked on what the
system left behind: the event log and the bots' store in Redis, and every write Discord applied.

- every job (in the requests stream or the log) has exactly one terminal event in the log;
- each job's message ends showing that terminal state, and nothing changes a message after it
  first showed a final state;
- a job has one message (a 30046 continuation, "Continued from the earlier message", aside) and
  at most one end notification;
- non-terminal edits of one message are at least the edit interval apart;
- every log entry the bots' group acknowledged is in the bots' store (by its exact text);
- an interaction id delivered twice starts at most one job, and only the owner's Cancel
  cancels (the harness's other user is no admin).
"""

from __future__ import annotations

from dataclasses import dataclass

from redis import Redis
from redis.exceptions import RedisError

from handwriting_ai.contracts.names import BOT_KEY_PREFIX, COMPLETED_V1, FAILED_V1
from tests.chaos import records
from tests.chaos.messages import FINAL_TITLES, Message, messages_of
from tests.chaos.records import GROUP, LogEntry
from tests.chaos.schedule import EDIT_INTERVAL_S, OTHER
from tests.chaos.stand_in import Write

_SLACK_S = 0.05


@dataclass(frozen=True)
class Violation:
    kind: str
    job: str
    detail: str

    def __str__(self) -> str:
        return f"{self.kind} [{self.job}]: {self.detail}"


def _message_checks(
    job: str, want: tuple[str, ...] | None, shown: list[Message]
) -> list[Violation]:
    """``want``: the titles the job's final message may show; None when the job never reached
    the queue (a /train refused after its Queued message appeared): then it must not look live."""
    out = []
    chain = [m for m in shown if not m.notification]
    if len([m for m in chain if not m.continuation]) > 1:
        out.append(Violation("two_messages", job, f"messages {[m.id for m in chain]}"))
    last = chain[-1] if chain else None
    if last is None:
        out.append(Violation("no_message", job, "only an end notification was shown"))
    elif want is None and not last.final:
        out.append(Violation("orphan_live_message", job, f"{last.id} shows {last.title!r}"))
    elif want is not None and not last.title.startswith(want):
        out.append(Violation("not_final", job, f"message {last.id} shows {last.title!r}"))
    for message in chain:
        if message.changed_after_final:
            out.append(Violation("edited_after_final", job, message.changed_after_final))
        for gap, title in message.edit_gaps():
            if gap < EDIT_INTERVAL_S - _SLACK_S:
                detail = f"{message.id}: {title!r} {gap:.3f} s after the edit before it"
                out.append(Violation("edit_interval", job, detail))
    if len([m for m in shown if m.notification]) > 1:
        out.append(Violation("two_notifications", job, "the end was announced more than once"))
    return out


def _stored_texts(client: Redis, job: str) -> set[str]:
    """The exact event texts the bots' store holds for ``job`` (members are ``<position>|text``)."""
    texts: set[str] = set()
    for kind in ("events", "batches"):
        for member in client.zrange(f"{BOT_KEY_PREFIX}{GROUP}:{kind}:{job}", 0, -1):
            raw = member.decode() if isinstance(member, bytes) else str(member)
            texts.add(raw.split("|", 1)[-1])
    return texts


def _store_missing(client: Redis, log: list[LogEntry]) -> list[Violation]:
    """An acknowledged entry counts as stored when its exact text is: the store keeps one copy of
    each text, the first in the log (issue 25), so a text appended twice (a producer's retry, the
    channel bridge) is stored under its first position only."""
    acknowledged = records.acknowledged(client)
    if acknowledged is None:
        return [Violation("store_missing", "-", f"no consumer group {GROUP}")]
    last, pending = acknowledged
    out = []
    stored: dict[str, set[str]] = {}
    for entry_id, text, event in log:
        ms, seq = entry_id.split("-")
        if (int(ms), int(seq)) > last or entry_id in pending:
            continue
        job = f"{event['user_id']}:{event['request_id']}"
        if job not in stored:
            stored[job] = _stored_texts(client, job)
        if text not in stored[job]:
            out.append(Violation("store_missing", str(event["request_id"]), f"entry {entry_id}"))
    return out


def _want(job: str, jobs: set[str], terminals: dict[str, list[str]]) -> tuple[str, ...] | None:
    if job not in jobs:
        return None
    kinds = {t.split()[0] for t in terminals[job]} or {COMPLETED_V1, FAILED_V1}
    return tuple(title for kind in sorted(kinds) for title in FINAL_TITLES[kind])


def settled(client: Redis, writes: list[Write]) -> bool:
    """Every job has a terminal event and its message shows a final state (what the runner
    waits for before it stops the system)."""
    try:
        log, requested = records.read_log(client), records.requested(client)
    except RedisError:
        return False
    terminals, shown = records.terminals(log), messages_of(writes)
    for job in requested | {str(e["request_id"]) for _, _, e in log}:
        chain = [m for m in shown.get(job, []) if not m.notification]
        if not terminals[job] or not chain or not chain[-1].final:
            return False
    return True


def check(client: Redis, writes: list[Write], trains: dict[str, set[str]]) -> list[Violation]:
    """``trains``: per /train interaction id delivered, the request ids its answers named."""
    log = records.read_log(client)
    terminals = records.terminals(log)
    requested = records.requested(client)
    jobs = requested | {str(e["request_id"]) for _, _, e in log}
    out = [
        Violation("terminal_count", job, f"{len(terminals[job])}: {terminals[job]}")
        for job in sorted(jobs)
        if len(terminals[job]) != 1
    ]
    out += [
        Violation("cancel_by_other", job, text)
        for job in sorted(jobs)
        for text in terminals[job]
        if f"cancelled by user {OTHER}" in text
    ]
    shown = messages_of(writes)
    for job in sorted(jobs | set(shown)):
        if job not in shown:
            out.append(Violation("no_message", job, "no message was ever shown"))
        else:
            out += _message_checks(job, _want(job, jobs, terminals), shown[job])
    out += _store_missing(client, log)
    for interaction, named in trains.items():
        if len(named) > 1:
            out.append(Violation("interaction_twice", interaction, f"queued {sorted(named)}"))
    if len(requested) > len(trains) and not any(v.kind == "interaction_twice" for v in out):
        detail = f"{len(requested)} requests queued for {len(trains)} /train interactions"
        out.append(Violation("interaction_twice", "-", detail))
    return out
