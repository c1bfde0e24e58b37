"""Jobs whose worker is gone: reported failed ("worker lost") a little after they are found.

Why the wait: a job is found lost when its heartbeat ran out, which is also what a Redis
outage does to a job that finished. Its work horse may have ended it, with its terminal event
spooled on its machine (Redis refused it), and that machine's worker delivers the spool at
start and at each maintenance (``factory.deliver_spool``). So RQ's clean-up only notes a lost
job here (``LOST_PENDING_KEY``: job id -> when its report is due, one ``delay_s`` later), and
a worker's maintenance reports the jobs that are due, through the terminal script: when the
spooled ``completed`` arrived first, the report is dropped and the true outcome stands. When
the machine never comes back, the report is what the job's message shows.
"""

from __future__ import annotations

import logging
import time

from redis import Redis
from rq.exceptions import NoSuchJobError
from rq.job import Job

from handwriting_ai.contracts.names import LOST_PENDING_KEY
from handwriting_ai.settings import Settings
from handwriting_worker.reports import report_safely
from handwriting_worker.rq_job import SERIALIZER

log = logging.getLogger(__name__)


def lost_message(heartbeat_s: int) -> str:
    """The failed event's text of a lost job."""
    return (
        f"worker lost: no heartbeat from the worker running this job for {heartbeat_s} s "
        "(its machine was lost or it was killed)"
    )


def note_lost(connection: Redis, queue: str, job_id: str, delay_s: float) -> None:
    """Notes a job found lost; its report is due ``delay_s`` from now (kept if noted before)."""
    key = LOST_PENDING_KEY.format(queue=queue)
    connection.zadd(key, {job_id: time.time() + delay_s}, nx=True)
    log.info("job %s: no heartbeat; reported lost in %.0f s unless it ends first", job_id, delay_s)


def report_due(settings: Settings, connection: Redis, queue: str, heartbeat_s: int) -> int:
    """Reports every noted job whose time has come; how many. Raises redis-py's errors."""
    key = LOST_PENDING_KEY.format(queue=queue)
    due = connection.zrangebyscore(key, "-inf", time.time())
    for member in due if isinstance(due, list) else []:
        job_id = member.decode() if isinstance(member, bytes) else str(member)
        try:
            job = Job.fetch(job_id, connection=connection, serializer=SERIALIZER)
        except NoSuchJobError:
            log.warning("job %s was lost and is gone from Redis: nothing to report", job_id)
        else:
            report_safely(settings, job, "system", lost_message(heartbeat_s))
        # After the report: a worker that dies in between leaves it for another (the terminal
        # script keeps a second report out of the log).
        connection.zrem(key, job_id)
    return len(due) if isinstance(due, list) else 0
