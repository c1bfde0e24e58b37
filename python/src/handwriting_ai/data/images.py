"""A picture of one digit -> a 28x28 MNIST-like image, prepared as MNIST's digits were.

MNIST's digits were scaled, anti-aliased, to fit a 20x20 box (aspect ratio kept), then placed
in a 28x28 field so that their centre of mass sits at its centre; white ink on black. A model
trained on them expects the same, so a user's picture (any size from 28x28 up, dark ink on a
light background or light on dark, with or without alpha) goes through the same steps.
"""

from __future__ import annotations

from pathlib import Path

import torch
from PIL import Image, UnidentifiedImageError

from handwriting_ai.data.idx import DataError

SIZE = 28
BOX = 20
CENTRE = 14.0
"""Where MNIST's centres of mass sit (row and column index; measured on the offline digits)."""
INK = 0.2
"""A pixel is ink when brighter than this share of the brightest pixel (after inversion)."""


def read_digit_image(path: Path) -> torch.Tensor:
    """``path`` as uint8 [28, 28], MNIST-like; DataError naming the file and the fix."""
    try:
        with Image.open(path) as opened:
            opened.load()
            image = opened
    except FileNotFoundError:
        raise DataError(f"{path}: file not found; pass the path of a PNG image") from None
    except (OSError, UnidentifiedImageError) as exc:
        raise DataError(f"{path}: not an image PIL can read ({exc}); pass a PNG image") from exc
    if image.width < SIZE or image.height < SIZE:
        raise DataError(
            f"{path}: {image.width}x{image.height} is too small; draw the digit on at least "
            f"{SIZE}x{SIZE} pixels"
        )
    return mnist_like(image, str(path))


def _greyscale(image: Image.Image) -> torch.Tensor:
    if "A" in image.getbands() or "transparency" in image.info:
        # Transparent parts count as white paper under the ink.
        rgba = image.convert("RGBA")
        image = Image.alpha_composite(Image.new("RGBA", rgba.size, "white"), rgba)
    grey = image.convert("L")
    pixels = torch.frombuffer(bytearray(grey.tobytes()), dtype=torch.uint8)
    return pixels.reshape(grey.height, grey.width).float()


def _border(pixels: torch.Tensor) -> torch.Tensor:
    return torch.cat([pixels[0], pixels[-1], pixels[:, 0], pixels[:, -1]])


def mnist_like(image: Image.Image, name: str = "image") -> torch.Tensor:
    """One digit in ``image`` as uint8 [28, 28]: white on black, fitted and centred like MNIST."""
    pixels = _greyscale(image)
    if float(_border(pixels).median()) > 127:  # light paper: MNIST's ink is the bright part
        pixels = 255 - pixels
    # The paper becomes black (0), whatever its shade.
    pixels = (pixels - float(_border(pixels).median())).clamp(min=0)
    peak = float(pixels.max())
    if peak == 0:
        raise DataError(f"{name}: no digit found (the image is blank); draw one digit")
    ink = pixels > INK * peak
    rows, cols = ink.any(1).nonzero(), ink.any(0).nonzero()
    top, bottom = int(rows.min()), int(rows.max()) + 1
    left, right = int(cols.min()), int(cols.max()) + 1
    crop = pixels[top:bottom, left:right]
    scale = BOX / max(crop.shape)
    height = max(1, round(crop.shape[0] * scale))
    width = max(1, round(crop.shape[1] * scale))
    levels = crop.mul(255 / peak).round().to(torch.uint8).flatten().tolist()
    patch_image = Image.frombytes("L", (crop.shape[1], crop.shape[0]), bytes(levels))
    fitted = patch_image.resize((width, height), Image.Resampling.LANCZOS)
    patch = torch.frombuffer(bytearray(fitted.tobytes()), dtype=torch.uint8).reshape(height, width)
    mass = patch.float()
    total = max(float(mass.sum()), 1e-9)
    cy = float((mass.sum(1) * torch.arange(height)).sum()) / total
    cx = float((mass.sum(0) * torch.arange(width)).sum()) / total
    top = min(max(round(CENTRE - cy), 0), SIZE - height)
    left = min(max(round(CENTRE - cx), 0), SIZE - width)
    out = torch.zeros(SIZE, SIZE, dtype=torch.uint8)
    out[top : top + height, left : left + width] = patch
    return out
