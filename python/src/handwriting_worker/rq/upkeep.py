"""The worker's own clean-up, once a unit in every worker, busy or idle: jobs that no worker
will end are found here within one lost-worker bound, whatever happened to RQ's maintenance.

Why not RQ's: RQ cleans its registries in an idle worker only, under a lock it takes for 899 s
(``Queue.acquire_maintenance_lock``) and releases at the end. A worker that quits in between
(a Redis restart is enough: RQ quits on a Redis error) leaves the lock held, and no worker
cleans for 15 minutes: a job whose worker died stays "started" with no terminal event, and
its message stays where it was. RQ also fails a job stuck in its intermediate queue only a
minute after it first saw it there. Both clean-ups here are safe to run in several workers at
once: RQ's registry clean-up takes each abandoned job out in one ZREMRANGEBYSCORE, and a job
reported twice gets one terminal event (the terminal script keeps the first).
- Abandoned jobs (in the StartedJobRegistry, heartbeat run out): RQ's own registry clean-up,
  whose exception handler notes each one lost (``lost``).
- Jobs taken from the queue but never started (BLMOVE into the intermediate queue, then the
  worker quit before it registered the job as started): failed once they have been seen there
  for one bound, as RQ's clean-up fails them (``handle_job_failure`` with ``RQ_STUCK``).
"""

from __future__ import annotations

import logging
import time

from rq import Queue, Worker

log = logging.getLogger(__name__)

RQ_STUCK = "Job was stuck in intermediate queue."
"""RQ's failure text for a job taken from the queue that never started; ``DigitsWorker``
reports a job failed with it (``report_never_started``)."""


def clean_up(worker: Worker, stuck_after_s: float) -> None:
    """Both clean-ups on each of ``worker``'s queues; the registry's calls the worker's
    exception handlers, as RQ's own maintenance does. Raises redis-py's errors."""
    for queue in worker.queues:
        queue.started_job_registry.cleanup(exception_handlers=worker._exc_handlers)
        fail_never_started(worker, queue, stuck_after_s)


def fail_never_started(worker: Worker, queue: Queue, stuck_after_s: float) -> int:
    """Fails each job in ``queue``'s intermediate queue that has not started ``stuck_after_s``
    after it was first seen there; how many it failed. The first sight is RQ's own record
    (``first_seen``), so RQ's clean-up and this one count from the same moment."""
    intermediate = queue.intermediate_queue
    failed = 0
    for job_id in intermediate.get_job_ids():
        if job_id in queue.started_job_registry:
            continue  # its worker registered it: the lost clean-up watches it from here
        first_seen = intermediate.get_first_seen(job_id)
        if first_seen is None:
            intermediate.set_first_seen(job_id)
            continue
        if time.time() - first_seen.timestamp() < stuck_after_s:
            continue
        job = queue.fetch_job(job_id)
        if job is not None:
            log.warning("job %s was taken from queue %s but never started", job_id, queue.name)
            worker.handle_job_failure(job, queue, exc_string=RQ_STUCK)
            failed += 1
        intermediate.remove(job_id)
    return failed
