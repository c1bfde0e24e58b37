"""``evaluate`` and ``predict``: a saved model, read back through its manifest, is usable."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from PIL import Image

from handwriting_ai.data.digits import DigitsData, load_offline
from handwriting_ai.data.images import mnist_like
from handwriting_ai.training import TrainConfig, load_model, train_model
from handwriting_ai.training.loop import normalize
from handwriting_worker.commands.cli import main

DATA_ROOT = Path(__file__).resolve().parent.parent / "data" / "mnist"

# One xdist worker runs this module, so the model below is trained once (make test-py).
pytestmark = pytest.mark.xdist_group("trained_model")


@pytest.fixture(scope="module")
def data() -> DigitsData:
    return load_offline(DATA_ROOT)


@pytest.fixture(scope="module")
def trained(data: DigitsData, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A model trained briefly on 2,000 digits, validated on all 2,000 held-out ones."""
    root = tmp_path_factory.mktemp("artifacts")
    subset = replace(
        data, train_images=data.train_images[:2000], train_labels=data.train_labels[:2000]
    )
    result = train_model(
        TrainConfig(model_id="digits", epochs=1, batch_size=100),
        data_root=DATA_ROOT,
        artifacts_root=root,
        threads=1,
        data=subset,
        device="cpu",
    )
    return result.model_dir


@pytest.fixture
def artifact(trained: Path, tmp_path: Path) -> Path:
    """A copy of the trained model's folder this test may damage."""
    return Path(shutil.copytree(trained, tmp_path / "digits"))


@pytest.fixture(autouse=True)
def env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DIGITS__DATA_ROOT", str(DATA_ROOT))
    monkeypatch.delenv("TRAIN__THREADS", raising=False)


def _manifest(folder: Path) -> dict[str, object]:
    loaded: dict[str, object] = json.loads((folder / "manifest.json").read_text())
    return loaded


def _write_manifest(folder: Path, manifest: object) -> None:
    (folder / "manifest.json").write_text(json.dumps(manifest))


def test_evaluate_reproduces_the_manifest_val_acc_exactly(
    trained: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["evaluate", str(trained), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    manifest = _manifest(trained)
    assert result["val_acc"] == manifest["val_acc"]
    assert result["reproduced"] is True
    assert (result["total"], result["dataset"]) == (2000, "mnist-offline")
    assert result["correct"] / 2000 == result["val_acc"]
    assert 0.7 < result["val_acc"] < 1  # one short epoch: far above chance
    assert main(["evaluate", str(trained)]) == 0
    line = capsys.readouterr().out
    assert f"val_acc {result['val_acc']:.4f} ({result['correct']}/2000 mnist-offline" in line
    assert line.rstrip().endswith("reproduced")


def test_evaluate_says_when_the_score_differs(
    artifact: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    manifest = _manifest(artifact)
    manifest["val_acc"] = 0.5
    _write_manifest(artifact, manifest)
    assert main(["evaluate", str(artifact)]) == 1
    assert capsys.readouterr().out.rstrip().endswith("manifest 0.5: DIFFERS")


def test_evaluate_refuses_other_digits(
    artifact: Path, data: DigitsData, capsys: pytest.CaptureFixture[str]
) -> None:
    manifest = _manifest(artifact)
    dataset = manifest["dataset"]
    assert isinstance(dataset, dict)
    manifest["dataset"] = {**dataset, "digest": "sha256:" + "0" * 64}
    _write_manifest(artifact, manifest)
    assert main(["evaluate", str(artifact)]) == 2
    err = capsys.readouterr().err
    assert f"the digits under {DATA_ROOT} ({data.digest}) are not those" in err
    assert "set DIGITS__DATA_ROOT to the data it used" in err
    manifest["dataset"] = {**dataset, "name": "emnist"}
    _write_manifest(artifact, manifest)
    assert main(["evaluate", str(artifact)]) == 2
    err = capsys.readouterr().err
    assert "the manifest's dataset {" in err
    assert "'name': 'emnist'" in err
    assert err.rstrip().endswith("is not one this version can rebuild")


@pytest.mark.parametrize(
    ("damage", "expected"),
    [
        ("no-manifest", "manifest.json: no manifest here; pass the folder a training run wrote"),
        ("not-json", "manifest.json: invalid digits.manifest.v1: not JSON: "),
        ("unreadable", "manifest.json: not a readable manifest ("),
        ("not-object", "manifest.json: invalid digits.manifest.v1: $: [1] is not of type 'object'"),
        ("no-model-file", "'model_file' is a required property; train the model again"),
        ("model-gone", "the manifest's model file cannot be read ("),
        ("model-changed", "differs from the manifest's"),
        ("not-a-checkpoint", "not a digits checkpoint"),
    ],
)
def test_a_broken_artifact_is_named_with_the_fix(
    artifact: Path, damage: str, expected: str, capsys: pytest.CaptureFixture[str]
) -> None:
    manifest = _manifest(artifact)
    model_file = artifact / str(manifest["model_file"])
    if damage == "no-manifest":
        (artifact / "manifest.json").unlink()
    elif damage == "not-json":
        (artifact / "manifest.json").write_text("{")
    elif damage == "unreadable":
        (artifact / "manifest.json").unlink()
        (artifact / "manifest.json").mkdir()
    elif damage == "not-object":
        _write_manifest(artifact, [1])
    elif damage == "no-model-file":
        _write_manifest(artifact, {k: v for k, v in manifest.items() if k != "model_file"})
    elif damage == "model-gone":
        model_file.unlink()
    elif damage == "model-changed":
        model_file.write_bytes(model_file.read_bytes() + b"\0")
    else:
        torch.save({"arch": "mlp", "state_dict": {}}, model_file)
        import hashlib  # noqa: PLC0415

        manifest["model_sha256"] = hashlib.sha256(model_file.read_bytes()).hexdigest()
        _write_manifest(artifact, manifest)
    for command in ("evaluate", "predict"):
        args = [command, str(artifact)] + (["x.png"] if command == "predict" else [])
        assert main(args) == 2
        err = capsys.readouterr().err
        assert err.startswith(f"{command}: ")
        assert expected in err


def test_evaluate_bad_settings(
    trained: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("TRAIN__THREADS", "-1")
    assert main(["evaluate", str(trained)]) == 2
    assert "TRAIN__THREADS='-1' is invalid" in capsys.readouterr().err


def _png(pixels: torch.Tensor, path: Path, *, scale: int = 1, paper: bool = False) -> Path:
    """A held-out digit drawn into a PNG: as is, or enlarged as dark ink on a white page."""
    ink = 255 - pixels if paper else pixels
    image = Image.frombytes("L", (28, 28), bytes(ink.flatten().tolist()))
    if scale > 1:
        image = image.resize((28 * scale, 28 * scale), Image.Resampling.BICUBIC)
        page = Image.new("L", (28 * scale + 40, 28 * scale + 10), 255 if paper else 0)
        page.paste(image, (30, 3))
        image = page
    image.save(path)
    return path


def test_predict_reads_held_out_digits_drawn_into_pngs(
    trained: Path, data: DigitsData, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    count = 20
    paths = [
        _png(data.val_images[i], tmp_path / f"d{i}.png", scale=1 + i % 3, paper=i % 2 == 1)
        for i in range(count)
    ]
    assert main(["predict", str(trained), *map(str, paths), "--json"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [line["image"] for line in lines] == [str(p) for p in paths]
    predicted = [line["digit"] for line in lines]
    assert all(0 < line["probability"] <= 1 for line in lines)
    # The drawn copies read as the model reads the original tensors, and mostly right.
    with torch.inference_mode():
        direct = load_model(trained / str(_manifest(trained)["model_file"]))(
            normalize(data.val_images[:count])
        )
    direct_digits = direct.argmax(1).tolist()
    labels = data.val_labels[:count].tolist()
    assert sum(p == d for p, d in zip(predicted, direct_digits, strict=True)) >= count - 1
    # The briefly trained model is right about 78% of the time (far above chance).
    assert sum(p == t for p, t in zip(predicted, labels, strict=True)) >= count - 6
    assert main(["predict", str(trained), str(paths[0])]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"{paths[0]}: {predicted[0]} (probability ")


def test_mnist_like_keeps_an_mnist_digit_and_handles_alpha(data: DigitsData) -> None:
    for i in range(10):
        original = data.val_images[i]
        image = Image.frombytes("L", (28, 28), bytes(original.flatten().tolist()))
        again = mnist_like(image)
        assert float((again.float() - original.float()).abs().mean()) < 1.0
    # Black ink on a transparent page, as drawing programs save it.
    ink = data.val_images[0]
    rgba = Image.new("RGBA", (56, 56), (0, 0, 0, 0))
    alpha = Image.frombytes("L", (28, 28), bytes(ink.flatten().tolist())).resize((56, 56))
    rgba.putalpha(alpha)
    drawn = mnist_like(rgba)
    direct = mnist_like(Image.frombytes("L", (28, 28), bytes(ink.flatten().tolist())))
    assert float((drawn.float() - direct.float()).abs().mean()) < 20
    assert normalize(drawn.unsqueeze(0)).shape == (1, 1, 28, 28)


def test_predict_reports_bad_images_and_goes_on(
    trained: Path, data: DigitsData, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = _png(data.val_images[0], tmp_path / "good.png")
    small = tmp_path / "small.png"
    Image.new("L", (20, 28)).save(small)
    blank = tmp_path / "blank.png"
    Image.new("L", (40, 40), 255).save(blank)
    text = tmp_path / "notes.png"
    text.write_text("not an image")
    missing = tmp_path / "missing.png"
    assert (
        main(["predict", str(trained), str(small), str(blank), str(text), str(missing), str(good)])
        == 1
    )
    captured = capsys.readouterr()
    assert captured.out.startswith(f"{good}: ")
    assert len(captured.out.splitlines()) == 1
    err = captured.err
    assert f"{small}: 20x28 is too small; draw the digit on at least 28x28 pixels" in err
    assert f"{blank}: no digit found (the image is blank); draw one digit" in err
    assert f"{text}: not an image PIL can read (" in err
    assert f"{missing}: file not found; pass the path of a PNG image" in err


def test_help_names_the_commands(capsys: pytest.CaptureFixture[str]) -> None:
    for command in ("evaluate", "predict"):
        with pytest.raises(SystemExit) as exited:
            main([command, "--help"])
        assert exited.value.code == 0
        assert "ARTIFACT_DIR" in capsys.readouterr().out
