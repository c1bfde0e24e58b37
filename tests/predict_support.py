"""Models and pictures for the /predict tests, without training: an untrained CNN with a
valid manifest (what the prediction worker loads), and digits from the held-out set as PNG."""

from __future__ import annotations

import base64
import hashlib
import io
import json
from pathlib import Path

import torch
from PIL import Image

from handwriting_ai.contracts import DigitsPredictV1
from handwriting_ai.contracts.names import PREDICT_V1
from handwriting_ai.training.artifacts import artifact_paths, model_bytes, write_artifacts
from handwriting_ai.training.models import build_model
from tests.manifests import valid_manifest


def install_model(root: Path, model_id: str, run_id: str, seed: int = 0) -> Path:
    """Writes an untrained CNN as ``model_id``'s active run ``run_id``; its folder."""
    torch.manual_seed(seed)
    weights = model_bytes("cnn", build_model("cnn").state_dict())
    manifest = valid_manifest(run_id)
    manifest["model_id"] = model_id
    manifest["model_sha256"] = hashlib.sha256(weights).hexdigest()
    paths = artifact_paths(root, model_id, run_id)
    write_artifacts(paths, weights, manifest)
    return paths.model_dir


def png(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def digit_png(pixels: torch.Tensor, scale: int = 1) -> bytes:
    """A uint8 [28, 28] digit (white on black) as PNG, scaled up ``scale`` times."""
    image = Image.frombytes("L", (28, 28), bytes(pixels.flatten().tolist()))
    return png(image.resize((28 * scale, 28 * scale)) if scale > 1 else image)


def request_text(data: bytes, model_id: str = "digits", request_id: str = "p-1") -> str:
    request: DigitsPredictV1 = {
        "type": PREDICT_V1,
        "request_id": request_id,
        "user_id": 2**62 + 7,
        "model_id": model_id,
        "image_base64": base64.b64encode(data).decode(),
    }
    return json.dumps(request)
