"""DigitsWorker's report paths, called in-process on a real Redis.

The subprocess tests in test_worker_lost.py drive the same paths through real signals and
kills, but a worker killed at the end of such a test may not save its coverage data, and which
worker reports depends on timing; these pin each path down once.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest
from pydantic import SecretStr
from redis import Redis
from rq import Queue, Worker
from rq.exceptions import AbandonedJobError
from rq.job import Job

from handwriting_ai.events.eventlog import log_range
from handwriting_ai.settings import Settings
from handwriting_worker.rq.rq_job import SERIALIZER, train_job
from handwriting_worker.rq.rq_worker import DigitsWorker
from handwriting_worker.rq.terminal_outcomes import NEVER_STARTED
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


def test_a_busy_worker_cleans_up_lost_jobs_once_a_unit(
    redis_server: RedisServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    worker, job, _ = _setup(redis_server)
    beats: list[Job] = []
    cleanups: list[object] = []
    monkeypatch.setattr(Worker, "maintain_heartbeats", lambda self, job: beats.append(job))
    registry = worker.queues[0].started_job_registry
    monkeypatch.setattr(type(registry), "cleanup", lambda self, **kw: cleanups.append(kw))
    worker.maintain_heartbeats(job)  # just constructed: the clean-up is not due yet
    assert (len(beats), len(cleanups)) == (1, 0)
    worker._lost_checked_at -= worker.unit_s
    worker.maintain_heartbeats(job)
    assert (len(beats), len(cleanups)) == (2, 1)
    worker.maintain_heartbeats(job)  # due again only a unit later
    assert (len(beats), len(cleanups)) == (3, 1)


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
