"""The RQ worker, tuned so that every way a job can end publishes its one terminal event.

RQ's own machinery does the work; this class sets its clocks and adds the reports
(``terminal_outcomes``), each through the terminal script (one terminal event per job, the
first to reach Redis):
- a horse that dies (killed, out of memory): the parent reports it (``work_horse_killed``);
- RQ's stop-job command: the parent reports who stopped it (``stop_cause``);
- a cold shutdown (a second SIGTERM): the parent reports it before it exits;
- parent and horse both gone (host lost, SIGKILL): the job's heartbeat in RQ's
  StartedJobRegistry runs out, a surviving worker's registry clean-up (RQ's abandoned jobs)
  notes it, and one unit later a worker reports it (``lost``). Clean-up also runs while a
  worker is busy, so one busy worker suffices.
- a job that is not a plain training job (``job_class``): refused, never run.
- a job a worker took from the queue (BLMOVE into RQ's intermediate queue) but never started
  (that worker quit on a Redis error or was killed before it registered the job): failed one
  bound after it was first seen there (``upkeep``), and the worker that fails it reports it.
The spool of this machine is delivered at start and at every maintenance, before lost jobs
are reported. ``RQ__LOST_WORKER_AFTER_S`` bounds the lost case: in units of a sixth of it,
heartbeats every unit, a job's heartbeat lasts three (RQ keeps its expiry in whole seconds:
two could lapse between two beats of a 1-s unit, chaos seed 1939), clean-up (``upkeep``: ours,
every unit in every worker, busy or idle; RQ's own waits on a lock a quitting worker can leave
held for 15 min) and spool delivery run every unit (an idle worker wakes for them), and a lost
job is reported one unit after it was found, unless the worker that runs it still heartbeats
(a paused Redis lapses every heartbeat: ``lost``). A Redis error while the parent watches its
horse is logged and the watch goes on (RQ would quit and leave the horse's job to the
lost-worker report). A horse that dies after a clean-up failed its job is reported by its
parent (RQ reports none then).
The job's own timeout is raised as ``JobTimedOut`` (a BaseException) so nothing swallows it.
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime, timedelta
from resource import struct_rusage
from types import FrameType, TracebackType

from redis import Redis
from redis.client import Pipeline
from redis.exceptions import RedisError
from rq import Queue, Worker
from rq.exceptions import AbandonedJobError
from rq.job import Job, JobStatus
from rq.timeouts import JobTimeoutException, UnixSignalDeathPenalty

from handwriting_ai.events.factory import deliver_spool
from handwriting_ai.printable import SafeFormatter
from handwriting_ai.settings import Settings
from handwriting_worker.rq.job_class import DigitsJob, refusal
from handwriting_worker.rq.lost import note_lost, report_due
from handwriting_worker.rq.rq_job import SERIALIZER
from handwriting_worker.rq.terminal_outcomes import (
    report_cold_shutdown,
    report_dead_horse,
    report_never_started,
    report_refused,
    report_stopped,
)
from handwriting_worker.rq.upkeep import RQ_STUCK, clean_up
from handwriting_worker.training.job import JobTimedOut

log = logging.getLogger(__name__)

PROJECT_LOGGERS = ("handwriting_ai", "handwriting_worker")
RQ_LOGGER = "rq.worker"  # set up here, RQ keeps the handler (rq.logutils.setup_loghandlers)
_RQ_DEQUEUE_MARGIN_S = 15  # RQ waits for a job worker_ttl - 15 s at a time


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
        self.unit_s = max(1, settings.rq.lost_worker_after_s // 6)
        self._events_at = 0.0
        self._running: Job | None = None
        self._horse_status: int | None = None
        """The wait status of the last horse that ended (``wait_for_horse``)."""
        self._end_reported = False
        """Whether this parent reported the running job's end (dead horse, stop, shutdown)."""
        super().__init__(
            [
                Queue(
                    settings.rq.queue,
                    connection=connection,
                    serializer=SERIALIZER,
                    job_class=DigitsJob,
                )
            ],
            connection=connection,
            serializer=SERIALIZER,
            job_class=DigitsJob,
            exception_handlers=[self._note_abandoned_as_lost],
            work_horse_killed_handler=self._horse_killed,
            job_monitoring_interval=self.unit_s,
            maintenance_interval=self.unit_s,
            worker_ttl=self.unit_s + _RQ_DEQUEUE_MARGIN_S,
        )

    def get_heartbeat_ttl(self, job: Job) -> int:
        return 3 * self.unit_s

    def maintain_heartbeats(self, job: Job) -> None:
        """The parent's upkeep while its horse runs, once a unit: a Redis error is logged and
        the watch goes on (the horse trains on; its events wait in its publisher or spool)."""
        try:
            super().maintain_heartbeats(job)
        except (RedisError, OSError) as exc:
            log.warning("job %s: heartbeat not sent (%s); watching its horse on", job.id, exc)
        self.maintain_events()

    def set_current_job_working_time(
        self, current_job_working_time: float, pipeline: Pipeline | None = None
    ) -> None:
        if pipeline is not None:  # part of a transaction: its caller sees its errors
            super().set_current_job_working_time(current_job_working_time, pipeline)
            return
        try:  # RQ's monitor loop writes it once a unit, before the heartbeat
            super().set_current_job_working_time(current_job_working_time)
        except (RedisError, OSError) as exc:
            log.warning("worker %s: working time not stored (%s)", self.name, exc)

    def heartbeat(self, timeout: int | None = None, pipeline: Pipeline | None = None) -> None:
        super().heartbeat(timeout, pipeline)
        if pipeline is None and not self._is_horse:  # the idle loop's, once a unit
            self.maintain_events()

    def maintain_events(self) -> None:
        """Once a unit, in the parent: this machine's spool first (a job's own end beats a
        report of its loss), then the clean-up (``upkeep``: jobs no worker will end), then
        the lost jobs that are due (see ``lost``). Never raises."""
        if time.monotonic() - self._events_at < self.unit_s:
            return
        self._events_at = time.monotonic()
        deliver_spool(self.settings)
        try:
            clean_up(self, self.settings.rq.lost_worker_after_s)
        except (RedisError, OSError) as exc:
            log.warning("clean-up of lost and stuck jobs not done yet: %s", exc)
        # Its own short-lived client: the worker's connection is RQ's (and its pubsub's).
        timeout_s = self.settings.events.redis_timeout_s
        client = Redis.from_url(
            self.settings.redis_url_value(),
            socket_connect_timeout=timeout_s,
            socket_timeout=timeout_s,
        )
        try:
            report_due(self.settings, client, self.settings.rq.queue, self.unit_s)
        except RedisError as exc:
            log.warning("lost jobs not reported yet: %s", exc)
        finally:
            client.close()

    def _note_abandoned_as_lost(
        self,
        job: Job,
        exc_type: type[BaseException],
        exc_value: BaseException,
        tb: TracebackType | None,
    ) -> bool:
        """RQ's exception handler: a job RQ's clean-up found abandoned (its heartbeat ran out)
        is noted lost, to be reported a unit later (``lost``); RQ's handling goes on."""
        if exc_type is AbandonedJobError:  # no heartbeat: its worker is gone (or Redis was)
            note_lost(self.connection, job.origin, job.id, self.unit_s)
        return True

    def _horse_killed(self, job: Job, retpid: int, ret_val: int, rusage: object) -> None:
        self._end_reported = True
        report_dead_horse(self.settings, job, ret_val)

    def wait_for_horse(self) -> tuple[int | None, int | None, struct_rusage | None]:
        pid, status, rusage = super().wait_for_horse()
        if pid is not None:
            self._horse_status = status
        return pid, status, rusage

    def execute_job(self, job: Job, queue: Queue) -> None:
        reason = refusal(job)
        if reason is not None:
            self.refuse(job, queue, reason)
            return
        self._running = job
        self._horse_status = None
        self._end_reported = False
        try:
            super().execute_job(job, queue)
        finally:
            self._running = None
        self._report_unreported_death(job)

    def _report_unreported_death(self, job: Job) -> None:
        """RQ reports no dead horse whose job a clean-up failed while it ran (the heartbeat
        score, in whole seconds, lapsed between two beats: chaos seed 1939): reported here. The
        horse's own terminal event, if it sent one, wins over this report."""
        status = self._horse_status
        if status is not None and status != 0 and not self._end_reported:
            report_dead_horse(self.settings, job, status)

    def refuse(self, job: Job, queue: Queue, reason: str) -> None:
        """Never runs ``job``: failed in RQ, one log line, and one failed event when it names
        a request (so its user's message ends)."""
        log.error("refused job %s from queue %s: %s", job.id, queue.name, reason)
        with self.connection.pipeline() as pipe:
            pipe.lrem(queue.intermediate_queue_key, 1, job.id)
            job.set_status(JobStatus.FAILED, pipeline=pipe)
            queue.failed_job_registry.add(job, exc_string=f"refused: {reason}", pipeline=pipe)
            pipe.execute()
        report_refused(self.settings, job, reason)

    def handle_job_failure(
        self,
        job: Job,
        queue: Queue,
        started_job_registry: object = None,
        exc_string: str = "",
    ) -> None:
        if self._stopped_job_id == job.id:  # RQ's stop-job command
            self._end_reported = True
            report_stopped(self.settings, job)
        elif exc_string == RQ_STUCK:  # no horse ran it: nothing else will end it
            report_never_started(self.settings, job)
        super().handle_job_failure(job, queue, started_job_registry, exc_string)

    def request_force_stop(self, signum: int, frame: FrameType | None) -> None:
        job = self._running
        if job is not None and not self._repeated_signal():
            # Cold shutdown: the horse goes first (so it cannot send its own event after
            # ours), then the report; RQ's own handler finds the horse gone and exits.
            self.kill_horse()
            self.wait_for_horse()
            self._end_reported = True
            report_cold_shutdown(self.settings, job)
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


def run_worker(settings: Settings, connection: Redis, *, burst: bool = False) -> None:
    """Works the queue until stopped (or, with ``burst``, until it is empty)."""
    setup_logging()
    # RQ quits on a Redis error in its main loop, so the outage that spooled a job's last
    # events can also stop its worker; the supervisor's restart delivers them, first thing.
    deliver_spool(settings)
    DigitsWorker(settings, connection).work(burst=burst, logging_level="INFO")
