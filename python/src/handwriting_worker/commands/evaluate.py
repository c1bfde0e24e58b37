"""``evaluate ARTIFACT_DIR``: score a saved model on the digits it was validated on.

Proves an artifact usable on its own: the model is rebuilt from its manifest (file and sha256
checked), the validation digits are rebuilt from the manifest's dataset record (same split,
same digest) and scored the way training scored them, so the result must equal the manifest's
``val_acc`` exactly. Exit 0 when it does, 1 when it differs, 2 when something is missing.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from handwriting_ai.contracts import DigitsManifestV1
from handwriting_ai.settings import SettingsError, load_settings

if TYPE_CHECKING:  # torch, imported by run() only: `--help` of every command stays light
    from handwriting_ai.data.digits import DigitsData


def _validation_digits(manifest: DigitsManifestV1, data_root: Path) -> DigitsData:
    from handwriting_ai.data.digits import load_mnist, load_offline  # noqa: PLC0415
    from handwriting_ai.data.idx import DataError  # noqa: PLC0415

    dataset = manifest["dataset"]
    split_seed = dataset["split_seed"]
    if dataset["name"] == "mnist":
        data = load_mnist(data_root)
    elif dataset["name"] == "mnist-offline" and split_seed is not None:
        data = load_offline(data_root, val_size=dataset["val_size"], split_seed=split_seed)
    else:
        raise DataError(f"the manifest's dataset {dataset!r} is not one this version can rebuild")
    if data.digest != dataset["digest"]:
        raise DataError(
            f"the digits under {data_root} ({data.digest}) are not those the model was trained "
            f"on ({dataset['digest']}); set DIGITS__DATA_ROOT to the data it used"
        )
    return data


def run(args: argparse.Namespace) -> int:
    """The ``evaluate`` command; the exit status."""
    import torch  # noqa: PLC0415 (see TYPE_CHECKING above)

    from handwriting_ai.data.idx import DataError  # noqa: PLC0415
    from handwriting_ai.training.loop import evaluate, normalize  # noqa: PLC0415
    from handwriting_ai.training.saved import ArtifactError, load_saved  # noqa: PLC0415

    artifact_dir = Path(str(args.artifact_dir))
    try:
        settings = load_settings()
        saved = load_saved(artifact_dir)
        data = _validation_digits(saved.manifest, settings.digits.data_root)
    except (SettingsError, ArtifactError, DataError) as exc:
        print(f"evaluate: {exc}", file=sys.stderr)
        return 2
    # The thread count training scored with, so the arithmetic is the same.
    torch.set_num_threads(saved.manifest["threads"])
    val_acc = evaluate(saved.model, normalize(data.val_images), data.val_labels)
    total = int(data.val_labels.shape[0])
    expected = saved.manifest["val_acc"]
    reproduced = val_acc == expected
    result = {
        "model_file": str(saved.model_path),
        "run_id": saved.manifest["run_id"],
        "dataset": data.name,
        "val_acc": val_acc,
        "correct": round(val_acc * total),
        "total": total,
        "manifest_val_acc": expected,
        "reproduced": reproduced,
    }
    if args.json:
        print(json.dumps(result))
    else:
        verdict = "reproduced" if reproduced else "DIFFERS"
        print(
            f"{saved.model_path}: val_acc {val_acc:.4f} ({result['correct']}/{total} "
            f"{data.name} validation digits); manifest {expected}: {verdict}"
        )
    return 0 if reproduced else 1


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Registers ``evaluate`` under the CLI's subcommands."""
    parser = commands.add_parser(
        "evaluate",
        help="score a saved model on its validation digits; must match its manifest",
        description=(
            "Loads the model ARTIFACT_DIR/manifest.json names (its sha256 checked), rebuilds "
            "the validation digits the manifest records from DIGITS__DATA_ROOT (same split, "
            "same digest) and prints the accuracy next to the manifest's val_acc. Exit status: "
            "0 reproduced, 1 differs, 2 model or data missing or not the ones recorded."
        ),
    )
    parser.add_argument(
        "artifact_dir",
        metavar="ARTIFACT_DIR",
        help="a model's folder, DIGITS__ARTIFACTS_ROOT/<model_id> (e.g. artifacts/digits)",
    )
    parser.add_argument("--json", action="store_true", help="print the result as one JSON object")
