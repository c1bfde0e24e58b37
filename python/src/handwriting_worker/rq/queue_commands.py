"""``worker`` and ``enqueue``: the RQ side of the worker.

Any number of workers, on any number of machines, share one queue (``RQ__QUEUE``); each job
runs in its own forked work horse, so two workers on one machine run two jobs at once.
"""

from __future__ import annotations

import sys
from typing import TextIO

from redis import Redis
from redis.backoff import NoBackoff
from redis.exceptions import RedisError
from redis.retry import Retry
from rq import Queue
from rq.exceptions import NoSuchJobError
from rq.job import Job, JobStatus

from handwriting_ai.events.codec import validate_request
from handwriting_ai.settings import Settings, redact_url
from handwriting_worker.rq import rq_worker
from handwriting_worker.rq.requests_keys import job_id_for
from handwriting_worker.rq.rq_job import SERIALIZER, train_job

CONNECT_TIMEOUT_S = 3.0
_ACTIVE = (JobStatus.QUEUED, JobStatus.STARTED, JobStatus.DEFERRED, JobStatus.SCHEDULED)


class RedisUnreachable(Exception):
    """Redis did not answer; the message names the URL (password hidden) and the fix."""


def connect(settings: Settings, *, read_timeout_s: float | None = None) -> Redis:
    """A client for RQ, checked with a PING so a wrong URL fails now, in one line.

    TCP keepalive is on, so a peer that vanished is noticed. ``read_timeout_s``: a reply
    that takes longer raises ``TimeoutError`` at once, not retried (the caller's loop
    retries), so a Redis that went silent cannot hold a process past its stop; it must be
    above the longest BLOCK the caller asks for.
    """
    url = settings.redis_url_value()
    bounded = {} if read_timeout_s is None else {"retry": Retry(NoBackoff(), 0)}
    try:
        client = Redis.from_url(
            url,
            socket_connect_timeout=CONNECT_TIMEOUT_S,
            socket_timeout=read_timeout_s,
            socket_keepalive=True,
            **bounded,
        )
        client.ping()
    except (RedisError, ValueError) as exc:
        raise RedisUnreachable(
            f"cannot reach Redis at {redact_url(url)} ({type(exc).__name__}: {exc}); "
            "start Redis there or set REDIS_URL to where it runs"
        ) from exc
    return client


def queue_of(settings: Settings, connection: Redis) -> Queue:
    """The digits queue, with its JSON serializer (anything that enqueues must use this)."""
    return Queue(settings.rq.queue, connection=connection, serializer=SERIALIZER)


def run_worker(settings: Settings, *, burst: bool = False) -> None:
    """Works the queue until stopped (or, with ``burst``, until it is empty)."""
    rq_worker.run_worker(settings, connect(settings), burst=burst)


class AlreadyQueued(Exception):
    """The request is queued or running already: queuing it again would train it twice."""


def enqueue_request(settings: Settings, request: object, out: TextIO = sys.stdout) -> Job:
    """Validates ``request`` and puts it on the queue with a timeout that fits training.

    The job id is the intake's (``job_id_for``), so Discord's Cancel button finds a job queued
    here too, and the same request cannot wait or run twice.
    """
    valid = validate_request(request)
    connection = connect(settings)
    queue = queue_of(settings, connection)
    job_id = job_id_for(valid["user_id"], valid["request_id"])
    try:
        status: JobStatus | None = Job.fetch(
            job_id, connection=connection, serializer=SERIALIZER
        ).get_status()
    except NoSuchJobError:
        status = None
    if status in _ACTIVE:
        raise AlreadyQueued(
            f"request {valid['request_id']!r} of user {valid['user_id']} is {status.value} already "
            f"(job {job_id}); wait for it to end, or pass another --request-id"
        )
    job = queue.enqueue(
        train_job,
        dict(valid),
        job_id=job_id,
        job_timeout=settings.rq.job_timeout_s,
        description=f"train {valid['model_id']} for user {valid['user_id']}",
    )
    out.write(f"request_id {valid['request_id']}\njob_id {job.id}\n")
    return job
