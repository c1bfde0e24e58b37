"""A manifest that conforms to digits.manifest.v1, for tests that need one without training."""

from __future__ import annotations

from handwriting_ai.contracts import DigitsManifestV1


def valid_manifest(run_id: str = "20261128T160000Z-abc123") -> DigitsManifestV1:
    """What the trainer writes for a short run of model ``digits``."""
    return {
        "format": 1,
        "model_id": "digits",
        "run_id": run_id,
        "arch": "cnn",
        "created_at": "2026-11-28T16:00:00.000000Z",
        "val_acc": 0.98,
        "best_epoch": 2,
        "final_val_acc": 0.975,
        "train_loss": 0.61,
        "epochs": 2,
        "batch_size": 64,
        "lr": 0.01,
        "seed": 0,
        "augment": True,
        "optimizer": "adam",
        "lr_schedule": "one-cycle",
        "label_smoothing": 0.1,
        "dataset": {
            "name": "mnist-offline",
            "size": 10000,
            "train_size": 8000,
            "val_size": 2000,
            "digest": "sha256:" + "0" * 64,
            "split_seed": 0,
        },
        "model_file": f"model-{run_id}.pt",
        "model_sha256": "a" * 64,
        "threads": 1,
        "device": "cpu",
        "time_s": 12.5,
        "samples_per_sec": 1300.0,
        "torch_version": "2.5.1",
        "torchvision_version": "0.20.1",
    }
