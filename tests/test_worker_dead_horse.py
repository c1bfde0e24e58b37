"""What the worker's parent says when a work horse dies, with real RQ jobs on a real Redis."""

from __future__ import annotations

import logging
import signal
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from redis import Redis
from redis.client import PubSub
from rq import Queue
from rq.job import Job

from handwriting_ai.events import builders
from handwriting_ai.events.codec import decode_event
from handwriting_ai.events.eventlog import log_range
from handwriting_ai.events.factory import redis_sink
from handwriting_ai.settings import EventsSettings, Settings
from handwriting_worker.rq.job_meta import CANCEL_META, RUN_ID_META, note_in_meta
from handwriting_worker.rq.rq_job import SERIALIZER
from handwriting_worker.rq.rq_worker import DigitsWorker, setup_logging
from handwriting_worker.rq.terminal_outcomes import (
    death_cause,
    report_dead_horse,
    report_failed,
    report_safely,
    stop_cause,
)
from tests.conftest import RedisServer, free_port

KILLED = signal.SIGKILL  # a wait status of "killed by signal N" is N itself
EXIT_3 = 3 << 8


@pytest.fixture
def queue(redis_server: RedisServer) -> Iterator[Queue]:
    client = Redis.from_url(redis_server.url)
    yield Queue("digits-test", connection=client, serializer=SERIALIZER)
    client.close()


def _job(queue: Queue, payload: object, timeout: int = 600) -> Job:
    job = queue.enqueue("handwriting_worker.rq.rq_job.train_job", payload, job_timeout=timeout)
    job.started_at = datetime.now(UTC).replace(tzinfo=None) - timedelta(seconds=30)
    return job


def test_death_causes(queue: Queue) -> None:
    job = _job(queue, {})
    assert death_cause(job, KILLED) == "worker process killed by signal 9, probably out of memory"
    assert death_cause(job, signal.SIGTERM) == "worker process killed by signal 15 (SIGTERM)"
    assert death_cause(job, EXIT_3) == "worker process exited unexpectedly with status 3"
    late = datetime.now(UTC) + timedelta(seconds=600)
    assert death_cause(job, KILLED, now=late) == "timed out after 600 s"
    job.started_at = None
    assert death_cause(job, KILLED, now=late).startswith("worker process killed")


def _drain(pubsub: PubSub, quiet_s: float = 1.0) -> list[bytes]:
    """Every message until none has come for ``quiet_s``."""
    texts: list[bytes] = []
    deadline = time.monotonic() + quiet_s
    while time.monotonic() < deadline:
        message = pubsub.get_message(timeout=0.1)
        if message is not None and message["type"] == "message":
            texts.append(message["data"])
            deadline = time.monotonic() + quiet_s
    return texts


def _settings(redis_server: RedisServer, legacy: bool) -> Settings:
    return Settings(
        redis_url=redis_server.url,
        digits_events_channel="dead-horse",
        events=EventsSettings(legacy=legacy),
    )


def test_the_parent_publishes_one_failed_event_with_the_run(
    redis_server: RedisServer, queue: Queue
) -> None:
    client = Redis.from_url(redis_server.url)
    pubsub = PubSub(client.connection_pool, ignore_subscribe_messages=True)
    pubsub.subscribe("dead-horse")
    job = _job(queue, {"request_id": "r-9", "user_id": 2**55, "model_id": "digits"})
    note_in_meta(job, RUN_ID_META, "20261128T160000Z-abcdef")

    report_dead_horse(_settings(redis_server, legacy=True), job, KILLED)

    events = [dict(decode_event(t)) for t in _drain(pubsub)]
    assert [e["type"] for e in events] == ["digits.train.failed.v1", "failed"]
    first = events[0]
    assert first["type"] == "digits.train.failed.v1"
    assert (first["request_id"], first["user_id"], first["run_id"]) == (
        "r-9",
        2**55,
        "20261128T160000Z-abcdef",
    )
    assert first["message"] == "worker process killed by signal 9, probably out of memory"
    pubsub.close()
    client.close()


def test_nothing_more_once_the_job_sent_its_terminal_event_and_no_run_is_fine(
    redis_server: RedisServer, queue: Queue, caplog: pytest.LogCaptureFixture
) -> None:
    client = Redis.from_url(redis_server.url)
    pubsub = PubSub(client.connection_pool, ignore_subscribe_messages=True)
    pubsub.subscribe("dead-horse")
    settings = _settings(redis_server, legacy=False)
    done = _job(queue, {"request_id": "r-done", "user_id": 1, "model_id": "m"})
    ctx = builders.JobContext("r-done", 1, "m", "20261128T160000Z-abcdef")
    sink = redis_sink(settings)
    sink.publish(builders.completed(ctx, val_acc=0.5))  # the horse's own terminal event
    sink.close()
    report_dead_horse(settings, done, KILLED)
    no_run = _job(queue, {"request_id": "r-early", "user_id": 1, "model_id": "m"})
    report_dead_horse(settings, no_run, KILLED)
    no_args = Job.create(
        "handwriting_worker.rq.rq_job.train_job", connection=queue.connection, serializer=SERIALIZER
    )
    report_dead_horse(settings, no_args, EXIT_3)

    events = [dict(decode_event(t)) for t in _drain(pubsub)]
    assert [(e["request_id"], e["type"], e.get("run_id")) for e in events] == [
        ("r-done", "digits.train.completed.v1", "20261128T160000Z-abcdef"),
        ("r-early", "digits.train.failed.v1", None),
        (f"rq-job-{no_args.id}", "digits.train.failed.v1", None),
    ]
    # The report that lost is logged once, naming both.
    [line] = [r.getMessage() for r in caplog.records if "dropped digits.train" in r.getMessage()]
    assert "'r-done'" in line and "failed.v1" in line and "completed.v1 (0.5)" in line
    note_in_meta(None, RUN_ID_META, "x")  # outside RQ there is no job to note it on
    pubsub.close()
    client.close()


def test_two_reporters_publish_one_event(redis_server: RedisServer, queue: Queue) -> None:
    client = Redis.from_url(redis_server.url)
    pubsub = PubSub(client.connection_pool, ignore_subscribe_messages=True)
    pubsub.subscribe("dead-horse")
    settings = _settings(redis_server, legacy=False)
    job = _job(queue, {"request_id": "r-twice", "user_id": "77", "model_id": "m"})
    note_in_meta(job, RUN_ID_META, "20261128T160000Z-abcdef")
    report_failed(settings, job, "system", "worker lost: one")
    report_failed(settings, job, "system", "worker lost: two")

    events = [dict(decode_event(t)) for t in _drain(pubsub)]
    assert [(e["message"], e["user_id"], e.get("run_id")) for e in events] == [
        ("worker lost: one", 77, "20261128T160000Z-abcdef"),
    ]
    logged = [data for _, data in log_range(client, "digits:events:log")]
    assert len(logged) == 1 and b"worker lost: one" in logged[0]
    pubsub.close()
    client.close()


def test_a_report_whose_meta_cannot_be_read_goes_out_without_it(
    redis_server: RedisServer,
    queue: Queue,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    job = _job(queue, {"request_id": "r-gone", "user_id": 1, "model_id": "m"})
    job.connection = Redis(port=free_port(), socket_connect_timeout=0.2)  # its meta: unreadable
    settings = _settings(redis_server, legacy=False)
    report_safely(settings, job, "system", "lost")
    assert "sending it without the job's meta" in caplog.text
    [(_, text)] = log_range(queue.connection, "digits:events:log")
    assert b'"r-gone"' in text and b'"lost"' in text

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("no publisher")

    monkeypatch.setattr("handwriting_worker.rq.terminal_outcomes.publish_failed", broken)
    report_safely(settings, job, "system", "lost")  # logged, never raised
    assert "plain report of job" in caplog.text


def test_who_stopped_a_job(redis_server: RedisServer, queue: Queue) -> None:
    job = _job(queue, {"request_id": "r-stop"})
    assert stop_cause(job) == ("system", "stopped by an operator")
    note_in_meta(job, CANCEL_META, "4242")
    assert stop_cause(job) == ("user", "cancelled by user 4242")
    queue.connection.hset(job.key, "meta", b"{broken")
    assert stop_cause(job) == ("system", "stopped by an operator")


def test_the_worker_reports_only_abandoned_jobs_and_logs_for_our_loggers(
    redis_server: RedisServer, queue: Queue
) -> None:
    client = Redis.from_url(redis_server.url)
    pubsub = PubSub(client.connection_pool, ignore_subscribe_messages=True)
    pubsub.subscribe("dead-horse")
    worker = DigitsWorker(_settings(redis_server, legacy=False), client)
    job = _job(queue, {"request_id": "r-raised", "user_id": 1, "model_id": "m"})
    error = ValueError("the job raised")
    assert (
        worker._note_abandoned_as_lost(job, ValueError, error, None) is True
    )  # the horse's own failure
    assert _drain(pubsub, quiet_s=0.3) == []

    setup_logging()
    setup_logging()  # twice: still one handler each
    for name in ("handwriting_ai", "handwriting_worker"):
        assert len(logging.getLogger(name).handlers) == 1
    pubsub.close()
    client.close()
