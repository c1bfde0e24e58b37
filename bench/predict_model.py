"""The model and the digits of ``bench/predict.py``: a small model the real trainer makes (or the
one it made before), the held-out digits, and what ``evaluate`` scores on them.

The digits are the first ``count`` of the offline set's validation split: the trainer never
sees them (it trains on the other split), and ``evaluate`` scores on that split. The reference
accuracy is ``evaluate``'s own arithmetic (the command's model loading, ``normalize`` and
``evaluate``, at the manifest's thread count) on the same digits the bench sends; the command
itself also runs once, on the whole split, to show the model is the one its manifest describes.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import torch

from handwriting_ai.data.digits import load_offline
from handwriting_ai.training.loop import evaluate, normalize
from handwriting_ai.training.saved import ArtifactError, load_saved

REPO = Path(__file__).resolve().parent.parent
DATA_ROOT = REPO / "data" / "mnist"
MODEL_ID = "bench_predict"
EPOCHS = 3
TRAIN_TIMEOUT_S = 1800


@dataclass(frozen=True)
class HeldOut:
    """uint8 [N, 28, 28] digits and their int64 [N] labels."""

    images: torch.Tensor
    labels: torch.Tensor


def held_out(count: int) -> HeldOut:
    """The first ``count`` validation digits: never trained on."""
    data = load_offline(DATA_ROOT)
    return HeldOut(data.val_images[:count], data.val_labels[:count])


def _env(artifacts: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "REDIS_URL"}  # events to stdout only
    env.update(
        DIGITS__DATA_ROOT=str(DATA_ROOT),
        DIGITS__ARTIFACTS_ROOT=str(artifacts),
        DIGITS__SPOOL_DIR=str(artifacts / "spool"),
    )
    return env


def ensure_model(artifacts: Path, retrain: bool) -> tuple[Path, bool]:
    """The model's folder (``artifacts/MODEL_ID``), trained now unless a usable one is there
    (or ``retrain``); whether it was trained now."""
    folder = artifacts / MODEL_ID
    if not retrain:
        try:
            load_saved(folder)
            return folder, False
        except ArtifactError:
            pass
    argv = [sys.executable, "-m", "handwriting_worker", "train", "--model-id", MODEL_ID]
    argv += ["--epochs", str(EPOCHS), "--request-id", "bench-predict"]
    done = subprocess.run(
        argv,
        env=_env(artifacts),
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        timeout=TRAIN_TIMEOUT_S,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"training failed (exit {done.returncode}): {done.stderr[-2000:]}")
    load_saved(folder)  # activated: the manifest names it
    return folder, True


def evaluate_on(folder: Path, digits: HeldOut) -> float:
    """``evaluate``'s accuracy of the model in ``folder`` on ``digits``."""
    saved = load_saved(folder)
    torch.set_num_threads(saved.manifest["threads"])
    return evaluate(saved.model, normalize(digits.images), digits.labels)


def evaluate_command(folder: Path, artifacts: Path) -> dict[str, object]:
    """``python -m handwriting_worker evaluate --json``: the whole validation split."""
    argv = [sys.executable, "-m", "handwriting_worker", "evaluate", "--json", str(folder)]
    done = subprocess.run(
        argv,
        env=_env(artifacts),
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"evaluate exited {done.returncode}: {done.stderr.strip()}")
    result: object = json.loads(done.stdout)
    assert isinstance(result, dict)
    return {key: result[key] for key in ("val_acc", "correct", "total", "reproduced")}
