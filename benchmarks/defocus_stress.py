"""Fresnel fringes as strong as defocus makes them, on the training regime (development only).

The held-out regime's main failure is defocus (docs/robustness.md): a particle imaged
with a dark fringe outside its outline looks larger, and touching neighbours' fringes
join. The training regime draws its Fresnel fringe with an amplitude of at most 0.15;
this script draws the robustness table's base condition (radius 8-30 px, ~45 % touching,
bright field) in the training regime with the fringe's amplitude and width fixed (the
same particles and noise for every fringe), so a
rule or a training run can be developed against that failure without the held-out
regime. A negative amplitude puts the dark fringe outside the particle (as over-focus
does), a positive one a bright halo (under-focus).

    python benchmarks/defocus_stress.py [--model classical] [--weights W] [--images 6]
"""

from __future__ import annotations

import argparse

import numpy as np
from robustness import condition_images, model_options
from table import MarkdownTable

from napari_temseg import load_model
from napari_temseg.metrics import foreground_iou, instance_scores
from napari_temseg.models.specs import DEFAULT_MODEL
from napari_temseg.segmentation import segment_image

#: (amplitude, width in px) of the training regime's additive Fresnel fringe.
FRINGES = ((0.0, 1.5), (0.15, 1.5), (-0.15, 1.5), (0.4, 2.5), (-0.4, 2.5))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=DEFAULT_MODEL)
    parser.add_argument("--weights", help="weights for the model instead of its default (a file or variant name)")
    parser.add_argument("--images", type=int, default=6)
    args = parser.parse_args()
    model = load_model(args.model, weights=args.weights)
    options = model_options(args.model)
    table = MarkdownTable("| Fresnel amplitude | width (px) | instance F1@0.5 | foreground IoU |", "|---|---|---|---|")
    for amplitude, width in FRINGES:
        samples = condition_images("radius 8-30 px", args.images, "train", seed=7300,
                                   fresnel=amplitude, fresnel_width=width)
        results = [(segment_image(s.image, model, **options).labels, s.labels) for s in samples]
        f1 = np.mean([instance_scores(labels, truth).f1 for labels, truth in results])
        iou = np.mean([foreground_iou(labels, truth) for labels, truth in results])
        table.add(f"| {amplitude:+.2f} | {width} | {f1:.3f} | {iou:.3f} |")


if __name__ == "__main__":
    main()
