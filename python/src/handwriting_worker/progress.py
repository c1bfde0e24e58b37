"""A live progress bar on a terminal, drawn from the same events that go to stdout and Redis.

On a terminal the batch line is redrawn in place; elsewhere (a log file, CI) only the lines
that matter are written: epochs, artifact, upload, prune and the outcome.
"""

from __future__ import annotations

import threading
from typing import TextIO

from handwriting_ai.events.codec import Event

BAR_WIDTH = 24


def bar(fraction: float, width: int = BAR_WIDTH) -> str:
    """``[#####-----]`` for ``fraction`` in [0, 1] (clamped)."""
    filled = round(min(max(fraction, 0.0), 1.0) * width)
    return "[" + "#" * filled + "-" * (width - filled) + "]"


def size(n: int) -> str:
    """Bytes in a short human unit."""
    if n < 1024:
        return f"{n} B"
    if n < 1024 * 1024:
        return f"{n / 1024:.1f} KiB"
    return f"{n / (1024 * 1024):.1f} MiB"


def describe(event: Event) -> str | None:
    """The line for one event; None for events shown only as the bar (or not at all)."""
    match event["type"]:
        case "digits.train.started.v1":
            epochs = event["total_epochs"]
            return f"training {event['model_id']}: {epochs} epoch(s), run {event['run_id']}"
        case "digits.train.epoch.v1":
            return (
                f"epoch {event['epoch']}/{event['total_epochs']}: val_acc {event['val_acc']:.2%}, "
                f"train_loss {event['train_loss']:.4f}, {event['time_s']:.1f} s"
            )
        case "digits.train.best.v1":
            return f"  new best: val_acc {event['val_acc']:.2%} at epoch {event['epoch']}"
        case "digits.train.artifact.v1":
            return f"saved model to {event['path']}"
        case "digits.train.upload.v1":
            status = "no response" if event["status"] == 0 else f"HTTP {event['status']}"
            return (
                f"upload: {status} (model {size(event['model_bytes'])}, "
                f"manifest {size(event['manifest_bytes'])})"
            )
        case "digits.train.prune.v1":
            return f"pruned {event['deleted_count']} old snapshot file(s)"
        case "digits.train.completed.v1":
            return f"completed: val_acc {event['val_acc']:.2%}, run {event['run_id']}"
        case "digits.train.failed.v1":
            return f"failed ({event['error_kind']} error): {event['message']}"
        case _:
            return None  # batch events are the bar; legacy events repeat the v1 ones


class ProgressPublisher:
    """A ``Publisher`` that draws progress on ``stream`` (stderr)."""

    def __init__(self, stream: TextIO, *, live: bool | None = None) -> None:
        self._stream = stream
        self._live = stream.isatty() if live is None else live
        self._bar_shown = False
        self._lock = threading.Lock()

    def publish(self, event: Event) -> None:
        with self._lock:
            if event["type"] == "digits.train.batch.v1":
                if self._live:
                    done = (event["epoch"] - 1) * event["total_batches"] + event["batch"]
                    total = event["total_epochs"] * event["total_batches"]
                    self._stream.write(
                        f"\r{bar(done / total)} epoch {event['epoch']}/{event['total_epochs']} "
                        f"batch {event['batch']}/{event['total_batches']} "
                        f"loss {event['batch_loss']:.3f} acc {event['batch_acc']:.1%} "
                        f"{event['samples_per_sec']:.0f}/s\x1b[K"
                    )
                    self._bar_shown = True
                    self._stream.flush()
                return
            line = describe(event)
            if line is None:
                return
            if self._bar_shown:
                self._stream.write("\r\x1b[K")  # the bar line gives way to the next line
                self._bar_shown = False
            self._stream.write(line + "\n")
            self._stream.flush()

    def close(self, timeout: float = 2.0) -> None:
        with self._lock:
            if self._bar_shown:
                self._stream.write("\n")
                self._bar_shown = False
            self._stream.flush()
