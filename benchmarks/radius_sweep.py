"""How each model's instance F1 depends on particle radius, with no resampling: where its
`radius_range` (the sizes it is comfortable with) lies. Train-regime simulator images only
(tuning never looks at the held-out regime).

    python benchmarks/radius_sweep.py [--models classical,yolov8n-seg,...] [--per-bin 4]
"""

from __future__ import annotations

import argparse

import numpy as np

from napari_temseg import load_model
from napari_temseg.metrics import instance_scores
from napari_temseg.segmentation import segment
from napari_temseg.simulator import draw_params, simulate

BINS = [(3, 5), (5, 8), (8, 12), (12, 20), (20, 35), (35, 55), (55, 90)]


def bin_images(lo: float, hi: float, count: int, seed: int = 7000):
    """Bright-field train-regime images with radii in [lo, hi], moderate dose, 8-bit."""
    for i in range(count):
        rng = np.random.default_rng([seed, int(lo), i])
        side = 512 if hi <= 35 else 1024
        params = draw_params(rng, "train", radius=(lo, hi), shape=(side, side), mode="bf",
                             dose=float(rng.uniform(30, 150)), contrast=float(rng.uniform(0.3, 0.9)), dtype="uint8")
        yield simulate(params, seed=int(rng.integers(1 << 31)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="classical,yolov8n-seg,swin-unet,vmamba")
    parser.add_argument("--per-bin", type=int, default=4)
    args = parser.parse_args()
    names = args.models.split(",")
    models = {name: load_model(name) for name in names}
    print("| radius (px) | " + " | ".join(names) + " |")
    print("|---" * (len(names) + 1) + "|")
    for lo, hi in BINS:
        images = list(bin_images(lo, hi, args.per_bin))
        scores = []
        for name in names:
            f1 = [instance_scores(segment(s.image, models[name], diameter="none", polarity="dark"), s.labels).f1
                  for s in images]
            scores.append(f"{np.mean(f1):.3f}")
        print(f"| {lo}-{hi} | " + " | ".join(scores) + " |", flush=True)


if __name__ == "__main__":
    main()
