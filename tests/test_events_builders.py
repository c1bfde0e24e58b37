"""Builders: every event they make is valid, typed and timestamped; floats made finite."""

from __future__ import annotations

import re
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone

import pytest

from handwriting_ai.contracts import LEGACY_EVENT_TYPES, DigitsTrainV1
from handwriting_ai.events import builders as b
from handwriting_ai.events.codec import Event, decode_event, encode_event

CTX = b.JobContext("req-1", 123, "model-a")
RUN = CTX.with_run("20261128T160000Z-ab12")
TS = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$")

ALL: dict[str, Callable[[], Event]] = {
    "digits.train.started.v1": lambda: b.started(CTX, total_epochs=3),
    "digits.train.batch.v1": lambda: b.batch(
        RUN,
        epoch=1,
        total_epochs=3,
        batch=5,
        total_batches=10,
        batch_loss=0.7,
        batch_acc=0.5,
        avg_loss=0.8,
        samples_per_sec=1234.5,
    ),
    "digits.train.epoch.v1": lambda: b.epoch(
        RUN, epoch=1, total_epochs=3, train_loss=0.3, val_acc=0.97, time_s=12.5
    ),
    "digits.train.best.v1": lambda: b.best(RUN, epoch=1, val_acc=0.97),
    "digits.train.artifact.v1": lambda: b.artifact(RUN, path="artifacts/model-a"),
    "digits.train.upload.v1": lambda: b.upload(
        RUN, status=201, model_bytes=1000, manifest_bytes=200
    ),
    "digits.train.prune.v1": lambda: b.prune(RUN, deleted_count=2),
    "digits.train.completed.v1": lambda: b.completed(RUN, val_acc=0.98),
    "digits.train.failed.v1": lambda: b.failed(CTX, error_kind="user", message="bad"),
    "started": lambda: b.legacy_started(CTX, total_epochs=3),
    "progress": lambda: b.legacy_progress(RUN, epoch=1, total_epochs=3, val_acc=0.9),
    "completed": lambda: b.legacy_completed(RUN, val_acc=0.98),
    "failed": lambda: b.legacy_failed(RUN, error_kind="system", message="disk full"),
}


@pytest.mark.parametrize("type_name", list(ALL))
def test_every_builder_makes_a_valid_event_of_its_type(type_name: str) -> None:
    before = datetime.now(UTC)
    event = ALL[type_name]()
    assert event["type"] == type_name
    assert decode_event(encode_event(event)) == event  # schema-valid, round trip exact
    assert event["request_id"] == "req-1"
    assert event["user_id"] == 123
    ts = event.get("ts")
    assert (ts is None) == (type_name in LEGACY_EVENT_TYPES)  # legacy events carry no time
    if isinstance(ts, str):
        assert TS.match(ts), ts
        made = datetime.strptime(ts, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
        assert before - timedelta(seconds=1) <= made <= datetime.now(UTC)


def test_run_id_is_null_until_the_run_has_one() -> None:
    assert b.started(CTX, total_epochs=1)["run_id"] is None
    assert b.prune(RUN, deleted_count=0)["run_id"] == "20261128T160000Z-ab12"
    assert CTX.run_id is None  # with_run made a new context


def test_utc_timestamp_converts_to_utc_and_refuses_naive_times() -> None:
    at = datetime(2026, 11, 28, 17, 0, 0, 123456, tzinfo=timezone(timedelta(hours=1)))
    assert b.utc_timestamp(at) == "2026-11-28T16:00:00.123456Z"
    with pytest.raises(ValueError, match="no time zone; pass an aware datetime"):
        b.utc_timestamp(datetime(2026, 1, 1))


NAN, INF = float("nan"), float("inf")


@pytest.mark.parametrize(
    ("value", "prob", "loss", "measure"),
    [
        (NAN, 0.0, b.LOSS_DIVERGED, 0.0),
        (INF, 1.0, b.LOSS_DIVERGED, sys.float_info.max),
        (-INF, 0.0, 0.0, 0.0),
        (-0.5, 0.0, 0.0, 0.0),
        (0.25, 0.25, 0.25, 0.25),
        (7.0, 1.0, 7.0, 7.0),
    ],
)
def test_float_policy(value: float, prob: float, loss: float, measure: float) -> None:
    assert b.probability(value) == prob
    assert b.loss(value) == loss
    assert b.non_negative(value) == measure


def test_non_finite_inputs_still_make_valid_events() -> None:
    event = b.batch(
        RUN,
        epoch=1,
        total_epochs=1,
        batch=1,
        total_batches=1,
        batch_loss=NAN,
        batch_acc=NAN,
        avg_loss=INF,
        samples_per_sec=INF,
    )
    assert decode_event(encode_event(event)) == event
    assert event["batch_loss"] == b.LOSS_DIVERGED
    epoch = b.epoch(RUN, epoch=1, total_epochs=1, train_loss=NAN, val_acc=INF, time_s=-1.0)
    assert (epoch["train_loss"], epoch["val_acc"], epoch["time_s"]) == (b.LOSS_DIVERGED, 1, 0)
    assert b.legacy_progress(RUN, epoch=1, total_epochs=1, val_acc=NAN)["val_acc"] == 0.0
    assert b.best(RUN, epoch=1, val_acc=-1)["val_acc"] == 0.0
    assert b.completed(RUN, val_acc=NAN)["val_acc"] == 0.0
    assert b.legacy_completed(RUN, val_acc=2)["val_acc"] == 1.0


def test_failure_messages_become_one_bounded_line() -> None:
    assert b.failed(RUN, error_kind="system", message="a\n  b\tc")["message"] == "a b c"
    assert b.legacy_failed(RUN, error_kind="user", message=" \n ")["message"] == "unknown error"
    long = b.failed(RUN, error_kind="system", message="x" * 5000)
    assert len(long["message"]) == 2000
    assert long["message"].endswith("...")
    assert decode_event(encode_event(long)) == long


def test_legacy_completed_needs_a_run_id() -> None:
    with pytest.raises(ValueError, match=r"no run_id.*ctx\.with_run\(run_id\)"):
        b.legacy_completed(CTX, val_acc=0.5)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("", 1, "m", None), r"JobContext\.request_id: '' has 0 characters; it must have 1 to 128"),
        (("r", 1, "m" * 129, None), r"JobContext\.model_id: .* has 129 characters"),
        (("r", 1, "m", ""), r"JobContext\.run_id: '' has 0"),
        (("r", -1, "m", None), r"JobContext\.user_id: -1 is not a Discord user id"),
        (("r", 2**63, "m", None), r"user_id: 9223372036854775808 is not a Discord user id"),
        (("r", True, "m", None), r"user_id: True is not"),
    ],
)
def test_job_context_refuses_ids_no_event_could_carry(
    args: tuple[str, int, str, str | None], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        b.JobContext(*args)


def test_job_context_from_a_request() -> None:
    request: DigitsTrainV1 = {
        "type": "digits.train.v1",
        "request_id": "r9",
        "user_id": 2**62,
        "model_id": "m9",
        "epochs": 1,
        "batch_size": 8,
        "lr": 0.1,
        "seed": 1,
        "augment": False,
        "notes": None,
    }
    assert b.JobContext.from_request(request) == b.JobContext("r9", 2**62, "m9", None)
    assert b.JobContext.from_request(request, "run").run_id == "run"
