"""A picture someone sent to ``/predict`` -> the 28x28 input a model reads, or why not.

The bytes come from a chat user, so they are treated as hostile: only PNG and JPEG are
decoded, and only after their header says the picture is of a sane size (a small file can
declare a huge one: a decompression bomb). Then the steps ``commands.predict`` uses
(``handwriting_ai.data.images``), plus two checks a file on disk never needed: a picture with
no contrast is blank, and ink in pieces side by side is several digits, not one.
Every refusal is a ``PictureRefused`` whose text tells the user what to send instead.
"""

from __future__ import annotations

import base64
import io
import warnings

import torch
from PIL import Image, UnidentifiedImageError

from handwriting_ai.data.idx import DataError
from handwriting_ai.data.images import INK, SIZE, mnist_like

FORMATS = ("PNG", "JPEG")
MAX_PIXELS = 4096 * 4096
"""Largest picture decoded (the bot refuses more than 4096 on a side before fetching it)."""
MIN_CONTRAST = 32
"""Below this spread of grey levels (0-255, the extreme 0.1% of pixels left out) a picture is
blank paper, whatever its noise."""
PIECE_SHARE = 0.1
"""A piece of ink counts as a digit when it holds at least this share of all the ink."""
PREVIEW_SCALE = 4


class PictureRefused(Exception):
    """A picture that cannot be read as one digit; the text says why and what to send."""


def _open(data: bytes) -> Image.Image:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data), formats=FORMATS)
            if image.width * image.height > MAX_PIXELS:
                raise PictureRefused(
                    f"the picture is {image.width}x{image.height} pixels, more than we read "
                    "(4096x4096); send a smaller photo of the digit"
                )
            image.load()
    except (OSError, UnidentifiedImageError, ValueError, Image.DecompressionBombWarning) as exc:
        raise PictureRefused(
            "the file is not a PNG or JPEG picture we can read; send a photo or drawing of one "
            "digit as PNG or JPEG"
        ) from exc
    return image


def _pieces(digit: torch.Tensor) -> list[tuple[int, int, int]]:
    """Each 8-connected piece of ink in ``digit`` as (mass, first column, last column)."""
    ink = (digit > INK * 255).tolist()
    seen: set[tuple[int, int]] = set()
    pieces: list[tuple[int, int, int]] = []
    for row in range(SIZE):
        for col in range(SIZE):
            if not ink[row][col] or (row, col) in seen:
                continue
            stack, mass, left, right = [(row, col)], 0, col, col
            seen.add((row, col))
            while stack:
                r, c = stack.pop()
                mass += int(digit[r, c])
                left, right = min(left, c), max(right, c)
                for nr in range(max(r - 1, 0), min(r + 2, SIZE)):
                    for nc in range(max(c - 1, 0), min(c + 2, SIZE)):
                        if ink[nr][nc] and (nr, nc) not in seen:
                            seen.add((nr, nc))
                            stack.append((nr, nc))
            pieces.append((mass, left, right))
    return pieces


def _digits_seen(digit: torch.Tensor) -> int:
    """How many groups of large pieces of ink stand side by side (no column in common)."""
    pieces = _pieces(digit)
    total = sum(mass for mass, _, _ in pieces)
    large = sorted((left, right) for mass, left, right in pieces if mass >= PIECE_SHARE * total)
    groups, reach = 0, -1  # reach: the rightmost column of the pieces so far
    for left, right in large:
        groups += left > reach
        reach = max(reach, right)
    return groups


def _spread(image: Image.Image) -> int:
    """Grey levels between the darkest and the lightest 0.1% of pixels (noise left out)."""
    counts = image.convert("L").histogram()
    cut = sum(counts) * 0.001
    seen, levels = 0, []
    for level, count in enumerate(counts):
        if seen <= cut < seen + count or seen <= sum(counts) - cut < seen + count:
            levels.append(level)
        seen += count
    return levels[-1] - levels[0]


def read_picture(data: bytes) -> torch.Tensor:
    """``data`` as the uint8 [28, 28] input a model reads; PictureRefused saying why not."""
    image = _open(data)
    if image.width < SIZE or image.height < SIZE:
        raise PictureRefused(
            f"the picture is {image.width}x{image.height} pixels, too small; send one at "
            f"least {SIZE}x{SIZE}"
        )
    if _spread(image) < MIN_CONTRAST:
        raise PictureRefused("the picture is blank; send a picture with one digit on it")
    try:
        digit = mnist_like(image, "the picture")
    except DataError as exc:  # pragma: no cover - contrast above rules out a blank image
        raise PictureRefused(str(exc)) from exc
    seen = _digits_seen(digit)
    if seen > 1:
        raise PictureRefused(
            "the picture holds several digits side by side; send one digit at a time"
        )
    if seen == 0:
        raise PictureRefused(
            "no clear digit in the picture (only specks); send one digit written boldly"
        )
    return digit


def preview_png(digit: torch.Tensor) -> str:
    """The 28x28 input, scaled up 4x without smoothing, as base64 PNG text."""
    image = Image.frombytes("L", (SIZE, SIZE), bytes(digit.flatten().tolist()))
    large = image.resize((SIZE * PREVIEW_SCALE, SIZE * PREVIEW_SCALE), Image.Resampling.NEAREST)
    out = io.BytesIO()
    large.save(out, format="PNG", optimize=True)
    return base64.b64encode(out.getvalue()).decode("ascii")
