"""Which device a model runs on when none is named."""

from __future__ import annotations


def default_device(device: str | None) -> str:
    """`device`, else CUDA when torch sees a GPU, else the CPU."""
    import torch

    return device or ("cuda" if torch.cuda.is_available() else "cpu")
