"""The set a model's rules are developed on, never the held-out regime: the simulator's
training regime (the conditions of robustness.py), frames of training-regime sintering
videos, and the article's 20 training images when present.

    python benchmarks/development_set.py [--model classical] [--weights FILE] [--seed 9100] [-o KEY=VALUE ...]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from robustness import CONDITIONS, condition_images
from table import MarkdownTable

from napari_temseg import load_model
from napari_temseg.datasets import iter_dataset
from napari_temseg.metrics import foreground_iou, instance_scores
from napari_temseg.models.options import parse_option
from napari_temseg.models.specs import DEFAULT_MODEL
from napari_temseg.segmentation import segment_image
from napari_temseg.video_simulator import VideoConditions, simulate_video

ARTICLE = Path(__file__).resolve().parents[2] / "shared" / "data" / "paper-tem" / "train"


def video_frames(seeds=(8000, 8001, 8002), step: int = 15):
    """Every `step`-th frame of training-regime sintering videos, as (image, truth) pairs."""
    for seed in seeds:
        video = simulate_video(VideoConditions(regime="train"), seed=seed)
        for t in range(0, len(video.frames), step):
            yield video.frames[t], video.labels[t]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=DEFAULT_MODEL)
    parser.add_argument("--weights", help="weights for the model instead of its default (a file or variant name)")
    parser.add_argument("--per-condition", type=int, default=4)
    parser.add_argument("--seed", type=int, default=9100, help="seed of the simulated images (another draw: another seed)")
    parser.add_argument("-o", dest="options", action="append", default=[], metavar="KEY=VALUE")
    args = parser.parse_args()
    model = load_model(args.model, weights=args.weights)
    options = dict(parse_option(item) for item in args.options)
    sets = {c: [(s.image, s.labels) for s in condition_images(c, args.per_condition, "train", args.seed)] for c in CONDITIONS}
    sets["training-regime video frames"] = list(video_frames())
    if ARTICLE.is_dir():
        sets["article images"] = [(s.image, s.labels) for s in iter_dataset(ARTICLE)]
    table = MarkdownTable("| set | images | instance F1@0.5 | foreground IoU |", "|---|---|---|---|")
    simulated = []
    for name, pairs in sets.items():
        results = [(segment_image(image, model, **options).labels, truth) for image, truth in pairs]
        f1 = float(np.mean([instance_scores(labels, truth).f1 for labels, truth in results]))
        iou = float(np.mean([foreground_iou(labels, truth) for labels, truth in results]))
        table.add(f"| {name} | {len(pairs)} | {f1:.3f} | {iou:.4f} |")
        if name != "article images":
            simulated.append(f1)
    print(f"mean F1 over the {len(simulated)} simulated sets: {np.mean(simulated):.3f}")


if __name__ == "__main__":
    main()
