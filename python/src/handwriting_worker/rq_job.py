"""The job as RQ runs it, and what the worker's parent reports when the work horse dies.

``train_job`` runs in the work horse (a forked child). It must close its publisher itself:
the horse leaves through ``os._exit``, so nothing queued would survive otherwise.
``report_dead_horse`` runs in the worker's parent when the horse was killed (out of memory,
SIGKILL, or killed by RQ after the job's timeout): the job cannot report that itself.
"""

from __future__ import annotations

import logging
import os
import signal
from datetime import UTC, datetime

from rq.job import Job, get_current_job

from handwriting_ai.events import builders as ev
from handwriting_ai.events.factory import open_publisher
from handwriting_ai.settings import Settings, load_settings
from handwriting_worker.job import context_of, run_job

log = logging.getLogger(__name__)

RUN_ID_META = "run_id"
TERMINAL_META = "terminal_sent"


def _remember(job: Job | None, key: str, value: str | bool) -> None:
    """Notes a fact in the job's meta in Redis, where the parent can read it."""
    if job is not None:
        job.meta[key] = value
        # What Job.save_meta does (it is not typed): only the meta field, never the status.
        job.connection.hset(job.key, "meta", job.serializer.dumps(job.meta))


def train_job(payload: object) -> dict[str, str | float | None]:
    """RQ entry point: one training job in the work horse; returns its outcome."""
    settings = load_settings()
    job = get_current_job()
    publisher = open_publisher(settings)
    try:
        outcome = run_job(
            payload,
            settings,
            publisher,
            on_run_id=lambda run_id: _remember(job, RUN_ID_META, run_id),
        )
        _remember(job, TERMINAL_META, True)
    finally:
        publisher.close(settings.events.close_timeout_s)
    return {
        "status": outcome.status,
        "run_id": outcome.run_id,
        "val_acc": outcome.val_acc,
        "message": outcome.message,
    }


def death_cause(job: Job, ret_val: int, now: datetime | None = None) -> str:
    """A one-line cause for a dead work horse, from its wait status and the job's timeout."""
    started = job.started_at
    if job.timeout is not None and job.timeout > 0 and started is not None:
        elapsed = ((now or datetime.now(UTC)) - started.replace(tzinfo=UTC)).total_seconds()
        if elapsed >= job.timeout:
            return f"timed out after {job.timeout} s"
    if os.WIFSIGNALED(ret_val):
        number = os.WTERMSIG(ret_val)
        if number == signal.SIGKILL:
            return "worker process killed by signal 9, probably out of memory"
        return f"worker process killed by signal {number} ({signal.Signals(number).name})"
    return f"worker process exited unexpectedly with status {os.WEXITSTATUS(ret_val)}"


def report_dead_horse(settings: Settings, job: Job, ret_val: int) -> None:
    """Publishes the failed event a killed work horse could not send (unless it did)."""
    meta = job.get_meta(refresh=True)
    if meta.get(TERMINAL_META):
        return  # it died after its terminal event: exactly one per job
    payload = job.args[0] if job.args else None
    ctx = context_of(payload)
    run_id = meta.get(RUN_ID_META)
    if isinstance(run_id, str):
        ctx = ctx.with_run(run_id)
    cause = death_cause(job, ret_val)
    log.warning("job %s (request %s): %s", job.id, ctx.request_id, cause)
    publisher = open_publisher(settings)
    try:
        publisher.publish(ev.failed(ctx, error_kind="system", message=cause))
        if settings.events.legacy:
            publisher.publish(ev.legacy_failed(ctx, error_kind="system", message=cause))
    finally:
        publisher.close(settings.events.close_timeout_s)
