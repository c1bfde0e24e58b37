"""DIGITS__ACTIVATE: which run becomes the served model (issue 23, items 2 and 14).

Any allowed Discord user trains the shared model ``digits``. Before the policy, every job
uploaded with activate on and rewrote ``model.pt``/``manifest.json``, so ``/train epochs:1
lr:1`` replaced what everyone was served. Real jobs against the model API stand-in (which
stores the files of every upload, as the real API does) and real folders on disk.
"""

from __future__ import annotations

import fcntl
import json
from pathlib import Path

import pytest

from handwriting_ai.events.publishers import Publisher
from handwriting_ai.settings import DigitsSettings, Settings, TrainSettings, load_settings
from handwriting_worker.training.activation import (
    LOCK_FILE,
    LockTimeout,
    active_manifest,
    decide,
    model_lock,
)
from handwriting_worker.training.job import run_job
from handwriting_worker.training.prune import prune_snapshots
from tests.manifests import valid_manifest
from tests.model_api import ModelApi, serve_model_api
from tests.test_worker_job import DATA_ROOT, Collect, _request

ACTIVE = valid_manifest("20261128T100000Z-aaaaaa")


def _settings(root: Path, api: ModelApi | None, activate: str, floor: float = 0.0) -> Settings:
    return Settings.model_validate(
        {
            "digits": DigitsSettings.model_validate(
                {
                    "data_root": DATA_ROOT,
                    "artifacts_root": root,
                    "activate": activate,
                    "activate_min_val_acc": floor,
                }
            ),
            "train": TrainSettings(threads=1, max_train_samples=256),
            "handwriting_api_url": None if api is None else api.url,
            "handwriting_api_key": None if api is None else api.key,
        }
    )


def _job(settings: Settings, sink: Publisher, **change: object) -> str:
    outcome = run_job(_request(epochs=1, **change), settings, sink)
    assert outcome.status == "completed", outcome.message
    assert outcome.run_id is not None
    return outcome.run_id


def _active_run(root: Path) -> str | None:
    manifest = active_manifest(root / "digits")
    return None if manifest is None else manifest["run_id"]


def test_the_default_policy_is_better_with_a_floor(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DIGITS__ACTIVATE", raising=False)
    monkeypatch.delenv("DIGITS__ACTIVATE_MIN_VAL_ACC", raising=False)
    digits = load_settings().digits
    assert (digits.activate, digits.activate_min_val_acc) == ("better", 0.9)


@pytest.mark.parametrize(
    ("policy", "floor", "active", "val_acc", "expected"),
    [
        ("never", 0.0, None, 1.0, (False, "not activated (DIGITS__ACTIVATE=never)")),
        ("always", 0.9, ACTIVE, 0.1, (True, "activated (DIGITS__ACTIVATE=always)")),
        ("better", 0.9, None, 0.5, (False, "not activated: val_acc 0.5000 is under DIGITS__")),
        ("better", 0.0, None, 0.5, (True, "activated: val_acc 0.5000, and no run was active")),
        (
            "better",
            0.0,
            ACTIVE,
            ACTIVE["val_acc"],
            (False, "not activated: val_acc 0.9800 does not beat"),
        ),
        ("better", 0.0, ACTIVE, 0.999, (True, "activated: val_acc 0.9990 beats the active")),
    ],
)
def test_decide(
    policy: str,
    floor: float,
    active: object,
    val_acc: float,
    expected: tuple[bool, str],
) -> None:
    settings = DigitsSettings.model_validate({"activate": policy})
    yes, why = decide(settings.activate, floor, ACTIVE if active else None, val_acc)
    assert yes == expected[0] and why.startswith(expected[1])


@pytest.mark.timeout(300)
def test_better_activates_only_runs_that_beat_the_active_one(tmp_path: Path) -> None:
    sink = Collect()
    with serve_model_api(ModelApi()) as api:
        first = _job(_settings(tmp_path, api, "better"), sink)
        assert _active_run(tmp_path) == first  # nothing was active: activated
        assert api.served["digits"].fields["activate"] == "true"
        # The active run now reads as better than any small run can be.
        manifest_path = tmp_path / "digits" / "manifest.json"
        manifest = json.loads(manifest_path.read_text())
        manifest_path.write_text(json.dumps({**manifest, "val_acc": 0.999}))
        sink.events.clear()
        _job(_settings(tmp_path, api, "better"), sink, lr=1.0)  # /train epochs:1 lr:1
    assert _active_run(tmp_path) == first  # not replaced, locally
    assert len(api.received) == 1  # nor at the API: nothing uploaded, nothing overwritten
    assert "digits.train.upload.v1" not in sink.types()
    assert sink.types()[-1] == "digits.train.completed.v1"


@pytest.mark.timeout(300)
def test_never_uploads_nothing_and_always_replaces(tmp_path: Path) -> None:
    sink = Collect()
    with serve_model_api(ModelApi()) as api:
        kept = _job(_settings(tmp_path, api, "never"), sink)
        assert api.received == [] and _active_run(tmp_path) is None
        assert (tmp_path / "digits" / f"manifest-{kept}.json").exists()
        second = _job(_settings(tmp_path, api, "always"), sink)
        assert _active_run(tmp_path) == second
        assert [u.fields["activate"] for u in api.received] == ["true"]
        # Under a floor no small run reaches, "better" activates nothing.
        _job(_settings(tmp_path, api, "better", floor=0.99), sink)
    assert _active_run(tmp_path) == second and len(api.received) == 1


@pytest.mark.timeout(300)
def test_a_failed_upload_activates_nothing(tmp_path: Path) -> None:
    sink = Collect()
    with serve_model_api(ModelApi(statuses=[400])) as api:
        outcome = run_job(_request(epochs=1), _settings(tmp_path, api, "always"), sink)
    assert outcome.status == "failed"
    assert _active_run(tmp_path) is None


@pytest.mark.timeout(300)
def test_the_artifact_path_is_relative_to_a_relative_root(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    sink = Collect()
    _job(_settings(Path("artifacts"), None, "always"), sink)
    [artifact] = [e for e in sink.events if e["type"] == "digits.train.artifact.v1"]
    assert artifact["path"] == "digits"
    assert _active_run(tmp_path / "artifacts") is not None
    assert not (tmp_path / "artifacts" / "digits" / "model.pt").exists()  # nothing reads it


def test_prune_never_deletes_the_active_run(tmp_path: Path) -> None:
    folder = tmp_path / "digits"
    folder.mkdir()
    runs = [f"20261128T1{hour}0000Z-aaaaaa" for hour in range(5)]
    for run in runs:
        (folder / f"model-{run}.pt").write_bytes(b"w")
        (folder / f"manifest-{run}.json").write_text(json.dumps(valid_manifest(run)))
    # A long job that ended after keep_runs later-started ones activated the oldest run.
    (folder / "manifest.json").write_text(json.dumps(valid_manifest(runs[0])))
    deleted = prune_snapshots(folder, keep_runs=2)
    assert sorted(p.name for p in deleted) == sorted(
        [f"model-{r}.pt" for r in runs[1:3]] + [f"manifest-{r}.json" for r in runs[1:3]]
    )
    assert (folder / f"model-{runs[0]}.pt").exists()


def test_an_unusable_manifest_json_is_no_active_run(tmp_path: Path) -> None:
    (tmp_path / "manifest.json").write_text("{")
    assert active_manifest(tmp_path) is None
    assert active_manifest(tmp_path / "missing") is None


def test_the_lock_waits_a_bounded_time_then_says_who_held_it(tmp_path: Path) -> None:
    folder = tmp_path / "digits"
    with (
        model_lock(folder),
        pytest.raises(LockTimeout, match=r"digits/\.activate\.lock was"),
        model_lock(folder, wait_s=0.2),
    ):
        pass
    with (folder / LOCK_FILE).open("a") as other:  # released: another can take it at once
        fcntl.flock(other.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
