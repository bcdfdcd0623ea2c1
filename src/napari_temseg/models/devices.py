"""Which device a model runs or trains on, checked before torch is asked."""

from __future__ import annotations

import re

from ..errors import TemsegError


def default_device(device: str | None) -> str:
    """`device`, else CUDA when torch sees a GPU, else the CPU; a device that is not there
    ("cuda" without a GPU, "cuda:3" on a machine with one) or not one torch knows is a
    one-line error rather than torch's traceback at the first tensor. A bare GPU index
    ("0", as ultralytics writes it) means "cuda:0"."""
    import torch

    if device is None or str(device).strip() == "":
        return "cuda" if torch.cuda.is_available() else "cpu"
    text = str(device).strip()
    text = f"cuda:{text}" if text.isdigit() else text
    match = re.fullmatch(r"(cpu|cuda|mps)(?::(\d+))?", text)
    if match is None:
        raise TemsegError(f"device must be cpu, cuda, cuda:N or mps, not {device!r}")
    kind, index = match.group(1), match.group(2)
    if kind == "mps" and not torch.backends.mps.is_available():
        raise TemsegError(f"device {device!r} asked for, but Apple's MPS is not available here: use cpu")
    if kind == "cuda":
        if not torch.cuda.is_available():
            raise TemsegError(f"device {device!r} asked for, but no CUDA device is available here: use cpu")
        if index is not None and int(index) >= torch.cuda.device_count():
            raise TemsegError(f"device {device!r} asked for, but this machine has {torch.cuda.device_count()} "
                              "CUDA device(s)")
    return text
