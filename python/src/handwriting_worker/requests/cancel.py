"""Cancel from Discord, on the worker side: a queued job is removed, a running one stopped.

Each ending goes out through the terminal script (``handwriting_ai.events.terminal``), so a
Cancel racing the job's own end (or another Cancel) still leaves one terminal event. The
bot has already recorded who cancelled (``rq.requests_keys.CANCEL_KEY``) before the intake
gets here, and every path reads that record, so each ending says "cancelled by user N" exactly
once (failed, error_kind user):
- queued: removed from RQ's queue list; the one that removed it (LREM said 1) publishes;
- removed, but the answer was lost (a LREM that Redis ran after its client timed out, then
  retried: 0): a job that is in neither the queue nor a worker's hands (RQ's intermediate
  list, where a worker moves what it takes until it marks it started, both read in one
  MULTI) and still waiting was removed by us, so we publish; the terminal script drops a
  duplicate, so deciding it twice is harmless, while trusting the 0 left the job with no end;
- taken by a worker but not yet started: the work horse finds the record and publishes;
- running: RQ's stop-job command; the worker's parent publishes
  (``rq.terminal_outcomes.stop_cause``); a stop that reached no worker is caught by the horse
  itself, which polls the record (``rq.cancel_watch``);
- not yet queued: the intake finds the record when the request comes, queues nothing, publishes;
- already ended: nothing (its terminal event is out).
"""

from __future__ import annotations

import logging

from redis import Redis
from rq import Queue
from rq.command import send_stop_job_command
from rq.exceptions import InvalidJobOperation, NoSuchJobError
from rq.job import Job, JobStatus

from handwriting_ai.settings import Settings
from handwriting_worker.rq.requests_keys import cancel_text, job_id_for
from handwriting_worker.rq.rq_job import SERIALIZER
from handwriting_worker.rq.terminal_outcomes import report_failed

log = logging.getLogger(__name__)

_WAITING = (JobStatus.QUEUED, JobStatus.DEFERRED, JobStatus.SCHEDULED)


def cancel_request(
    settings: Settings, connection: Redis, user_id: int, request_id: str, by: int
) -> str:
    """Acts on one Cancel (see the module's docstring); what it did, for the log."""
    try:
        job = Job.fetch(job_id_for(user_id, request_id), connection, serializer=SERIALIZER)
    except NoSuchJobError:
        return "not queued yet: its request will find the cancel and queue nothing"
    status: JobStatus | None = job.get_status(refresh=False)
    if status in _WAITING:
        queue = Queue(job.origin, connection=connection, serializer=SERIALIZER)
        if queue.remove(job.id):  # no worker has it, and none will
            return _end(settings, job, by, "removed from the queue")
        status, held = _held(connection, queue, job)
        if status in _WAITING and not held:  # an earlier LREM of ours took it: see above
            return _end(settings, job, by, "removed by an earlier try whose answer was lost")
    if status == JobStatus.STARTED:
        try:
            send_stop_job_command(connection, job.id, serializer=SERIALIZER)
        except InvalidJobOperation:  # no worker named: it ended in between
            return "ended before the stop"
        return "stop sent to its worker"
    if status in _WAITING:
        return "taken by a worker: it will find the cancel when it starts"
    return f"nothing to do: the job is {status}"


def _end(settings: Settings, job: Job, by: int, outcome: str) -> str:
    """Ends a job that no worker has and none will: cancelled, and its one failed event."""
    job.cancel()
    report_failed(settings, job, "user", cancel_text(by))
    return outcome


def _held(connection: Redis, queue: Queue, job: Job) -> tuple[JobStatus | None, bool]:
    """The job's status and whether a worker holds it, read in one MULTI: a worker's start
    (RQ's ``prepare_job_execution``) marks it started and leaves the intermediate list in one
    MULTI too, so a waiting job outside that list is in no worker's hands."""
    with connection.pipeline(transaction=True) as pipe:
        pipe.lpos(queue.intermediate_queue_key, job.id)
        pipe.hget(job.key, "status")
        position, raw = pipe.execute()
    status = JobStatus(raw.decode()) if isinstance(raw, bytes) else None
    return status, position is not None
