"""The job as RQ runs it, in the work horse, and the facts it leaves in the job's meta.

``train_job`` runs in the work horse (a forked child). It must close its publisher itself:
the horse leaves through ``os._exit``, so nothing queued would survive otherwise. It notes
its run id and, only once its terminal event has been flushed, ``terminal_sent``: whoever
reports a lost job (see ``reports``) reads them. The queue carries JSON only (``SERIALIZER``):
anyone who can write to it can ask for training, never run code. A job cancelled after a worker
took it from the queue but before it started trains nothing: it reports the cancel itself.
"""

from __future__ import annotations

from rq.job import Job, get_current_job
from rq.serializers import JSONSerializer

from handwriting_ai.contracts import names
from handwriting_ai.events.factory import open_publisher
from handwriting_ai.events.publishers import Publisher
from handwriting_ai.settings import Settings, load_settings
from handwriting_worker.job import JobEvents, JobOutcome, context_of, run_job
from handwriting_worker.requests_keys import cancel_text, cancelled_by

SERIALIZER = JSONSerializer
"""The queue's serializer, everywhere (enqueue, worker, tests): the payload is a JSON object."""

RUN_ID_META = "run_id"
TERMINAL_META = "terminal_sent"
REPORTED_KEY = names.LOST_REPORTED_KEY
"""Claimed (SET NX) by whoever reports a job the horse could not finish: one report per run."""
REPORTED_TTL_S = 7 * 24 * 3600


def fallback_request_id(job_id: str) -> str:
    """The request id of a job whose request has none: named after the RQ job, never shared."""
    return f"rq-job-{job_id}"


def _remember(job: Job | None, key: str, value: str | bool) -> None:
    """Notes a fact in the job's meta in Redis, where the parent can read it."""
    if job is not None:
        job.meta[key] = value
        # What Job.save_meta does (it is not typed): only the meta field, never the status.
        job.connection.hset(job.key, "meta", job.serializer.dumps(job.meta))


def _start_run(job: Job) -> None:
    """Forgets what an earlier run of this job (before an RQ requeue) left behind."""
    job.meta.pop(RUN_ID_META, None)
    job.meta.pop(TERMINAL_META, None)
    with job.connection.pipeline() as pipe:
        pipe.hset(job.key, "meta", job.serializer.dumps(job.meta))
        pipe.delete(REPORTED_KEY.format(job_id=job.id))
        pipe.execute()


def _cancelled(
    job: Job, payload: object, settings: Settings, publisher: Publisher
) -> JobOutcome | None:
    """The outcome of a job cancelled before it started (its failed event sent), else None."""
    ctx = context_of(payload, fallback_request_id(job.id))
    by = cancelled_by(job.connection, ctx.user_id, ctx.request_id) if ctx.user_id else 0
    if not by:
        return None
    job_events = JobEvents(ctx, publisher, legacy=settings.events.legacy)
    return job_events.failed("user", cancel_text(by))


def train_job(payload: object) -> dict[str, str | float | None]:
    """RQ entry point: one training job in the work horse; returns its outcome."""
    settings = load_settings()
    job = get_current_job()
    if job is not None:
        _start_run(job)
    publisher = open_publisher(settings)
    try:
        outcome = None if job is None else _cancelled(job, payload, settings, publisher)
        if outcome is None:
            outcome = run_job(
                payload,
                settings,
                publisher,
                on_run_id=lambda run_id: _remember(job, RUN_ID_META, run_id),
                fallback_request_id=None if job is None else fallback_request_id(job.id),
            )
    finally:
        publisher.close(settings.events.close_timeout_s)
    # Only now is the terminal event out of this process: a horse that dies before this line
    # is reported by its parent (or, if the parent is gone too, by another worker).
    _remember(job, TERMINAL_META, True)
    return {
        "status": outcome.status,
        "run_id": outcome.run_id,
        "val_acc": outcome.val_acc,
        "message": outcome.message,
    }
