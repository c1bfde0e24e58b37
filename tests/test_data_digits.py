"""Loading the digits: the offline set and its split, full MNIST's layout, bad data."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from handwriting_ai.data.digits import MNIST_RAW, load_digits, load_mnist, load_offline
from handwriting_ai.data.idx import DataError, read_idx, write_idx
from handwriting_ai.data.offline_mnist import DEFAULT_PACKAGE, OFFLINE_IMAGES, OFFLINE_LABELS

REPO = Path(__file__).resolve().parent.parent
DATA_ROOT = REPO / "data" / "mnist"


@pytest.fixture(scope="module")
def offline() -> tuple[torch.Tensor, torch.Tensor]:
    if not (DATA_ROOT / OFFLINE_IMAGES).exists():  # only before `make data`
        from handwriting_ai.data.offline_mnist import convert  # noqa: PLC0415

        convert(REPO / DEFAULT_PACKAGE, DATA_ROOT)
    return read_idx(DATA_ROOT / OFFLINE_IMAGES, fix=""), read_idx(
        DATA_ROOT / OFFLINE_LABELS, fix=""
    )


def test_offline_split_is_fixed_disjoint_and_complete() -> None:
    data = load_offline(DATA_ROOT)
    assert data.name == "mnist-offline"
    assert data.size == 10000
    assert data.split_seed == 0
    assert data.train_images.shape == (8000, 28, 28)
    assert data.val_images.shape == (2000, 28, 28)
    assert data.train_labels.dtype == torch.int64
    assert data.digest.startswith("sha256:")
    assert len(data.digest) == len("sha256:") + 64
    # Every digit lands on exactly one side.
    whole = torch.cat([data.train_labels, data.val_labels]).bincount()
    assert whole.tolist() == [1001, 1127, 991, 1032, 980, 863, 1014, 1070, 944, 978]
    # Shuffled: every class is in the validation set.
    assert (data.val_labels.bincount(minlength=10) > 100).all()
    again = load_offline(DATA_ROOT)
    assert torch.equal(again.val_images, data.val_images)
    assert again.digest == data.digest
    other = load_offline(DATA_ROOT, split_seed=1, val_size=500)
    assert other.val_images.shape[0] == 500
    assert not torch.equal(other.val_labels, data.val_labels[:500])
    assert other.digest == data.digest  # the digest is of the set, not the split


def test_load_digits_defaults_to_offline() -> None:
    assert load_digits(DATA_ROOT).name == "mnist-offline"


@pytest.mark.parametrize("val_size", [0, 10000, -1])
def test_bad_val_size(val_size: int) -> None:
    with pytest.raises(ValueError, match="val_size"):
        load_offline(DATA_ROOT, val_size=val_size)


def test_missing_offline_names_path_and_fixes(tmp_path: Path) -> None:
    with pytest.raises(DataError) as info:
        load_digits(tmp_path)
    message = str(info.value)
    assert str(tmp_path / OFFLINE_IMAGES) in message
    assert "make data" in message
    assert "--download" in message


def _write(root: Path, images: torch.Tensor, labels: torch.Tensor) -> None:
    write_idx(root / OFFLINE_IMAGES, images)
    write_idx(root / OFFLINE_LABELS, labels)


def test_corrupt_offline_sets(tmp_path: Path, offline: tuple[torch.Tensor, torch.Tensor]) -> None:
    images, labels = offline[0][:20], offline[1][:20]
    cases = [
        (images[:, :27], labels, OFFLINE_IMAGES, r"expected images \[N, 28, 28\]"),
        (images[0], labels, OFFLINE_IMAGES, r"expected images \[N, 28, 28\]"),
        (images, labels[:19], OFFLINE_LABELS, "expected 20 labels"),
        (images, labels.reshape(4, 5), OFFLINE_LABELS, "expected 20 labels"),
        (images[:0], labels[:0], OFFLINE_IMAGES, "empty"),
        (images, labels + 10, OFFLINE_LABELS, "labels must be 0..9"),
    ]
    for bad_images, bad_labels, culprit, reason in cases:
        _write(tmp_path, bad_images.contiguous(), bad_labels.contiguous())
        with pytest.raises(DataError, match=reason) as info:
            load_offline(tmp_path, val_size=5)
        assert str(tmp_path / culprit) in str(info.value)
        assert "make data" in str(info.value)


def _mnist_layout(
    root: Path, offline: tuple[torch.Tensor, torch.Tensor], *, gz: bool
) -> tuple[torch.Tensor, torch.Tensor]:
    """Real digits laid out as torchvision leaves full MNIST (train 300, t10k 100)."""
    images, labels = offline[0][::25], offline[1][::25]
    suffix = ".gz" if gz else ""
    raw = root / MNIST_RAW
    write_idx(raw / f"train-images-idx3-ubyte{suffix}", images[:300].contiguous())
    write_idx(raw / f"train-labels-idx1-ubyte{suffix}", labels[:300].contiguous())
    write_idx(raw / f"t10k-images-idx3-ubyte{suffix}", images[300:].contiguous())
    write_idx(raw / f"t10k-labels-idx1-ubyte{suffix}", labels[300:].contiguous())
    return images, labels


@pytest.mark.parametrize("gz", [False, True])
def test_full_mnist_layout(
    tmp_path: Path, offline: tuple[torch.Tensor, torch.Tensor], gz: bool
) -> None:
    images, labels = _mnist_layout(tmp_path, offline, gz=gz)
    data = load_digits(tmp_path, "mnist")
    assert data.name == "mnist"
    assert data.split_seed is None
    assert torch.equal(data.train_images, images[:300])
    assert torch.equal(data.val_labels, labels[300:].long())
    assert data.size == 400


def test_download_uses_files_already_there(
    tmp_path: Path, offline: tuple[torch.Tensor, torch.Tensor]
) -> None:
    # torchvision skips the download when the extracted files exist: no network needed.
    _mnist_layout(tmp_path, offline, gz=False)
    data = load_digits(tmp_path, download=True)
    assert data.name == "mnist"
    assert data.train_labels.shape == (300,)


def test_missing_full_mnist_says_download(tmp_path: Path) -> None:
    with pytest.raises(DataError) as info:
        load_mnist(tmp_path)
    message = str(info.value)
    assert str(tmp_path / MNIST_RAW / "train-images-idx3-ubyte.gz") in message
    assert "--download" in message
