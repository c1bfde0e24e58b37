"""IDX files: round trips (raw and gzipped) and every way a file can be bad."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import pytest
import torch

from handwriting_ai.data.idx import DataError, idx_bytes, read_idx, write_bytes_atomic, write_idx

FIX = "run the fix"


def _images() -> torch.Tensor:
    return torch.arange(2 * 3 * 4, dtype=torch.uint8).reshape(2, 3, 4)


@pytest.mark.parametrize("name", ["x-idx3-ubyte", "x-idx3-ubyte.gz"])
def test_round_trip(tmp_path: Path, name: str) -> None:
    write_idx(tmp_path / name, _images())
    back = read_idx(tmp_path / name, fix=FIX)
    assert back.dtype == torch.uint8
    assert torch.equal(back, _images())
    assert [p.name for p in tmp_path.iterdir()] == [name]  # no temporary file left


def test_gzip_output_is_reproducible(tmp_path: Path) -> None:
    write_idx(tmp_path / "a.gz", _images())
    write_idx(tmp_path / "b.gz", _images())
    assert (tmp_path / "a.gz").read_bytes() == (tmp_path / "b.gz").read_bytes()


def test_header_is_standard_mnist() -> None:
    raw = idx_bytes(torch.zeros(5, dtype=torch.uint8))
    assert raw[:4] == bytes([0, 0, 8, 1])
    assert struct.unpack(">I", raw[4:8]) == (5,)
    assert len(raw) == 8 + 5


def test_empty_array(tmp_path: Path) -> None:
    write_idx(tmp_path / "e", torch.zeros(0, 28, 28, dtype=torch.uint8))
    assert read_idx(tmp_path / "e", fix=FIX).shape == (0, 28, 28)


def test_write_rejects_other_dtypes_and_scalars(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="uint8"):
        write_idx(tmp_path / "f", torch.zeros(3))
    with pytest.raises(ValueError, match="at least one dimension"):
        write_idx(tmp_path / "f", torch.tensor(3, dtype=torch.uint8))


def _bad(tmp_path: Path, payload: bytes, name: str = "bad-idx") -> str:
    path = tmp_path / name
    path.write_bytes(payload)
    with pytest.raises(DataError) as info:
        read_idx(path, fix=FIX)
    message = str(info.value)
    assert str(path) in message
    assert FIX in message
    return message


def test_missing_file_names_path_and_fix(tmp_path: Path) -> None:
    path = tmp_path / "nope.gz"
    with pytest.raises(DataError, match="file not found") as info:
        read_idx(path, fix=FIX)
    assert str(path) in str(info.value)
    assert FIX in str(info.value)


def test_unreadable_path(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="cannot read"):
        read_idx(tmp_path, fix=FIX)  # a folder


def test_corrupt_gzip(tmp_path: Path) -> None:
    assert "not a valid gzip" in _bad(tmp_path, b"not gzip at all", "x.gz")
    whole = gzip.compress(idx_bytes(_images()))
    assert "not a valid gzip" in _bad(tmp_path, whole[: len(whole) // 2], "cut.gz")


def test_bad_magic(tmp_path: Path) -> None:
    assert "bad magic" in _bad(tmp_path, b"\x01\x02\x08\x01")
    assert "bad magic" in _bad(tmp_path, b"\x00")


def test_unsupported_type(tmp_path: Path) -> None:
    assert "0x0d unsupported" in _bad(tmp_path, bytes([0, 0, 0x0D, 1]) + struct.pack(">I", 0))


def test_truncated_header(tmp_path: Path) -> None:
    assert "truncated" in _bad(tmp_path, bytes([0, 0, 8, 3]) + struct.pack(">I", 2))
    assert "truncated" in _bad(tmp_path, bytes([0, 0, 8, 0]))


def test_payload_size_mismatch(tmp_path: Path) -> None:
    good = idx_bytes(_images())
    assert "says 24" in _bad(tmp_path, good[:-1])
    assert "says 24" in _bad(tmp_path, good + b"\x00")


def test_atomic_write_replaces_and_cleans_up(tmp_path: Path) -> None:
    target = tmp_path / "sub" / "file.bin"
    write_bytes_atomic(target, b"one")
    write_bytes_atomic(target, b"two")
    assert target.read_bytes() == b"two"
    assert [p.name for p in target.parent.iterdir()] == ["file.bin"]


def test_atomic_write_failure_leaves_no_temp(tmp_path: Path) -> None:
    target = tmp_path / "dir-in-the-way"
    (target / "child").mkdir(parents=True)  # rename onto a non-empty folder fails
    with pytest.raises(OSError):
        write_bytes_atomic(target, b"x")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dir-in-the-way"]
