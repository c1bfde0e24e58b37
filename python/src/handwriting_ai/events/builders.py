"""One builder per event: a job context plus the event's own fields in, a typed event out.

Builders fill ``type`` and ``ts`` (UTC, RFC 3339 with ``Z``, microseconds), so no caller writes
a type string or a timestamp.

Floats never make a builder raise (an event must not stop training) and always come out finite
and inside the schema's range, because JSON has no NaN or Infinity:

- probabilities (accuracies) are clamped to [0, 1]; NaN becomes 0.0;
- losses: NaN and +inf become ``LOSS_DIVERGED`` (the largest float: a diverged loss stays
  visibly huge instead of looking like a perfect 0); negatives become 0.0;
- other non-negative measures (seconds, samples per second): NaN and negatives become 0.0,
  +inf becomes the largest float.

Identifiers are checked once, when the ``JobContext`` is made. A failure message is made one
line of at most 2000 characters, as the schema asks.
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Literal

from handwriting_ai.contracts import (
    DigitsTrainArtifactV1,
    DigitsTrainBatchV1,
    DigitsTrainBestV1,
    DigitsTrainCompletedV1,
    DigitsTrainEpochV1,
    DigitsTrainFailedV1,
    DigitsTrainPruneV1,
    DigitsTrainStartedV1,
    DigitsTrainUploadV1,
    DigitsTrainV1,
    LegacyCompleted,
    LegacyFailed,
    LegacyProgress,
    LegacyStarted,
)
from handwriting_ai.contracts import names as t

ErrorKind = Literal["user", "system"]

LOSS_DIVERGED = sys.float_info.max
"""What a NaN or infinite loss is published as."""

MAX_ID_LENGTH = 128
MAX_USER_ID = 2**63 - 1
MAX_MESSAGE_LENGTH = 2000


def utc_timestamp(at: datetime | None = None) -> str:
    """``at`` (default now) as RFC 3339 in UTC with a ``Z``: 2026-11-28T16:00:00.123456Z."""
    moment = datetime.now(UTC) if at is None else at
    if moment.tzinfo is None:
        raise ValueError(
            f"utc_timestamp: {moment!r} has no time zone; pass an aware datetime "
            "(datetime.now(UTC)) so the event's time is unambiguous"
        )
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _check_id(name: str, value: str) -> None:
    if not 1 <= len(value) <= MAX_ID_LENGTH:
        raise ValueError(
            f"JobContext.{name}: {value[:40]!r} has {len(value)} characters; "
            f"it must have 1 to {MAX_ID_LENGTH}"
        )


@dataclass(frozen=True, slots=True)
class JobContext:
    """What every event of one job carries. ``run_id`` is None until the run has one."""

    request_id: str
    user_id: int
    model_id: str
    run_id: str | None = None

    def __post_init__(self) -> None:
        _check_id("request_id", self.request_id)
        _check_id("model_id", self.model_id)
        if self.run_id is not None:
            _check_id("run_id", self.run_id)
        if isinstance(self.user_id, bool) or not 0 <= self.user_id <= MAX_USER_ID:
            raise ValueError(
                f"JobContext.user_id: {self.user_id!r} is not a Discord user id; "
                f"it must be an integer from 0 to {MAX_USER_ID}"
            )

    @classmethod
    def from_request(cls, request: DigitsTrainV1, run_id: str | None = None) -> JobContext:
        """The context of the job a validated request asks for."""
        return cls(request["request_id"], request["user_id"], request["model_id"], run_id)

    def with_run(self, run_id: str) -> JobContext:
        """This context once the run has its id."""
        return replace(self, run_id=run_id)


def probability(value: float) -> float:
    """``value`` clamped to [0, 1]; NaN becomes 0.0."""
    if math.isnan(value):
        return 0.0
    return min(max(float(value), 0.0), 1.0)


def loss(value: float) -> float:
    """A finite loss >= 0: NaN and +inf become ``LOSS_DIVERGED``, negatives 0.0."""
    if math.isnan(value):
        return LOSS_DIVERGED
    return min(max(float(value), 0.0), LOSS_DIVERGED)


def non_negative(value: float) -> float:
    """A finite measure >= 0: NaN and negatives become 0.0, +inf the largest float."""
    if math.isnan(value):
        return 0.0
    return min(max(float(value), 0.0), sys.float_info.max)


def one_line(message: str) -> str:
    """``message`` as one line of 1 to 2000 characters."""
    text = " ".join(message.split())
    if not text:
        return "unknown error"
    if len(text) > MAX_MESSAGE_LENGTH:
        return text[: MAX_MESSAGE_LENGTH - 3] + "..."
    return text


def started(ctx: JobContext, *, total_epochs: int) -> DigitsTrainStartedV1:
    """A training job has started."""
    return {
        "type": t.STARTED_V1,
        "request_id": ctx.request_id,
        "user_id": ctx.user_id,
        "model_id": ctx.model_id,
        "run_id": ctx.run_id,
        "ts": utc_timestamp(),
        "total_epochs": total_epochs,
    }


def batch(
    ctx: JobContext,
    *,
    epoch: int,
    total_epochs: int,
    batch: int,
    total_batches: int,
    batch_loss: float,
    batch_acc: float,
    avg_loss: float,
    samples_per_sec: float,
) -> DigitsTrainBatchV1:
    """Progress within an epoch (see ``batch_due`` for which batches get one)."""
    return {
        "type": t.BATCH_V1,
        "request_id": ctx.request_id,
        "user_id": ctx.user_id,
        "model_id": ctx.model_id,
        "run_id": ctx.run_id,
        "ts": utc_timestamp(),
        "epoch": epoch,
        "total_epochs": total_epochs,
        "batch": batch,
        "total_batches": total_batches,
        "batch_loss": loss(batch_loss),
        "batch_acc": probability(batch_acc),
        "avg_loss": loss(avg_loss),
        "samples_per_sec": non_negative(samples_per_sec),
    }


def epoch(
    ctx: JobContext,
    *,
    epoch: int,
    total_epochs: int,
    train_loss: float,
    val_acc: float,
    time_s: float,
) -> DigitsTrainEpochV1:
    """An epoch has finished and been validated."""
    return {
        "type": t.EPOCH_V1,
        "request_id": ctx.request_id,
        "user_id": ctx.user_id,
        "model_id": ctx.model_id,
        "run_id": ctx.run_id,
        "ts": utc_timestamp(),
        "epoch": epoch,
        "total_epochs": total_epochs,
        "train_loss": loss(train_loss),
        "val_acc": probability(val_acc),
        "time_s": non_negative(time_s),
    }


def best(ctx: JobContext, *, epoch: int, val_acc: float) -> DigitsTrainBestV1:
    """The validation accuracy improved on every earlier epoch of this run."""
    return {
        "type": t.BEST_V1,
        "request_id": ctx.request_id,
        "user_id": ctx.user_id,
        "model_id": ctx.model_id,
        "run_id": ctx.run_id,
        "ts": utc_timestamp(),
        "epoch": epoch,
        "val_acc": probability(val_acc),
    }


def artifact(ctx: JobContext, *, path: str) -> DigitsTrainArtifactV1:
    """The trained model and its manifest were written to ``path`` (a folder)."""
    return {
        "type": t.ARTIFACT_V1,
        "request_id": ctx.request_id,
        "user_id": ctx.user_id,
        "model_id": ctx.model_id,
        "run_id": ctx.run_id,
        "ts": utc_timestamp(),
        "path": path,
    }


def upload(
    ctx: JobContext, *, status: int, model_bytes: int, manifest_bytes: int
) -> DigitsTrainUploadV1:
    """The outcome of uploading the model; ``status`` 0 when no response arrived."""
    return {
        "type": t.UPLOAD_V1,
        "request_id": ctx.request_id,
        "user_id": ctx.user_id,
        "model_id": ctx.model_id,
        "run_id": ctx.run_id,
        "ts": utc_timestamp(),
        "status": status,
        "model_bytes": model_bytes,
        "manifest_bytes": manifest_bytes,
    }


def prune(ctx: JobContext, *, deleted_count: int) -> DigitsTrainPruneV1:
    """Old run snapshots of the model were pruned."""
    return {
        "type": t.PRUNE_V1,
        "request_id": ctx.request_id,
        "user_id": ctx.user_id,
        "model_id": ctx.model_id,
        "run_id": ctx.run_id,
        "ts": utc_timestamp(),
        "deleted_count": deleted_count,
    }


def completed(ctx: JobContext, *, val_acc: float) -> DigitsTrainCompletedV1:
    """The job finished successfully (terminal)."""
    return {
        "type": t.COMPLETED_V1,
        "request_id": ctx.request_id,
        "user_id": ctx.user_id,
        "model_id": ctx.model_id,
        "run_id": ctx.run_id,
        "ts": utc_timestamp(),
        "val_acc": probability(val_acc),
    }


def failed(ctx: JobContext, *, error_kind: ErrorKind, message: str) -> DigitsTrainFailedV1:
    """The job failed (terminal); ``message`` is made one line of at most 2000 characters."""
    return {
        "type": t.FAILED_V1,
        "request_id": ctx.request_id,
        "user_id": ctx.user_id,
        "model_id": ctx.model_id,
        "run_id": ctx.run_id,
        "ts": utc_timestamp(),
        "error_kind": error_kind,
        "message": one_line(message),
    }


def legacy_started(ctx: JobContext, *, total_epochs: int) -> LegacyStarted:
    """Legacy compact event: a training job has started."""
    return {
        "type": t.LEGACY_STARTED,
        "request_id": ctx.request_id,
        "user_id": ctx.user_id,
        "model_id": ctx.model_id,
        "total_epochs": total_epochs,
    }


def legacy_progress(
    ctx: JobContext, *, epoch: int, total_epochs: int, val_acc: float | None
) -> LegacyProgress:
    """Legacy compact event: an epoch has finished (``val_acc`` None when not measured)."""
    return {
        "type": t.LEGACY_PROGRESS,
        "request_id": ctx.request_id,
        "user_id": ctx.user_id,
        "model_id": ctx.model_id,
        "epoch": epoch,
        "total_epochs": total_epochs,
        "val_acc": None if val_acc is None else probability(val_acc),
    }


def legacy_completed(ctx: JobContext, *, val_acc: float) -> LegacyCompleted:
    """Legacy compact event: the job finished; needs the context's ``run_id``."""
    if ctx.run_id is None:
        raise ValueError(
            "legacy_completed: the job context has no run_id; the legacy completed event "
            "names the finished run, so build it from ctx.with_run(run_id)"
        )
    return {
        "type": t.LEGACY_COMPLETED,
        "request_id": ctx.request_id,
        "user_id": ctx.user_id,
        "model_id": ctx.model_id,
        "run_id": ctx.run_id,
        "val_acc": probability(val_acc),
    }


def legacy_failed(ctx: JobContext, *, error_kind: ErrorKind, message: str) -> LegacyFailed:
    """Legacy compact event: the job failed."""
    return {
        "type": t.LEGACY_FAILED,
        "request_id": ctx.request_id,
        "user_id": ctx.user_id,
        "model_id": ctx.model_id,
        "error_kind": error_kind,
        "message": one_line(message),
    }


def batch_due(batch: int, total_batches: int, every: int) -> bool:
    """Whether batch ``batch`` (from 1) of ``total_batches`` gets a batch event.

    The first, every ``every``-th and the last batch do; ``every`` 0 means none
    (``EVENTS__BATCH_EVERY``). Check this before computing the event's values.
    """
    if every <= 0:
        return False
    return batch in (1, total_batches) or batch % every == 0
