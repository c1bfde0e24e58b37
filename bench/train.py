"""Ours vs PyTorch's MNIST example vs ResNet-18, same digits and clock -> bench/results/train.json.

    python -m bench.train [--budget-s 60] [--rounds 2] [--clock wall|cpu] [--out ...]

Each net trains as it is published, on the 8,000 / 2,000 offline split, seed 0, the trainer's
thread count, and is validated on all 2,000 held-out digits at 5, 10, 20, 30 and 60 s of its
training clock (validation excluded; data preparation and augmentation included):

- ``ours``: the default job (``TrainConfig()``: small BN CNN, Adam one-cycle over its epochs,
  augmentation, label smoothing). It stops when its schedule ends; later checkpoints show the
  finished model.
- ``reference``: the network of github.com/pytorch/examples mnist/main.py, written from its
  description: conv 32, conv 64, max-pool, dropout 0.25, fc 9216->128, dropout 0.5, fc 10;
  Adadelta lr 1.0, StepLR gamma 0.7 each epoch, batch 64; epochs until the budget ends.
- ``resnet18``: the previous system's model: Adam 1e-3, batch 128, no schedule.

Runs alternate (rounds rotate the order) so machine load hits all alike; each checkpoint
reports the median over rounds. ``--clock cpu`` counts process CPU seconds / threads instead of
wall seconds: what the wall clock would read on idle cores, for a machine others are using.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F
from torch.optim.lr_scheduler import LRScheduler, OneCycleLR, StepLR

from handwriting_ai.data.digits import DigitsData, load_offline
from handwriting_ai.data.idx import write_bytes_atomic
from handwriting_ai.training.artifacts import JsonValue, utc_now_iso
from handwriting_ai.training.augment import augment_batch
from handwriting_ai.training.loop import LABEL_SMOOTHING, TrainConfig, evaluate, normalize
from handwriting_ai.training.models import MNIST_MEAN, MNIST_STD, build_model
from handwriting_ai.training.threads import resolve_threads

CHECKPOINTS_S = (5.0, 10.0, 20.0, 30.0, 60.0)
SEED = 0
NETS = ("ours", "reference", "resnet18")


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
    step_schedule: LRScheduler | None  # stepped per batch
    epoch_schedule: LRScheduler | None  # stepped per epoch
    max_epochs: int | None


def recipe(net: str, batches_per_epoch: Callable[[int], int]) -> Recipe:
    torch.manual_seed(SEED)
    if net == "ours":
        config = TrainConfig(model_id="bench")
        model = build_model(config.arch)
        adam = torch.optim.Adam(model.parameters(), lr=config.lr)
        steps = config.epochs * batches_per_epoch(config.batch_size)
        return Recipe(
            model,
            adam,
            config.batch_size,
            config.augment,
            lambda out, y: F.cross_entropy(out, y, label_smoothing=LABEL_SMOOTHING),
            OneCycleLR(adam, max_lr=config.lr, total_steps=steps),
            None,
            config.epochs,
        )
    if net == "reference":
        model = reference_net()
        adadelta = torch.optim.Adadelta(model.parameters(), lr=1.0)
        step = StepLR(adadelta, step_size=1, gamma=0.7)
        return Recipe(model, adadelta, 64, False, F.nll_loss, None, step, None)
    model = build_model("resnet18")
    adam = torch.optim.Adam(model.parameters(), lr=1e-3)
    return Recipe(model, adam, 128, False, F.cross_entropy, None, None, None)


def _clock(kind: str, threads: int) -> Callable[[], float]:
    if kind == "cpu":
        return lambda: time.process_time() / threads
    return time.perf_counter


def run_net(
    net: str, data: DigitsData, budget_s: float, clock: Callable[[], float]
) -> dict[str, JsonValue]:
    count = int(data.train_labels.shape[0])
    r = recipe(net, lambda batch: math.ceil(count / batch))
    train_x = data.train_images.unsqueeze(1).float().div_(255)
    val_x = normalize(data.val_images)
    generator = torch.Generator().manual_seed(SEED)
    marks = [c for c in CHECKPOINTS_S if c <= budget_s]
    evals: dict[str, float] = {}
    train_s, seen, epoch, finished_s = 0.0, 0, 0, None
    while marks and (r.max_epochs is None or epoch < r.max_epochs):
        epoch += 1
        r.model.train()
        order = torch.randperm(count, generator=generator)
        for start in range(0, count, r.batch_size):
            began = clock()
            index = order[start : start + r.batch_size]
            images = train_x[index]
            if r.augment:
                images = augment_batch(images, generator)
            loss = r.loss(
                r.model(images.sub_(MNIST_MEAN).div_(MNIST_STD)), data.train_labels[index]
            )
            r.optimizer.zero_grad(set_to_none=True)
            torch.autograd.backward(loss)
            r.optimizer.step()
            if r.step_schedule is not None:
                r.step_schedule.step()
            seen += int(index.shape[0])
            train_s += clock() - began
            while marks and train_s >= marks[0]:
                evals[f"{marks.pop(0):g}"] = evaluate(r.model, val_x, data.val_labels)
                r.model.train()
            if not marks:
                break
        if r.epoch_schedule is not None:
            r.epoch_schedule.step()
    if marks:  # finished its schedule early: later checkpoints show the finished model
        finished_s = round(train_s, 2)
        final = evaluate(r.model, val_x, data.val_labels)
        evals.update({f"{m:g}": final for m in marks})
    print(f"bench.train: {net:9s} {seen / train_s:7.0f} samples/s {evals}", flush=True)
    return {
        "samples_per_sec": round(seen / train_s, 1),
        "epochs": round(seen / count, 2),
        "finished_s": finished_s,
        "val_acc_at_s": dict(evals),
    }


def _median_table(rounds: list[dict[str, dict[str, JsonValue]]]) -> dict[str, JsonValue]:
    table: dict[str, JsonValue] = {}
    for net in NETS:
        runs = [r[net] for r in rounds]
        accs: dict[str, JsonValue] = {}
        for mark in CHECKPOINTS_S:
            values = [
                float(v)
                for run in runs
                if isinstance(d := run["val_acc_at_s"], dict)
                and isinstance(v := d.get(f"{mark:g}"), float)
            ]
            if values:
                accs[f"{mark:g}"] = statistics.median(values)
        rates = [float(v) for run in runs if isinstance(v := run["samples_per_sec"], float)]
        table[net] = {"val_acc_at_s": accs, "samples_per_sec": statistics.median(rates)}
    return table


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="ours vs pytorch/examples MNIST vs ResNet-18")
    parser.add_argument("--budget-s", type=float, default=60.0, help="training seconds per net")
    parser.add_argument("--rounds", type=int, default=2, help="alternating rounds (median)")
    parser.add_argument("--clock", choices=("wall", "cpu"), default="wall")
    parser.add_argument("--data-root", type=Path, default=Path("data/mnist"))
    parser.add_argument("--threads", type=int, default=0, help="0 = the CPUs this process may use")
    parser.add_argument("--out", type=Path, default=Path("bench/results/train.json"))
    args = parser.parse_args(argv)
    threads = resolve_threads(args.threads)
    torch.set_num_threads(threads)
    data = load_offline(args.data_root)
    clock = _clock(args.clock, threads)
    load_before = os.getloadavg()[0]
    rounds: list[dict[str, dict[str, JsonValue]]] = []
    for number in range(args.rounds):
        order = NETS[number % len(NETS) :] + NETS[: number % len(NETS)]
        rounds.append({net: run_net(net, data, args.budget_s, clock) for net in order})
    report: dict[str, JsonValue] = {
        "bench": "train",
        "created_at": utc_now_iso(),
        "torch_version": torch.__version__,
        "threads": threads,
        "cpus": os.cpu_count(),
        "load_avg_1m": {"before": load_before, "after": os.getloadavg()[0]},
        "dataset": {
            "name": data.name,
            "digest": data.digest,
            "train_size": int(data.train_labels.shape[0]),
            "val_size": int(data.val_labels.shape[0]),
        },
        "protocol": {
            "budget_s": args.budget_s,
            "clock": f"{args.clock}: training time incl. data preparation, excl. validation",
            "checkpoints_s": list(CHECKPOINTS_S),
            "rounds": args.rounds,
            "seed": SEED,
        },
        "table": _median_table(rounds),
        "rounds": [dict(r) for r in rounds],
    }
    write_bytes_atomic(args.out, (json.dumps(report, indent=2, allow_nan=False) + "\n").encode())
    print(f"bench.train: wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
