"""The RQ worker, tuned so that every way a job can end publishes its one terminal event.

RQ's own machinery does the work; this class sets its clocks and adds the reports:
- a horse that dies (killed, out of memory): the parent reports it (``work_horse_killed``);
- RQ's stop-job command: the parent reports who stopped it (see ``reports.stop_cause``);
- a cold shutdown (a second SIGTERM): the parent reports it before it exits;
- parent and horse both gone (host lost, SIGKILL): the job's heartbeat in RQ's
  StartedJobRegistry runs out, and a surviving worker's registry clean-up (RQ's abandoned
  jobs) reports it. Clean-up also runs while a worker is busy, so one busy worker suffices.
``RQ__LOST_WORKER_AFTER_S`` bounds that last case: heartbeats every quarter of it, a
heartbeat lasts two quarters, clean-up runs every quarter (and an idle worker wakes for it).
The job's own timeout is raised as ``JobTimedOut`` (a BaseException) so nothing swallows it.
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime, timedelta
from types import FrameType, TracebackType

from redis import Redis
from rq import Queue, Worker
from rq.exceptions import AbandonedJobError
from rq.job import Job
from rq.timeouts import JobTimeoutException, UnixSignalDeathPenalty

from handwriting_ai.events.factory import open_publisher
from handwriting_ai.printable import SafeFormatter
from handwriting_ai.settings import Settings
from handwriting_worker.job import JobTimedOut
from handwriting_worker.reports import report_dead_horse, report_safely, stop_cause
from handwriting_worker.rq_job import SERIALIZER

log = logging.getLogger(__name__)

PROJECT_LOGGERS = ("handwriting_ai", "handwriting_worker")
RQ_LOGGER = "rq.worker"  # set up here, RQ keeps the handler (rq.logutils.setup_loghandlers)
_RQ_DEQUEUE_MARGIN_S = 15  # RQ waits for a job worker_ttl - 15 s at a time
COLD_SHUTDOWN = "worker lost: the worker was shut down (cold) while the job ran"


class JobDeathPenalty(UnixSignalDeathPenalty):
    """RQ's SIGALRM time limit, raising ``JobTimedOut`` with the job's own timeout."""

    def handle_death_penalty(self, signum: int, frame: FrameType | None) -> None:
        timeout: int = self._timeout
        if self._exception is JobTimeoutException:
            raise JobTimedOut(timeout)
        exception: type[BaseException] = self._exception
        raise exception(f"Task exceeded maximum timeout value ({timeout} seconds)")


class DigitsWorker(Worker):
    """An RQ worker on the digits queue that reports lost, stopped and shut-down jobs."""

    death_penalty_class = JobDeathPenalty

    def __init__(self, settings: Settings, connection: Redis) -> None:
        self.settings = settings
        self.quarter_s = max(1, settings.rq.lost_worker_after_s // 4)
        self._lost_checked_at = time.monotonic()
        self._running: Job | None = None
        super().__init__(
            [Queue(settings.rq.queue, connection=connection, serializer=SERIALIZER)],
            connection=connection,
            serializer=SERIALIZER,
            exception_handlers=[self._abandoned],
            work_horse_killed_handler=self._horse_killed,
            job_monitoring_interval=self.quarter_s,
            maintenance_interval=self.quarter_s,
            worker_ttl=self.quarter_s + _RQ_DEQUEUE_MARGIN_S,
        )

    def get_heartbeat_ttl(self, job: Job) -> int:
        return 2 * self.quarter_s

    def maintain_heartbeats(self, job: Job) -> None:
        super().maintain_heartbeats(job)
        # A busy worker looks for lost jobs too (RQ's full maintenance waits until it is idle).
        if time.monotonic() - self._lost_checked_at >= self.quarter_s:
            self._lost_checked_at = time.monotonic()
            for queue in self.queues:
                queue.started_job_registry.cleanup(exception_handlers=self._exc_handlers)

    def _abandoned(
        self,
        job: Job,
        exc_type: type[BaseException],
        exc_value: BaseException,
        tb: TracebackType | None,
    ) -> bool:
        if exc_type is AbandonedJobError:  # no heartbeat: its worker is gone
            report_safely(
                self.settings,
                job,
                "system",
                f"worker lost: no heartbeat from the worker running this job for "
                f"{2 * self.quarter_s} s (its machine was lost or it was killed)",
            )
        return True

    def _horse_killed(self, job: Job, retpid: int, ret_val: int, rusage: object) -> None:
        report_dead_horse(self.settings, job, ret_val)

    def execute_job(self, job: Job, queue: Queue) -> None:
        self._running = job
        try:
            super().execute_job(job, queue)
        finally:
            self._running = None

    def handle_job_failure(
        self,
        job: Job,
        queue: Queue,
        started_job_registry: object = None,
        exc_string: str = "",
    ) -> None:
        if self._stopped_job_id == job.id:  # RQ's stop-job command
            report_safely(self.settings, job, *stop_cause(job))
        super().handle_job_failure(job, queue, started_job_registry, exc_string)

    def request_force_stop(self, signum: int, frame: FrameType | None) -> None:
        job = self._running
        if job is not None and not self._repeated_signal():
            # Cold shutdown: the horse goes first (so it cannot send its own event after
            # ours), then the report; RQ's own handler finds the horse gone and exits.
            self.kill_horse()
            self.wait_for_horse()
            report_safely(self.settings, job, "system", COLD_SHUTDOWN)
        super().request_force_stop(signum, frame)

    def _repeated_signal(self) -> bool:
        """RQ ignores a second signal within 1 s of the first (a pool sends it twice)."""
        first = self._shutdown_requested_date
        return first is not None and datetime.now(UTC) - first < timedelta(seconds=1)


def setup_logging(level: str = "INFO") -> None:
    """Our loggers and RQ's worker log write one line per record, control characters escaped
    (``SafeFormatter``: a request id or a job's description can hold an ESC sequence)."""
    handler = logging.StreamHandler()
    handler.setFormatter(SafeFormatter("%(asctime)s %(name)s %(levelname)s: %(message)s"))
    for name in (*PROJECT_LOGGERS, RQ_LOGGER):
        logger = logging.getLogger(name)
        if not logger.handlers:
            logger.addHandler(handler)
        logger.setLevel(level)


def deliver_spool(settings: Settings) -> None:
    """Sends the events spooled on this machine by jobs that ended while Redis was away.

    A publisher's thread delivers the spool before anything else. Done when a worker starts:
    RQ quits on a Redis error in its main loop, so the outage that spooled a job's last events
    can also stop its worker; the supervisor's restart then delivers them, with no new job.
    """
    open_publisher(settings).close(settings.events.close_timeout_s)


def run_worker(settings: Settings, connection: Redis, *, burst: bool = False) -> None:
    """Works the queue until stopped (or, with ``burst``, until it is empty)."""
    setup_logging()
    deliver_spool(settings)
    DigitsWorker(settings, connection).work(burst=burst, logging_level="INFO")
