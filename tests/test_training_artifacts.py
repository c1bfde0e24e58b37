"""Run ids, atomic artifact files and loading a checkpoint back."""

from __future__ import annotations

import json
import math
import re
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
import torch

from handwriting_ai.manifest import ManifestError
from handwriting_ai.training.artifacts import (
    artifact_paths,
    load_model,
    model_bytes,
    new_run_id,
    utc_now_iso,
    write_artifacts,
)
from handwriting_ai.training.models import build_model, small_cnn
from tests.manifests import valid_manifest


def test_run_id_is_utc_stamp_plus_suffix() -> None:
    when = datetime(2026, 11, 28, 17, 0, 0, tzinfo=timezone(timedelta(hours=1)))
    run_id = new_run_id(when)
    assert re.fullmatch(r"20261128T160000Z-[0-9a-f]{6}", run_id)
    assert new_run_id(when) != run_id  # same second, different runs
    assert re.fullmatch(r"\d{8}T\d{6}Z-[0-9a-f]{6}", new_run_id())


def test_run_ids_sort_by_time() -> None:
    base = datetime(2026, 1, 1, tzinfo=UTC)
    ids = [new_run_id(base + timedelta(seconds=s)) for s in (0, 1, 59, 3600, 86400 * 40)]
    assert sorted(ids) == ids


def test_utc_now_iso() -> None:
    text = utc_now_iso()
    assert text.endswith("Z")
    parsed = datetime.fromisoformat(text)
    assert abs((datetime.now(UTC) - parsed).total_seconds()) < 60


def test_write_artifacts_snapshot_then_canonical(tmp_path: Path) -> None:
    paths = artifact_paths(tmp_path, "m1", "R")
    model = build_model("cnn")
    weights = model_bytes("cnn", model.state_dict())
    write_artifacts(paths, weights, valid_manifest("R"))
    assert paths.model_dir == tmp_path / "m1"
    # No model.pt: manifest.json names the run's own model file (nothing read model.pt).
    assert sorted(p.name for p in paths.model_dir.iterdir()) == [
        "manifest-R.json",
        "manifest.json",
        "model-R.pt",
    ]
    assert json.loads(paths.manifest.read_text())["model_file"] == paths.run_model.name
    assert json.loads(paths.manifest.read_text()) == valid_manifest("R")
    loaded = load_model(paths.run_model)
    assert not loaded.training
    for key, value in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value)


def test_a_run_not_activated_leaves_manifest_json_alone(tmp_path: Path) -> None:
    paths = artifact_paths(tmp_path, "m1", "R")
    write_artifacts(paths, b"w", valid_manifest("R"), activate=False)
    assert sorted(p.name for p in paths.model_dir.iterdir()) == ["manifest-R.json", "model-R.pt"]


def test_nan_in_manifest_is_refused_before_any_file(tmp_path: Path) -> None:
    paths = artifact_paths(tmp_path, "m1", "R")
    with pytest.raises(ValueError, match="Out of range float"):
        write_artifacts(paths, b"w", {**valid_manifest("R"), "val_acc": math.nan})
    assert not paths.model_dir.exists()


def test_a_manifest_that_breaks_its_schema_is_refused_before_any_file(tmp_path: Path) -> None:
    paths = artifact_paths(tmp_path, "m1", "R")
    with pytest.raises(ManifestError, match=r"^invalid digits.manifest.v1: \$.val_acc: 1.5 is"):
        write_artifacts(paths, b"w", {**valid_manifest("R"), "val_acc": 1.5})
    assert not paths.model_dir.exists()


def test_checkpoint_is_loadable_without_pickle_code(tmp_path: Path) -> None:
    path = tmp_path / "m.pt"
    path.write_bytes(model_bytes("resnet18", build_model("resnet18").state_dict()))
    checkpoint = torch.load(path, weights_only=True)
    assert checkpoint["arch"] == "resnet18"
    assert checkpoint["input_shape"] == [1, 28, 28]
    assert (checkpoint["mean"], checkpoint["std"]) == (0.1307, 0.3081)
    assert type(load_model(path)).__name__ == "ResNet"


def test_a_cnn_saved_before_channels_last_loads_and_predicts_the_same(tmp_path: Path) -> None:
    torch.manual_seed(3)
    old = small_cnn().eval()  # weights in the default (contiguous) layout, as saved before
    path = tmp_path / "old.pt"
    path.write_bytes(model_bytes("cnn", old.state_dict()))
    loaded = load_model(path)
    digits = torch.rand(8, 1, 28, 28)
    with torch.no_grad():
        assert torch.allclose(loaded(digits), old(digits), atol=1e-5)
    convs = [m.weight for m in loaded.modules() if isinstance(m, torch.nn.Conv2d)]
    assert convs and all(w.is_contiguous(memory_format=torch.channels_last) for w in convs)


def test_load_model_errors(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="train one first") as info:
        load_model(tmp_path / "none.pt")
    assert str(tmp_path / "none.pt") in str(info.value)
    for bad in ([1, 2], {"arch": "vgg", "state_dict": {}}, {"arch": "cnn"}):
        path = tmp_path / "bad.pt"
        torch.save(bad, path)
        with pytest.raises(ValueError, match="not a digits checkpoint") as bad_info:
            load_model(path)
        assert str(path) in str(bad_info.value)
