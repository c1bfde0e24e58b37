"""The job as RQ runs it, in the work horse.

``train_job`` runs in the work horse (a forked child). It must close its publisher itself:
the horse leaves through ``os._exit``, so nothing queued would survive otherwise. It notes its
run id in the job's meta (``job_meta``), where whoever reports a lost job reads it.

Exactly one terminal event per job, however the horse ends (``terminal_outcomes``): its
events go to a publisher whose Redis sink claims the job's one terminal event, anything that
escapes the job still ends in one failed event (``terminal_outcomes.guard``), and a job that
already ended or was cancelled before it started trains nothing. One cancelled while it
trains is stopped by the ``CancelWatch`` even when RQ's stop-job command reached no worker.
"""

from __future__ import annotations

from rq.job import Job, get_current_job
from rq.serializers import JSONSerializer

from handwriting_ai.events.factory import open_publisher
from handwriting_ai.events.publishers import Publisher
from handwriting_ai.settings import Settings, load_settings
from handwriting_worker.rq.cancel_watch import CancelWatch
from handwriting_worker.rq.job_meta import RUN_ID_META, fallback_request_id, note_in_meta
from handwriting_worker.rq.terminal_outcomes import TerminalWatch, before_training, guard
from handwriting_worker.training.job import JobOutcome, context_of, run_job

SERIALIZER = JSONSerializer
"""The queue's serializer, everywhere (enqueue, worker, tests): the payload is a JSON object."""


def _run(job: Job, payload: object, settings: Settings, publisher: Publisher) -> JobOutcome:
    ctx = context_of(payload, fallback_request_id(job.id))
    ended = before_training(job, ctx, settings, publisher)
    if ended is not None:
        return ended
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


def run_guarded(job: Job, payload: object, settings: Settings, publisher: Publisher) -> JobOutcome:
    """Runs the job of the work horse under ``terminal_outcomes.guard``: anything that escapes
    it before its terminal event was handed over ends it with one failed event (system)."""
    return guard(_run, job, payload, settings, publisher)


def train_job(payload: object) -> dict[str, str | float | None]:
    """RQ entry point: one training job in the work horse; returns its outcome."""
    settings = load_settings()
    job = get_current_job()
    publisher = TerminalWatch(open_publisher(settings))
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
