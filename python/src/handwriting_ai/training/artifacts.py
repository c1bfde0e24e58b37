"""Run ids and the files a run leaves: ``<artifacts_root>/<model_id>/``.

- ``model-<run_id>.pt`` and ``manifest-<run_id>.json``: this run's snapshot (kept by the prune
  step, newest first by name since run ids sort by time);
- ``manifest.json``: the active run's manifest, naming its ``model-<run_id>.pt`` (and its
  sha256); written only when a run is activated
  (``handwriting_worker.training.activation``), and never pruned. There is no model-wide
  ``model.pt``: nothing read it, and a copy of the weights beside the one the manifest names
  could only disagree with it.

Every file is written atomically (temporary file in the same folder, fsync, rename), the
snapshot first, so a reader never sees a half-written model or a manifest without its model.
"""

from __future__ import annotations

import io
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import torch
from torch import nn

from handwriting_ai.contracts import DigitsManifestV1
from handwriting_ai.data.idx import write_bytes_atomic
from handwriting_ai.manifest import MANIFEST_FILE as _MANIFEST_FILE
from handwriting_ai.manifest import manifest_bytes
from handwriting_ai.training.models import (
    ARCHS,
    MNIST_MEAN,
    MNIST_STD,
    Arch,
    build_model,
    parse_arch,
)

MANIFEST_FILE = _MANIFEST_FILE
"""``manifest.json``: written once, in ``handwriting_ai.manifest`` (imported without torch)."""

JsonValue = str | int | float | bool | None | list["JsonValue"] | dict[str, "JsonValue"]


def new_run_id(now: datetime | None = None) -> str:
    """``20261128T160000Z-1a2b3c``: UTC second, then a random suffix for runs in the same second."""
    stamp = (now or datetime.now(UTC)).astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    return f"{stamp}-{secrets.token_hex(3)}"


def utc_now_iso() -> str:
    """Now in UTC as ISO 8601 with a ``Z`` suffix (what the event schemas require)."""
    return datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


@dataclass(frozen=True)
class ArtifactPaths:
    model_dir: Path
    run_model: Path
    run_manifest: Path
    manifest: Path


def artifact_paths(artifacts_root: Path, model_id: str, run_id: str) -> ArtifactPaths:
    model_dir = artifacts_root / model_id
    return ArtifactPaths(
        model_dir=model_dir,
        run_model=model_dir / f"model-{run_id}.pt",
        run_manifest=model_dir / f"manifest-{run_id}.json",
        manifest=model_dir / MANIFEST_FILE,
    )


def model_bytes(arch: Arch, state_dict: Mapping[str, torch.Tensor]) -> bytes:
    """A checkpoint loadable with ``torch.load(weights_only=True)``: arch, weights, input norm."""
    buffer = io.BytesIO()
    torch.save(
        {
            "format": 1,
            "arch": arch,
            "state_dict": dict(state_dict),
            "input_shape": [1, 28, 28],
            "mean": MNIST_MEAN,
            "std": MNIST_STD,
        },
        buffer,
    )
    return buffer.getvalue()


def write_artifacts(
    paths: ArtifactPaths, weights: bytes, manifest: DigitsManifestV1, *, activate: bool = True
) -> None:
    """Write the run's snapshot, then (``activate``) ``manifest.json``; each file atomically.

    The manifest is checked against its schema first (``ManifestError``; a NaN is a
    ``ValueError``), so a manifest that breaks the contract leaves no file behind.
    """
    text = manifest_bytes(manifest)
    write_bytes_atomic(paths.run_model, weights)
    write_bytes_atomic(paths.run_manifest, text)
    if activate:
        write_bytes_atomic(paths.manifest, text)


def load_model(path: Path) -> nn.Module:
    """Rebuild the model saved at ``path`` (eval mode); inputs are normalised with its mean/std."""
    try:
        checkpoint: object = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: no model here; train one first") from None
    arch = checkpoint.get("arch") if isinstance(checkpoint, dict) else None
    state = checkpoint.get("state_dict") if isinstance(checkpoint, dict) else None
    if not isinstance(arch, str) or arch not in ARCHS or not isinstance(state, dict):
        raise ValueError(
            f"{path}: not a digits checkpoint (needs a known 'arch' and a 'state_dict'); "
            "train the model again"
        )
    model = build_model(parse_arch(arch))
    model.load_state_dict(state)
    return model.eval()
