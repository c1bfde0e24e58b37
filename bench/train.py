"""Default CNN vs ResNet-18 on the offline digits, same budget -> bench/results/train.json.

    python -m bench.train [--budget-s 60] [--out bench/results/train.json]

Protocol, identical for both: the 8,000 / 2,000 offline split, batch 128, Adam at a constant
lr of 1e-3 (no schedule: a schedule needs the run's length, which a time budget does not fix),
no augmentation, seed 0, the trainer's thread count. Each arch trains for ``budget_s`` seconds of
training wall time (data loading included, validation excluded) and is validated on all 2,000
validation digits at fixed checkpoints of that clock. ``seconds_to_98`` is the first checkpoint
at or above 98% (an upper bound at the checkpoints' resolution), or null within the budget.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from collections.abc import Sequence
from pathlib import Path

import torch
from torch.nn import functional as F

from handwriting_ai.data.digits import DigitsData, load_offline
from handwriting_ai.data.idx import write_bytes_atomic
from handwriting_ai.training.artifacts import JsonValue, utc_now_iso
from handwriting_ai.training.loop import evaluate, normalize
from handwriting_ai.training.models import ARCHS, MNIST_MEAN, MNIST_STD, Arch, build_model
from handwriting_ai.training.threads import resolve_threads

TARGET = 0.98
BATCH = 128
LR = 1e-3
SEED = 0
# Fractions of the budget at which to validate: dense early, where the CNN crosses 98%.
CHECKPOINTS = (0.04, 0.08, 0.125, 0.17, 0.25, 0.33, 0.5, 0.75, 1.0)


def bench_arch(arch: Arch, data: DigitsData, budget_s: float) -> dict[str, JsonValue]:
    torch.manual_seed(SEED)
    model = build_model(arch)
    optimizer = torch.optim.Adam(model.parameters(), lr=LR)
    generator = torch.Generator().manual_seed(SEED)
    train_x = normalize(data.train_images)
    train_y = data.train_labels
    val_x = normalize(data.val_images)
    count = int(train_y.shape[0])
    marks = [budget_s * c for c in CHECKPOINTS]
    evals: list[JsonValue] = []
    train_s = 0.0
    seen = 0
    order = torch.randperm(count, generator=generator)
    cursor = 0
    model.train()
    while marks:
        started = time.perf_counter()
        if cursor >= count:
            order, cursor = torch.randperm(count, generator=generator), 0
        index = order[cursor : cursor + BATCH]
        cursor += BATCH
        loss = F.cross_entropy(model(train_x[index]), train_y[index])
        optimizer.zero_grad(set_to_none=True)
        torch.autograd.backward(loss)
        optimizer.step()
        seen += int(index.shape[0])
        train_s += time.perf_counter() - started
        if train_s >= marks[0]:
            while marks and train_s >= marks[0]:
                marks.pop(0)
            val_acc = evaluate(model, val_x, data.val_labels)
            model.train()
            evals.append({"train_s": round(train_s, 2), "samples": seen, "val_acc": val_acc})
            print(f"bench.train: {arch} {train_s:6.1f}s {seen:6d} samples val_acc={val_acc:.4f}")
    reached = [e for e in evals if isinstance(e, dict) and _acc(e) >= TARGET]
    final = evals[-1]
    return {
        "params": sum(p.numel() for p in model.parameters()),
        "samples_per_sec": round(seen / train_s, 1),
        "seconds_to_98": reached[0]["train_s"] if reached else None,
        "final_val_acc": final["val_acc"] if isinstance(final, dict) else None,
        "epochs_seen": round(seen / count, 2),
        "evals": evals,
    }


def _acc(entry: dict[str, JsonValue]) -> float:
    value = entry["val_acc"]
    return float(value) if isinstance(value, float | int) else 0.0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="default CNN vs ResNet-18, same budget")
    parser.add_argument("--budget-s", type=float, default=60.0, help="training seconds per arch")
    parser.add_argument("--data-root", type=Path, default=Path("data/mnist"))
    parser.add_argument("--threads", type=int, default=0, help="0 = the CPUs this process may use")
    parser.add_argument("--out", type=Path, default=Path("bench/results/train.json"))
    args = parser.parse_args(argv)
    budget_s: float = args.budget_s
    threads = resolve_threads(args.threads)
    torch.set_num_threads(threads)
    data = load_offline(args.data_root)
    # Other processes on these CPUs slow multi-threaded torch a lot: record how busy they were.
    load_before = os.getloadavg()[0]
    results: dict[str, JsonValue] = {arch: bench_arch(arch, data, budget_s) for arch in ARCHS}
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
            "budget_s_per_arch": budget_s,
            "clock": "training wall time incl. data loading, excl. validation",
            "checkpoints_s": [round(budget_s * c, 2) for c in CHECKPOINTS],
            "batch_size": BATCH,
            "optimizer": "adam",
            "lr": LR,
            "augment": False,
            "seed": SEED,
            "target_val_acc": TARGET,
            "normalize": [MNIST_MEAN, MNIST_STD],
        },
        "results": results,
    }
    text = json.dumps(report, indent=2, allow_nan=False) + "\n"
    write_bytes_atomic(args.out, text.encode())
    print(f"bench.train: wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
