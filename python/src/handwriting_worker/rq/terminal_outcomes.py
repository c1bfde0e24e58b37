"""Every way a training job ends, and the one terminal event each gets: decided here.

Whoever ends a job hands its terminal event to a publisher whose Redis sink sends every
terminal event through one script (``handwriting_ai.events.terminal``): the first terminal
event of a job to reach Redis is its only one, and a later one is dropped there and logged.

In the work horse (``rq_job.train_job``, under ``guard``), the job sends its own:
- trained, or failed on its own (a bad request, data, a Cancel seen while it trains): the
  job's ``completed`` or ``failed`` (``training.job``);
- already ended (its terminal key is held: an operator's requeue): not run again, nothing sent;
- cancelled after a worker took it but before it started: failed (user), "cancelled by user N";
- anything that escapes the job before its terminal event was handed over (an exception in
  the cancel check or ``on_run_id``, the time limit before training started): failed (system).

A job that could not send its own is reported failed by someone else (``report_*``, reading
the run id and the canceller from the job's meta, ``job_meta``):
- its horse killed (a signal, out of memory, its time limit): the worker's parent, ``death_cause``;
- RQ's stop-job command: the parent, ``stop_cause`` (the user who cancelled, or an operator);
- a cold shutdown (a second SIGTERM): the parent, ``COLD_SHUTDOWN``;
- taken from the queue but never started (RQ's clean-up fails it as stuck in its intermediate
  queue: its worker quit or Redis failed at that moment): a worker's parent, ``NEVER_STARTED``;
- parent and horse both gone: a surviving worker's clean-up (``lost``), ``lost_message``;
- a job the worker refuses to run (``job_class``): the parent, when it names a request;
- cancelled while queued: the Cancel (``requests.cancel``); an invalid request, or one
  cancelled before it was queued: the intake (``publish_failed``).
A report's publisher delivers this machine's spool before the report, so a horse's own
terminal event waiting there (Redis was away) wins over the report.
"""

from __future__ import annotations

import logging
import os
import signal
from collections.abc import Callable
from datetime import UTC, datetime

from redis import Redis
from rq.job import Job

from handwriting_ai.contracts.common import ErrorKind
from handwriting_ai.contracts.names import TERMINAL_KEY
from handwriting_ai.defaults import CLOSE_TIMEOUT_S
from handwriting_ai.events import builders
from handwriting_ai.events.codec import Event
from handwriting_ai.events.factory import open_publisher
from handwriting_ai.events.publishers import Publisher
from handwriting_ai.events.terminal import TERMINAL_TYPES, summary
from handwriting_ai.settings import Settings
from handwriting_worker.rq.job_meta import CANCEL_META, RUN_ID_META, fallback_request_id
from handwriting_worker.rq.requests_keys import cancel_text, cancelled_by
from handwriting_worker.training.job import (
    UNKNOWN,
    JobEvents,
    JobOutcome,
    JobTimedOut,
    context_of,
    user_of,
)
from handwriting_worker.training.texts import redacted_event_text

log = logging.getLogger(__name__)

COLD_SHUTDOWN = "worker lost: the worker was shut down (cold) while the job ran"
NEVER_STARTED = (
    "worker lost: the job was taken from the queue but never started "
    "(its worker or Redis failed at that moment); ask again"
)

HorseJob = Callable[[Job, object, Settings, Publisher], JobOutcome]
"""The work horse's job (``rq_job``): RQ's job, its payload, the settings, its publisher."""


class TerminalWatch:
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


def before_training(
    job: Job, ctx: builders.JobContext, settings: Settings, publisher: Publisher
) -> JobOutcome | None:
    """The outcome of a job that must not train: it already ended (not run again, nothing
    sent), or it was cancelled before it started (its failed event); None when it may train."""
    held = ended_with(job.connection, ctx)
    if held is not None:
        log.warning("job %s already ended with %s: not run again", job.id, summary(held))
        return JobOutcome("failed", None, message="already ended")
    by = cancelled_by(job.connection, ctx.user_id, ctx.request_id) if ctx.user_id else 0
    if by:  # cancelled before it started: trains nothing
        events = JobEvents(ctx, publisher, legacy=settings.events.legacy)
        return events.failed("user", cancel_text(by))
    return None


def escaped_failure(
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


def guard(
    run: HorseJob, job: Job, payload: object, settings: Settings, publisher: Publisher
) -> JobOutcome:
    """Runs the work horse's job; anything that escapes it before its terminal event was
    handed over ends it with one failed event (system). Raises only what escapes after it."""
    watched = publisher if isinstance(publisher, TerminalWatch) else TerminalWatch(publisher)
    try:
        return run(job, payload, settings, watched)
    except BaseException as exc:  # no job without its terminal event
        if watched.ended:
            raise
        return escaped_failure(job, payload, exc, settings, watched)


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


def report_stopped(settings: Settings, job: Job) -> None:
    """Publishes the failed event of a job RQ's stop-job command stopped (``stop_cause``)."""
    report_safely(settings, job, *stop_cause(job))


def report_cold_shutdown(settings: Settings, job: Job) -> None:
    """Publishes the failed event of a job its worker's cold shutdown ended."""
    report_safely(settings, job, "system", COLD_SHUTDOWN)


def report_never_started(settings: Settings, job: Job) -> None:
    """Publishes the failed event of a job RQ failed as stuck: taken, never started."""
    report_safely(settings, job, "system", NEVER_STARTED)


def lost_message(heartbeat_s: int) -> str:
    """The failed event's text of a lost job."""
    return (
        f"worker lost: no heartbeat from the worker running this job for {heartbeat_s} s "
        "(its machine was lost or it was killed)"
    )


def report_lost(settings: Settings, job: Job, heartbeat_s: int) -> None:
    """Publishes the failed event of a job whose worker is gone (see ``lost``)."""
    report_safely(settings, job, "system", lost_message(heartbeat_s))


def report_refused(settings: Settings, job: Job, reason: str) -> None:
    """Publishes the failed event of a job the worker refuses to run, when it names a request
    (so its user's message ends); one that names none has no one to tell."""
    try:
        payload: object = job.args[0] if job.args else None
    except Exception:  # unreadable data names no request
        payload = None
    if context_of(payload).request_id != UNKNOWN:
        report_safely(settings, job, "system", f"refused by the worker: {reason}")
