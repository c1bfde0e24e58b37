"""The three training recipes ``bench.train`` compares, each as it is published.

- ``ours``: the default job (``TrainConfig()``), built by the same functions the job uses
  (``build_model``, ``adam_with_schedule``, ``augment_batch``, the label smoothing), so the bench
  measures what ``make train`` runs. It stops when its schedule ends.
- ``reference``: the network of github.com/pytorch/examples mnist/main.py, written from its
  description: conv 32, conv 64 (3x3), max-pool, dropout 0.25, fc 9216->128, dropout 0.5,
  fc 10, log-softmax; Adadelta lr 1.0, StepLR gamma 0.7 each epoch, batch 64, no augmentation;
  epochs until the budget ends.
- ``resnet18``: the previous system's model: Adam 1e-3, batch 128, no schedule.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn
from torch.nn import functional as F
from torch.optim.lr_scheduler import LRScheduler, StepLR

from handwriting_ai.training.loop import LABEL_SMOOTHING, TrainConfig
from handwriting_ai.training.models import build_model
from handwriting_ai.training.schedule import adam_with_schedule

Net = Literal["ours", "reference", "resnet18"]
NETS: tuple[Net, ...] = ("ours", "reference", "resnet18")


def reference_net() -> nn.Module:
    """pytorch/examples mnist ``Net`` (log_softmax output; trained with nll_loss)."""
    return nn.Sequential(
        nn.Conv2d(1, 32, 3, 1),
        nn.ReLU(),
        nn.Conv2d(32, 64, 3, 1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Dropout(0.25),
        nn.Flatten(),
        nn.Linear(9216, 128),
        nn.ReLU(),
        nn.Dropout(0.5),
        nn.Linear(128, 10),
        nn.LogSoftmax(dim=1),
    )


@dataclass
class Recipe:
    model: nn.Module
    optimizer: torch.optim.Optimizer
    batch_size: int
    augment: bool
    loss: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
    step_schedule: LRScheduler | None
    """Stepped after every batch."""
    epoch_schedule: LRScheduler | None
    """Stepped after every epoch."""
    max_epochs: int | None
    """None: train until the budget ends."""


def _smoothed(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    return F.cross_entropy(logits, labels, label_smoothing=LABEL_SMOOTHING)


def recipe(net: Net, seed: int, train_size: int) -> Recipe:
    """``net`` freshly initialised from ``seed``, with its optimiser, for ``train_size`` digits."""
    torch.manual_seed(seed)
    if net == "ours":
        config = TrainConfig(model_id="bench", seed=seed)
        model = build_model(config.arch)
        steps = config.epochs * -(-train_size // config.batch_size)
        adam, schedule = adam_with_schedule(model.parameters(), config.lr, steps)
        return Recipe(
            model, adam, config.batch_size, config.augment, _smoothed, schedule, None, config.epochs
        )
    if net == "reference":
        model = reference_net()
        adadelta = torch.optim.Adadelta(model.parameters(), lr=1.0)
        step = StepLR(adadelta, step_size=1, gamma=0.7)
        return Recipe(model, adadelta, 64, False, F.nll_loss, None, step, None)
    model = build_model("resnet18")
    adam = torch.optim.Adam(model.parameters(), lr=1e-3)
    return Recipe(model, adam, 128, False, F.cross_entropy, None, None, None)
