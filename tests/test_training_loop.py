"""The loop on real digits (small subsets, 1-2 epochs): reports, determinism, artifacts."""

from __future__ import annotations

import hashlib
import json
import logging
import math
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import pytest
import torch

from handwriting_ai.data.digits import DigitsData, load_offline
from handwriting_ai.data.idx import DataError, write_idx
from handwriting_ai.data.offline_mnist import OFFLINE_IMAGES, OFFLINE_LABELS
from handwriting_ai.training import (
    Arch,
    BatchReport,
    BestReport,
    EpochReport,
    NullObserver,
    TrainConfig,
    TrainingError,
    load_model,
    train_model,
)
from handwriting_ai.training.loop import _check_finite, batch_due, evaluate, normalize

DATA_ROOT = Path(__file__).resolve().parent.parent / "data" / "mnist"


@pytest.fixture(scope="module")
def full() -> DigitsData:
    return load_offline(DATA_ROOT)


def _subset(data: DigitsData, train: int, val: int) -> DigitsData:
    return replace(
        data,
        train_images=data.train_images[:train],
        train_labels=data.train_labels[:train],
        val_images=data.val_images[:val],
        val_labels=data.val_labels[:val],
    )


@pytest.fixture(scope="module")
def small(full: DigitsData) -> DigitsData:
    return _subset(full, 1000, 500)


@dataclass
class Record:
    """Keeps every call, in order."""

    batches: list[BatchReport] = field(default_factory=list)
    epochs: list[EpochReport] = field(default_factory=list)
    bests: list[tuple[int, float]] = field(default_factory=list)
    order: list[str] = field(default_factory=list)

    def on_batch(self, report: BatchReport) -> None:
        self.order.append("batch")
        self.batches.append(report)

    def on_epoch(self, report: EpochReport) -> None:
        self.order.append("epoch")
        self.epochs.append(report)

    def on_best(self, report: BestReport) -> None:
        self.order.append("best")
        self.bests.append((report["epoch"], report["val_acc"]))


class Broken:
    """Fails on every call, counting them."""

    def __init__(self) -> None:
        self.calls = 0

    def on_batch(self, report: BatchReport) -> None:
        self.calls += 1
        raise RuntimeError("observer down")

    def on_epoch(self, report: EpochReport) -> None:
        self.calls += 1
        raise RuntimeError("observer down")

    def on_best(self, report: BestReport) -> None:
        self.calls += 1
        raise RuntimeError("observer down")


def _config(
    *,
    model_id: str = "digits",
    epochs: int = 1,
    batch_size: int = 100,
    lr: float = 0.01,
    seed: int = 7,
    augment: bool = False,
    arch: Arch = "cnn",
) -> TrainConfig:
    return TrainConfig(
        model_id=model_id,
        epochs=epochs,
        batch_size=batch_size,
        lr=lr,
        seed=seed,
        augment=augment,
        arch=arch,
    )


def test_reports_on_cadence_with_sane_values(small: DigitsData, tmp_path: Path) -> None:
    record = Record()
    result = train_model(
        _config(epochs=2),
        record,
        data_root=tmp_path / "unused",
        artifacts_root=tmp_path,
        threads=1,
        batch_every=4,
        run_id="20261128T160000Z-abc123",
        data=small,
    )
    # 1000 digits in batches of 100: the first, every 4th and the last, per epoch.
    assert [(b["epoch"], b["batch"]) for b in record.batches] == [
        (e, b) for e in (1, 2) for b in (1, 4, 8, 10)
    ]
    for b in record.batches:
        assert b["total_epochs"] == 2
        assert b["total_batches"] == 10
        assert b["batch_loss"] >= 0
        assert 0 <= b["batch_acc"] <= 1
        share = b["batch_acc"] * 100  # a share of 100 digits
        assert share == pytest.approx(round(share), abs=1e-9)
        assert b["avg_loss"] >= 0
        assert b["samples_per_sec"] > 0
    # avg_loss of the first batch is that batch's loss; later it averages earlier ones too.
    assert record.batches[0]["avg_loss"] == pytest.approx(record.batches[0]["batch_loss"])
    assert record.batches[3]["avg_loss"] > record.batches[3]["batch_loss"]
    assert [e["epoch"] for e in record.epochs] == [1, 2]
    assert record.epochs[1]["train_loss"] < record.epochs[0]["train_loss"]
    assert all(e["time_s"] > 0 for e in record.epochs)
    # The best follows its epoch; the first epoch always is one.
    assert record.order[:6] == ["batch"] * 4 + ["epoch", "best"]
    assert record.bests[0] == (1, record.epochs[0]["val_acc"])
    best_epoch, best_acc = max(record.bests, key=lambda b: b[1])
    assert result.val_acc == best_acc == max(e["val_acc"] for e in record.epochs)
    assert result.best_epoch == best_epoch
    assert result.final_val_acc == record.epochs[-1]["val_acc"]
    # 1000 real digits, 2 epochs (20 steps, label smoothing slows the very start): far above
    # chance (0.1).
    assert result.val_acc > 0.7
    assert result.train_loss == record.epochs[-1]["train_loss"]
    assert result.run_id == "20261128T160000Z-abc123"
    assert result.threads == 1
    assert result.observer_failures == 0
    assert result.samples_per_sec > 0


def test_best_only_when_val_acc_improves(small: DigitsData, tmp_path: Path) -> None:
    # Validated on one clear "1": right after the first epoch, and no later epoch can beat 1.0.
    one = int((small.val_labels == 1).nonzero()[0])
    data = replace(
        small,
        val_images=small.val_images[one : one + 1],
        val_labels=small.val_labels[one : one + 1],
    )
    record = Record()
    result = train_model(
        _config(epochs=3), record, data_root=tmp_path, artifacts_root=tmp_path, threads=1, data=data
    )
    assert [e["val_acc"] for e in record.epochs] == [1.0, 1.0, 1.0]
    assert record.bests == [(1, 1.0)]
    assert [o for o in record.order if o != "batch"] == ["epoch", "best", "epoch", "epoch"]
    assert (result.best_epoch, result.val_acc, result.final_val_acc) == (1, 1.0, 1.0)


def test_batch_every_zero_and_one(small: DigitsData, tmp_path: Path) -> None:
    quiet, chatty = Record(), Record()
    for observer, every in ((quiet, 0), (chatty, 1)):
        train_model(
            _config(),
            observer,
            data_root=tmp_path,
            artifacts_root=tmp_path,
            threads=1,
            batch_every=every,
            data=_subset(small, 300, 100),
        )
    assert quiet.batches == []
    assert len(quiet.epochs) == 1
    assert [b["batch"] for b in chatty.batches] == [1, 2, 3]


def test_negative_batch_every(small: DigitsData, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="batch_every"):
        train_model(_config(), data_root=tmp_path, artifacts_root=tmp_path, batch_every=-1)


def test_same_seed_same_result_other_seed_differs(full: DigitsData, tmp_path: Path) -> None:
    data = _subset(full, 600, 300)

    def run(seed: int, name: str) -> tuple[float, dict[str, torch.Tensor]]:
        result = train_model(
            _config(seed=seed, augment=True, model_id=name),
            data_root=tmp_path,
            artifacts_root=tmp_path,
            threads=1,
            data=data,
        )
        state = load_model(result.model_path).state_dict()
        return result.val_acc, state

    acc_a, state_a = run(11, "a")
    acc_b, state_b = run(11, "b")
    _, state_c = run(12, "c")
    assert acc_a == acc_b
    assert all(torch.equal(state_a[k], state_b[k]) for k in state_a)
    assert not all(torch.equal(state_a[k], state_c[k]) for k in state_a)


def test_seeding_leaves_caller_rng_and_threads_alone(small: DigitsData, tmp_path: Path) -> None:
    threads = torch.get_num_threads()
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    train_model(
        _config(),
        data_root=tmp_path,
        artifacts_root=tmp_path,
        threads=1,
        data=_subset(small, 100, 50),
    )
    assert torch.equal(torch.rand(3), expected)
    assert torch.get_num_threads() == threads


def test_failing_observer_never_fails_training(
    small: DigitsData, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    broken = Broken()
    with caplog.at_level(logging.ERROR, logger="handwriting_ai.training.loop"):
        result = train_model(
            _config(epochs=2),
            broken,
            data_root=tmp_path,
            artifacts_root=tmp_path,
            threads=1,
            batch_every=1,
            data=_subset(small, 300, 100),
        )
    # 3 batches + 1 epoch (+ best) per epoch, every one failed, and the run finished.
    assert broken.calls >= 2 * 4 + 1
    assert result.observer_failures == broken.calls
    assert result.model_path.exists()
    failures = [r for r in caplog.records if "observer" in r.getMessage()]
    assert len(failures) == 1
    assert failures[0].exc_info is not None


def test_artifacts_and_manifest(small: DigitsData, tmp_path: Path) -> None:
    run_id = "20261128T160000Z-0a0b0c"
    result = train_model(
        _config(augment=True),
        data_root=tmp_path,
        artifacts_root=tmp_path / "artifacts",
        threads=1,
        run_id=run_id,
        data=small,
    )
    folder = tmp_path / "artifacts" / "digits"
    assert result.model_dir == folder
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        ["manifest.json", f"manifest-{run_id}.json", f"model-{run_id}.pt"]
    )
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest == json.loads((folder / f"manifest-{run_id}.json").read_text())
    assert manifest["model_id"] == "digits"
    assert manifest["run_id"] == run_id
    assert manifest["arch"] == "cnn"
    assert manifest["created_at"].endswith("Z")
    assert manifest["val_acc"] == result.val_acc
    assert (manifest["epochs"], manifest["batch_size"], manifest["lr"]) == (1, 100, 0.01)
    assert (manifest["seed"], manifest["augment"]) == (7, True)
    assert manifest["dataset"] == {
        "name": "mnist-offline",
        "size": 1500,
        "train_size": 1000,
        "val_size": 500,
        "digest": small.digest,
        "split_seed": 0,
    }
    assert manifest["torch_version"] == torch.__version__
    assert manifest["model_file"] == f"model-{run_id}.pt"
    digest = hashlib.sha256((folder / f"model-{run_id}.pt").read_bytes()).hexdigest()
    assert manifest["model_sha256"] == digest
    # The saved model is the one that scored val_acc.
    model = load_model(result.model_path)
    assert evaluate(model, normalize(small.val_images), small.val_labels) == result.val_acc


def test_second_run_keeps_the_first_snapshot(small: DigitsData, tmp_path: Path) -> None:
    data = _subset(small, 100, 50)
    for run_id in ("20261128T160000Z-000001", "20261128T160001Z-000002"):
        train_model(
            _config(),
            data_root=tmp_path,
            artifacts_root=tmp_path,
            threads=1,
            run_id=run_id,
            data=data,
        )
    names = sorted(p.name for p in (tmp_path / "digits").iterdir())
    assert names == [
        "manifest-20261128T160000Z-000001.json",
        "manifest-20261128T160001Z-000002.json",
        "manifest.json",
        "model-20261128T160000Z-000001.pt",
        "model-20261128T160001Z-000002.pt",
    ]
    latest = json.loads((tmp_path / "digits" / "manifest.json").read_text())
    assert latest["run_id"] == "20261128T160001Z-000002"


def test_resnet18_trains(full: DigitsData, tmp_path: Path) -> None:
    result = train_model(
        _config(arch="resnet18", batch_size=32),
        NullObserver(),
        data_root=tmp_path,
        artifacts_root=tmp_path,
        threads=2,
        data=_subset(full, 32, 16),
    )
    assert 0 <= result.val_acc <= 1
    model = load_model(result.model_path)
    assert type(model).__name__ == "ResNet"
    assert json.loads(result.manifest_path.read_text())["arch"] == "resnet18"


def test_reads_data_root_when_no_data_given(full: DigitsData, tmp_path: Path) -> None:
    # 2,100 real digits as an offline set: the default split keeps 2,000 for validation.
    images = torch.cat([full.train_images[:100], full.val_images])
    labels = torch.cat([full.train_labels[:100], full.val_labels]).to(torch.uint8)
    write_idx(tmp_path / OFFLINE_IMAGES, images)
    write_idx(tmp_path / OFFLINE_LABELS, labels)
    result = train_model(_config(), data_root=tmp_path, artifacts_root=tmp_path, threads=1)
    manifest = json.loads(result.manifest_path.read_text())
    assert manifest["dataset"]["train_size"] == 100
    assert manifest["dataset"]["val_size"] == 2000


def test_missing_data_stops_with_the_fix(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="make data"):
        train_model(_config(), data_root=tmp_path / "none", artifacts_root=tmp_path)
    assert not (tmp_path / "digits").exists()


@pytest.mark.parametrize(
    ("make", "field_name"),
    [
        (lambda: _config(model_id="../up"), "model_id"),
        (lambda: _config(model_id=""), "model_id"),
        (lambda: _config(epochs=0), "epochs"),
        (lambda: _config(epochs=101), "epochs"),
        (lambda: _config(batch_size=0), "batch_size"),
        (lambda: _config(batch_size=2049), "batch_size"),
        (lambda: _config(lr=0.0), "lr"),
        (lambda: _config(lr=1.5), "lr"),
        (lambda: _config(lr=math.nan), "lr"),
        (lambda: _config(seed=-1), "seed"),
        (lambda: _config(seed=2**32), "seed"),
    ],
)
def test_config_bounds(make: Callable[[], TrainConfig], field_name: str) -> None:
    with pytest.raises(ValueError, match=f"invalid training config: {field_name}"):
        make()


def test_config_lists_every_problem() -> None:
    with pytest.raises(ValueError, match=r"epochs: 0 is less than the minimum of 1; lr: 2\.0 is"):
        _config(epochs=0, lr=2.0)


def test_divergence_is_a_clear_error() -> None:
    config = _config(lr=0.5)
    with pytest.raises(TrainingError, match=r"lower lr \(now 0.5\)"):
        _check_finite(math.nan, "loss of epoch 1 batch 3", config)
    _check_finite(1.0, "loss", config)


@pytest.mark.parametrize(
    ("every", "due"),
    [
        (0, []),
        (1, [1, 2, 3, 4, 5, 6, 7]),
        (3, [1, 3, 6, 7]),
        (10, [1, 7]),
    ],
)
def test_batch_due_first_every_nth_and_last(every: int, due: list[int]) -> None:
    assert [n for n in range(1, 8) if batch_due(n, 7, every)] == due
