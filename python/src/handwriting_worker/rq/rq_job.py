"""The job as RQ runs it, in the work horse, and the facts it leaves in the job's meta.

``train_job`` runs in the work horse (a forked child). It must close its publisher itself:
the horse leaves through ``os._exit``, so nothing queued would survive otherwise. It notes its
run id in the job's meta, where whoever reports a lost job (see ``reports``) reads it.

Exactly one terminal event per job, however the horse ends: its events go to a publisher
whose Redis sink claims the job's one terminal event (``handwriting_ai.events.terminal``), and
anything that escapes the job (an exception in the cancel check, in ``on_run_id``, the time
limit before training started) still ends in one failed event (system) from here. A job that
already ended (its terminal key is held: an operator's requeue) is not run again. A job
cancelled after a worker took it from the queue but before it started trains nothing and
reports the cancel itself; one cancelled while it trains is stopped by the ``CancelWatch``
even when RQ's stop-job command reached no worker.
"""

from __future__ import annotations

import logging

from redis import Redis
from rq.job import Job, get_current_job
from rq.serializers import JSONSerializer

from handwriting_ai.contracts.names import TERMINAL_KEY
from handwriting_ai.defaults import CLOSE_TIMEOUT_S
from handwriting_ai.events import builders
from handwriting_ai.events.codec import Event
from handwriting_ai.events.factory import open_publisher
from handwriting_ai.events.publishers import Publisher
from handwriting_ai.events.terminal import TERMINAL_TYPES, summary
from handwriting_ai.settings import Settings, load_settings
from handwriting_worker.rq.cancel_watch import CancelWatch
from handwriting_worker.rq.requests_keys import cancel_text, cancelled_by
from handwriting_worker.training.job import JobEvents, JobOutcome, JobTimedOut, context_of, run_job

log = logging.getLogger(__name__)

SERIALIZER = JSONSerializer
"""The queue's serializer, everywhere (enqueue, worker, tests): the payload is a JSON object."""

RUN_ID_META = "run_id"


def fallback_request_id(job_id: str) -> str:
    """The request id of a job whose request has none: named after the RQ job, never shared."""
    return f"rq-job-{job_id}"


def note_in_meta(job: Job | None, key: str, value: str | bool) -> None:
    """Notes a fact in the job's meta in Redis, where the parent can read it."""
    if job is not None:
        job.meta[key] = value
        # What Job.save_meta does (it is not typed): only the meta field, never the status.
        job.connection.hset(job.key, "meta", job.serializer.dumps(job.meta))


class _Watched:
    """A publisher that notes whether a terminal event was handed to it."""

    def __init__(self, publisher: Publisher) -> None:
        self.publisher = publisher
        self.ended = False

    def publish(self, event: Event) -> None:
        self.ended = self.ended or event["type"] in TERMINAL_TYPES
        self.publisher.publish(event)

    def close(self, timeout: float = CLOSE_TIMEOUT_S) -> None:
        self.publisher.close(timeout)


def ended_with(connection: Redis, ctx: builders.JobContext) -> str | None:
    """The text of the terminal event that already ended this job, if one did."""
    held = connection.get(TERMINAL_KEY.format(user_id=ctx.user_id, request_id=ctx.request_id))
    return held.decode() if isinstance(held, bytes) else None


def _run(job: Job, payload: object, settings: Settings, publisher: Publisher) -> JobOutcome:
    ctx = context_of(payload, fallback_request_id(job.id))
    held = ended_with(job.connection, ctx)
    if held is not None:
        log.warning("job %s already ended with %s: not run again", job.id, summary(held))
        return JobOutcome("failed", None, message="already ended")
    by = cancelled_by(job.connection, ctx.user_id, ctx.request_id) if ctx.user_id else 0
    events = JobEvents(ctx, publisher, legacy=settings.events.legacy)
    if by:  # cancelled before it started: trains nothing
        return events.failed("user", cancel_text(by))
    watch = None
    if ctx.user_id:
        watch = CancelWatch(settings.redis_url_value(), ctx.user_id, ctx.request_id)
    try:
        return run_job(
            payload,
            settings,
            publisher,
            on_run_id=lambda run_id: note_in_meta(job, RUN_ID_META, run_id),
            fallback_request_id=fallback_request_id(job.id),
            cancel_check=None if watch is None else watch.message,
        )
    finally:
        if watch is not None:
            watch.close()


def _escaped(
    job: Job, payload: object, exc: BaseException, settings: Settings, publisher: Publisher
) -> JobOutcome:
    """The one failed event (system) of a job that something escaped from."""
    log.error("job %s: %s escaped the job", job.id, type(exc).__name__, exc_info=exc)
    ctx = context_of(payload, fallback_request_id(job.id))
    run_id = job.meta.get(RUN_ID_META)
    if isinstance(run_id, str):
        ctx = ctx.with_run(run_id)
    text = str(exc) if isinstance(exc, JobTimedOut) else f"{type(exc).__name__}: {exc}"
    events = JobEvents(ctx, publisher, legacy=settings.events.legacy)
    return events.failed("system", f"the job stopped unexpectedly: {text}")


def run_guarded(job: Job, payload: object, settings: Settings, publisher: Publisher) -> JobOutcome:
    """Runs the job of the work horse; anything that escapes it before its terminal event was
    handed over ends it with one failed event (system). Raises only what escapes after it."""
    watched = publisher if isinstance(publisher, _Watched) else _Watched(publisher)
    try:
        return _run(job, payload, settings, watched)
    except BaseException as exc:  # no job without its terminal event
        if watched.ended:
            raise
        return _escaped(job, payload, exc, settings, watched)


def train_job(payload: object) -> dict[str, str | float | None]:
    """RQ entry point: one training job in the work horse; returns its outcome."""
    settings = load_settings()
    job = get_current_job()
    publisher = _Watched(open_publisher(settings))
    try:
        if job is None:  # called outside RQ
            outcome = run_job(payload, settings, publisher)
        else:
            outcome = run_guarded(job, payload, settings, publisher)
    finally:
        publisher.close(settings.events.close_timeout_s)
    return {
        "status": outcome.status,
        "run_id": outcome.run_id,
        "val_acc": outcome.val_acc,
        "message": outcome.message,
    }
