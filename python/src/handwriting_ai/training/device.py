"""Where a job trains: ``TRAIN__DEVICE`` = auto | cpu | cuda, resolved once per job.

``auto`` picks the first CUDA GPU when torch sees one, else the CPU. ``cuda`` without a usable
GPU is refused up front (naming the setting) rather than failing somewhere inside torch.
"""

from __future__ import annotations

from typing import Literal, get_args

import torch

DeviceName = Literal["auto", "cpu", "cuda"]
DEVICES: tuple[DeviceName, ...] = get_args(DeviceName)


class DeviceUnavailable(RuntimeError):
    """The configured device cannot be used here; the message names TRAIN__DEVICE and the fix."""


def resolve_device(name: DeviceName, *, cuda_available: bool | None = None) -> torch.device:
    """The torch device for ``name``; ``cuda_available``: by default, ask torch."""
    has_cuda = torch.cuda.is_available() if cuda_available is None else cuda_available
    if name == "cpu" or (name == "auto" and not has_cuda):
        return torch.device("cpu")
    if not has_cuda:
        raise DeviceUnavailable(
            "TRAIN__DEVICE=cuda but torch sees no CUDA GPU here "
            f"(torch {torch.__version__}); set TRAIN__DEVICE=auto or cpu, or run on a GPU machine"
        )
    return torch.device("cuda")
