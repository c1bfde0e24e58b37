"""Keeps the newest run snapshots of a model and deletes the older ones.

A snapshot is ``model-<run_id>.pt`` plus ``manifest-<run_id>.json``; run ids sort by time.
The active run (the one ``manifest.json`` names) is never deleted, however old: a long job
that ends after ``keep_runs`` later ones must not take away the model ``evaluate``, ``predict``
and the served copy stand for. Pruning holds the folder's activation lock, so no run is
activated while its files are being deleted. Nothing else in the folder is touched: not
``manifest.json``, not temporary files, not anything a person put there.
"""

from __future__ import annotations

import re
from pathlib import Path

from handwriting_worker.training.activation import active_manifest, model_lock

_RUN_ID = r"[0-9]{8}T[0-9]{6}Z-[0-9a-f]{6}"  # what handwriting_ai.training.new_run_id makes
_SNAPSHOT = re.compile(rf"^(?:model-(?P<m>{_RUN_ID})\.pt|manifest-(?P<j>{_RUN_ID})\.json)$")


def snapshot_runs(model_dir: Path) -> dict[str, list[Path]]:
    """Run id -> its snapshot files in ``model_dir``."""
    runs: dict[str, list[Path]] = {}
    for path in sorted(model_dir.iterdir()):
        match = _SNAPSHOT.match(path.name)
        if match is None or not path.is_file():
            continue
        run_id = match.group("m") or match.group("j")
        runs.setdefault(run_id, []).append(path)
    return runs


def prune_snapshots(model_dir: Path, keep_runs: int) -> list[Path]:
    """Deletes the snapshot files of all but the newest ``keep_runs`` runs; returns them."""
    if keep_runs < 1:
        raise ValueError(f"keep_runs must be at least 1, got {keep_runs}")
    deleted: list[Path] = []
    with model_lock(model_dir):
        active = active_manifest(model_dir)
        runs = snapshot_runs(model_dir)
        for run_id in sorted(runs, reverse=True)[keep_runs:]:
            if active is not None and run_id == active["run_id"]:
                continue
            for path in runs[run_id]:
                path.unlink(missing_ok=True)  # another worker may have pruned it first
                deleted.append(path)
    return deleted
