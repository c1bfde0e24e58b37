"""The intake moves requests from the stream into RQ exactly once: real redis-server, real
intake processes (also SIGKILLed mid-stream), real RQ queue, events read from the channel."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from redis import Redis
from rq import Queue

from handwriting_ai.settings import EventsSettings, IntakeSettings, RqSettings, Settings
from handwriting_worker.requests.intake import DONE_KEY, Intake
from handwriting_worker.rq.requests_keys import cancel_key, job_id_for
from handwriting_worker.rq.rq_job import SERIALIZER
from tests.conftest import RedisServer, Running, free_port
from tests.e2e_support import CHANNEL, QUEUE, USER_ID, Process, Subscriber, wait_until, worker_env

STREAM = "digits:requests"
GROUP = "intake"
QUEUE_KEY = f"rq:queue:{QUEUE}"


def request(request_id: str, **fields: object) -> str:
    body: dict[str, object] = {
        "type": "digits.train.v1",
        "request_id": request_id,
        "user_id": USER_ID,
        "model_id": "e2e_model",
        "epochs": 1,
        "batch_size": 64,
        "lr": 0.01,
        "seed": 0,
        "augment": False,
        "notes": None,
    }
    body.update(fields)
    return json.dumps(body)


def settings_for(url: str, claim_idle_s: float = 0.3, *, legacy: bool = False) -> Settings:
    return Settings(
        redis_url=url,
        events=EventsSettings(legacy=legacy),
        rq=RqSettings(queue=QUEUE),
        intake=IntakeSettings(claim_idle_s=claim_idle_s),
        digits_events_channel=CHANNEL,
    )


def start_intake(redis_server: RedisServer, running: list[Running], name: str = "t") -> Intake:
    connection = Redis.from_url(redis_server.url)
    intake = Intake(settings_for(redis_server.url), connection, name)
    running.append(Running(intake))
    return intake


def pending(client: Redis) -> int:
    info = client.xpending(STREAM, GROUP)
    count = info["pending"]
    assert isinstance(count, int)
    return count


def settled(client: Redis, entries: int) -> bool:
    """Every entry of the stream read by the group and acknowledged."""
    groups = client.xinfo_groups(STREAM)
    return bool(groups) and groups[0]["entries-read"] == entries and pending(client) == 0


def queued_ids(client: Redis) -> list[str]:
    return [j.decode() if isinstance(j, bytes) else j for j in client.lrange(QUEUE_KEY, 0, -1)]


def test_a_request_becomes_one_rq_job_named_after_user_and_request(
    redis_server: RedisServer, client: Redis, running: list[Running]
) -> None:
    start_intake(redis_server, running)
    client.xadd(STREAM, {"request": request("r-1")})
    wait_until("the entry is acknowledged", lambda: settled(client, 1), 10)
    job_id = job_id_for(USER_ID, "r-1")
    assert queued_ids(client) == [job_id]
    job = Queue(QUEUE, connection=client, serializer=SERIALIZER).fetch_job(job_id)
    assert job is not None
    assert job.args[0]["user_id"] == USER_ID  # exact, above 2^53
    assert client.get(DONE_KEY.format(job_id=job_id)) == b"queued"


def test_an_entry_delivered_again_after_a_crash_between_enqueue_and_ack_is_not_queued_twice(
    redis_server: RedisServer, client: Redis, running: list[Running]
) -> None:
    crashed = Intake(settings_for(redis_server.url), client, "crashed")
    crashed.ensure_group()
    client.xadd(STREAM, {"request": request("r-twice")})
    entry = crashed.next_entry()
    assert entry is not None
    crashed.handle(*entry)  # queued; the XACK never happens (the process died here)
    assert pending(client) == 1

    start_intake(redis_server, running, "survivor")  # takes the entry over after claim_idle_s
    wait_until("the entry is taken over and acknowledged", lambda: pending(client) == 0, 10)
    assert queued_ids(client) == [job_id_for(USER_ID, "r-twice")]


def test_an_entry_read_by_an_intake_that_died_before_enqueuing_is_queued_by_another(
    redis_server: RedisServer, client: Redis, running: list[Running]
) -> None:
    crashed = Intake(settings_for(redis_server.url), client, "crashed")
    crashed.ensure_group()
    client.xadd(STREAM, {"request": request("r-late")})
    assert crashed.next_entry() is not None  # read, then the process died
    assert queued_ids(client) == []

    start_intake(redis_server, running, "survivor")
    wait_until("the entry is queued", lambda: pending(client) == 0 and bool(queued_ids(client)), 10)
    assert queued_ids(client) == [job_id_for(USER_ID, "r-late")]


def test_an_intake_killed_mid_stream_loses_nothing_and_queues_nothing_twice(
    redis_server: RedisServer, client: Redis, tmp_path: Path
) -> None:
    env = worker_env(redis_server.url, tmp_path, INTAKE__CLAIM_IDLE_S="0.5")
    count = 40
    for number in range(count):
        client.xadd(STREAM, {"request": request(f"r-{number}")})
    args = [sys.executable, "-m", "handwriting_worker", "intake"]
    first = Process("intake-1", args, env, tmp_path / "intake-1.log")
    try:
        wait_until("a few entries queued", lambda: len(queued_ids(client)) >= 3, 60, 0.001)
        first.stop(signal.SIGKILL)
    finally:
        first.stop(signal.SIGKILL)
    assert len(queued_ids(client)) < count, "killed too late to test anything"
    second = Process("intake-2", args, env, tmp_path / "intake-2.log")
    try:
        wait_until("every entry handled", lambda: settled(client, count), 60, 0.1)
        second.stop(signal.SIGTERM)
        assert second.popen.returncode == 0, second.tail()
        assert "stopped" in second.output()
    finally:
        second.stop()
    ids = queued_ids(client)
    assert sorted(ids) == sorted(job_id_for(USER_ID, f"r-{n}") for n in range(count))


def test_an_invalid_request_gets_one_failed_event_naming_the_field_and_is_not_queued(
    redis_server: RedisServer, client: Redis, subscriber: Subscriber, running: list[Running]
) -> None:
    start_intake(redis_server, running)
    client.xadd(STREAM, {"request": request("r-bad", epochs=0)})
    failed = subscriber.wait_for("digits.train.failed.v1", 10)
    assert failed["error_kind"] == "user"
    assert "$.epochs" in str(failed["message"])
    assert (failed["request_id"], failed["user_id"]) == ("r-bad", USER_ID)
    client.xadd(STREAM, {"request": "{not json"})
    client.xadd(STREAM, {"something": "else"})
    client.xadd(STREAM, {"cancel": json.dumps({"request_id": "", "user_id": 1, "by": 1})})
    client.xadd(STREAM, {"cancel": json.dumps({"request_id": "r", "user_id": 0, "by": 1})})
    wait_until("every entry acknowledged", lambda: settled(client, 5), 10)
    assert queued_ids(client) == []
    assert subscriber.types().count("digits.train.failed.v1") == 2


def test_redis_failures_are_retried_until_it_answers(
    redis_server: RedisServer,
    client: Redis,
    running: list[Running],
    caplog: pytest.LogCaptureFixture,
) -> None:
    client.set(STREAM, "not a stream")  # the group cannot be made: WRONGTYPE
    start_intake(redis_server, running)
    wait_until("a retry", lambda: "again in" in caplog.text, 10)
    client.delete(STREAM)
    client.xadd(STREAM, {"request": request("r-after")})
    wait_until("the entry is queued", lambda: queued_ids(client) or None, 15)
    redis_server.stop()
    redis_server.start()
    client.xadd(STREAM, {"request": request("r-restarted")})  # Redis lost all: no group
    ids = wait_until("queued after the restart", lambda: queued_ids(client) or None, 15)
    assert ids == [job_id_for(USER_ID, "r-restarted")]


def test_the_group_is_made_once_and_kept(redis_server: RedisServer, client: Redis) -> None:
    intake = Intake(settings_for(redis_server.url), client, "a")
    intake.ensure_group()
    intake.ensure_group()  # BUSYGROUP: already there
    assert [g["name"] for g in client.xinfo_groups(STREAM)] == [GROUP.encode()]
    assert intake.next_entry() is None  # nothing within BLOCK_MS


def test_a_cancel_recorded_before_the_request_is_read_queues_nothing(
    redis_server: RedisServer, client: Redis, subscriber: Subscriber, running: list[Running]
) -> None:
    client.set(cancel_key(USER_ID, "r-early"), "77")
    client.xadd(STREAM, {"request": request("r-early")})
    client.xadd(
        STREAM, {"cancel": json.dumps({"request_id": "r-early", "user_id": USER_ID, "by": 77})}
    )
    start_intake(redis_server, running)
    failed = subscriber.wait_for("digits.train.failed.v1", 10)
    assert (failed["error_kind"], failed["message"]) == ("user", "cancelled by user 77")
    wait_until("both entries acknowledged", lambda: settled(client, 2), 10)
    assert queued_ids(client) == []
    job_id = job_id_for(USER_ID, "r-early")
    assert client.get(DONE_KEY.format(job_id=job_id)) == b"cancelled"


def test_an_invalid_request_delivered_twice_is_reported_once_also_in_legacy_form(
    redis_server: RedisServer, client: Redis, subscriber: Subscriber
) -> None:
    intake = Intake(settings_for(redis_server.url, legacy=True), client, "a")
    intake.ensure_group()
    client.xadd(STREAM, {"request": request("r-twice-bad", lr=2)})
    entry = intake.next_entry()
    assert entry is not None
    assert intake.handle(*entry).startswith("refused: invalid digits.train.v1 request: $.lr")
    assert intake.handle(*entry).startswith("refused")  # its intake died before XACK
    subscriber.wait_for("failed", 10)
    time.sleep(0.3)
    assert subscriber.types() == ["digits.train.failed.v1", "failed"]


def test_intake_without_redis_says_where_it_looked_and_exits_1(tmp_path: Path) -> None:
    env = worker_env(f"redis://:hunter2@127.0.0.1:{free_port()}/0", tmp_path)
    result = subprocess.run(
        [sys.executable, "-m", "handwriting_worker", "intake"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1
    assert result.stderr.startswith("intake: cannot reach Redis at redis://***@127.0.0.1:")
    assert "hunter2" not in result.stderr + result.stdout
