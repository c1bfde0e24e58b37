"""The queue path with real parts: redis-server, `python -m handwriting_worker enqueue`, a real
RQ worker process, its forked work horse (SIGKILLed in one test), and a subscriber that
checks the exact events published on the channel."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from handwriting_ai.events.codec import decode_event
from handwriting_worker.rq.requests_keys import job_id_for
from tests.conftest import RedisServer, free_port
from tests.e2e_support import REPO, Subscriber, worker_env


def _env(url: str, tmp_path: Path, **extra: str) -> dict[str, str]:
    return worker_env(url, tmp_path, **{"TRAIN__MAX_TRAIN_SAMPLES": "256", **extra})


def _cli(env: dict[str, str], *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "handwriting_worker", *args],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def test_enqueued_jobs_are_run_by_a_worker_and_every_event_arrives(
    redis_server: RedisServer, subscriber: Subscriber, tmp_path: Path
) -> None:
    env = _env(redis_server.url, tmp_path)
    first = _cli(
        env,
        "enqueue",
        "--epochs",
        "2",
        "--batch-size",
        "64",
        "--request-id",
        "r-1",
        "--user-id",
        str(2**62 + 1),
    )
    assert first.returncode == 0, first.stderr
    lines = first.stdout.splitlines()
    # The intake's job id, so Discord's Cancel finds a job queued from the command line too.
    assert lines == ["request_id r-1", f"job_id {job_id_for(2**62 + 1, 'r-1')}"]
    again = _cli(env, "enqueue", "--request-id", "r-1", "--user-id", str(2**62 + 1))
    assert again.returncode == 1
    assert f"request 'r-1' of user {2**62 + 1} is queued already" in again.stderr
    assert "pass another --request-id" in again.stderr
    bad = _cli(env, "enqueue", "--epochs", "101", "--user-id", "1")
    assert bad.returncode == 2
    assert "$.epochs: 101 is greater than the maximum of 100" in bad.stderr
    nobody = _cli(env, "enqueue")  # no silent user 0: the job would be shown to nobody
    assert nobody.returncode == 2
    assert "the following arguments are required: --user-id" in nobody.stderr

    worker = _cli(env, "worker", "--burst", timeout=120)
    assert worker.returncode == 0, worker.stderr
    # Ended: the same request may be queued again (a retry), and runs as a new run.
    retry = _cli(env, "enqueue", "--request-id", "r-1", "--user-id", str(2**62 + 1))
    assert retry.returncode == 0, retry.stderr

    subscriber.wait_for("digits.train.completed.v1", 10)
    events = subscriber.events()
    assert subscriber.invalid() == []
    assert {(e["request_id"], e["user_id"]) for e in events} == {("r-1", 2**62 + 1)}
    run_id = events[0]["run_id"]
    assert run_id is not None and {e.get("run_id") for e in events} == {run_id}
    types = subscriber.types()
    assert types[0] == "digits.train.started.v1"
    assert types[-3:] == [
        "digits.train.artifact.v1",
        "digits.train.prune.v1",
        "digits.train.completed.v1",
    ]
    # 256 samples / 64 = 4 batches, every 2nd: batches 1, 2 and 4 of each epoch.
    assert [(e["epoch"], e["batch"]) for e in events if e["type"] == "digits.train.batch.v1"] == [
        (1, 1),
        (1, 2),
        (1, 4),
        (2, 1),
        (2, 2),
        (2, 4),
    ]
    assert (tmp_path / "artifacts" / "digits" / f"model-{run_id}.pt").exists()


def test_a_killed_work_horse_is_reported_by_the_parent(
    redis_server: RedisServer, subscriber: Subscriber, tmp_path: Path
) -> None:
    env = _env(redis_server.url, tmp_path, TRAIN__MAX_TRAIN_SAMPLES="4096", EVENTS__LEGACY="true")
    args = ("--epochs", "50", "--request-id", "r-kill", "--user-id", "5")
    assert _cli(env, "enqueue", *args).returncode == 0
    worker = subprocess.Popen(
        [sys.executable, "-m", "handwriting_worker"],
        env=env,
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        subscriber.wait_for("digits.train.batch.v1", 60)
        children = Path(f"/proc/{worker.pid}/task/{worker.pid}/children").read_text().split()
        assert len(children) == 1
        os.kill(int(children[0]), signal.SIGKILL)
        failed = subscriber.wait_for("digits.train.failed.v1", 30)
        legacy = subscriber.wait_for("failed", 5)
    finally:
        worker.send_signal(signal.SIGINT)
        try:
            worker.wait(10)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()
    assert failed["message"] == "worker process killed by signal 9, probably out of memory"
    assert failed["error_kind"] == "system"
    assert failed["request_id"] == "r-kill"
    assert failed["run_id"] == subscriber.events()[0]["run_id"] is not None
    assert subscriber.invalid() == []
    assert legacy["message"] == failed["message"]
    assert subscriber.types().count("digits.train.failed.v1") == 1
    assert "digits.train.completed.v1" not in subscriber.types()


def test_worker_and_enqueue_without_redis_say_so_in_one_line(tmp_path: Path) -> None:
    url = f"redis://:s3cret@127.0.0.1:{free_port()}/0"
    for command in (["worker"], ["enqueue", "--user-id", "1"]):
        result = _cli(_env(url, tmp_path), *command)
        assert result.returncode == 1
        [line] = result.stderr.strip().splitlines()
        assert "cannot reach Redis at redis://***@127.0.0.1:" in line
        assert "s3cret" not in line
        assert "set REDIS_URL" in line


def test_bad_settings_stop_the_commands(tmp_path: Path) -> None:
    env = _env("redis://127.0.0.1:1/0", tmp_path, EVENTS__BATCH_EVERY="often")
    enqueue = ["enqueue", "--user-id", "1"]
    for command, status in ((["worker"], 1), (enqueue, 1), (["train"], 2)):
        result = _cli(env, *command)
        assert result.returncode == status
        assert "EVENTS__BATCH_EVERY" in result.stderr


def test_train_runs_one_job_here_with_events_on_stdout(tmp_path: Path) -> None:
    env = _env("redis://127.0.0.1:1/0", tmp_path)
    del env["REDIS_URL"]
    result = _cli(
        env, "train", "--epochs", "1", "--batch-size", "128", "--arch", "cnn", timeout=120
    )
    assert result.returncode == 0, result.stderr
    events = [dict(decode_event(line)) for line in result.stdout.splitlines()]
    assert events[0]["type"] == "digits.train.started.v1"
    assert events[-1]["type"] == "digits.train.completed.v1"
    assert "completed: val_acc" in result.stderr
    failed = _cli(env, "train", "--lr", "0")
    assert failed.returncode == 2
    [event] = [dict(decode_event(line)) for line in failed.stdout.splitlines()]
    assert event["type"] == "digits.train.failed.v1" and "$.lr" in str(event["message"])
