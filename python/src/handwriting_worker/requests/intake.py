"""``python -m handwriting_worker intake``: moves Discord's requests into RQ, each exactly once.

The bot never writes RQ's internal format: it appends each ``/train`` and each Cancel to
``DIGITS_REQUESTS_STREAM`` (see ``rq.requests_keys``). Any number of intakes share the stream
through one consumer group and acknowledge an entry only once its effect is in Redis. A request
becomes the RQ job ``job_id_for(user, request)`` in one MULTI/EXEC with a marker, so an entry
delivered again (its intake died before XACK) is acknowledged, not queued again; an entry whose
intake died before the EXEC is taken over (XAUTOCLAIM) after ``INTAKE__CLAIM_IDLE_S`` and queued
then. An invalid request gets its one failed event (error_kind user) and is acknowledged.
Nothing an entry holds stops the intake: bytes that are not UTF-8, JSON nested too deep, or
any other failure to handle it is a refusal, logged (escaped), counted and acknowledged, as
an entry left pending would come back after ``INTAKE__CLAIM_IDLE_S`` and fail again forever.
SIGTERM or SIGINT: the entry in hand is finished, then the intake exits.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping

from redis import Redis
from redis.client import Pipeline
from redis.exceptions import RedisError, ResponseError

from handwriting_ai.contracts import DigitsTrainV1, names
from handwriting_ai.events import builders, json_numbers
from handwriting_ai.events.codec import RequestValidationError, decode_request
from handwriting_ai.settings import Settings
from handwriting_worker.requests.cancel import cancel_request
from handwriting_worker.rq.queue_commands import queue_of
from handwriting_worker.rq.requests_keys import (
    CANCEL_FIELD,
    REQUEST_FIELD,
    cancel_key,
    cancel_text,
    job_id_for,
)
from handwriting_worker.rq.rq_job import train_job
from handwriting_worker.rq.terminal_outcomes import publish_failed
from handwriting_worker.training.job import context_of, user_of

log = logging.getLogger(__name__)

BLOCK_MS = 1000
"""A read waits at most this long, so a stop is seen within about a second."""
READ_TIMEOUT_S = 5.0
"""The intake's Redis client gives up on a reply after this long (above BLOCK_MS): a Redis
that went silent (host lost, network cut) fails the read, and a stop is seen within about
this long, well inside the unit's 30 s stop timeout."""
RETRY_CAP_S = 30.0
DONE_KEY = names.INTAKE_DONE_KEY
"""Written in the same transaction as the job: ``queued``, or ``cancelled`` (never queued)."""
DONE_TTL_S = 30 * 24 * 3600
Entry = tuple[str, Mapping[object, object]]
"""An entry's id and its fields as Redis gave them (bytes; decoded by ``handle``)."""


class Intake:
    """One consumer of the requests stream (name: ``consumer``, unique per process)."""

    def __init__(self, settings: Settings, connection: Redis, consumer: str) -> None:
        self.settings = settings
        self.redis = connection
        self.consumer = consumer
        self.stream = settings.digits_requests_stream
        self.group = settings.intake.group
        self.queue = queue_of(settings, connection)
        self._group_ready = False
        self.refused = 0
        """Entries refused so far because they could not be decoded or handled."""

    def ensure_group(self) -> None:
        """The consumer group, created at the stream's start (entries added before count)."""
        try:
            self.redis.xgroup_create(self.stream, self.group, id="0", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    def next_entry(self) -> Entry | None:
        """An entry a dead intake left unfinished, else a new one (waits up to BLOCK_MS)."""
        idle_ms = int(self.settings.intake.claim_idle_s * 1000)
        claimed = self.redis.xautoclaim(self.stream, self.group, self.consumer, idle_ms, count=1)
        # XAUTOCLAIM: [next id, [(id, fields)...], deleted ids]
        entry = _first(claimed[1]) if isinstance(claimed, list) and len(claimed) > 1 else None
        if entry is not None:
            return entry
        read = self.redis.xreadgroup(
            self.group, self.consumer, {self.stream: ">"}, count=1, block=BLOCK_MS
        )
        # XREADGROUP: [[stream, [(id, fields)...]]], or None after BLOCK_MS
        if isinstance(read, list) and read and isinstance(read[0], list | tuple):
            return _first(read[0][1])
        return None

    def handle(self, entry_id: str, raw: Mapping[object, object]) -> str:
        """Does what the entry asks; what it did, for the log. Raises RedisError to retry.

        Anything else that goes wrong is this entry's fault (or a bug it triggers): it is
        refused, counted and logged with its traceback, and then acknowledged by ``run``.
        """
        try:
            fields = {_text(key): _text(value) for key, value in raw.items()}
        except UnicodeDecodeError as exc:
            return self._refuse(f"not UTF-8 text ({exc.reason} at byte {exc.start})")
        try:
            return self._handle(entry_id, fields)
        except RedisError:
            raise
        except Exception as exc:
            log.exception("entry %s could not be handled", entry_id)
            return self._refuse(f"{type(exc).__name__}: {exc}")

    def _refuse(self, reason: str) -> str:
        self.refused += 1
        return f"refused: {reason} ({self.refused} refused so far)"

    def _handle(self, entry_id: str, fields: dict[str, str]) -> str:
        if REQUEST_FIELD in fields:
            return self._train(entry_id, fields[REQUEST_FIELD])
        if CANCEL_FIELD in fields:
            return self._cancel(fields[CANCEL_FIELD])
        return f"ignored: no {REQUEST_FIELD!r} or {CANCEL_FIELD!r} field"

    def _train(self, entry_id: str, text: str) -> str:
        try:
            request = decode_request(text)
        except RequestValidationError as exc:
            ctx = context_of(_loads(text), f"stream-{entry_id}")
            # Through the terminal script: an entry delivered again is refused once.
            publish_failed(self.settings, ctx, error_kind="user", message=str(exc))
            return self._refuse(str(exc))
        job_id = job_id_for(request["user_id"], request["request_id"])
        if self._enqueue_once(job_id, request) == "cancelled":
            ctx = builders.JobContext.from_request(request)
            by = user_of(_text(self.redis.get(cancel_key(ctx.user_id, ctx.request_id)) or b""))
            publish_failed(self.settings, ctx, error_kind="user", message=cancel_text(by))
            return f"cancelled before it was queued ({job_id})"
        return f"queued as {job_id}"

    def _enqueue_once(self, job_id: str, request: DigitsTrainV1) -> str:
        """``queued`` or ``cancelled``: what this request's one transaction did (or had done).

        WATCHes the marker and the cancel record: a Cancel that lands in between makes the
        transaction fail, and it runs again, seeing the Cancel.
        """
        done = DONE_KEY.format(job_id=job_id)
        cancel = cancel_key(request["user_id"], request["request_id"])
        outcome: list[str] = []

        def transaction(pipe: Pipeline) -> None:
            outcome.clear()
            before = pipe.get(done)
            outcome.append(_text(before) if before is not None else "")
            if not outcome[0]:  # not done before (else: delivered again)
                outcome[0] = "cancelled" if pipe.exists(cancel) else "queued"
            pipe.multi()
            if before is not None:
                return
            pipe.set(done, outcome[0], ex=DONE_TTL_S)
            if outcome[0] == "queued":
                self.queue.enqueue_call(
                    train_job,
                    args=(dict(request),),
                    timeout=self.settings.rq.job_timeout_s,
                    job_id=job_id,
                    description=f"train {request['model_id']} for user {request['user_id']} "
                    f"(request {request['request_id']})",
                    pipeline=pipe,
                )

        self.redis.transaction(transaction, done, cancel)
        return outcome[0]

    def _cancel(self, text: str) -> str:
        values = _loads(text)
        if not isinstance(values, dict):
            return self._refuse("a cancel that is not a JSON object")
        request_id, user, by = values.get("request_id"), values.get("user_id"), values.get("by")
        if not (isinstance(request_id, str) and 1 <= len(request_id) <= builders.MAX_ID_LENGTH):
            return "ignored: a cancel without a valid request_id"
        if not (user_of(user) and user_of(by)):
            return "ignored: a cancel without valid user_id and by"
        outcome = cancel_request(self.settings, self.redis, user_of(user), request_id, user_of(by))
        return f"cancel of {request_id}: {outcome}"

    def run(self, stop: threading.Event) -> None:
        """Works the stream until ``stop`` is set; Redis errors are retried with backoff."""
        delay = 0.0
        log.info("intake %s reading %s as group %s", self.consumer, self.stream, self.group)
        while not stop.is_set():
            try:
                if not self._group_ready:
                    self.ensure_group()
                    self._group_ready = True
                entry = self.next_entry()
                if entry is not None:
                    entry_id, fields = entry
                    outcome = self.handle(entry_id, fields)
                    self.redis.xack(self.stream, self.group, entry_id)
                    log.info("entry %s: %s", entry_id, outcome)
                delay = 0.0
            except RedisError as exc:  # also NOGROUP, after Redis lost its data: made again
                self._group_ready = False
                delay = min(RETRY_CAP_S, max(0.5, 2 * delay))
                log.warning("intake: Redis failed (%s); again in %.1f s", exc, delay)
                stop.wait(delay)
        log.info("intake %s stopped", self.consumer)


def _first(entries: object) -> Entry | None:
    """The first (id, fields) of a reply's entry list; None when there is none."""
    if not isinstance(entries, list) or not entries:
        return None
    entry_id, fields = entries[0]  # Redis 7 leaves out entries deleted while pending
    return _text(entry_id), fields if isinstance(fields, Mapping) else {}


def _text(value: object) -> str:
    """UTF-8 bytes as text; ``UnicodeDecodeError`` for anything else (an entry's fields)."""
    return value.decode() if isinstance(value, bytes) else str(value)


def _loads(text: str) -> object:
    """Parsed JSON, or None when it is not JSON (nested too deep included)."""
    try:
        return json_numbers.loads(text)
    except ValueError:
        return None
