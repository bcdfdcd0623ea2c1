"""Instance labels -> ultralytics' segmentation dataset (normalised polygons, one line per particle)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..datasets import Sample
from ..models.yolo import network_gray
from ..opencv import opencv
from ..preprocess import normalize

#: Particles smaller than this (pixels) are left out of the labels: fragments, not particles.
MIN_AREA = 12


def instance_polygons(labels: np.ndarray, min_area: int = MIN_AREA) -> list[np.ndarray]:
    """Outer contour of each instance as an (K, 2) x, y polygon normalised to [0, 1].

    Holes are ignored (a particle with a hole is still one particle); an instance
    in several pieces keeps its largest piece.
    """
    cv2 = opencv()
    h, w = labels.shape
    polygons = []
    for i in np.unique(labels[labels > 0]):
        mask = (labels == i).astype(np.uint8)
        if mask.sum() < min_area:
            continue
        contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        contour = max(contours, key=cv2.contourArea)[:, 0, :].astype(float)
        if len(contour) < 3:
            continue
        polygons.append(contour / [w, h])
    return polygons


def write_split(samples: list[Sample], root: Path, split: str, input_mode: str = "stretch",
                denoise: float = 0.0) -> None:
    """images/<split>/NAME.png (prepared as `models.yolo.network_gray` prepares images for
    inference) and labels/<split>/NAME.txt, as ultralytics expects."""
    import imageio.v3 as iio

    (root / "images" / split).mkdir(parents=True, exist_ok=True)
    (root / "labels" / split).mkdir(parents=True, exist_ok=True)
    for s in samples:
        image = network_gray(normalize(s.image), input_mode, denoise)
        iio.imwrite(root / "images" / split / f"{s.name}.png", image)
        lines = ["0 " + " ".join(f"{v:.6f}" for v in poly.ravel()) for poly in instance_polygons(s.labels)]
        (root / "labels" / split / f"{s.name}.txt").write_text("\n".join(lines) + ("\n" if lines else ""))


def write_dataset(train: list[Sample], val: list[Sample], root: str | Path, input_mode: str = "stretch",
                  denoise: float = 0.0) -> Path:
    """Write a dataset folder and its data YAML; returns the YAML path."""
    root = Path(root)
    write_split(train, root, "train", input_mode, denoise)
    write_split(val, root, "val", input_mode, denoise)
    yaml = root / "data.yaml"
    yaml.write_text(f"path: {root.resolve()}\ntrain: images/train\nval: images/val\nnames:\n  0: particle\n")
    return yaml
