"""Every way a job can end without its own terminal event still publishes exactly one failed
event: real redis-server, real worker processes (parent and forked work horse), RQ's own
stop-job command, and a subscriber on the channel. And a job noted lost whose worker is alive
(a paused Redis lapsed every heartbeat) is left to that worker: real RQ objects in process."""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pydantic import SecretStr
from redis import Redis
from rq import Queue, Worker
from rq.command import send_stop_job_command
from rq.job import Job
from rq.utils import utcformat

from handwriting_ai.contracts.names import LOST_PENDING_KEY
from handwriting_ai.events import builders as b
from handwriting_ai.events.eventlog import log_range
from handwriting_ai.events.factory import open_publisher
from handwriting_ai.settings import DigitsSettings, Settings
from handwriting_worker.rq.job_meta import CANCEL_META
from handwriting_worker.rq.lost import WAIT_UNITS, note_lost, report_due
from handwriting_worker.rq.rq_job import SERIALIZER, train_job
from tests.conftest import RedisServer
from tests.discord_api import DiscordApi, fields_of, serve_discord_api
from tests.e2e_support import (
    MODEL_ID,
    QUEUE,
    USER_ID,
    Process,
    Subscriber,
    enqueue,
    md_escape,
    start_bot,
    wait_until,
    worker_env,
)

FAILED = "digits.train.failed.v1"
LOST_AFTER_S = 6


class Workers:
    """Worker processes that are all stopped (horses included) when the test ends."""

    def __init__(self, env: dict[str, str], tmp_path: Path) -> None:
        self.env = env
        self.tmp_path = tmp_path
        self.started: list[Process] = []

    def start(self) -> Process:
        name = f"worker-{len(self.started)}"
        process = Process(
            name,
            [sys.executable, "-m", "handwriting_worker", "worker"],
            self.env,
            self.tmp_path / f"{name}.log",
        )
        self.started.append(process)
        return process

    def stop_all(self) -> None:
        for process in self.started:
            horses = process.children() if process.alive() else []
            for pid in horses:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            process.stop(signal.SIGKILL, 5)


@pytest.fixture
def workers(redis_server: RedisServer, tmp_path: Path) -> Iterator[Workers]:
    env = worker_env(
        redis_server.url,
        tmp_path,
        TRAIN__MAX_TRAIN_SAMPLES="4096",
        RQ__LOST_WORKER_AFTER_S=str(LOST_AFTER_S),
    )
    group = Workers(env, tmp_path)
    try:
        yield group
    finally:
        group.stop_all()


def _running_job(workers: Workers, subscriber: Subscriber, request_id: str) -> tuple[Process, int]:
    """Enqueues a long job, waits until it trains; the worker that runs it, and its horse."""
    enqueue(workers.env, request_id, epochs=50)
    subscriber.wait_for("digits.train.batch.v1", 60)
    busy = [(p, p.children()) for p in workers.started if p.alive() and p.children()]
    assert len(busy) == 1, [p.tail() for p in workers.started]
    process, [horse] = busy[0]
    return process, horse


def _running_job_id(client: Redis) -> str:
    """The id of the one job in RQ's StartedJobRegistry (entries are job_id:execution_id)."""
    [entry] = client.zrange(f"rq:wip:{QUEUE}", 0, -1)
    assert isinstance(entry, bytes)
    return entry.decode().split(":")[0]


def _only_failed(subscriber: Subscriber, quiet_s: float = 2 * LOST_AFTER_S) -> dict[str, object]:
    """The one failed event; waits ``quiet_s`` more to be sure no second one comes."""
    failed = subscriber.wait_for(FAILED, 30)
    time.sleep(quiet_s)
    assert subscriber.types().count(FAILED) == 1, subscriber.types()[-5:]
    assert "digits.train.completed.v1" not in subscriber.types()
    assert subscriber.invalid() == []
    return failed


@pytest.mark.timing
def test_parent_and_horse_killed_are_reported_by_another_worker_within_the_bound(
    workers: Workers, subscriber: Subscriber, redis_server: RedisServer, tmp_path: Path
) -> None:
    with serve_discord_api(DiscordApi()) as discord:
        bot = start_bot(redis_server.url, discord.url, tmp_path)
        try:
            _lost_worker_reported(workers, subscriber)
            # The job's message says so.
            title = f"Training failed · {md_escape(MODEL_ID)}"

            def failed_embed() -> dict[str, object] | None:
                embed = discord.latest_embed()
                return embed if embed is not None and embed.get("title") == title else None

            embed = wait_until("the message to show the failure", failed_embed, 30)
            assert md_escape("worker lost: no heartbeat") in fields_of(embed)["System error"]
        finally:
            bot.stop()


def _lost_worker_reported(workers: Workers, subscriber: Subscriber) -> None:
    # A worker that quit inside RQ's maintenance (a Redis restart is enough) left RQ's lock
    # held for 899 s: no RQ clean-up runs, the workers' own must find the job (``upkeep``).
    client = Redis.from_url(workers.env["REDIS_URL"])
    client.set(Queue(QUEUE, connection=client).registry_cleaning_key, 1, ex=899)
    client.close()
    survivor = workers.start()
    time.sleep(0.5)  # the survivor takes nothing: the job goes to whichever dequeues first
    other = workers.start()
    victim, horse = _running_job(workers, subscriber, "r-lost")
    os.kill(victim.popen.pid, signal.SIGKILL)
    os.kill(horse, signal.SIGKILL)
    killed_at = time.monotonic()

    failed = _only_failed(subscriber)
    arrived = next(r.at for r in subscriber.received if r.event is not None and r.event is failed)
    assert arrived - killed_at <= LOST_AFTER_S + 1.5  # the bound, plus a worker's wake-up
    assert failed["error_kind"] == "system"
    assert str(failed["message"]).startswith("worker lost: no heartbeat")
    assert (failed["request_id"], failed["user_id"]) == ("r-lost", USER_ID)
    assert failed["run_id"] == subscriber.events()[0]["run_id"] is not None
    reporter = survivor if victim is other else other
    assert "worker lost: no heartbeat" in reporter.output()


def test_a_horse_killed_after_a_clean_up_failed_its_job_is_reported_by_its_parent(
    workers: Workers, subscriber: Subscriber, redis_server: RedisServer
) -> None:
    worker = workers.start()
    _, horse = _running_job(workers, subscriber, "r-cleaned")
    # A clean-up that found the job's heartbeat lapsed while it ran (RQ keeps its expiry in whole
    # seconds: it can lapse between two beats, chaos seed 1939) marks it failed; RQ's parent
    # then reports no dead horse.
    client = Redis.from_url(redis_server.url)
    registry = Queue(QUEUE, connection=client, serializer=SERIALIZER).started_job_registry
    registry.cleanup(timestamp=time.time() + 3600)
    client.close()
    os.kill(horse, signal.SIGTERM)
    failed = _only_failed(subscriber)
    assert failed["message"] == "worker process killed by signal 15 (SIGTERM)"
    assert (failed["request_id"], failed["error_kind"]) == ("r-cleaned", "system")
    assert worker.alive(), worker.tail()


def test_a_cold_shutdown_is_reported_once(workers: Workers, subscriber: Subscriber) -> None:
    worker = workers.start()
    _running_job(workers, subscriber, "r-cold")
    os.kill(worker.popen.pid, signal.SIGTERM)  # warm: waits for the job
    os.kill(worker.popen.pid, signal.SIGTERM)  # within 1 s: ignored (RQ's rule for pools)
    time.sleep(1.2)
    os.kill(worker.popen.pid, signal.SIGTERM)  # cold
    worker.popen.wait(30)
    workers.start()  # its clean-up finds the job abandoned, and must not report it again

    failed = _only_failed(subscriber)
    assert failed["message"] == "worker lost: the worker was shut down (cold) while the job ran"
    assert failed["request_id"] == "r-cold"


@pytest.mark.parametrize(
    ("cancelled_by", "kind", "message"),
    [("123", "user", "cancelled by user 123"), (None, "system", "stopped by an operator")],
)
def test_rq_stop_job_says_who_stopped_it(
    redis_server: RedisServer,
    workers: Workers,
    subscriber: Subscriber,
    cancelled_by: str | None,
    kind: str,
    message: str,
) -> None:
    worker = workers.start()
    _running_job(workers, subscriber, "r-stop")
    client = Redis.from_url(redis_server.url)
    job = Job.fetch(_running_job_id(client), connection=client, serializer=SERIALIZER)
    if cancelled_by is not None:  # the Cancel interface: meta first, then RQ's command
        job.meta[CANCEL_META] = cancelled_by
        client.hset(job.key, "meta", job.serializer.dumps(job.meta))
    send_stop_job_command(client, job.id, serializer=SERIALIZER)

    failed = _only_failed(subscriber, quiet_s=LOST_AFTER_S)
    assert (failed["error_kind"], failed["message"]) == (kind, message)
    assert worker.alive()
    client.close()


def test_an_exception_in_the_dead_horse_report_neither_stops_the_worker_nor_loses_the_event(
    redis_server: RedisServer, workers: Workers, subscriber: Subscriber
) -> None:
    worker = workers.start()
    _, horse = _running_job(workers, subscriber, "r-broken")
    client = Redis.from_url(redis_server.url)
    # Reading the job's meta now raises, inside the parent's report.
    client.hset(f"rq:job:{_running_job_id(client)}", "meta", b"{not json")
    os.kill(horse, signal.SIGKILL)

    failed = _only_failed(subscriber, quiet_s=LOST_AFTER_S)
    assert failed["message"] == "worker process killed by signal 9, probably out of memory"
    assert failed["request_id"] == "r-broken"
    wait_until("the worker goes on", lambda: "report of job" in worker.output(), 5)
    assert worker.alive(), worker.tail()
    client.close()


def test_a_job_over_its_own_time_limit_says_so_once(
    redis_server: RedisServer, workers: Workers, subscriber: Subscriber
) -> None:
    client = Redis.from_url(redis_server.url)
    queue = Queue(QUEUE, connection=client, serializer=SERIALIZER)
    payload = {
        "type": "digits.train.v1",
        "request_id": "r-slow",
        "user_id": 9,
        "model_id": "digits",
        "epochs": 50,
        "batch_size": 64,
        "lr": 0.01,
        "seed": 0,
        "augment": False,
        "notes": None,
    }
    queue.enqueue(train_job, payload, job_timeout=3)  # its own limit, not RQ__JOB_TIMEOUT_S
    workers.start()

    failed = _only_failed(subscriber, quiet_s=LOST_AFTER_S)
    assert (failed["error_kind"], failed["message"]) == ("system", "timed out after 3 s")
    client.close()


class Noted:
    """A job that ran on a real RQ worker (registered in Redis), noted lost and due now."""

    def __init__(self, redis_server: RedisServer, tmp_path: Path, request_id: str) -> None:
        self.settings = Settings(
            redis_url=SecretStr(redis_server.url),
            digits=DigitsSettings(spool_dir=tmp_path / "spool"),
        )
        self.client = Redis.from_url(redis_server.url)
        queue = Queue(QUEUE, connection=self.client, serializer=SERIALIZER)
        payload = {"request_id": request_id, "user_id": USER_ID, "model_id": MODEL_ID}
        self.job = queue.enqueue(train_job, payload, job_timeout=30)
        self.worker = Worker([queue], connection=self.client, name=f"w-{request_id}")
        self.worker.heartbeat()
        self.worker.set_state("busy")
        self.worker.set_current_job_id(self.job.id)
        self.client.hset(self.job.key, "worker_name", self.worker.name)
        self.ctx = b.JobContext(request_id, USER_ID, MODEL_ID, "run-1")
        note_lost(self.client, QUEUE, self.job.id, 0.0)

    def due_since(self, seconds: float) -> None:
        self.client.zadd(LOST_PENDING_KEY.format(queue=QUEUE), {self.job.id: time.time() - seconds})

    def report_due(self) -> int:
        return report_due(self.settings, self.client, QUEUE, 1.0)

    def terminals(self) -> list[str]:
        texts = [text.decode() for _, text in log_range(self.client, "digits:events:log")]
        return [t for t in texts if '.completed.v1"' in t or '.failed.v1"' in t]

    def pending(self) -> int:
        return int(self.client.zcard(LOST_PENDING_KEY.format(queue=QUEUE)))


def test_a_lost_job_whose_worker_heartbeats_again_is_left_to_it_and_its_completed_wins(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    noted = Noted(redis_server, tmp_path, "r-paused")
    noted.due_since(0.5)
    assert noted.report_due() == 0  # it heartbeats and runs the job
    noted.due_since(WAIT_UNITS + 1)  # still running it: up to its timeout
    assert noted.report_due() == 0
    assert (noted.terminals(), noted.pending()) == ([], 1)
    # Done with it (its completed was spooled while Redis was away): a few units to deliver it.
    noted.worker.set_current_job_id(None)
    noted.worker.heartbeat()
    noted.due_since(WAIT_UNITS - 1)
    assert noted.report_due() == 0
    publisher = open_publisher(noted.settings)
    publisher.publish(b.completed(noted.ctx, val_acc=0.5))
    publisher.close(5.0)
    noted.due_since(WAIT_UNITS)  # then reported anyway, and the terminal script drops it
    assert noted.report_due() == 1
    [terminal] = noted.terminals()
    assert '"digits.train.completed.v1"' in terminal
    assert noted.pending() == 0


def test_a_lost_job_named_current_by_an_idle_worker_is_reported_after_the_wait_not_its_timeout(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    # Chaos seed 1939: a clean-up failed the job while it ran (RQ's whole-second heartbeat score
    # lapsed between two beats), then its horse died: RQ's parent, seeing "failed", left
    # current_job set and went idle. The worker is done with the job.
    noted = Noted(redis_server, tmp_path, "r-idle")
    noted.worker.set_state("idle")
    noted.due_since(WAIT_UNITS - 1)
    assert noted.report_due() == 0  # a few units to deliver what it spooled
    noted.due_since(WAIT_UNITS)
    assert noted.report_due() == 1  # not the job's timeout (30 s) more
    [failed] = noted.terminals()
    assert "worker lost: no heartbeat" in failed


def test_a_lost_job_still_running_past_its_timeout_is_reported(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    noted = Noted(redis_server, tmp_path, "r-stuck")
    noted.due_since(30 + WAIT_UNITS)
    assert noted.report_due() == 1
    [failed] = noted.terminals()
    assert "worker lost: no heartbeat from the worker running this job for 0 s" in failed


@pytest.mark.parametrize(
    ("last_heartbeat", "seconds"),
    [(None, 3), (b"garbled", 3), (-2.0, 2), (-10.0, 10)],
)
def test_a_lost_job_whose_worker_is_gone_is_reported_with_its_silence(
    redis_server: RedisServer, tmp_path: Path, last_heartbeat: bytes | float | None, seconds: int
) -> None:
    noted = Noted(redis_server, tmp_path, "r-gone")
    key = f"rq:worker:{noted.worker.name}"
    if last_heartbeat is None:  # gone long ago (or started again under a new name)
        noted.client.delete(key)
    elif isinstance(last_heartbeat, bytes):
        noted.client.hset(key, "last_heartbeat", last_heartbeat)
    else:
        beat = datetime.now(UTC) + timedelta(seconds=last_heartbeat - 0.5)
        noted.client.hset(key, "last_heartbeat", utcformat(beat))
    noted.due_since(0.5)
    assert noted.report_due() == 1
    [failed] = noted.terminals()
    assert f"no heartbeat from the worker running this job for {seconds} s" in failed
    assert noted.pending() == 0
