"""Live progress on a terminal, drawn from the same events that go to stdout and Redis.

On a terminal a rich progress bar (batch, loss, accuracy, elapsed time and ETA) is redrawn in
place, with the lines that matter printed above it; elsewhere (a log file, CI) only those lines
are written: epochs (with elapsed time and ETA), artifact, upload, prune and the outcome.
Time comes from the events' ``ts``, never from a clock here, so the same events read the same.
"""

from __future__ import annotations

import threading
import time
from datetime import datetime
from typing import TextIO, assert_never

from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TextColumn
from rich.text import Text

from handwriting_ai.contracts import names
from handwriting_ai.defaults import CLOSE_TIMEOUT_S
from handwriting_ai.events.codec import Event

#: Least seconds between two redraws of the bar: rich takes milliseconds per redraw.
REFRESH_S = 0.1
#: Weight of the newest batch in the seconds-per-batch average (per batch advanced).
PACE_SMOOTHING = 0.1
TERMINAL = (names.COMPLETED_V1, names.FAILED_V1)


def size(n: int) -> str:
    """Bytes in a short human unit."""
    if n < 1024:
        return f"{n} B"
    if n < 1024 * 1024:
        return f"{n / 1024:.1f} KiB"
    return f"{n / (1024 * 1024):.1f} MiB"


def clock(seconds: float | None) -> str:
    """``m:ss`` or ``h:mm:ss``; ``-:--`` when unknown."""
    if seconds is None:
        return "-:--"
    minutes, secs = divmod(max(round(seconds), 0), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


class Pace:
    """Elapsed time and an ETA from event timestamps: an EWMA of seconds per batch."""

    def __init__(self) -> None:
        self.started: datetime | None = None
        self.latest: datetime | None = None
        self.seconds_per_batch: float | None = None
        self._batch: tuple[int, datetime] | None = None
        self._total = 0

    def observe(self, event: Event) -> None:
        ts = event.get("ts")
        if not isinstance(ts, str):
            return  # legacy events carry no time
        at = datetime.fromisoformat(ts)
        self.started = at if self.started is None else min(self.started, at)
        self.latest = at if self.latest is None else max(self.latest, at)
        if event["type"] != names.BATCH_V1:
            return
        index = (event["epoch"] - 1) * event["total_batches"] + event["batch"]
        self._total = event["total_epochs"] * event["total_batches"]
        if self._batch is not None:
            last, last_at = self._batch
            if index <= last or at < last_at:
                return  # a re-delivered or older event moves nothing forward
            sample = (at - last_at).total_seconds() / (index - last)
            weight = 1 - (1 - PACE_SMOOTHING) ** (index - last)
            old = self.seconds_per_batch
            self.seconds_per_batch = sample if old is None else old + weight * (sample - old)
        self._batch = (index, at)

    def elapsed(self) -> float | None:
        if self.started is None or self.latest is None:
            return None
        return (self.latest - self.started).total_seconds()

    def eta(self) -> float | None:
        if self.seconds_per_batch is None or self._batch is None:
            return None
        return max(self._total - self._batch[0], 0) * self.seconds_per_batch


def describe(event: Event) -> str | None:
    """The line for one event; None for events shown only as the bar (or not at all).

    Every event type has its case: a new one fails type checking (``assert_never``) until
    it is handled here.
    """
    match event["type"]:
        case names.STARTED_V1:
            epochs = event["total_epochs"]
            return f"training {event['model_id']}: {epochs} epoch(s), run {event['run_id']}"
        case names.EPOCH_V1:
            return (
                f"epoch {event['epoch']}/{event['total_epochs']}: val_acc {event['val_acc']:.2%}, "
                f"train_loss {event['train_loss']:.4f}, {event['time_s']:.1f} s"
            )
        case names.BEST_V1:
            return f"  new best: val_acc {event['val_acc']:.2%} at epoch {event['epoch']}"
        case names.ARTIFACT_V1:
            return f"saved model to {event['path']}/ in the artifacts root"
        case names.UPLOAD_V1:
            status = "no response" if event["status"] == 0 else f"HTTP {event['status']}"
            return (
                f"upload: {status} (model {size(event['model_bytes'])}, "
                f"manifest {size(event['manifest_bytes'])})"
            )
        case names.PRUNE_V1:
            return f"pruned {event['deleted_count']} old snapshot file(s)"
        case names.COMPLETED_V1:
            return f"completed: val_acc {event['val_acc']:.2%}, run {event['run_id']}"
        case names.FAILED_V1:
            return f"failed ({event['error_kind']} error): {event['message']}"
        case names.BATCH_V1:
            return None  # the bar
        case (
            names.LEGACY_STARTED
            | names.LEGACY_PROGRESS
            | names.LEGACY_COMPLETED
            | names.LEGACY_FAILED
        ):
            return None  # they repeat the v1 events
        case _:
            assert_never(event)


class ProgressPublisher:
    """A ``Publisher`` that draws progress on ``stream`` (stderr) with rich."""

    def __init__(
        self,
        stream: TextIO,
        *,
        live: bool | None = None,
        width: int | None = None,
        refresh_s: float = REFRESH_S,
    ) -> None:
        live = stream.isatty() if live is None else live
        self._console = Console(
            file=stream, force_terminal=live, width=width, highlight=False, soft_wrap=True
        )
        self._bar: tuple[Progress, TaskID] | None = None
        self._live = live
        self._pace = Pace()
        self._refresh_s = refresh_s
        self._drawn_at = float("-inf")
        self._lock = threading.Lock()

    def _update_bar(self, event: Event) -> None:
        if event["type"] != names.BATCH_V1:
            return
        if self._bar is None:
            bar = Progress(
                TextColumn("epoch {task.fields[epoch]} batch {task.fields[batch]}"),
                BarColumn(),
                TextColumn("{task.percentage:>3.0f}% {task.fields[stats]}"),
                TextColumn("{task.fields[time]}"),
                console=self._console,
                auto_refresh=False,
                transient=True,
            )
            self._bar = (bar, bar.add_task("train", total=1, epoch="", batch="", stats="", time=""))
            bar.start()
        bar, task = self._bar
        total = event["total_epochs"] * event["total_batches"]
        done = (event["epoch"] - 1) * event["total_batches"] + event["batch"]
        bar.update(
            task,
            total=total,
            completed=done,
            epoch=f"{event['epoch']}/{event['total_epochs']}",
            batch=f"{event['batch']}/{event['total_batches']}",
            stats=(
                f"loss {event['batch_loss']:.3f} acc {event['batch_acc']:.1%} "
                f"{event['samples_per_sec']:.0f}/s"
            ),
            time=self._times(),
        )
        # Only how often the bar is redrawn depends on the clock; what it shows does not.
        now = time.monotonic()
        if now - self._drawn_at >= self._refresh_s:
            bar.refresh()
            self._drawn_at = now

    def _times(self) -> str:
        return f"{clock(self._pace.elapsed())} elapsed, ETA {clock(self._pace.eta())}"

    def publish(self, event: Event) -> None:
        with self._lock:
            self._pace.observe(event)
            if self._live:
                self._update_bar(event)
            line = describe(event)
            if line is None:
                return
            if event["type"] == names.EPOCH_V1:
                line += f" ({self._times()})"
            elif event["type"] in TERMINAL:
                line += f" (took {clock(self._pace.elapsed())})"
                self._stop()
            self._console.print(Text(line))

    def _stop(self) -> None:
        if self._bar is not None:
            self._bar[0].stop()
            self._bar = None

    def close(self, timeout: float = CLOSE_TIMEOUT_S) -> None:
        with self._lock:
            self._stop()
            self._console.file.flush()
