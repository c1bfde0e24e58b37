"""DigitsWorker's report paths, called in-process on a real Redis.

The subprocess tests in test_worker_lost.py drive the same paths through real signals and
kills, but a worker killed at the end of such a test may not save its coverage data, and which
worker reports depends on timing; these pin each path down once.
"""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime

import pytest
from pydantic import SecretStr
from redis import Redis
from redis.backoff import NoBackoff
from redis.retry import Retry
from rq import Queue, Worker
from rq.exceptions import AbandonedJobError
from rq.job import Job

from handwriting_ai.events.eventlog import log_range
from handwriting_ai.settings import Settings
from handwriting_worker.rq.rq_job import SERIALIZER, train_job
from handwriting_worker.rq.rq_worker import DigitsWorker
from handwriting_worker.rq.terminal_outcomes import NEVER_STARTED
from handwriting_worker.rq.upkeep import fail_never_started
from tests.conftest import RedisServer, free_port

REQUEST = {"request_id": "req-paths", "user_id": 42, "model_id": "paths"}


def _setup(redis_server: RedisServer) -> tuple[DigitsWorker, Job, Redis]:
    settings = Settings(redis_url=SecretStr(redis_server.url))
    client = Redis.from_url(redis_server.url)
    worker = DigitsWorker(settings, client)
    queue = Queue(settings.rq.queue, connection=client, serializer=SERIALIZER)
    job = queue.enqueue(train_job, REQUEST)
    return worker, job, client


def _failed_messages(client: Redis, settings_stream: str = "digits:events:log") -> list[str]:
    texts = [data.decode() for _, data in log_range(client, settings_stream)]
    return [text for text in texts if '"digits.train.failed.v1"' in text]


def test_an_abandoned_job_is_reported_as_a_lost_worker_one_unit_later(
    redis_server: RedisServer,
) -> None:
    worker, job, client = _setup(redis_server)
    assert worker._note_abandoned_as_lost(job, AbandonedJobError, AbandonedJobError(), None) is True
    worker.maintain_events()
    assert _failed_messages(client) == []  # not due yet: its machine may deliver its end first
    pending = f"digits:lost-pending:{worker.settings.rq.queue}"
    client.zadd(pending, {job.id: 0})  # due now
    worker._events_at -= worker.unit_s
    worker.maintain_events()
    [failed] = _failed_messages(client)
    assert "worker lost: no heartbeat" in failed and '"req-paths"' in failed
    assert client.zcard(pending) == 0


def test_a_lost_job_gone_from_redis_is_dropped_from_the_list(redis_server: RedisServer) -> None:
    worker, _job, client = _setup(redis_server)
    pending = f"digits:lost-pending:{worker.settings.rq.queue}"
    client.zadd(pending, {"no-such-job": 0})
    worker.maintain_events()
    assert _failed_messages(client) == []
    assert client.zcard(pending) == 0


def test_lost_jobs_wait_while_redis_is_away(
    redis_server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    worker, _job, _client = _setup(redis_server)
    away = SecretStr(f"redis://127.0.0.1:{free_port()}/0")
    worker.settings = worker.settings.model_copy(update={"redis_url": away})
    worker.maintain_events()
    assert "lost jobs not reported yet" in caplog.text


def test_other_exceptions_are_left_to_rq(redis_server: RedisServer) -> None:
    worker, job, client = _setup(redis_server)
    assert worker._note_abandoned_as_lost(job, ValueError, ValueError("x"), None) is True
    assert _failed_messages(client) == []


def test_a_stopped_job_names_who_stopped_it(redis_server: RedisServer) -> None:
    worker, job, client = _setup(redis_server)
    worker._stopped_job_id = job.id
    queue = worker.queues[0]
    worker.handle_job_failure(job, queue, exc_string="stopped")
    [failed] = _failed_messages(client)
    assert "stopped by an operator" in failed


def test_a_repeated_signal_within_a_second_sends_no_second_report(
    redis_server: RedisServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    worker, job, client = _setup(redis_server)
    worker._running = job
    worker._shutdown_requested_date = datetime.now(UTC)
    killed: list[object] = []
    monkeypatch.setattr(worker, "kill_horse", lambda *args: killed.append(args))
    worker.request_force_stop(15, None)  # RQ ignores it too, and returns
    assert killed == []
    assert _failed_messages(client) == []


def test_the_clean_up_runs_once_a_unit_busy_or_idle(
    redis_server: RedisServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    worker, job, _ = _setup(redis_server)
    beats: list[Job] = []
    cleanups: list[object] = []
    monkeypatch.setattr(Worker, "maintain_heartbeats", lambda self, job: beats.append(job))
    registry = worker.queues[0].started_job_registry
    monkeypatch.setattr(type(registry), "cleanup", lambda self, **kw: cleanups.append(kw))
    worker.maintain_heartbeats(job)  # busy, while its horse runs
    assert (len(beats), len(cleanups)) == (1, 1)
    worker.maintain_heartbeats(job)  # due again only a unit later
    assert (len(beats), len(cleanups)) == (2, 1)
    worker._events_at -= worker.unit_s
    worker.heartbeat()  # idle: the same clean-up (RQ's own waits for its lock)
    assert len(cleanups) == 2


def _hold_rqs_maintenance_lock(client: Redis, queue: Queue) -> None:
    """What a worker that quit in RQ's maintenance leaves behind: its lock, for 899 s."""
    client.set(queue.registry_cleaning_key, 1, ex=899)


def test_an_idle_worker_notes_an_abandoned_job_though_rqs_maintenance_lock_is_held(
    redis_server: RedisServer,
) -> None:
    worker, job, client = _setup(redis_server)
    queue = worker.queues[0]
    _hold_rqs_maintenance_lock(client, queue)
    client.zadd(queue.started_job_registry.key, {f"{job.id}:exec-1": time.time() - 1})
    worker.heartbeat()  # the idle loop's
    pending = f"digits:lost-pending:{worker.settings.rq.queue}"
    assert client.zscore(pending, job.id) is not None
    assert client.zcard(queue.started_job_registry.key) == 0


def test_a_job_taken_but_never_started_is_failed_one_bound_after_it_was_first_seen(
    redis_server: RedisServer,
) -> None:
    worker, job, client = _setup(redis_server)
    queue = worker.queues[0]
    _hold_rqs_maintenance_lock(client, queue)
    # A worker's BLMOVE took it, then that worker quit (Redis failed) before it registered it.
    client.lmove(queue.key, queue.intermediate_queue_key)
    worker.maintain_events()  # first seen there now
    first_seen = queue.intermediate_queue.get_first_seen_key(job.id)
    assert client.exists(first_seen) == 1
    bound_s = worker.settings.rq.lost_worker_after_s
    client.set(first_seen, time.time() - bound_s + 5)  # not one bound yet
    worker._events_at -= worker.unit_s
    worker.maintain_events()
    assert _failed_messages(client) == []
    client.set(first_seen, time.time() - bound_s)
    worker._events_at -= worker.unit_s
    worker.maintain_events()
    [failed] = _failed_messages(client)
    assert NEVER_STARTED in failed and '"req-paths"' in failed
    assert client.llen(queue.intermediate_queue_key) == 0
    assert job.get_status(refresh=True) == "failed"


def test_the_stuck_check_leaves_started_jobs_and_drops_jobs_gone_from_redis(
    redis_server: RedisServer,
) -> None:
    worker, job, client = _setup(redis_server)
    queue = worker.queues[0]
    client.lmove(queue.key, queue.intermediate_queue_key)
    client.rpush(queue.intermediate_queue_key, "gone-job")
    for job_id in (job.id, "gone-job"):
        client.set(queue.intermediate_queue.get_first_seen_key(job_id), time.time() - 10_000)
    client.zadd(queue.started_job_registry.key, {f"{job.id}:exec-1": time.time() + 100})
    assert fail_never_started(worker, queue, 1) == 0
    assert queue.intermediate_queue.get_job_ids() == [job.id]
    assert _failed_messages(client) == []


def test_a_redis_error_while_the_parent_watches_its_horse_is_logged_not_raised(
    redis_server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    settings = Settings(redis_url=SecretStr(redis_server.url))
    client = Redis.from_url(redis_server.url, retry=Retry(NoBackoff(), 0))
    worker = DigitsWorker(settings, client)
    job = Queue(settings.rq.queue, connection=client, serializer=SERIALIZER).enqueue(
        train_job, REQUEST
    )
    worker.prepare_execution(job)  # what the parent does before it forks the horse
    redis_server.stop()  # RQ's monitor loop would quit here, its horse left unwatched
    try:
        worker.set_current_job_working_time(3.0)
        worker.maintain_heartbeats(job)
    finally:
        redis_server.start()
    assert "working time not stored" in caplog.text
    assert f"job {job.id}: heartbeat not sent" in caplog.text
    assert "clean-up of lost and stuck jobs not done yet" in caplog.text
    with client.pipeline() as pipe:  # inside a transaction, its caller sees the errors
        worker.set_current_job_working_time(7.0, pipeline=pipe)
        pipe.execute()
    assert client.hget(worker.key, "current_job_working_time") == b"7.0"


def test_the_idle_heartbeat_maintains_events_once_a_unit_and_never_in_the_horse(
    redis_server: RedisServer,
) -> None:
    worker, job, client = _setup(redis_server)
    pending = f"digits:lost-pending:{worker.settings.rq.queue}"
    client.zadd(pending, {job.id: 0})
    worker._is_horse = True
    worker.heartbeat()
    with client.pipeline() as pipe:
        worker._is_horse = False
        worker.heartbeat(pipeline=pipe)  # RQ's heartbeat inside a transaction: not here
        pipe.execute()
    assert client.zcard(pending) == 1
    worker.heartbeat()  # the idle loop's
    assert client.zcard(pending) == 0
    assert len(_failed_messages(client)) == 1


def test_a_refused_job_with_unreadable_data_sends_no_event(redis_server: RedisServer) -> None:
    worker, job, client = _setup(redis_server)
    client.hset(job.key, "data", b"\xff not json")
    broken = Job.fetch(job.id, connection=client, serializer=SERIALIZER)
    worker.execute_job(broken, worker.queues[0])
    assert broken.get_status(refresh=True) == "failed"
    assert _failed_messages(client) == []


def test_a_job_taken_from_the_queue_but_never_started_is_reported_when_rq_fails_it(
    redis_server: RedisServer,
) -> None:
    worker, job, client = _setup(redis_server)
    queue = worker.queues[0]
    # A worker's BLMOVE took it, then that worker quit (Redis failed) before it registered it.
    client.lmove(queue.key, queue.intermediate_queue_key)
    first_seen = queue.intermediate_queue.get_first_seen_key(job.id)
    client.set(first_seen, time.time() - 120)  # RQ's clean-up saw it there over a minute ago
    queue.intermediate_queue.cleanup(worker, queue)  # what RQ's maintenance runs
    [failed] = _failed_messages(client)
    assert NEVER_STARTED in failed and '"req-paths"' in failed
    assert client.llen(queue.intermediate_queue_key) == 0
    # Any other failure RQ handles in the parent is the horse's to report (its own event).
    worker.handle_job_failure(job, queue, exc_string="ValueError: from the job")
    assert len(_failed_messages(client)) == 1


def test_a_dead_horse_rq_left_unreported_is_reported_once_by_its_parent(
    redis_server: RedisServer,
) -> None:
    worker, job, client = _setup(redis_server)
    child = os.fork()
    if child == 0:  # a horse that dies at once
        os._exit(3)
    worker._horse_pid = child
    assert worker.wait_for_horse()[1] == 3 << 8
    worker._horse_pid = 1  # not our child: nothing to wait for, the status stays
    assert worker.wait_for_horse() == (None, None, None)
    assert worker._horse_status == 3 << 8
    worker._end_reported = True  # RQ's paths (dead horse, stop, cold shutdown) reported it
    worker._report_unreported_death(job)
    assert _failed_messages(client) == []
    for status in (None, 0):  # no horse, or one that ended well: its job sent its own end
        worker._horse_status, worker._end_reported = status, False
        worker._report_unreported_death(job)
    assert _failed_messages(client) == []
    worker._horse_status = 3 << 8
    worker._report_unreported_death(job)
    [failed] = _failed_messages(client)
    assert "worker process exited unexpectedly with status 3" in failed
