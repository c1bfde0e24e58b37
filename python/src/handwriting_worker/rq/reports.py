"""The failed event of a job that could not send its own: whoever sends it, one per job.

A job's work horse publishes its own terminal event. When the horse dies first, someone else
reports it: the worker's parent (horse killed, stop-job, cold shutdown), or, when the parent is
gone too, a surviving worker's clean-up (``lost``). A report is an ordinary failed event
handed to a publisher whose Redis sink sends every terminal event through one script
(``handwriting_ai.events.terminal``): the first terminal event of a job to reach Redis is its
only one, and a report that comes after the horse's own event (or after another report) is
dropped there and logged. That publisher's thread delivers this machine's spool before the
report, so a horse's own terminal event waiting there (Redis was away) wins over the report.
"""

from __future__ import annotations

import logging
import os
import signal
from datetime import UTC, datetime

from rq.job import Job

from handwriting_ai.contracts.common import ErrorKind
from handwriting_ai.events import builders
from handwriting_ai.events.factory import open_publisher
from handwriting_ai.settings import Settings
from handwriting_worker.rq.requests_keys import cancel_text, cancelled_by
from handwriting_worker.rq.rq_job import RUN_ID_META, fallback_request_id
from handwriting_worker.training.job import context_of, user_of
from handwriting_worker.training.texts import redacted_event_text

log = logging.getLogger(__name__)

CANCEL_META = "cancel_requested_by"
"""Set (a Discord user id, decimal) and saved by whoever cancels a job before RQ's stop-job."""


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


def stop_cause(job: Job) -> tuple[ErrorKind, str]:
    """Who stopped the job (RQ's stop-job): the user who cancelled it (the job's meta, or the
    Cancel button's record), else an operator."""
    try:
        user = user_of(job.get_meta(refresh=True).get(CANCEL_META))
        ctx = context_of(job.args[0] if job.args else None)
        if not user and ctx.user_id:  # the Cancel button's record (see requests_keys)
            user = cancelled_by(job.connection, ctx.user_id, ctx.request_id)
    except Exception:  # unreadable meta or Redis gone: nobody can be named
        log.exception("job %s: cannot read who stopped it", job.id)
        user = 0
    if user:
        return "user", cancel_text(user)
    return "system", "stopped by an operator"


def report_failed(
    settings: Settings,
    job: Job,
    error_kind: ErrorKind,
    message: str,
    *,
    use_meta: bool = True,
) -> None:
    """Publishes the job's failed event; the terminal script drops it when the job had ended.

    ``use_meta=False`` leaves the job's meta (its run id) unread, when reading it is what
    failed.
    """
    meta = job.get_meta(refresh=True) if use_meta else {}
    ctx = context_of(job.args[0] if job.args else None, fallback_request_id(job.id))
    run_id = meta.get(RUN_ID_META)
    if isinstance(run_id, str):
        ctx = ctx.with_run(run_id)
    message = builders.one_line(redacted_event_text(message, settings.digits.artifacts_root))
    log.warning(
        "job %s (request %r): reporting it failed (%s): %s",
        job.id,
        ctx.request_id,
        error_kind,
        message,
    )
    publish_failed(settings, ctx, error_kind=error_kind, message=message)


def publish_failed(
    settings: Settings, ctx: builders.JobContext, *, error_kind: ErrorKind, message: str
) -> None:
    """Publishes a job's failed event (and its legacy twin when on) and flushes it: through
    the terminal script when it reaches Redis, else spooled on this machine for later."""
    publisher = open_publisher(settings)
    try:
        publisher.publish(builders.failed(ctx, error_kind=error_kind, message=message))
        if settings.events.legacy:
            publisher.publish(builders.legacy_failed(ctx, error_kind=error_kind, message=message))
    finally:
        publisher.close(settings.events.close_timeout_s)


def report_safely(settings: Settings, job: Job, error_kind: ErrorKind, message: str) -> None:
    """``report_failed``, for the worker's parent: a failure in it never stops the worker.

    When the full report fails (its meta unreadable, say), a plain one is tried, so the job
    still gets its one failed event.
    """
    try:
        report_failed(settings, job, error_kind, message)
    except Exception:
        log.exception("report of job %s failed; sending it without the job's meta", job.id)
        try:
            report_failed(settings, job, error_kind, message, use_meta=False)
        except Exception:
            log.exception("plain report of job %s failed too", job.id)


def report_dead_horse(settings: Settings, job: Job, ret_val: int) -> None:
    """Publishes the failed event a killed work horse could not send (unless it did)."""
    report_safely(settings, job, "system", death_cause(job, ret_val))
