"""The robustness table of docs/robustness.md: every model, default options, on simulated
micrographs of one condition at a time (particle size, polarity, dose, bit depth).

The images come from the simulator's held-out regime (`simulator`: another image-formation
model and other shape statistics than the training regime), which no model was trained or
tuned on. `--regime train` gives the same table on the training regime, for comparison.

    python benchmarks/robustness.py [--models all] [--per-condition 4] [--regime heldout] [--out FILE]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from table import MarkdownTable

from napari_temseg import available_models, load_model
from napari_temseg.metrics import foreground_iou, instance_scores
from napari_temseg.models.specs import SPECS
from napari_temseg.segmentation import segment_image
from napari_temseg.simulator import draw_params, simulate

#: name -> fixed simulator parameters (the rest drawn from the regime). The base is
#: bright-field, radius 8-30 px, 24 particles or so of which ~45 % touch, dose 8-120 e-/px
#: (the regime's draw, which keeps the smallest particle visible, clipped to that range),
#: particle contrast 0.4-1.2 (metal particles on carbon; the training regime goes down to 0.15).
BASE = dict(radius_span=(8.0, 30.0), shape=(512, 512), mode="bf", coverage=0.1, touching=0.45)
CONDITIONS = {
    "radius 3-7 px": dict(radius_span=(3.0, 7.0), coverage=0.05),
    "radius 8-30 px": {},
    "radius 35-80 px (1024²)": dict(radius_span=(35.0, 80.0), shape=(1024, 1024), coverage=0.2),
    "dark field": dict(mode="df"),
    "dose 8 e⁻/px": dict(dose=8.0),
    "dose 40 e⁻/px": dict(dose=40.0),
    "dose 120 e⁻/px": dict(dose=120.0),
    "8-bit": dict(dtype="uint8"),
    "16-bit": dict(dtype="uint16"),
}


def condition_images(name: str, count: int, regime: str = "heldout", seed: int = 9100, **fixed_params):
    """`count` (image, truth) pairs of one condition (`fixed_params`: simulator fields
    fixed on top of the condition's)."""
    fixed = {**BASE, **CONDITIONS[name], **fixed_params}
    for i in range(count):
        rng = np.random.default_rng([seed, list(CONDITIONS).index(name), i])
        contrast = float(np.exp(rng.uniform(np.log(0.4), np.log(1.2))))  # metal particles on carbon: clear
        params = draw_params(rng, regime, **{"dtype": str(rng.choice(["uint8", "uint16"])), "contrast": contrast,
                                             **fixed})
        if "dose" not in fixed:  # the regime's own dose (never below visibility), within 8-120 e-/px
            params.dose = float(np.clip(params.dose, 8.0, 120.0))
        yield simulate(params, seed=int(rng.integers(1 << 31)))


def model_options(name: str) -> dict:
    """A prompted model (EfficientSAM) in automatic mode (no prompts); every other model as it comes."""
    return {"mode": "auto"} if SPECS[name].prompted else {}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="all")
    parser.add_argument("--per-condition", type=int, default=4)
    parser.add_argument("--regime", default="heldout", choices=["heldout", "train"])
    parser.add_argument("--conditions", default="all", help="names separated by ';', or all")
    parser.add_argument("--out", help="also write the table to this markdown file")
    parser.add_argument("--weights", action="append", default=[], metavar="MODEL=FILE",
                        help="weights for a model instead of its default (repeatable)")
    args = parser.parse_args()
    names = available_models() if args.models == "all" else args.models.split(",")
    conditions = list(CONDITIONS) if args.conditions == "all" else args.conditions.split(";")
    data = {c: list(condition_images(c, args.per_condition, args.regime)) for c in conditions}
    table = MarkdownTable("| model | condition | instance F1@0.5 | foreground IoU | s/image |", "|---|---|---|---|---|")
    weights = dict(item.split("=", 1) for item in args.weights)
    for name in names:
        model = load_model(name, weights=weights.get(name))
        for condition, samples in data.items():
            start = time.perf_counter()
            results = [(segment_image(s.image, model, **model_options(name)), s.labels) for s in samples]
            seconds = (time.perf_counter() - start) / len(samples)
            f1 = np.mean([instance_scores(r.labels, truth).f1 for r, truth in results])
            iou = np.mean([foreground_iou(r.labels, truth) for r, truth in results])
            line = f"| {name} | {condition} | {f1:.3f} | {iou:.3f} | {seconds:.2f} |"
            table.add(line)
    table.write(args.out)


if __name__ == "__main__":
    main()
