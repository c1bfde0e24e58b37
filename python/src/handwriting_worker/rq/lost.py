"""Jobs whose worker is gone: reported failed ("worker lost") a little after they are found.

Why the wait: a job is found lost when its heartbeat ran out, which is also what a Redis
outage does to a job that finished. Its work horse may have ended it, with its terminal event
spooled on its machine (Redis refused it), and that machine's worker delivers the spool at
start and at each maintenance (``factory.deliver_spool``). So RQ's clean-up only notes a lost
job here (``LOST_PENDING_KEY``: job id -> when its report is due, one ``delay_s`` later), and
a worker's maintenance reports the jobs that are due, through the terminal script: when the
spooled ``completed`` arrived first, the report is dropped and the true outcome stands. When
the machine never comes back, the report is what the job's message shows.

A paused Redis (a stalled host, a long fork) lapses every heartbeat at once, so a job is also
noted while the worker that runs it is alive. That worker delivers the job's true outcome
itself (its horse's event, live or spooled, or its own report of a dead horse), so a due job
whose worker has heartbeated within a heartbeat's length (two units, ``heartbeat_s``) is not
reported: while that worker runs it, until it ends; once that worker is done with it, for at
most ``WAIT_UNITS`` more units (its spool is delivered every unit). It is checked again at
each maintenance and reported once that worker is gone (a worker started again has a new
name: the old one's heartbeat stops).
"""

from __future__ import annotations

import logging
import time

from redis import Redis
from rq.exceptions import NoSuchJobError
from rq.job import Job
from rq.utils import utcparse

from handwriting_ai.contracts.names import LOST_PENDING_KEY
from handwriting_ai.settings import Settings
from handwriting_worker.rq.rq_job import SERIALIZER
from handwriting_worker.rq.terminal_outcomes import report_lost

log = logging.getLogger(__name__)

WAIT_UNITS = 6
"""How long (in units, one lost-worker bound) a live worker that is done with a noted job has
to deliver its outcome before the job is reported anyway."""


def note_lost(connection: Redis, queue: str, job_id: str, delay_s: float) -> None:
    """Notes a job found lost; its report is due ``delay_s`` from now (kept if noted before)."""
    key = LOST_PENDING_KEY.format(queue=queue)
    connection.zadd(key, {job_id: time.time() + delay_s}, nx=True)
    log.info("job %s: no heartbeat; reported lost in %.0f s unless it ends first", job_id, delay_s)


def report_due(settings: Settings, connection: Redis, queue: str, unit_s: float) -> int:
    """Reports every noted job whose time has come, unless its worker is alive and ends it
    itself; how many left the list (reported, or gone from Redis). Raises redis-py's errors."""
    key = LOST_PENDING_KEY.format(queue=queue)
    now = time.time()
    due = connection.zrangebyscore(key, "-inf", now, withscores=True)
    handled = 0
    for member, due_at in [item for item in due if isinstance(item, tuple)]:
        job_id = member.decode() if isinstance(member, bytes) else str(member)
        try:
            job = Job.fetch(job_id, connection=connection, serializer=SERIALIZER)
        except NoSuchJobError:
            log.warning("job %s was lost and is gone from Redis: nothing to report", job_id)
        else:
            silent_s = _silent_s(connection, job, now)
            if _worker_ends_it(connection, job, silent_s, now - float(due_at), unit_s):
                continue
            seconds = silent_s if silent_s != float("inf") else 3 * unit_s
            report_lost(settings, job, int(seconds))
        # After the report: a worker that dies in between leaves it for another (the terminal
        # script keeps a second report out of the log).
        connection.zrem(key, job_id)
        handled += 1
    return handled


def _silent_s(connection: Redis, job: Job, now: float) -> float:
    """Seconds since the last heartbeat of the worker that ran ``job`` (inf: none known)."""
    beat = connection.hget(f"rq:worker:{job.worker_name}", "last_heartbeat")
    if not job.worker_name or not isinstance(beat, bytes):
        return float("inf")
    try:
        return now - utcparse(beat.decode()).timestamp()
    except ValueError:
        return float("inf")


def _worker_ends_it(
    connection: Redis, job: Job, silent_s: float, late_s: float, unit_s: float
) -> bool:
    """Whether the worker that ran ``job`` is alive (a heartbeat within two units) and will
    end it itself: it still runs it (at most its timeout more), or it is done with it and had
    less than ``WAIT_UNITS`` units since the report was due to deliver its outcome."""
    if silent_s >= 2 * unit_s:
        return False
    # RQ leaves current_job set when a horse dies after a clean-up failed its job (chaos seed
    # 1939): the worker runs the job only while it is also busy.
    current, state = connection.hmget(f"rq:worker:{job.worker_name}", ["current_job", "state"])
    running = current == job.id.encode() and state == b"busy"
    limit_s = WAIT_UNITS * unit_s + (job.timeout or 0 if running else 0)
    if late_s >= limit_s:
        return False
    if late_s < unit_s:  # said once, at its first due check
        log.info("job %s: its worker %s is alive; it ends the job", job.id, job.worker_name)
    return True
