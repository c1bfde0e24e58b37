"""``predict ARTIFACT_DIR IMAGE.png...``: the digit a saved model reads in each picture.

Each picture (greyscale or colour, at least 28x28, dark ink on light paper or the reverse) is
prepared as MNIST's digits were (``handwriting_ai.data.images``), then given to the model the
manifest names. Prints one line per picture: its path, the digit and the model's probability
for it. A picture that cannot be read is reported on stderr and the rest go on (exit 1).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def run(args: argparse.Namespace) -> int:
    """The ``predict`` command; the exit status."""
    # torch, imported here only: `--help` of every command stays light.
    import torch  # noqa: PLC0415

    from handwriting_ai.data.idx import DataError  # noqa: PLC0415
    from handwriting_ai.data.images import read_digit_image  # noqa: PLC0415
    from handwriting_ai.training.loop import normalize  # noqa: PLC0415
    from handwriting_ai.training.saved import ArtifactError, load_saved  # noqa: PLC0415

    try:
        saved = load_saved(Path(str(args.artifact_dir)))
    except ArtifactError as exc:
        print(f"predict: {exc}", file=sys.stderr)
        return 2
    status = 0
    images: list[str] = [str(image) for image in args.images]
    for name in images:
        try:
            digit_image = read_digit_image(Path(name))
        except DataError as exc:
            print(f"predict: {exc}", file=sys.stderr)
            status = 1
            continue
        with torch.inference_mode():
            logits = saved.model(normalize(digit_image.unsqueeze(0)))
        probabilities = torch.softmax(logits[0], dim=0)
        digit = int(probabilities.argmax())
        probability = float(probabilities[digit])
        if args.json:
            print(json.dumps({"image": name, "digit": digit, "probability": probability}))
        else:
            print(f"{name}: {digit} (probability {probability:.3f})")
    return status


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Registers ``predict`` under the CLI's subcommands."""
    parser = commands.add_parser(
        "predict",
        help="read the digit in each image with a saved model",
        description=(
            "Loads the model ARTIFACT_DIR/manifest.json names (its sha256 checked) and prints, "
            "for each image, the digit it reads and its probability. An image holds one digit, "
            "at least 28x28 pixels, dark on light or light on dark; it is fitted into 20x20 and "
            "centred by its centre of mass in 28x28, as MNIST's digits were. Exit status: 0 all "
            "read, 1 some image unreadable (the others are still printed), 2 no model."
        ),
    )
    parser.add_argument(
        "artifact_dir",
        metavar="ARTIFACT_DIR",
        help="a model's folder, DIGITS__ARTIFACTS_ROOT/<model_id> (e.g. artifacts/digits)",
    )
    parser.add_argument(
        "images", metavar="IMAGE", nargs="+", help="PNG (or any image PIL reads) of one digit"
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object per image")
