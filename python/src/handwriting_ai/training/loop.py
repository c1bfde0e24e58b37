"""The training loop and the one entry point the worker calls: ``train_model``.

The loop knows nothing of events: it reports through a ``TrainObserver`` (the worker adapts it to
the event runtime). Observer calls are guarded, so a failing observer never fails training.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Protocol

import torch
from torch import nn
from torch.nn import functional as F

from handwriting_ai.contracts import DigitsManifestV1, names
from handwriting_ai.contracts.fields import (
    DigitsTrainBatchV1Fields,
    DigitsTrainBestV1Fields,
    DigitsTrainEpochV1Fields,
)
from handwriting_ai.data.digits import DigitsData, load_digits
from handwriting_ai.defaults import BATCH_EVERY
from handwriting_ai.events.codec import request_field_problems
from handwriting_ai.training.artifacts import (
    artifact_paths,
    model_bytes,
    new_run_id,
    utc_now_iso,
    write_artifacts,
)
from handwriting_ai.training.augment import augment_batch
from handwriting_ai.training.device import DeviceName, DeviceUnavailable, resolve_device
from handwriting_ai.training.models import MNIST_MEAN, MNIST_STD, Arch, build_model
from handwriting_ai.training.schedule import SCHEDULE_NAME, adam_with_schedule
from handwriting_ai.training.threads import resolve_threads

logger = logging.getLogger(__name__)

_EVAL_BATCH = 1000
LABEL_SMOOTHING = 0.1
"""Soft targets (0.9 on the label): on 8,000 digits this generalises better (measured)."""


class TrainingError(Exception):
    """Training cannot go on (the loss diverged); the message says what to change."""


@dataclass(frozen=True)
class TrainConfig:
    """What to train; mirrors the ``digits.train.v1`` request, plus the architecture.

    ``lr`` is the peak of Adam's schedule: a short warm-up, then a linear decay to near zero
    (``training.schedule``).
    The defaults are the request schema's (generated into ``contracts/names.py``): >= 98.5%
    on the offline digits in under 30 s on two CPU cores (bench/results/train.json).
    """

    model_id: str
    epochs: int = names.REQUEST_V1_DEFAULT_EPOCHS
    batch_size: int = names.REQUEST_V1_DEFAULT_BATCH_SIZE
    lr: float = names.REQUEST_V1_DEFAULT_LR
    seed: int = names.REQUEST_V1_DEFAULT_SEED
    augment: bool = names.REQUEST_V1_DEFAULT_AUGMENT
    arch: Arch = "cnn"

    def __post_init__(self) -> None:
        # The request schema's own bounds, so a config built by hand fails as early.
        names = ("model_id", "epochs", "batch_size", "lr", "seed", "augment")
        if problems := request_field_problems({name: getattr(self, name) for name in names}):
            raise ValueError("invalid training config: " + "; ".join(problems))


BatchReport = DigitsTrainBatchV1Fields
"""What ``on_batch`` gets: the batch event's own fields (``contracts/fields.py``)."""
EpochReport = DigitsTrainEpochV1Fields
"""What ``on_epoch`` gets: the epoch event's own fields."""
BestReport = DigitsTrainBestV1Fields
"""What ``on_best`` gets: the best event's own fields."""


class TrainObserver(Protocol):
    """What the loop reports: each report is the event's own fields (generated from its schema),
    so a field added there is filled in here, once. Epochs and batches count from 1."""

    def on_batch(self, report: BatchReport) -> None:
        """On the first, every N-th and the last batch of each epoch (``batch_due``)."""

    def on_epoch(self, report: EpochReport) -> None:
        """After each epoch's validation; ``time_s`` includes the validation."""

    def on_best(self, report: BestReport) -> None:
        """After ``on_epoch`` when ``val_acc`` beats every earlier epoch's."""


class NullObserver:
    """An observer that ignores everything."""

    def on_batch(self, report: BatchReport) -> None:
        """Ignore the batch."""

    def on_epoch(self, report: EpochReport) -> None:
        """Ignore the epoch."""

    def on_best(self, report: BestReport) -> None:
        """Ignore the best."""


def batch_due(batch: int, total_batches: int, every: int) -> bool:
    """Whether batch ``batch`` (from 1) of ``total_batches`` gets an ``on_batch`` report.

    The first, every ``every``-th and the last batch do; ``every`` 0 means none
    (``EVENTS__BATCH_EVERY``). Checked before the report's values are computed.
    """
    if every <= 0:
        return False
    return batch in (1, total_batches) or batch % every == 0


class _Guard:
    """Runs observer calls; logs the first failure with its traceback and counts the rest."""

    def __init__(self) -> None:
        self.failures = 0

    def __call__(self, name: str, call: Callable[[], None]) -> None:
        try:
            call()
        except Exception:
            self.failures += 1
            if self.failures == 1:
                logger.exception(
                    "training observer %s failed; training goes on, further observer "
                    "failures are counted in the result, not logged",
                    name,
                )


@dataclass(frozen=True)
class TrainResult:
    run_id: str
    model_dir: Path
    """``<artifacts_root>/<model_id>``: what the artifact event carries."""
    model_path: Path
    manifest_path: Path
    val_acc: float
    """Validation accuracy of the saved model (the best epoch's weights)."""
    best_epoch: int
    final_val_acc: float
    train_loss: float
    """Mean training loss of the last epoch."""
    time_s: float
    samples_per_sec: float
    """Training samples per second over all epochs, validation excluded."""
    threads: int
    observer_failures: int


@dataclass
class _Fit:
    best_state: dict[str, torch.Tensor]
    val_acc: float
    best_epoch: int
    final_val_acc: float
    train_loss: float
    train_s: float


def normalize(images: torch.Tensor) -> torch.Tensor:
    """uint8 [N, 28, 28] -> float [N, 1, 28, 28], standardised like MNIST."""
    return images.unsqueeze(1).float().div_(255).sub_(MNIST_MEAN).div_(MNIST_STD)


@torch.inference_mode()
def evaluate(model: nn.Module, images: torch.Tensor, labels: torch.Tensor) -> float:
    """Accuracy of ``model`` on normalised ``images``; leaves the model in eval mode."""
    model.eval()
    correct = 0
    for start in range(0, int(labels.shape[0]), _EVAL_BATCH):
        logits = model(images[start : start + _EVAL_BATCH])
        correct += int((logits.argmax(1) == labels[start : start + _EVAL_BATCH]).sum())
    return correct / int(labels.shape[0])


def _check_finite(value: float, what: str, config: TrainConfig) -> None:
    if not math.isfinite(value):
        raise TrainingError(
            f"{what} became {value} (diverged); lower lr (now {config.lr}) and train again"
        )


def _fit(
    config: TrainConfig,
    data: DigitsData,
    observer: TrainObserver,
    guard: _Guard,
    batch_every: int,
    *,
    device: torch.device,
) -> _Fit:
    model = build_model(config.arch).to(device)
    # Kept in [0, 1] so augmentation pads with black; standardised per batch.
    train_x = data.train_images.to(device).unsqueeze(1).float().div_(255)
    train_y = data.train_labels.to(device)
    val_x = normalize(data.val_images.to(device))
    val_y = data.val_labels.to(device)
    count = int(train_y.shape[0])
    total_batches = math.ceil(count / config.batch_size)
    optimizer, schedule = adam_with_schedule(
        model.parameters(), config.lr, config.epochs * total_batches
    )
    generator = torch.Generator().manual_seed(config.seed)
    fit = _Fit({}, -1.0, 0, 0.0, 0.0, 0.0)
    for epoch in range(1, config.epochs + 1):
        started = time.perf_counter()
        model.train()
        # Drawn on the CPU from the seeded generator, so a seed shuffles alike on every device.
        order = torch.randperm(count, generator=generator).to(device)
        # Summed as a tensor: no sync with the kernels on batches that report nothing.
        loss_sum = torch.zeros((), device=device)
        seen = 0
        for batch in range(1, total_batches + 1):
            index = order[(batch - 1) * config.batch_size : batch * config.batch_size]
            images, labels = train_x[index], train_y[index]
            if config.augment:
                images = augment_batch(images, generator)
            logits = model(images.sub_(MNIST_MEAN).div_(MNIST_STD))
            loss = F.cross_entropy(logits, labels, label_smoothing=LABEL_SMOOTHING)
            optimizer.zero_grad(set_to_none=True)
            torch.autograd.backward(loss)
            optimizer.step()
            schedule.step()
            seen += int(labels.shape[0])
            loss_sum += loss.detach() * labels.shape[0]
            if batch_due(batch, total_batches, batch_every):
                batch_loss = float(loss.item())
                _check_finite(batch_loss, f"loss of epoch {epoch} batch {batch}", config)
                correct = int((logits.argmax(1) == labels).sum().item())
                batch_acc = correct / int(labels.shape[0])
                avg_loss = float(loss_sum.item()) / seen
                rate = seen / max(time.perf_counter() - started, 1e-9)
                report: BatchReport = {
                    "epoch": epoch,
                    "total_epochs": config.epochs,
                    "batch": batch,
                    "total_batches": total_batches,
                    "batch_loss": batch_loss,
                    "batch_acc": batch_acc,
                    "avg_loss": avg_loss,
                    "samples_per_sec": rate,
                }
                guard("on_batch", partial(observer.on_batch, report))
        fit.train_s += time.perf_counter() - started
        fit.train_loss = float(loss_sum.item()) / count
        _check_finite(fit.train_loss, f"training loss of epoch {epoch}", config)
        val_acc = evaluate(model, val_x, val_y)
        time_s = time.perf_counter() - started
        epoch_report: EpochReport = {
            "epoch": epoch,
            "total_epochs": config.epochs,
            "train_loss": fit.train_loss,
            "val_acc": val_acc,
            "time_s": time_s,
        }
        guard("on_epoch", partial(observer.on_epoch, epoch_report))
        fit.final_val_acc = val_acc
        if val_acc > fit.val_acc:
            fit.val_acc, fit.best_epoch = val_acc, epoch
            # On the CPU: the artifact loads anywhere, whatever device trained it.
            fit.best_state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
            best: BestReport = {"epoch": epoch, "val_acc": val_acc}
            guard("on_best", partial(observer.on_best, best))
    return fit


def train_model(
    config: TrainConfig,
    observer: TrainObserver | None = None,
    *,
    data_root: Path,
    artifacts_root: Path,
    threads: int = 0,
    batch_every: int = BATCH_EVERY,
    run_id: str | None = None,
    download: bool = False,
    data: DigitsData | None = None,
    device: DeviceName = "auto",
    activate: bool = True,
) -> TrainResult:
    """Train ``config`` on the digits under ``data_root``, write its artifacts, return the result.

    ``activate``: also name this run in the model's ``manifest.json``; a job passes False and
    leaves that to the operator's activation policy (``handwriting_worker.training.activation``).
    ``threads``: TRAIN__THREADS (0 = the CPUs this process may use). ``batch_every``:
    EVENTS__BATCH_EVERY. ``run_id``: made at job start (``new_run_id()``); made here if None.
    ``download``: full MNIST via torchvision instead of the offline digits. ``data``: an
    already loaded set (skips ``data_root``). ``device``: TRAIN__DEVICE. The same seed, data,
    threads and device give the same val_acc. Raises ``DataError`` for missing or corrupt data,
    ``TrainingError`` on divergence or when the device is not here.
    """
    if batch_every < 0:
        raise ValueError(f"batch_every must be 0 (no batch reports) or more, got {batch_every}")
    try:
        torch_device = resolve_device(device)
    except DeviceUnavailable as exc:
        raise TrainingError(str(exc)) from None
    run_id = run_id or new_run_id()
    started = time.perf_counter()
    digits = data if data is not None else load_digits(data_root, download=download)
    used_threads = resolve_threads(threads)
    guard = _Guard()
    previous_threads = torch.get_num_threads()
    torch.set_num_threads(used_threads)
    try:
        # A private RNG stream: seeding must not disturb (or depend on) the caller's.
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(config.seed)
            fit = _fit(
                config, digits, observer or NullObserver(), guard, batch_every, device=torch_device
            )
    finally:
        torch.set_num_threads(previous_threads)
    time_s = time.perf_counter() - started
    samples_per_sec = config.epochs * int(digits.train_labels.shape[0]) / max(fit.train_s, 1e-9)
    paths = artifact_paths(artifacts_root, config.model_id, run_id)
    weights = model_bytes(config.arch, fit.best_state)
    manifest: DigitsManifestV1 = {
        "format": 1,
        "model_id": config.model_id,
        "run_id": run_id,
        "arch": config.arch,
        "created_at": utc_now_iso(),
        "val_acc": fit.val_acc,
        "best_epoch": fit.best_epoch,
        "final_val_acc": fit.final_val_acc,
        "train_loss": fit.train_loss,
        "epochs": config.epochs,
        "batch_size": config.batch_size,
        "lr": config.lr,
        "seed": config.seed,
        "augment": config.augment,
        "optimizer": "adam",
        "lr_schedule": SCHEDULE_NAME,
        "label_smoothing": LABEL_SMOOTHING,
        "dataset": {
            "name": digits.name,
            "size": digits.size,
            "train_size": int(digits.train_labels.shape[0]),
            "val_size": int(digits.val_labels.shape[0]),
            "digest": digits.digest,
            "split_seed": digits.split_seed,
        },
        "model_file": paths.run_model.name,
        "model_sha256": hashlib.sha256(weights).hexdigest(),
        "threads": used_threads,
        "device": "cuda" if torch_device.type == "cuda" else "cpu",
        "time_s": time_s,
        "samples_per_sec": samples_per_sec,
        "torch_version": torch.__version__,
        "torchvision_version": importlib.metadata.version("torchvision"),
    }
    write_artifacts(paths, weights, manifest, activate=activate)
    return TrainResult(
        run_id=run_id,
        model_dir=paths.model_dir,
        model_path=paths.run_model,
        manifest_path=paths.run_manifest,
        val_acc=fit.val_acc,
        best_epoch=fit.best_epoch,
        final_val_acc=fit.final_val_acc,
        train_loss=fit.train_loss,
        time_s=time_s,
        samples_per_sec=samples_per_sec,
        threads=used_threads,
        observer_failures=guard.failures,
    )
