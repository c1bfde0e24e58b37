"""One training job, step by step, reporting every step as an event.

validate -> started -> batch/epoch/best (from the trainer) -> artifact -> upload (when
configured) -> prune -> completed. Exactly one terminal event per job: ``completed`` or
``failed``. Every event carries the job's request_id, user_id, model_id and run_id.
Publishing never fails a job: publishers hand events over and never raise.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from handwriting_ai.contracts import DigitsTrainV1
from handwriting_ai.contracts.common import ErrorKind
from handwriting_ai.events import builders
from handwriting_ai.events.codec import Event, RequestValidationError, validate_request
from handwriting_ai.events.publishers import Publisher
from handwriting_ai.settings import Settings
from handwriting_worker.training.activation import activate_run, active_manifest, decide, model_lock
from handwriting_worker.training.prune import prune_snapshots
from handwriting_worker.training.texts import redacted_event_text, root_relative

if TYPE_CHECKING:  # torch: imported where a job trains (run_job), not by the light commands
    from handwriting_ai.archs import Arch
    from handwriting_ai.data.digits import DigitsData
    from handwriting_ai.training import (
        BatchReport,
        BestReport,
        EpochReport,
        TrainConfig,
        TrainResult,
    )

log = logging.getLogger(__name__)

UNKNOWN = "unknown"
_DECIMAL = re.compile(r"^(?:0|[1-9][0-9]{0,18})$")


class JobStopped(BaseException):
    """The job must stop now, and ``message`` says why: its Cancel record was seen while it
    trained (error_kind user), or the process was interrupted (Ctrl-C, SIGTERM: system).

    A ``BaseException`` for the same reason as ``JobTimedOut``: the trainer's observer guard
    catches ``Exception`` only.
    """

    def __init__(self, message: str, error_kind: ErrorKind = "user") -> None:
        super().__init__(message)
        self.message = message
        self.error_kind: ErrorKind = error_kind


class JobTimedOut(BaseException):
    """The job's own time limit (RQ's alarm in the work horse), ``timeout_s`` seconds.

    A ``BaseException``, so that no ``except Exception`` on the way (the trainer's observer
    guard, the publisher's hand-over) can swallow it: the job must stop and say so.
    """

    def __init__(self, timeout_s: int) -> None:
        super().__init__(f"timed out after {timeout_s} s")
        self.timeout_s = timeout_s


@dataclass(frozen=True)
class JobOutcome:
    """How the job ended: what its terminal event said."""

    status: Literal["completed", "failed"]
    run_id: str | None
    val_acc: float | None = None
    error_kind: ErrorKind | None = None
    message: str | None = None


def user_of(value: object) -> int:
    """The user id, also when written as a decimal string ("123"); 0 when it is ambiguous."""
    if isinstance(value, str) and _DECIMAL.match(value):
        value = int(value)
    if (
        isinstance(value, int)
        and not isinstance(value, bool)
        and 0 <= value <= builders.MAX_USER_ID
    ):
        return value
    return 0


def context_of(payload: object, fallback_request_id: str | None = None) -> builders.JobContext:
    """The job's identity, best effort, so even an invalid request gets a failed event.

    Fields that are missing or unusable are replaced: the request id by ``fallback_request_id``
    (the worker names it after the RQ job, so two bad requests never share one), else
    ``unknown``; the user by 0 unless it can be read unambiguously.
    """
    fields = payload if isinstance(payload, dict) else {}

    def text(value: object, fallback: str = UNKNOWN) -> str:
        return (
            value
            if isinstance(value, str) and 1 <= len(value) <= builders.MAX_ID_LENGTH
            else fallback
        )

    return builders.JobContext(
        request_id=text(fields.get("request_id"), fallback_request_id or UNKNOWN),
        user_id=user_of(fields.get("user_id")),
        model_id=text(fields.get("model_id")),
    )


class JobEvents:
    """Builds and hands over the events of one job; also the trainer's observer."""

    def __init__(
        self,
        ctx: builders.JobContext,
        publisher: Publisher,
        *,
        legacy: bool,
        artifacts_root: Path | None = None,
        cancel_check: Callable[[], str | None] | None = None,
    ) -> None:
        self.ctx = ctx
        self.publisher = publisher
        self.legacy = legacy
        self.artifacts_root = artifacts_root
        self.cancel_check = cancel_check

    def emit(self, event: Event) -> None:
        self.publisher.publish(event)

    def check_cancel(self) -> None:
        """Raises ``JobStopped`` once the job was cancelled (``cancel_check`` says by whom)."""
        message = self.cancel_check() if self.cancel_check is not None else None
        if message is not None:
            raise JobStopped(message)

    def on_batch(self, report: BatchReport) -> None:
        self.check_cancel()
        self.emit(builders.batch(self.ctx, **report))

    def on_epoch(self, report: EpochReport) -> None:
        self.check_cancel()
        self.emit(builders.epoch(self.ctx, **report))
        if self.legacy:
            epoch, total, val_acc = report["epoch"], report["total_epochs"], report["val_acc"]
            self.emit(
                builders.legacy_progress(self.ctx, epoch=epoch, total_epochs=total, val_acc=val_acc)
            )

    def on_best(self, report: BestReport) -> None:
        self.emit(builders.best(self.ctx, **report))

    def started(self, total_epochs: int) -> None:
        self.emit(builders.started(self.ctx, total_epochs=total_epochs))
        if self.legacy:
            self.emit(builders.legacy_started(self.ctx, total_epochs=total_epochs))

    def completed(self, val_acc: float) -> JobOutcome:
        self.emit(builders.completed(self.ctx, val_acc=val_acc))
        if self.legacy:
            self.emit(builders.legacy_completed(self.ctx, val_acc=val_acc))
        return JobOutcome("completed", self.ctx.run_id, val_acc=val_acc)

    def failed(self, error_kind: ErrorKind, message: str) -> JobOutcome:
        message = builders.one_line(redacted_event_text(message, self.artifacts_root))
        log.info("job %s failed (%s): %s", self.ctx.request_id, error_kind, message)
        self.emit(builders.failed(self.ctx, error_kind=error_kind, message=message))
        if self.legacy:
            self.emit(builders.legacy_failed(self.ctx, error_kind=error_kind, message=message))
        return JobOutcome("failed", self.ctx.run_id, error_kind=error_kind, message=message)


def _train_config(request: DigitsTrainV1, arch: Arch) -> TrainConfig:
    from handwriting_ai.training import TrainConfig  # noqa: PLC0415 (torch)

    return TrainConfig(
        model_id=request["model_id"],
        epochs=request["epochs"],
        batch_size=request["batch_size"],
        lr=request["lr"],
        seed=request["seed"],
        augment=request["augment"],
        arch=arch,
    )


def _digits(settings: Settings, download: bool) -> DigitsData:
    from handwriting_ai.data.digits import load_digits  # noqa: PLC0415 (torch)

    data = load_digits(
        settings.digits.data_root,
        download=download,
        mirror=settings.digits.mnist_mirror,
        md5s=settings.digits.mnist_md5s,
    )
    limit = settings.train.max_train_samples
    if limit == 0 or limit >= data.train_labels.shape[0]:
        return data
    return replace(
        data, train_images=data.train_images[:limit], train_labels=data.train_labels[:limit]
    )


def run_job(
    payload: object,
    settings: Settings,
    publisher: Publisher,
    *,
    download: bool = False,
    on_run_id: Callable[[str], None] | None = None,
    fallback_request_id: str | None = None,
    cancel_check: Callable[[], str | None] | None = None,
) -> JobOutcome:
    """Runs one job from its raw request; never raises for anything the job itself does.

    ``cancel_check`` (the work horse's) is asked at each batch and epoch: a text means the job
    was cancelled, and it ends failed (user) with that text. An interruption (``JobStopped``
    raised by a signal handler, or Ctrl-C) publishes failed (system) and is raised again.
    """
    from handwriting_ai.data.idx import DataError  # noqa: PLC0415 (torch: see TYPE_CHECKING)
    from handwriting_ai.training import TrainingError, new_run_id, train_model  # noqa: PLC0415

    events = JobEvents(
        context_of(payload, fallback_request_id),
        publisher,
        legacy=settings.events.legacy,
        artifacts_root=settings.digits.artifacts_root,
        cancel_check=cancel_check,
    )
    try:
        request = validate_request(payload)
    except RequestValidationError as exc:
        return events.failed("user", f"{exc}; nothing was trained")
    run_id = new_run_id()
    events.ctx = builders.JobContext.from_request(request, run_id)
    step = "training"
    try:
        if on_run_id is not None:
            on_run_id(run_id)
        events.started(request["epochs"])
        result = train_model(
            _train_config(request, settings.train.arch),
            events,
            data_root=settings.digits.data_root,
            artifacts_root=settings.digits.artifacts_root,
            threads=settings.train.threads,
            batch_every=settings.events.batch_every,
            run_id=run_id,
            data=_digits(settings, download),
            device=settings.train.device,
            activate=False,  # the activation policy decides, below
        )
        # Relative to the artifacts root: the message in Discord shows no server paths.
        model_dir = root_relative(result.model_dir, settings.digits.artifacts_root)
        events.emit(builders.artifact(events.ctx, path=model_dir))
        step = "upload"
        failure = _activate(events, settings, request, result)
        if failure is not None:
            return failure
        step = "pruning old snapshots"
        deleted = prune_snapshots(result.model_dir, settings.digits.retention_keep_runs)
        events.emit(builders.prune(events.ctx, deleted_count=len(deleted)))
        return events.completed(result.val_acc)
    except JobTimedOut as exc:  # RQ's alarm in the work horse: the job can still report it
        return events.failed("system", str(exc))
    except JobStopped as exc:
        if exc.error_kind == "user":  # cancelled: the job's own end
            return events.failed("user", exc.message)
        events.failed("system", f"{step} interrupted: {exc.message}")
        raise
    except KeyboardInterrupt:
        events.failed("system", f"{step} interrupted: Ctrl-C")
        raise
    except (DataError, TrainingError) as exc:  # their messages already say what and how to fix
        # Divergence (TrainingError) is the request's learning rate: the user's to fix.
        kind: ErrorKind = "user" if isinstance(exc, TrainingError) else "system"
        return events.failed(kind, f"{step} failed: {exc}")
    except Exception as exc:  # anything else is still this job's failure, never the worker's
        log.exception("%s failed", step)
        return events.failed("system", f"{step} failed: {type(exc).__name__}: {exc}")


def _activate(
    events: JobEvents, settings: Settings, request: DigitsTrainV1, result: TrainResult
) -> JobOutcome | None:
    """DIGITS__ACTIVATE: upload and name the run in manifest.json only when the policy says so."""
    with model_lock(result.model_dir):
        active = active_manifest(result.model_dir)
        policy, floor = settings.digits.activate, settings.digits.activate_min_val_acc
        yes, why = decide(policy, floor, active, result.val_acc)
        log.info("run %s of %s %s", result.run_id, request["model_id"], why)
        if not yes:
            return None
        failure = _upload(events, settings, request, result)
        if failure is None:
            activate_run(result.model_dir, result.run_id)
        return failure


def _upload(
    events: JobEvents, settings: Settings, request: DigitsTrainV1, result: TrainResult
) -> JobOutcome | None:
    """The upload step; a failed outcome when it failed for good (artifacts stay on disk)."""
    if settings.handwriting_api_url is None:
        log.info("upload skipped: HANDWRITING_API_URL is not set")
        return None
    if settings.handwriting_api_key is None:
        return events.failed(
            "system",
            "upload not attempted: HANDWRITING_API_URL is set but HANDWRITING_API_KEY is not",
        )
    # httpx (and its CLI's rich): only a job that uploads needs them.
    from handwriting_worker.training.upload import UploadConfig, upload_model  # noqa: PLC0415

    config = UploadConfig(
        api_url=settings.handwriting_api_url,
        api_key=settings.handwriting_api_key.get_secret_value(),
        timeout_s=settings.upload.timeout_s,
        attempts=settings.upload.attempts,
        backoff_s=settings.upload.backoff_s,
    )
    outcome = upload_model(
        config, request["model_id"], result.model_dir, result.run_id, activate=True
    )
    events.emit(
        builders.upload(
            events.ctx,
            status=outcome.status,
            model_bytes=outcome.model_bytes,
            manifest_bytes=outcome.manifest_bytes,
        )
    )
    if outcome.error is not None:
        kept = result.model_dir.name
        return events.failed(
            "system", f"{outcome.error}; artifacts kept in {kept}/ in the artifacts root"
        )
    return None
