"""``train``: one job in this process, no Redis or RQ needed: the main job on a fresh machine.

Events go to stdout as JSON lines (and to Redis too when REDIS_URL is set); a progress bar on
stderr is drawn from the same events. When stdout is a terminal (``make train`` run by a
person) the JSON lines are not written there unless ``json`` asks for them: they would land in
the bar's line and bury the readable lines printed above it; with ``json`` on a terminal the
bar is left out and the readable lines come between the JSON ones. A pipe or a file gets the
JSON lines as ever. Exit 0 when completed, 1 when failed, 2 on bad input.
Ctrl-C or SIGTERM stops the job with its one failed event (system, "... interrupted"),
published before the process leaves (exit 130 or 143), so a job whose events go to Redis never
stays "training" in Discord.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType
from typing import TextIO

from handwriting_ai.events.background import BackgroundPublisher
from handwriting_ai.events.factory import open_publisher
from handwriting_ai.events.publishers import FanOutPublisher
from handwriting_ai.settings import Settings
from handwriting_ai.training import Arch
from handwriting_worker.commands.progress import ProgressPublisher
from handwriting_worker.training.job import JobStopped, run_job


def run_train(
    settings: Settings,
    request: dict[str, object],
    stdout: TextIO,
    stderr: TextIO,
    *,
    arch: Arch | None = None,
    download: bool = False,
    json: bool = False,
) -> int:
    """Runs the request here; the exit status."""
    if arch is not None:
        settings = settings.model_copy(
            update={"train": settings.train.model_copy(update={"arch": arch})}
        )
    terminal = stdout.isatty()
    lines = stdout if json or not terminal else None
    events = open_publisher(settings, to_redis=settings.redis_url is not None, stream=lines)
    live = False if terminal and json else None  # None: a bar when stderr is a terminal
    progress = BackgroundPublisher(ProgressPublisher(stderr, live=live), name="progress")
    publisher = FanOutPublisher([events, progress])
    try:
        with _sigterm_stops_the_job():
            outcome = run_job(request, settings, publisher, download=download)
    except KeyboardInterrupt:
        stderr.write("train: interrupted (Ctrl-C)\n")
        return 128 + signal.SIGINT
    except JobStopped as exc:
        stderr.write(f"train: {exc.message}\n")
        return 128 + signal.SIGTERM
    finally:
        publisher.close(settings.events.close_timeout_s)
    if outcome.status == "completed":
        return 0
    return 2 if outcome.error_kind == "user" else 1


@contextmanager
def _sigterm_stops_the_job() -> Iterator[None]:
    """SIGTERM raises ``JobStopped`` in the training thread while the job runs (Python's
    default would end the process at once, the job's end unsaid); Ctrl-C is Python's own.
    Signals reach the main thread only: call it there."""

    def stop(signum: int, frame: FrameType | None) -> None:
        raise JobStopped("SIGTERM", error_kind="system")

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
