"""The stderr progress (rich): what a person sees on a terminal and in a log, elapsed and ETA."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime, timedelta

import pytest

from handwriting_ai.events import builders
from handwriting_ai.events.codec import Event
from handwriting_worker.commands.progress import (
    PACE_SMOOTHING,
    Pace,
    ProgressPublisher,
    clock,
    describe,
    size,
)

CTX = builders.JobContext("req-1", 42, "digits", "20261128T160000Z-abcdef")
T0 = datetime(2026, 11, 28, 16, 0, 0, tzinfo=UTC)


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def at(seconds: float) -> str:
    return builders.utc_timestamp(T0 + timedelta(seconds=seconds))


def _batch(batch: int, seconds: float, epoch: int = 2) -> Event:
    event = builders.batch(
        CTX,
        epoch=epoch,
        total_epochs=2,
        batch=batch,
        total_batches=4,
        batch_loss=0.5,
        batch_acc=0.75,
        avg_loss=0.6,
        samples_per_sec=1234.4,
    )
    event["ts"] = at(seconds)
    return event


def _started(seconds: float) -> Event:
    event = builders.started(CTX, total_epochs=2)
    event["ts"] = at(seconds)
    return event


def _epoch(seconds: float) -> Event:
    event = builders.epoch(
        CTX, epoch=2, total_epochs=2, train_loss=0.25, val_acc=0.9876, time_s=3.21
    )
    event["ts"] = at(seconds)
    return event


def _completed(seconds: float) -> Event:
    event = builders.completed(CTX, val_acc=0.5)
    event["ts"] = at(seconds)
    return event


def test_size_and_clock() -> None:
    assert [size(n) for n in (512, 2048, 3 * 1024 * 1024)] == ["512 B", "2.0 KiB", "3.0 MiB"]
    clocks = [clock(s) for s in (None, -2, 7.4, 65, 3725)]
    assert clocks == ["-:--", "0:00", "0:07", "1:05", "1:02:05"]


def test_pace_is_an_ewma_of_seconds_per_batch_from_event_times() -> None:
    pace = Pace()
    assert (pace.elapsed(), pace.eta()) == (None, None)
    pace.observe(builders.legacy_started(CTX, total_epochs=2))  # no time: changes nothing
    assert pace.elapsed() is None
    pace.observe(_started(-3))
    pace.observe(_batch(1, 0, epoch=1))
    assert pace.eta() is None  # one batch gives no pace yet
    pace.observe(_batch(2, 2, epoch=1))  # 2 s per batch
    assert pace.eta() == 6 * 2.0
    pace.observe(_batch(4, 4, epoch=1))  # 1 s per batch over 2 batches
    expected = 2.0 + (1 - (1 - PACE_SMOOTHING) ** 2) * (1.0 - 2.0)
    assert pace.eta() == 4 * expected
    # Re-delivered, an older batch, and a newer batch stamped before the last one: none counts.
    for old in (_batch(4, 4, epoch=1), _batch(3, 9, epoch=1), _batch(2, 3.5, epoch=2)):
        pace.observe(old)
    assert pace.seconds_per_batch == expected
    assert pace.elapsed() == 12


def test_on_a_terminal_a_rich_bar_shows_elapsed_and_eta_then_gives_way_to_lines() -> None:
    out = Tty()
    progress = ProgressPublisher(out, width=160, refresh_s=0)
    progress.publish(_started(0))
    progress.publish(_batch(1, 10))
    progress.publish(_batch(2, 12))
    drawn = out.getvalue()
    assert "epoch 2/2 batch 2/4" in drawn
    assert "75% loss 0.500 acc 75.0% 1234/s" in drawn  # (4 + 2) of 8 batches
    assert "0:12 elapsed, ETA 0:04" in drawn  # 2 batches left at 2 s each
    assert "━" in drawn and "\x1b[" in drawn  # rich's bar, redrawn in place
    progress.publish(_epoch(20))
    assert "epoch 2/2: val_acc 98.76%, train_loss 0.2500, 3.2 s (0:20 elapsed, ETA 0:04)" in (
        out.getvalue()
    )
    progress.publish(_batch(4, 21))
    progress.publish(_completed(22))
    after = out.getvalue()
    assert "completed: val_acc 50.00%, run 20261128T160000Z-abcdef (took 0:22)" in after
    progress.publish(_batch(4, 23))  # after the end a late batch draws a bar again
    progress.close()
    progress.close()


def test_the_bar_is_redrawn_at_most_once_per_refresh_interval() -> None:
    out = Tty()
    progress = ProgressPublisher(out, width=160, refresh_s=3600)
    progress.publish(_batch(1, 1))
    progress.publish(_batch(2, 2))
    assert "batch 1/4" in out.getvalue()
    assert "batch 2/4" not in out.getvalue()
    progress.close()


def test_off_a_terminal_only_lines_are_written() -> None:
    out = io.StringIO()
    progress = ProgressPublisher(out)
    progress.publish(_started(0))
    progress.publish(_batch(1, 1))
    progress.publish(builders.legacy_started(CTX, total_epochs=2))
    progress.publish(_batch(2, 3))
    progress.publish(_epoch(5))
    progress.publish(_completed(7))
    progress.close()
    assert out.getvalue() == (
        "training digits: 2 epoch(s), run 20261128T160000Z-abcdef\n"
        "epoch 2/2: val_acc 98.76%, train_loss 0.2500, 3.2 s (0:05 elapsed, ETA 0:04)\n"
        "completed: val_acc 50.00%, run 20261128T160000Z-abcdef (took 0:07)\n"
    )


def test_event_text_is_shown_literally_not_as_rich_markup() -> None:
    out = io.StringIO()
    progress = ProgressPublisher(out)
    progress.publish(builders.failed(CTX, error_kind="user", message="[bold]bad[/bold] [x]"))
    assert "[bold]bad[/bold] [x]" in out.getvalue()


def test_every_step_has_a_readable_line() -> None:
    assert (
        describe(builders.best(CTX, epoch=1, val_acc=0.9))
        == "  new best: val_acc 90.00% at epoch 1"
    )
    saved = describe(builders.artifact(CTX, path="digits"))
    assert saved == "saved model to digits/ in the artifacts root"
    assert describe(builders.upload(CTX, status=200, model_bytes=2048, manifest_bytes=10)) == (
        "upload: HTTP 200 (model 2.0 KiB, manifest 10 B)"
    )
    assert describe(builders.upload(CTX, status=0, model_bytes=1, manifest_bytes=1)) == (
        "upload: no response (model 1 B, manifest 1 B)"
    )
    assert describe(builders.prune(CTX, deleted_count=2)) == "pruned 2 old snapshot file(s)"
    assert (
        describe(builders.failed(CTX, error_kind="user", message="bad"))
        == "failed (user error): bad"
    )
    assert describe(_batch(1, 0)) is None
    assert describe(builders.legacy_started(CTX, total_epochs=2)) is None


def test_a_type_no_case_handles_is_a_bug_not_a_silent_none() -> None:
    unknown: Event = json.loads('{"type": "digits.train.paused.v1"}')
    with pytest.raises(AssertionError):
        describe(unknown)
