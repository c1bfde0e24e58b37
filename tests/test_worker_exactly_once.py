"""Exactly one terminal event per job where a second one, or none, used to slip through: real
redis-server, real worker processes (parent and forked work horse), the event log read back.

- Redis refusing connections right after the last epoch: the horse's ``completed`` waits in
  the spool, the worker dies of the outage, and its restart (and every report that follows)
  must leave that ``completed`` as the job's only terminal event.
- An exception that escapes the job outside ``run_job`` (an unreadable Cancel record): one
  failed event.
- A Cancel whose stop-job PUBLISH reached no worker: the horse reads the record and stops.
- ``train`` stopped by SIGTERM: one failed event, "interrupted".
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from redis import Redis

from handwriting_ai.events.eventlog import log_range
from handwriting_worker.rq.requests_keys import cancel_key
from tests.conftest import RedisServer, free_port
from tests.e2e_support import (
    REPO,
    USER_ID,
    Process,
    enqueue,
    start_worker,
    wait_until,
    worker_env,
)
from tests.model_api import ModelApi, serve_model_api

STREAM = "digits:events:log"
TERMINAL = ("digits.train.completed.v1", "digits.train.failed.v1")
LOST_AFTER_S = 6


def terminals(client: Redis) -> list[dict[str, object]]:
    """Every terminal event in the event log, oldest first."""
    events = [json.loads(text) for _, text in log_range(client, STREAM, count=10_000)]
    return [e for e in events if isinstance(e, dict) and e.get("type") in TERMINAL]


@pytest.fixture
def started(tmp_path: Path) -> Iterator[list[Process]]:
    """Worker processes a test starts; all stopped (horses too) when it ends."""
    processes: list[Process] = []
    yield processes
    for process in processes:
        process.stop()


@pytest.mark.timeout(240)
def test_redis_refusing_after_the_last_epoch_leaves_the_horses_completed_as_the_only_end(
    tmp_path: Path, started: list[Process]
) -> None:
    server = RedisServer(free_port(), aof_dir=tmp_path / "aof")
    server.start()
    try:
        with serve_model_api(ModelApi(delay_s=4)) as api:
            env = worker_env(
                server.url,
                tmp_path,
                RQ__LOST_WORKER_AFTER_S=str(LOST_AFTER_S),
                HANDWRITING_API_URL=api.url,
                HANDWRITING_API_KEY=api.key,
            )
            started.append(start_worker(env, tmp_path))
            enqueue(env, "r-refused", epochs=1)
            # The horse is in its upload, after the last epoch: Redis goes away now.
            wait_until("the upload to start", lambda: bool(api.received), 120)
            server.stop()
            # The upload ends; the horse's upload and completed events go to the spool.
            wait_until(
                f"the horse's spool file ({started[0].tail()})",
                lambda: list((tmp_path / "spool").glob("*.jsonl")) or None,
                60,
            )
            time.sleep(2)
            server.start()
            client = Redis.from_url(server.url)

            def supervised() -> list[dict[str, object]] | None:
                """Restarts the worker when it died (of the outage), as systemd would."""
                if not started[-1].alive():
                    started.append(start_worker(env, tmp_path))
                return terminals(client) or None

            wait_until("a terminal event in the log", supervised, 120)
            # Past the lost-worker bound: any report of the job's loss has come by now.
            deadline = time.monotonic() + 2 * LOST_AFTER_S
            while time.monotonic() < deadline:
                supervised()
                time.sleep(0.2)
            ends = terminals(client)
            assert [(e["type"], e["request_id"]) for e in ends] == [
                ("digits.train.completed.v1", "r-refused")
            ], [p.tail() for p in started]
            client.close()
    finally:
        server.stop()


@pytest.mark.timeout(240)
def test_a_redis_restart_while_the_horse_trains_leaves_its_parent_watching_and_one_end(
    tmp_path: Path, started: list[Process]
) -> None:
    server = RedisServer(free_port(), aof_dir=tmp_path / "aof")
    server.start()
    try:
        env = worker_env(server.url, tmp_path, RQ__LOST_WORKER_AFTER_S=str(LOST_AFTER_S))
        started.append(start_worker(env, tmp_path))
        enqueue(env, "r-restart", epochs=4)
        client = Redis.from_url(server.url)
        wait_until(
            "the job to train",
            lambda: any(b'"digits.train.batch.v1"' in t for _, t in log_range(client, STREAM)),
            90,
        )
        client.close()
        server.stop()  # AOF fsynced: every acknowledged write comes back
        time.sleep(3)  # past redis-py's retries: the parent's heartbeat fails
        server.start()
        client = Redis.from_url(server.url)
        wait_until("a terminal event in the log", lambda: terminals(client) or None, 120)
        time.sleep(2 * LOST_AFTER_S)  # any report of the job's loss has come by now
        ends = [(e["type"], e["request_id"]) for e in terminals(client)]
        client.close()
        worker = started[0]
        # The parent watched its horse through the outage (RQ alone quits on a Redis error,
        # and a horse that dies unwatched is only found by the lost-worker clean-up).
        assert worker.alive(), worker.tail()
        assert "unhandled exception, quitting" not in worker.output()
        assert "heartbeat not sent" in worker.output()
        assert ends == [("digits.train.completed.v1", "r-restart")], worker.tail()
    finally:
        server.stop()


def test_an_exception_escaping_the_job_ends_it_with_one_failed_event(
    redis_server: RedisServer, tmp_path: Path, started: list[Process], client: Redis
) -> None:
    env = worker_env(redis_server.url, tmp_path, RQ__LOST_WORKER_AFTER_S=str(LOST_AFTER_S))
    client.set(cancel_key(USER_ID, "r-escape"), b"\xff\xfe")  # not text: reading it raises
    enqueue(env, "r-escape", epochs=1)
    started.append(start_worker(env, tmp_path))
    [failed] = wait_until("the failed event", lambda: terminals(client) or None, 90)
    assert failed["type"] == "digits.train.failed.v1"
    assert failed["error_kind"] == "system"
    assert str(failed["message"]).startswith("the job stopped unexpectedly: UnicodeDecodeError")
    time.sleep(LOST_AFTER_S)
    assert len(terminals(client)) == 1


@pytest.mark.timing
def test_a_cancel_whose_stop_command_reached_no_worker_still_stops_the_job(
    redis_server: RedisServer, tmp_path: Path, started: list[Process], client: Redis
) -> None:
    env = worker_env(redis_server.url, tmp_path, RQ__LOST_WORKER_AFTER_S=str(LOST_AFTER_S))
    started.append(start_worker(env, tmp_path))
    enqueue(env, "r-unheard", epochs=100)
    wait_until(
        "the job to train",
        lambda: any(b'"digits.train.batch.v1"' in t for _, t in log_range(client, STREAM)),
        90,
    )
    # The bot's Cancel record, and no stop-job command (its PUBLISH reached nobody).
    client.set(cancel_key(USER_ID, "r-unheard"), "4242")
    cancelled_at = time.monotonic()
    [failed] = wait_until("the job to stop", lambda: terminals(client) or None, 30)
    assert time.monotonic() - cancelled_at < 10
    assert (failed["error_kind"], failed["message"]) == ("user", "cancelled by user 4242")
    time.sleep(2)
    assert len(terminals(client)) == 1
    assert started[0].alive()


@contextmanager
def _sigint_as_a_terminal_gives_it() -> Iterator[None]:
    """A process started from a background job (CI, nohup) inherits SIGINT as ignored, and Python
    then raises no KeyboardInterrupt. A handler (any) is reset to the default across exec, so a
    child started inside this block gets SIGINT as a shell in a terminal gives it."""
    before = signal.getsignal(signal.SIGINT)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, before)


@pytest.mark.parametrize(
    ("sig", "said", "message"),
    [
        (signal.SIGTERM, "train: SIGTERM", "training interrupted: SIGTERM"),
        (signal.SIGINT, "train: interrupted (Ctrl-C)", "training interrupted: Ctrl-C"),
    ],
)
def test_train_stopped_by_a_signal_publishes_its_failed_event(
    redis_server: RedisServer,
    tmp_path: Path,
    client: Redis,
    sig: signal.Signals,
    said: str,
    message: str,
) -> None:
    env = worker_env(redis_server.url, tmp_path)
    args = ["train", "--epochs", "100", "--request-id", "r-term", "--user-id", "5"]
    with _sigint_as_a_terminal_gives_it():
        train = subprocess.Popen(
            [sys.executable, "-m", "handwriting_worker", *args],
            env=env,
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
    try:
        assert train.stdout is not None
        for line in train.stdout:  # JSON lines; the first epoch means it trains
            if '"digits.train.epoch.v1"' in line:
                break
        train.send_signal(sig)
        _, err = train.communicate(timeout=60)
    finally:
        train.kill()
    assert train.returncode == 128 + sig, err
    assert said in err
    [failed] = terminals(client)
    assert (failed["request_id"], failed["error_kind"]) == ("r-term", "system")
    assert failed["message"] == message
