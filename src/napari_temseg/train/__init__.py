"""Training loops: YOLO through ultralytics, Swin-UNet/VMamba, EfficientSAM, the edge refiner."""

from __future__ import annotations

from pathlib import Path


def work_folder(out: Path) -> Path:
    """Where a training run writing `out` keeps its resume state and working files (without
    torch: the command line asks it after an interrupt)."""
    return out.parent / f"{out.stem}-work"
