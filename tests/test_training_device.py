"""TRAIN__DEVICE: auto | cpu | cuda. CPU is tested everywhere; the CUDA path where a GPU is."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from handwriting_ai.data.digits import DigitsData, load_offline
from handwriting_ai.settings import SettingsError, load_settings
from handwriting_ai.training import TrainConfig, TrainingError, load_model, train_model
from handwriting_ai.training.device import DEVICES, DeviceUnavailable, resolve_device
from handwriting_ai.training.loop import evaluate, normalize

DATA_ROOT = Path(__file__).resolve().parent.parent / "data" / "mnist"
HAS_CUDA = torch.cuda.is_available()


@pytest.fixture(scope="module")
def tiny() -> DigitsData:
    data = load_offline(DATA_ROOT)
    return replace(
        data,
        train_images=data.train_images[:300],
        train_labels=data.train_labels[:300],
        val_images=data.val_images[:200],
        val_labels=data.val_labels[:200],
    )


def test_choices_and_resolution() -> None:
    assert DEVICES == ("auto", "cpu", "cuda")
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device("cpu", cuda_available=True) == torch.device("cpu")
    assert resolve_device("auto", cuda_available=False) == torch.device("cpu")
    assert resolve_device("auto", cuda_available=True) == torch.device("cuda")
    assert resolve_device("cuda", cuda_available=True) == torch.device("cuda")
    assert resolve_device("auto") == torch.device("cuda" if HAS_CUDA else "cpu")


def test_cuda_without_a_gpu_names_the_setting_and_the_fix() -> None:
    with pytest.raises(DeviceUnavailable, match=r"TRAIN__DEVICE=cuda .*set TRAIN__DEVICE=auto"):
        resolve_device("cuda", cuda_available=False)


def test_setting_default_and_bad_value(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TRAIN__DEVICE", raising=False)
    assert load_settings().train.device == "auto"
    monkeypatch.setenv("TRAIN__DEVICE", "cpu")
    assert load_settings().train.device == "cpu"
    monkeypatch.setenv("TRAIN__DEVICE", "gpu")
    with pytest.raises(SettingsError) as caught:
        load_settings()
    message = str(caught.value)
    assert "TRAIN__DEVICE='gpu' is invalid: Input should be 'auto', 'cpu' or 'cuda'" in message
    assert "unset it for the default auto" in message


def _train(data: DigitsData, root: Path, device: str) -> dict[str, object]:
    assert device in ("cpu", "cuda")
    result = train_model(
        TrainConfig(model_id="dev", epochs=1, batch_size=100, augment=True),
        data_root=root / "unused",
        artifacts_root=root,
        threads=1,
        data=data,
        device="cuda" if device == "cuda" else "cpu",
    )
    manifest: dict[str, object] = json.loads(result.manifest_path.read_text())
    # Whatever device trained it, the saved model loads and scores on the CPU.
    model = load_model(result.model_path)
    assert evaluate(model, normalize(data.val_images), data.val_labels) == result.val_acc
    return manifest


def test_cpu_run_records_its_device(tiny: DigitsData, tmp_path: Path) -> None:
    assert _train(tiny, tmp_path, "cpu")["device"] == "cpu"


@pytest.mark.skipif(HAS_CUDA, reason="a GPU is here: the no-GPU refusal cannot be seen")
def test_cuda_requested_without_a_gpu_fails_the_training(tiny: DigitsData, tmp_path: Path) -> None:
    with pytest.raises(TrainingError, match="TRAIN__DEVICE=cuda but torch sees no CUDA GPU"):
        train_model(
            TrainConfig(model_id="dev"),
            data_root=tmp_path,
            artifacts_root=tmp_path,
            data=tiny,
            device="cuda",
        )
    assert not (tmp_path / "dev").exists()


@pytest.mark.skipif(not HAS_CUDA, reason="needs a CUDA GPU (torch.cuda.is_available() is False)")
def test_cuda_artifacts_match_cpu_in_shape(tiny: DigitsData, tmp_path: Path) -> None:
    cpu = _train(tiny, tmp_path / "cpu", "cpu")
    cuda = _train(tiny, tmp_path / "cuda", "cuda")
    assert cuda["device"] == "cuda"
    assert sorted(cuda) == sorted(cpu)
    assert {k: type(v) for k, v in cuda.items()} == {k: type(v) for k, v in cpu.items()}
    cuda_files = sorted(p.name.split("-")[0] for p in (tmp_path / "cuda" / "dev").iterdir())
    cpu_files = sorted(p.name.split("-")[0] for p in (tmp_path / "cpu" / "dev").iterdir())
    assert cuda_files == cpu_files
