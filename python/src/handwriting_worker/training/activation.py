"""Which trained run becomes the served model: the operator's policy, ``DIGITS__ACTIVATE``.

Any allowed Discord user can train, and every job trains the model its request names (by
default the one model everyone is served). Activating a run means two things that replace what
people are served: uploading it to the model API (which writes the model's files on every
upload, activate or not: see ``tests/model_api.py``) and naming it in the model folder's
``manifest.json`` (what ``evaluate`` and ``predict`` load). Both happen only when the policy
says so:

- ``never``: nothing is uploaded or activated; each run stays a snapshot
  (``manifest-<run_id>.json``) that an operator can activate by copying it to ``manifest.json``;
- ``better`` (the default): a run whose val_acc is at least ``DIGITS__ACTIVATE_MIN_VAL_ACC``
  and above the active run's (the one ``manifest.json`` names);
- ``always``: every run that completes.

The decision, the upload and the new ``manifest.json`` happen under one lock on the model's
folder (``.activate.lock``, also taken by the prune step), so two jobs ending together cannot
both beat the same active run, and prune never deletes the run being activated.
"""

from __future__ import annotations

import fcntl
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Literal

from handwriting_ai.contracts import DigitsManifestV1
from handwriting_ai.manifest import MANIFEST_FILE, ManifestError, parse_manifest

Policy = Literal["never", "better", "always"]
LOCK_FILE = ".activate.lock"
LOCK_WAIT_S = 900.0
"""Longest wait for another job's activation (its upload's retries are bounded well below)."""


class LockTimeout(Exception):
    """Another job held the model folder's lock for longer than ``LOCK_WAIT_S``."""


@contextmanager
def model_lock(model_dir: Path, wait_s: float = LOCK_WAIT_S) -> Iterator[None]:
    """Holds ``model_dir``'s activation lock (released when the block ends or the process dies)."""
    model_dir.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + wait_s
    with (model_dir / LOCK_FILE).open("a") as handle:
        while True:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise LockTimeout(
                        f"{model_dir.name}/{LOCK_FILE} was held by another job for over "
                        f"{wait_s:.0f} s; the run was not activated"
                    ) from None
                time.sleep(0.05)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def active_manifest(model_dir: Path) -> DigitsManifestV1 | None:
    """The manifest of the active run (``manifest.json``); None when none is, or it is unusable."""
    try:
        return parse_manifest((model_dir / MANIFEST_FILE).read_bytes())
    except (OSError, ManifestError):
        return None


def decide(
    policy: Policy, min_val_acc: float, active: DigitsManifestV1 | None, val_acc: float
) -> tuple[bool, str]:
    """Whether a run with ``val_acc`` is activated, and why, in words for the log."""
    if policy == "never":
        return False, "not activated (DIGITS__ACTIVATE=never)"
    if policy == "always":
        return True, "activated (DIGITS__ACTIVATE=always)"
    if val_acc < min_val_acc:
        return False, (
            f"not activated: val_acc {val_acc:.4f} is under DIGITS__ACTIVATE_MIN_VAL_ACC "
            f"{min_val_acc:.4f}"
        )
    if active is not None and val_acc <= active["val_acc"]:
        return False, (
            f"not activated: val_acc {val_acc:.4f} does not beat the active run "
            f"{active['run_id']}'s {active['val_acc']:.4f}"
        )
    if active is None:
        return True, f"activated: val_acc {val_acc:.4f}, and no run was active (better)"
    return True, f"activated: val_acc {val_acc:.4f} beats the active run's (better)"


def activate_run(model_dir: Path, run_id: str) -> None:
    """Names run ``run_id`` in ``manifest.json`` (a copy of its snapshot's manifest)."""
    # torch: only a job that trained activates; the light commands import this module.
    from handwriting_ai.data.idx import write_bytes_atomic  # noqa: PLC0415
    from handwriting_ai.training.artifacts import artifact_paths  # noqa: PLC0415

    paths = artifact_paths(model_dir.parent, model_dir.name, run_id)
    write_bytes_atomic(paths.manifest, paths.run_manifest.read_bytes())
