"""Read and write IDX files (the MNIST format), raw or gzipped (by a ``.gz`` suffix).

Only unsigned-byte payloads (type code 0x08) are supported: every MNIST file uses it.
"""

from __future__ import annotations

import gzip
import os
import struct
import zlib
from pathlib import Path

import torch

_UBYTE = 0x08


class DataError(Exception):
    """Missing or corrupt data; the message names the path and the fix."""


def read_idx(path: Path, *, fix: str) -> torch.Tensor:
    """Return the file's array as a uint8 tensor shaped by its header.

    ``fix`` is appended to every error so the caller says how to get good data back.
    """
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise DataError(f"{path}: file not found; {fix}") from None
    except OSError as exc:
        raise DataError(f"{path}: cannot read ({exc}); {fix}") from exc
    if path.name.endswith(".gz"):
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as exc:
            raise DataError(f"{path}: not a valid gzip file ({exc}); {fix}") from exc
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0:
        raise DataError(f"{path}: not an IDX file (bad magic number); {fix}")
    if raw[2] != _UBYTE:
        raise DataError(f"{path}: IDX type 0x{raw[2]:02x} unsupported (need 0x08); {fix}")
    ndim = raw[3]
    header = 4 + 4 * ndim
    if ndim == 0 or len(raw) < header:
        raise DataError(f"{path}: truncated IDX header; {fix}")
    dims = struct.unpack(f">{ndim}I", raw[4:header])
    count = 1
    for dim in dims:
        count *= dim
    if len(raw) - header != count:
        raise DataError(
            f"{path}: IDX payload is {len(raw) - header} bytes, header {list(dims)} "
            f"says {count}; {fix}"
        )
    if count == 0:
        # frombuffer rejects an empty buffer.
        return torch.empty(dims, dtype=torch.uint8)
    # bytearray: frombuffer wants a writable buffer (else it warns); the tensor then owns it.
    return torch.frombuffer(bytearray(raw[header:]), dtype=torch.uint8).reshape(dims)


def idx_bytes(array: torch.Tensor) -> bytes:
    """Encode a uint8 tensor as IDX bytes."""
    if array.dtype != torch.uint8:
        raise ValueError(f"IDX needs a uint8 tensor, got {array.dtype}")
    if array.dim() == 0:
        raise ValueError("IDX needs at least one dimension")
    header = bytes([0, 0, _UBYTE, array.dim()]) + struct.pack(f">{array.dim()}I", *array.shape)
    return header + array.contiguous().numpy().tobytes()


def write_idx(path: Path, array: torch.Tensor) -> None:
    """Write ``array`` atomically; gzipped (with a fixed mtime, so reproducible) for ``.gz``."""
    payload = idx_bytes(array)
    if path.name.endswith(".gz"):
        payload = gzip.compress(payload, compresslevel=9, mtime=0)
    write_bytes_atomic(path, payload)


def write_bytes_atomic(path: Path, payload: bytes) -> None:
    """Write to a temporary file in the same folder, fsync, then rename over ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with tmp.open("wb") as handle:
            handle.write(payload)
            handle.flush()
            os.fsync(handle.fileno())
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)
    _fsync_dir(path.parent)


def _fsync_dir(folder: Path) -> None:
    # The rename is durable only once the folder entry is flushed too.
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
