"""No job without its one terminal event, in the work horse's own code: run in-process on a
real Redis and real RQ jobs, with the job's events collected (``Collect``)."""

from __future__ import annotations

import io
import os
import signal
import threading
import time
from pathlib import Path

import pytest
from pydantic import SecretStr
from redis import Redis
from rq import Queue
from rq.job import Job

from handwriting_ai.events import builders
from handwriting_ai.events.codec import Event, encode_event
from handwriting_worker.commands.train_command import run_train
from handwriting_worker.rq.cancel_watch import CancelWatch
from handwriting_worker.rq.requests_keys import cancel_key
from handwriting_worker.rq.rq_job import SERIALIZER, run_guarded, train_job
from handwriting_worker.training.job import JobStopped, run_job
from tests.conftest import RedisServer, free_port
from tests.test_worker_job import Collect, _request, _settings

FAILED = "digits.train.failed.v1"


class RaisesOn(Collect):
    """Raises ``error`` when handed the first event of type ``kind`` (after keeping it)."""

    def __init__(self, kind: str, error: BaseException) -> None:
        super().__init__()
        self.kind = kind
        self.error: BaseException | None = error

    def publish(self, event: Event) -> None:
        super().publish(event)
        if event["type"] == self.kind and self.error is not None:
            error, self.error = self.error, None
            raise error


def _job(client: Redis, payload: object) -> Job:
    return Queue("guard", connection=client, serializer=SERIALIZER).enqueue(train_job, payload)


def test_a_cancel_seen_while_training_ends_the_job_cancelled(tmp_path: Path) -> None:
    sink = Collect()
    asked: list[int] = []

    def check() -> str | None:
        asked.append(1)
        return "cancelled by user 9" if len(asked) > 1 else None

    outcome = run_job(_request(epochs=50), _settings(tmp_path), sink, cancel_check=check)
    assert (outcome.error_kind, outcome.message) == ("user", "cancelled by user 9")
    assert sink.types()[-1] == FAILED and sink.types().count(FAILED) == 1


@pytest.mark.parametrize(
    ("error", "message"),
    [
        (KeyboardInterrupt(), "training interrupted: Ctrl-C"),
        (JobStopped("SIGTERM", error_kind="system"), "training interrupted: SIGTERM"),
    ],
)
def test_an_interruption_publishes_failed_then_goes_on_up(
    tmp_path: Path, error: BaseException, message: str
) -> None:
    sink = RaisesOn("digits.train.batch.v1", error)
    with pytest.raises(type(error)):
        run_job(_request(epochs=50), _settings(tmp_path), sink)
    assert sink.events[-1]["type"] == FAILED
    assert (sink.events[-1]["error_kind"], sink.events[-1]["message"]) == ("system", message)


def test_what_escapes_the_job_before_its_end_is_one_failed_event_with_the_run(
    redis_server: RedisServer, client: Redis, tmp_path: Path
) -> None:
    settings = _settings(tmp_path).model_copy(update={"redis_url": SecretStr(redis_server.url)})
    job = _job(client, _request())
    sink = RaisesOn("digits.train.started.v1", SystemExit(3))  # no handler in run_job takes it
    outcome = run_guarded(job, _request(), settings, sink)
    assert sink.types() == ["digits.train.started.v1", FAILED]
    failed = sink.events[-1]
    assert failed["message"] == "the job stopped unexpectedly: SystemExit: 3"
    assert failed["run_id"] == sink.events[0]["run_id"] is not None
    assert outcome.status == "failed"


def test_what_escapes_after_the_end_goes_on_up(
    redis_server: RedisServer, client: Redis, tmp_path: Path
) -> None:
    settings = _settings(tmp_path).model_copy(update={"redis_url": SecretStr(redis_server.url)})
    job = _job(client, _request())
    sink = RaisesOn("digits.train.batch.v1", KeyboardInterrupt())
    with pytest.raises(KeyboardInterrupt):
        run_guarded(job, _request(epochs=50), settings, sink)
    assert sink.types().count(FAILED) == 1


def test_a_job_that_already_ended_is_not_run_again_and_one_without_a_user_runs(
    redis_server: RedisServer, client: Redis, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = _settings(tmp_path).model_copy(update={"redis_url": SecretStr(redis_server.url)})
    request = _request()
    ctx = builders.JobContext("req-7", 2**60 + 5, "digits")
    text = encode_event(builders.failed(ctx, error_kind="system", message="worker lost"))
    client.set(f"digits:terminal:{2**60 + 5}:req-7", text)
    sink = Collect()
    outcome = run_guarded(_job(client, request), request, settings, sink)
    assert (outcome.status, sink.events) == ("failed", [])
    assert "already ended with digits.train.failed.v1 ('worker lost'): not run again" in caplog.text

    no_user = {"request_id": "r-no-user"}  # invalid: its one failed event, no cancel watch
    outcome = run_guarded(_job(client, no_user), no_user, settings, sink)
    assert (outcome.error_kind, sink.types()) == ("user", [FAILED])


def test_the_cancel_watch_sees_the_record_and_rides_out_a_missing_redis(
    redis_server: RedisServer, client: Redis
) -> None:
    watch = CancelWatch(redis_server.url, 5, "r-w", interval_s=0.05)
    assert watch.message() is None
    client.set(cancel_key(5, "r-w"), "77")
    deadline = time.monotonic() + 5
    while watch.message() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    assert watch.message() == "cancelled by user 77"
    watch.close()

    away = CancelWatch(f"redis://127.0.0.1:{free_port()}/0", 5, "r-w", interval_s=0.05)
    time.sleep(0.3)  # a few polls fail
    assert away.message() is None
    away.close()


class Lines(io.StringIO):
    """stdout for ``run_train``: notes when the first epoch event is written."""

    def __init__(self) -> None:
        super().__init__()
        self.epoch = threading.Event()

    def write(self, text: str) -> int:
        if '"digits.train.epoch.v1"' in text:
            self.epoch.set()
        return super().write(text)


def test_train_here_stopped_by_sigterm_says_so_and_exits_143(tmp_path: Path) -> None:
    stdout, stderr = Lines(), io.StringIO()

    def terminate() -> None:  # once training runs, so the job's own handler is in place
        if stdout.epoch.wait(120):
            os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=terminate, daemon=True).start()
    status = run_train(_settings(tmp_path), _request(epochs=50), stdout, stderr)
    assert status == 128 + signal.SIGTERM
    assert "train: SIGTERM" in stderr.getvalue()
    assert '"training interrupted: SIGTERM"' in stdout.getvalue()
