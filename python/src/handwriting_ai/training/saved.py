"""A trained model read back through its manifest, checked against it before it is used.

``<artifact_dir>/manifest.json`` names the run's model file and its sha256; the manifest is
read as the contract it is (``digits.manifest.v1``, validated), and the model is loaded only
when the file is there and its digest matches, so what is evaluated or asked to predict is
exactly what the run saved.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from torch import nn

from handwriting_ai.contracts import DigitsManifestV1
from handwriting_ai.manifest import ManifestError, parse_manifest
from handwriting_ai.training.artifacts import MANIFEST_FILE, load_model

_FIX = (
    "pass the folder a training run wrote (DIGITS__ARTIFACTS_ROOT/<model_id>, "
    "e.g. artifacts/digits)"
)


class ArtifactError(Exception):
    """The artifact folder is missing, incomplete or inconsistent; the message names the fix."""


@dataclass(frozen=True)
class SavedModel:
    model: nn.Module
    """In eval mode, on the CPU; feed it images normalised like the training digits."""
    manifest: DigitsManifestV1
    model_path: Path


def load_saved(artifact_dir: Path) -> SavedModel:
    """The model ``artifact_dir/manifest.json`` describes; ArtifactError naming what is wrong."""
    manifest_path = artifact_dir / MANIFEST_FILE
    try:
        manifest = parse_manifest(manifest_path.read_bytes())
    except FileNotFoundError:
        raise ArtifactError(f"{manifest_path}: no manifest here; {_FIX}") from None
    except OSError as exc:
        raise ArtifactError(f"{manifest_path}: not a readable manifest ({exc}); {_FIX}") from exc
    except ManifestError as exc:
        raise ArtifactError(f"{manifest_path}: {exc}; train the model again") from exc
    model_path = artifact_dir / manifest["model_file"]
    expected = manifest["model_sha256"]
    try:
        actual = hashlib.sha256(model_path.read_bytes()).hexdigest()
    except OSError as exc:
        raise ArtifactError(
            f"{model_path}: the manifest's model file cannot be read ({exc}); train it again "
            "(the prune step may have removed this run's snapshot)"
        ) from exc
    if actual != expected:
        raise ArtifactError(
            f"{model_path}: sha256 {actual} differs from the manifest's {expected}; the file "
            "changed after training, train the model again"
        )
    try:
        model = load_model(model_path)
    except ValueError as exc:
        raise ArtifactError(str(exc)) from exc
    return SavedModel(model=model, manifest=manifest, model_path=model_path)
