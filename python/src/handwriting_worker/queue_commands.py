"""``worker`` and ``enqueue``: the RQ side of the worker.

Any number of workers, on any number of machines, share one queue (``RQ__QUEUE``); each job
runs in its own forked work horse, so two workers on one machine run two jobs at once.
"""

from __future__ import annotations

import sys
from functools import partial
from typing import TextIO

from redis import Redis
from redis.exceptions import RedisError
from rq import Queue, Worker
from rq.job import Job

from handwriting_ai.events.codec import validate_request
from handwriting_ai.settings import Settings, redact_url
from handwriting_worker.rq_job import report_dead_horse, train_job

CONNECT_TIMEOUT_S = 3.0


class RedisUnreachable(Exception):
    """Redis did not answer; the message names the URL (password hidden) and the fix."""


def connect(settings: Settings) -> Redis:
    """A client for RQ, checked with a PING so a wrong URL fails now, in one line."""
    url = settings.redis_url_value()
    try:
        client = Redis.from_url(url, socket_connect_timeout=CONNECT_TIMEOUT_S)
        client.ping()
    except (RedisError, ValueError) as exc:
        raise RedisUnreachable(
            f"cannot reach Redis at {redact_url(url)} ({type(exc).__name__}: {exc}); "
            "start Redis there or set REDIS_URL to where it runs"
        ) from exc
    return client


def _horse_killed(settings: Settings, job: Job, retpid: int, ret_val: int, rusage: object) -> None:
    report_dead_horse(settings, job, ret_val)


def run_worker(settings: Settings, *, burst: bool = False) -> None:
    """Works the queue until stopped (or, with ``burst``, until it is empty)."""
    connection = connect(settings)
    worker = Worker(
        [Queue(settings.rq.queue, connection=connection)],
        connection=connection,
        work_horse_killed_handler=partial(_horse_killed, settings),
    )
    worker.work(burst=burst, logging_level="INFO")


def enqueue_request(settings: Settings, request: object, out: TextIO = sys.stdout) -> Job:
    """Validates ``request`` and puts it on the queue with a timeout that fits training."""
    valid = validate_request(request)
    queue = Queue(settings.rq.queue, connection=connect(settings))
    job = queue.enqueue(
        train_job,
        dict(valid),
        job_timeout=settings.rq.job_timeout_s,
        description=f"train {valid['model_id']} for user {valid['user_id']}",
    )
    out.write(f"request_id {valid['request_id']}\njob_id {job.id}\n")
    return job
