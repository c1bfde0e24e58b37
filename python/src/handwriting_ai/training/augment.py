"""Batched augmentation: one random small rotation and translation per image, in one kernel."""

from __future__ import annotations

import math

import torch
from torch.nn import functional as F

MAX_DEGREES = 10.0
MAX_SHIFT_PX = 2.0


def augment_batch(
    images: torch.Tensor,
    generator: torch.Generator,
    *,
    max_degrees: float = MAX_DEGREES,
    max_shift_px: float = MAX_SHIFT_PX,
) -> torch.Tensor:
    """Rotate by up to ``max_degrees`` and shift by up to ``max_shift_px`` each image of [N,1,H,W].

    Expects a black background of 0 (apply before normalising): the grid sample fills the
    border with zeros.
    """
    n, _, height, width = images.shape
    # Drawn from the (CPU) generator, then moved: the same seed augments alike on every device.
    angle = ((torch.rand(n, generator=generator) * 2 - 1) * math.radians(max_degrees)).to(
        images.device
    )
    # affine_grid works in [-1, 1] coordinates, so a pixel is 2 / size.
    shift = ((torch.rand(n, 2, generator=generator) * 2 - 1) * max_shift_px).to(images.device)
    cos, sin = torch.cos(angle), torch.sin(angle)
    theta = torch.stack(
        [
            torch.stack([cos, -sin, shift[:, 0] * 2 / width], dim=1),
            torch.stack([sin, cos, shift[:, 1] * 2 / height], dim=1),
        ],
        dim=1,
    )
    grid = F.affine_grid(theta, list(images.shape), align_corners=False)
    return F.grid_sample(images, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
