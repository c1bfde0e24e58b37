"""Every event's builder, in one place: the job's context and the event's own fields in.

The v1 builders are generated from the schemas (``handwriting_ai.contracts.builders``, by
``codegen/builders.py``): ``batch(ctx, **fields)`` takes exactly the event's own fields
(``contracts.fields``), fills ``type``, the context and ``ts``, and makes floats fit the
schema (``events.context``). The legacy compact events, frozen, are built here by hand.
"""

from __future__ import annotations

from handwriting_ai.contracts import (
    LegacyCompleted,
    LegacyFailed,
    LegacyProgress,
    LegacyStarted,
    names,
)
from handwriting_ai.contracts.builders import (
    artifact,
    batch,
    best,
    completed,
    epoch,
    failed,
    prune,
    started,
    upload,
)
from handwriting_ai.contracts.common import ErrorKind
from handwriting_ai.events.context import (
    LOSS_DIVERGED,
    MAX_ID_LENGTH,
    MAX_MESSAGE_LENGTH,
    MAX_USER_ID,
    JobContext,
    loss,
    non_negative,
    one_line,
    probability,
    utc_timestamp,
)

__all__ = [
    "LOSS_DIVERGED",
    "MAX_ID_LENGTH",
    "MAX_MESSAGE_LENGTH",
    "MAX_USER_ID",
    "ErrorKind",
    "JobContext",
    "artifact",
    "batch",
    "best",
    "completed",
    "epoch",
    "failed",
    "legacy_completed",
    "legacy_failed",
    "legacy_progress",
    "legacy_started",
    "loss",
    "non_negative",
    "one_line",
    "probability",
    "prune",
    "started",
    "upload",
    "utc_timestamp",
]


def legacy_started(ctx: JobContext, *, total_epochs: int) -> LegacyStarted:
    """Legacy compact event: a training job has started."""
    return {
        "type": names.LEGACY_STARTED,
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
        "type": names.LEGACY_PROGRESS,
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
        "type": names.LEGACY_COMPLETED,
        "request_id": ctx.request_id,
        "user_id": ctx.user_id,
        "model_id": ctx.model_id,
        "run_id": ctx.run_id,
        "val_acc": probability(val_acc),
    }


def legacy_failed(ctx: JobContext, *, error_kind: ErrorKind, message: str) -> LegacyFailed:
    """Legacy compact event: the job failed."""
    return {
        "type": names.LEGACY_FAILED,
        "request_id": ctx.request_id,
        "user_id": ctx.user_id,
        "model_id": ctx.model_id,
        "error_kind": error_kind,
        "message": one_line(message),
    }
