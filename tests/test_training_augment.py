"""Batched augmentation: shape, per-image randomness, reproducibility, identity at zero."""

from __future__ import annotations

from pathlib import Path

import torch

from handwriting_ai.data.digits import load_offline
from handwriting_ai.training.augment import augment_batch

DATA_ROOT = Path(__file__).resolve().parent.parent / "data" / "mnist"


def _digits() -> torch.Tensor:
    return load_offline(DATA_ROOT).val_images[:16].unsqueeze(1).float() / 255


def test_shape_and_range() -> None:
    images = _digits()
    out = augment_batch(images, torch.Generator().manual_seed(0))
    assert out.shape == images.shape
    assert float(out.min()) >= 0.0
    assert float(out.max()) <= 1.0 + 1e-6
    # Changed, but still the same digit roughly: ink moves, it does not vanish.
    assert not torch.allclose(out, images)
    ratio = out.sum(dim=(1, 2, 3)) / images.sum(dim=(1, 2, 3))
    assert bool(((ratio > 0.8) & (ratio < 1.2)).all())


def test_same_generator_seed_same_output() -> None:
    images = _digits()
    a = augment_batch(images, torch.Generator().manual_seed(3))
    b = augment_batch(images, torch.Generator().manual_seed(3))
    c = augment_batch(images, torch.Generator().manual_seed(4))
    assert torch.equal(a, b)
    assert not torch.equal(a, c)


def test_each_image_gets_its_own_transform() -> None:
    one = _digits()[:1]
    out = augment_batch(one.repeat(4, 1, 1, 1), torch.Generator().manual_seed(0))
    assert not torch.allclose(out[0], out[1])


def test_zero_range_is_identity() -> None:
    images = _digits()
    out = augment_batch(images, torch.Generator(), max_degrees=0.0, max_shift_px=0.0)
    assert torch.allclose(out, images, atol=1e-5)


def test_whole_pixel_shift_moves_the_digit() -> None:
    images = _digits()[:1]
    gen = torch.Generator().manual_seed(0)
    out = augment_batch(images, gen, max_degrees=0.0, max_shift_px=2.0)
    rows = torch.arange(28, dtype=torch.float32).view(1, 1, 28, 1)
    cols = torch.arange(28, dtype=torch.float32).view(1, 1, 1, 28)

    def centre(x: torch.Tensor) -> tuple[float, float]:
        mass = float(x.sum())
        return float((x * rows).sum()) / mass, float((x * cols).sum()) / mass

    (r0, c0), (r1, c1) = centre(images), centre(out)
    moved = abs(r1 - r0) + abs(c1 - c0)
    assert 0.05 < moved <= 4.0 + 1e-3
