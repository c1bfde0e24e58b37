"""Numbers in a request as the worker gets them: NaN and infinity are bad input (exit 2, a
user error naming the field), never a job that starts and then fails as a system error; a
whole-number float where an integer belongs (epochs 2.0) trains like the int."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import pytest

from handwriting_ai.events.codec import decode_event
from handwriting_ai.settings import DigitsSettings, Settings, TrainSettings
from handwriting_worker.training.job import run_job
from tests.conftest import free_port
from tests.e2e_support import REPO, worker_env


def _cli(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = worker_env(f"redis://127.0.0.1:{free_port()}/0", tmp_path)  # nothing listens there
    del env["REDIS_URL"]  # train: events on stdout only
    return subprocess.run(
        [sys.executable, "-m", "handwriting_worker", *args, "--user-id", "42"],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize("value", ["nan", "inf", "-Infinity"])
def test_enqueue_refuses_a_non_finite_lr_naming_the_field(tmp_path: Path, value: str) -> None:
    result = _cli(tmp_path, "enqueue", f"--lr={value}")
    assert result.returncode == 2, result.stderr
    assert "$.lr:" in result.stderr and "is not a finite number" in result.stderr
    assert result.stdout == ""  # nothing was queued


def test_train_refuses_a_nan_lr_as_bad_input(tmp_path: Path) -> None:
    result = _cli(tmp_path, "train", "--lr", "nan")
    assert result.returncode == 2, result.stderr
    [event] = [dict(decode_event(line)) for line in result.stdout.splitlines()]
    assert event["type"] == "digits.train.failed.v1"
    assert event["error_kind"] == "user"
    assert "$.lr: nan is not a finite number" in str(event["message"])


class _Collect:
    def __init__(self) -> None:
        self.types: list[str] = []
        self.messages: list[str] = []

    def publish(self, event: object) -> None:
        assert isinstance(event, dict)
        self.types.append(str(event["type"]))
        self.messages.append(str(event.get("message", "")))

    def close(self, timeout: float = 2.0) -> None:
        pass


def _payload(**change: object) -> dict[str, object]:
    payload: dict[str, object] = {
        "type": "digits.train.v1",
        "request_id": "req-n",
        "user_id": 42,
        "model_id": "digits",
        "epochs": 1,
        "batch_size": 64,
        "lr": 0.01,
        "seed": 0,
        "augment": False,
        "notes": None,
    }
    payload.update(change)
    return payload


def test_a_queued_payload_with_nan_fails_as_the_user_s_error_before_starting(
    tmp_path: Path,
) -> None:
    sink = _Collect()
    outcome = run_job(_payload(lr=math.nan), Settings(), sink)
    assert (outcome.status, outcome.error_kind) == ("failed", "user")
    assert sink.types == ["digits.train.failed.v1"]  # no started: nothing was trained
    assert "$.lr: nan is not a finite number" in sink.messages[0]


def test_a_payload_with_whole_number_floats_trains(tmp_path: Path) -> None:
    # A producer with only floats (a JS client, a JSON serializer) sends epochs 1.0: before,
    # training failed with a TypeError reported as a system error.
    settings = Settings(
        digits=DigitsSettings(
            data_root=REPO / "data" / "mnist", artifacts_root=tmp_path / "artifacts"
        ),
        train=TrainSettings(threads=1, max_train_samples=128),
    )
    sink = _Collect()
    outcome = run_job(_payload(epochs=1.0, batch_size=64.0, seed=3.0), settings, sink)
    assert outcome.status == "completed", sink.messages
    assert sink.types[0] == "digits.train.started.v1"
    assert sink.types[-1] == "digits.train.completed.v1"
