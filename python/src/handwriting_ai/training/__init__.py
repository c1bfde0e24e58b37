"""The trainer: ``train_model(TrainConfig(...), observer, data_root=..., artifacts_root=...)``."""

from handwriting_ai.archs import ARCHS, DEFAULT_ARCH, Arch, parse_arch
from handwriting_ai.training.artifacts import load_model, new_run_id
from handwriting_ai.training.loop import (
    BatchReport,
    BestReport,
    EpochReport,
    NullObserver,
    TrainConfig,
    TrainingError,
    TrainObserver,
    TrainResult,
    train_model,
)

__all__ = [
    "ARCHS",
    "DEFAULT_ARCH",
    "Arch",
    "BatchReport",
    "BestReport",
    "EpochReport",
    "NullObserver",
    "TrainConfig",
    "TrainObserver",
    "TrainResult",
    "TrainingError",
    "load_model",
    "new_run_id",
    "parse_arch",
    "train_model",
]
