"""The stderr progress bar: what a person sees on a terminal and in a log."""

from __future__ import annotations

import io

from handwriting_ai.events import builders as ev
from handwriting_ai.events.codec import Event
from handwriting_worker.progress import ProgressPublisher, bar, describe, size

CTX = ev.JobContext("req-1", 42, "digits", "20261128T160000Z-abcdef")


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def _batch(batch: int) -> Event:
    return ev.batch(
        CTX,
        epoch=2,
        total_epochs=2,
        batch=batch,
        total_batches=4,
        batch_loss=0.5,
        batch_acc=0.75,
        avg_loss=0.6,
        samples_per_sec=1234.4,
    )


def test_bar_and_size() -> None:
    assert bar(0.5, width=10) == "[#####-----]"
    assert bar(1.7, width=4) == "[####]"
    assert bar(-1, width=4) == "[----]"
    assert [size(n) for n in (512, 2048, 3 * 1024 * 1024)] == ["512 B", "2.0 KiB", "3.0 MiB"]


def test_on_a_terminal_the_bar_is_redrawn_then_gives_way_to_lines() -> None:
    out = Tty()
    progress = ProgressPublisher(out)
    progress.publish(_batch(1))
    progress.publish(_batch(2))
    assert out.getvalue().count("\r") == 2
    assert "epoch 2/2 batch 2/4 loss 0.500 acc 75.0% 1234/s" in out.getvalue()
    assert "[##################------]" in out.getvalue()  # (4 + 2) of 8 batches
    progress.publish(
        ev.epoch(CTX, epoch=2, total_epochs=2, train_loss=0.25, val_acc=0.9876, time_s=3.21)
    )
    assert out.getvalue().endswith("\r\x1b[Kepoch 2/2: val_acc 98.76%, train_loss 0.2500, 3.2 s\n")
    progress.publish(_batch(4))
    progress.close()
    assert out.getvalue().endswith("\n")


def test_off_a_terminal_only_lines_are_written() -> None:
    out = io.StringIO()
    progress = ProgressPublisher(out)
    progress.publish(ev.started(CTX, total_epochs=2))
    progress.publish(_batch(1))
    progress.publish(ev.legacy_started(CTX, total_epochs=2))
    progress.publish(ev.completed(CTX, val_acc=0.5))
    progress.close()
    assert out.getvalue() == (
        "training digits: 2 epoch(s), run 20261128T160000Z-abcdef\n"
        "completed: val_acc 50.00%, run 20261128T160000Z-abcdef\n"
    )


def test_every_step_has_a_readable_line() -> None:
    assert describe(ev.best(CTX, epoch=1, val_acc=0.9)) == "  new best: val_acc 90.00% at epoch 1"
    assert describe(ev.artifact(CTX, path="artifacts/digits")) == "saved model to artifacts/digits"
    assert describe(ev.upload(CTX, status=200, model_bytes=2048, manifest_bytes=10)) == (
        "upload: HTTP 200 (model 2.0 KiB, manifest 10 B)"
    )
    assert describe(ev.upload(CTX, status=0, model_bytes=1, manifest_bytes=1)) == (
        "upload: no response (model 1 B, manifest 1 B)"
    )
    assert describe(ev.prune(CTX, deleted_count=2)) == "pruned 2 old snapshot file(s)"
    assert describe(ev.failed(CTX, error_kind="user", message="bad")) == "failed (user error): bad"
    assert describe(_batch(1)) is None
