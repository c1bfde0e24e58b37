"""The model architectures a request may name, without importing torch.

Light commands (``enqueue``, the intake) validate ``--arch`` and requests with these names;
importing them from ``handwriting_ai.training.models`` would load torch (seconds, ~1 GB).
"""

from __future__ import annotations

from typing import Literal, get_args

Arch = Literal["cnn", "resnet18"]
ARCHS: tuple[Arch, ...] = get_args(Arch)
DEFAULT_ARCH: Arch = "cnn"


def parse_arch(name: str) -> Arch:
    """``name`` as an ``Arch``, or a ValueError naming the choices (for CLIs and checkpoints)."""
    for arch in ARCHS:
        if name == arch:
            return arch
    raise ValueError(f"unknown arch {name!r}; choose one of {', '.join(ARCHS)}")
