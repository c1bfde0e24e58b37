"""Cancel from Discord on the worker side, as the bot sends it (the cancel record, then a
``cancel`` entry on the stream): real redis-server, intake, RQ workers and work horses."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
from redis import Redis
from rq import Queue
from rq.job import JobStatus
from rq.registry import CanceledJobRegistry

from handwriting_worker.requests.cancel import cancel_request
from handwriting_worker.rq.requests_keys import cancel_key, job_id_for
from handwriting_worker.rq.rq_job import SERIALIZER
from tests.conftest import RedisServer, Running
from tests.e2e_support import QUEUE, USER_ID, Process, Subscriber, wait_until, worker_env
from tests.test_worker_intake import (
    STREAM,
    queued_ids,
    request,
    settings_for,
    settled,
    start_intake,
)

FAILED = "digits.train.failed.v1"
TERMINAL = (FAILED, "digits.train.completed.v1")
ADMIN = 77


@pytest.fixture
def env(redis_server: RedisServer, tmp_path: Path) -> dict[str, str]:
    return worker_env(redis_server.url, tmp_path, RQ__LOST_WORKER_AFTER_S="4")


def press_cancel(client: Redis, request_id: str, by: int) -> None:
    """What the bot does on Cancel: record who (NX), then append the cancel entry."""
    client.set(cancel_key(USER_ID, request_id), str(by), nx=True)
    cancel = {"request_id": request_id, "user_id": USER_ID, "by": by}
    client.xadd(STREAM, {"cancel": json.dumps(cancel)})


def worker(env: dict[str, str], tmp_path: Path, *extra: str) -> Process:
    args = [sys.executable, "-m", "handwriting_worker", "worker", *extra]
    return Process("worker", args, env, tmp_path / "worker.log")


def terminals(subscriber: Subscriber) -> list[dict[str, object]]:
    return [e for e in subscriber.events() if e["type"] in TERMINAL]


def queue_through_intake(
    redis_server: RedisServer, client: Redis, running: list[Running], request_id: str
) -> None:
    """A /train request as the bot appends it, queued by an intake."""
    start_intake(redis_server, running)
    client.xadd(STREAM, {"request": request(request_id)})
    wait_until("queued", lambda: bool(queued_ids(client)), 10)


def run_burst(env: dict[str, str], tmp_path: Path, timeout_s: float = 60) -> None:
    """A worker that runs what is queued, then exits."""
    process = worker(env, tmp_path, "--burst")
    try:
        process.popen.wait(timeout_s)
    finally:
        process.stop()


@pytest.mark.timing
def test_cancel_of_a_running_job_stops_its_horse_within_2_s_with_one_failed_event(
    redis_server: RedisServer,
    client: Redis,
    subscriber: Subscriber,
    running: list[Running],
    env: dict[str, str],
    tmp_path: Path,
) -> None:
    start_intake(redis_server, running)
    process = worker(env, tmp_path)
    try:
        client.xadd(STREAM, {"request": request("r-run", epochs=50)})
        subscriber.wait_for("digits.train.batch.v1", 60)
        [horse] = process.children()
        press_cancel(client, "r-run", USER_ID)
        pressed = time.monotonic()
        wait_until("the horse is gone", lambda: horse not in process.children(), 5, 0.01)
        assert time.monotonic() - pressed < 2.0
        failed = subscriber.wait_for(FAILED, 10)
        time.sleep(2)
        assert len(terminals(subscriber)) == 1, subscriber.types()[-5:]
        assert (failed["error_kind"], failed["message"]) == ("user", f"cancelled by user {USER_ID}")
        assert failed["run_id"] is not None
        assert process.alive()
    finally:
        process.stop()


def test_cancel_of_a_queued_job_removes_it_and_a_second_cancel_changes_nothing(
    redis_server: RedisServer,
    client: Redis,
    subscriber: Subscriber,
    running: list[Running],
    env: dict[str, str],
    tmp_path: Path,
) -> None:
    queue_through_intake(redis_server, client, running, "r-queued")
    press_cancel(client, "r-queued", ADMIN)
    press_cancel(client, "r-queued", USER_ID)  # the bot refuses this; the intake copes anyway
    failed = subscriber.wait_for(FAILED, 10)
    wait_until("all entries handled", lambda: settled(client, 3), 10)
    assert (failed["error_kind"], failed["message"]) == ("user", f"cancelled by user {ADMIN}")
    assert failed["run_id"] is None
    assert queued_ids(client) == []
    job_id = job_id_for(USER_ID, "r-queued")
    assert job_id in CanceledJobRegistry(QUEUE, connection=client).get_job_ids()
    run_burst(env, tmp_path)  # nothing left to run
    assert len(terminals(subscriber)) == 1
    assert "digits.train.started.v1" not in subscriber.types()


def test_a_job_cancelled_before_its_horse_starts_trains_nothing(
    redis_server: RedisServer,
    client: Redis,
    subscriber: Subscriber,
    running: list[Running],
    env: dict[str, str],
    tmp_path: Path,
) -> None:
    queue_through_intake(redis_server, client, running, "r-taken")
    # The Cancel came while a worker held the job between the queue and its start.
    client.set(cancel_key(USER_ID, "r-taken"), str(ADMIN))
    run_burst(env, tmp_path)
    [failed] = terminals(subscriber)
    assert (failed["error_kind"], failed["message"]) == ("user", f"cancelled by user {ADMIN}")
    assert "digits.train.started.v1" not in subscriber.types()


def test_cancel_after_the_job_ended_does_nothing(
    redis_server: RedisServer,
    client: Redis,
    subscriber: Subscriber,
    running: list[Running],
    env: dict[str, str],
    tmp_path: Path,
) -> None:
    queue_through_intake(redis_server, client, running, "r-done")
    run_burst(env, tmp_path, 120)
    subscriber.wait_for("digits.train.completed.v1", 10)
    press_cancel(client, "r-done", USER_ID)
    wait_until("the cancel is handled", lambda: settled(client, 2), 10)
    time.sleep(0.5)
    assert len(terminals(subscriber)) == 1


def test_cancel_while_a_worker_holds_the_job_or_after_it_lost_its_worker(
    redis_server: RedisServer, client: Redis
) -> None:
    settings = settings_for(redis_server.url)
    queue = Queue(QUEUE, connection=client, serializer=SERIALIZER)
    job = queue.enqueue("handwriting_worker.rq.rq_job.train_job", {}, job_id=job_id_for(5, "h"))
    client.lmove(queue.key, f"{queue.key}:intermediate", "LEFT", "RIGHT")  # what a worker does
    outcome = cancel_request(settings, client, 5, "h", ADMIN)
    assert outcome == "taken by a worker: it will find the cancel when it starts"
    job.set_status(JobStatus.STARTED)  # started, but no worker named: it ended in between
    assert cancel_request(settings, client, 5, "h", ADMIN) == "ended before the stop"


def test_a_job_queued_with_enqueue_is_cancelled_from_discord_too(
    redis_server: RedisServer,
    client: Redis,
    subscriber: Subscriber,
    running: list[Running],
    env: dict[str, str],
) -> None:
    cli = [sys.executable, "-m", "handwriting_worker", "enqueue", "--user-id", str(USER_ID)]
    args = [*cli, "--request-id", "r-cli"]
    done = subprocess.run(args, env=env, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    start_intake(redis_server, running)
    press_cancel(client, "r-cli", USER_ID)
    failed = subscriber.wait_for(FAILED, 30)
    assert (failed["request_id"], failed["message"]) == ("r-cli", f"cancelled by user {USER_ID}")
    assert queued_ids(client) == []


def test_cancel_whose_queue_removal_answer_was_lost_still_ends_the_job_once(
    redis_server: RedisServer, client: Redis, subscriber: Subscriber, running: list[Running]
) -> None:
    """Chaos seed 18: Redis (paused) ran the intake's LREM after its client had timed out, so
    the retry removed nothing; the job was in no worker's hands and no one published its end."""
    queue_through_intake(redis_server, client, running, "r-lost")
    [job_id] = queued_ids(client)
    queue = Queue(QUEUE, connection=client, serializer=SERIALIZER)
    assert client.lrem(queue.key, 0, job_id) == 1  # the first try's LREM, its answer lost
    press_cancel(client, "r-lost", ADMIN)
    failed = subscriber.wait_for(FAILED, 10)
    wait_until("the cancel is handled", lambda: settled(client, 2), 10)
    assert (failed["request_id"], failed["error_kind"]) == ("r-lost", "user")
    assert failed["message"] == f"cancelled by user {ADMIN}"
    assert job_id in CanceledJobRegistry(QUEUE, connection=client).get_job_ids()
    settings = settings_for(redis_server.url)
    again = cancel_request(settings, client, USER_ID, "r-lost", ADMIN)
    assert again == f"nothing to do: the job is {JobStatus.CANCELED}"
    time.sleep(0.3)
    assert len(terminals(subscriber)) == 1
