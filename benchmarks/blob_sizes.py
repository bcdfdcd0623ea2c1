"""What the small-particle blob look (`appearance.blob_radius`) changes, on the development
set only: sizes within 1.5x of the truth per set, and a model's F1 on small-particle
images, with the blob look and without it (as before it existed).

    python benchmarks/blob_sizes.py sizes [--small-images 12]
    python benchmarks/blob_sizes.py f1 --model classical [--small-images 12]
"""

from __future__ import annotations

import argparse
from contextlib import contextmanager

import numpy as np
from development_set import ARTICLE, video_frames
from robustness import CONDITIONS, condition_images

import napari_temseg.appearance as appearance
from napari_temseg import load_model
from napari_temseg.datasets import iter_dataset
from napari_temseg.metrics import foreground_iou, instance_scores
from napari_temseg.preprocess import normalize
from napari_temseg.segmentation import segment_image

SMALL = "radius 3-7 px"


@contextmanager
def blob_look(enabled: bool):
    """The size decision with or without its blob look."""
    original = appearance.blob_radius
    if not enabled:
        appearance.blob_radius = lambda *args: float("nan")
    try:
        yield
    finally:
        appearance.blob_radius = original


def true_radius(labels: np.ndarray) -> float:
    """Median equivalent-disc radius of the particles in `labels`."""
    areas = np.bincount(labels.ravel())[1:]
    areas = areas[areas > 0]
    return float(np.sqrt(np.median(areas) / np.pi)) if areas.size else float("nan")


def size_counts(pairs) -> tuple[int, int, int]:
    """(within 1.5x of the truth, not measured, off by more) over (image, labels) pairs."""
    within = unmeasured = off = 0
    for image, labels in pairs:
        radius = appearance.measure_appearance(normalize(image)).radius
        if not np.isfinite(radius):
            unmeasured += 1
        elif 1 / 1.5 < radius / true_radius(labels) < 1.5:
            within += 1
        else:
            off += 1
    return within, unmeasured, off


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", choices=["sizes", "f1"])
    parser.add_argument("--model", default="classical")
    parser.add_argument("--small-images", type=int, default=12)
    args = parser.parse_args()
    if args.what == "sizes":
        sets = {c: [(s.image, s.labels) for s in condition_images(c, args.small_images if c == SMALL else 4, "train")]
                for c in CONDITIONS}
        sets["training-regime video frames"] = list(video_frames())
        if ARTICLE.is_dir():
            sets["article images"] = [(s.image, s.labels) for s in iter_dataset(ARTICLE)]
        print("| set | images | without blobs: within 1.5x / unmeasured / off | with blobs |")
        print("|---|---|---|---|")
        for name, pairs in sets.items():
            counts = []
            for enabled in (False, True):
                with blob_look(enabled):
                    counts.append(" / ".join(map(str, size_counts(pairs))))
            print(f"| {name} | {len(pairs)} | {counts[0]} | {counts[1]} |")
        return
    model = load_model(args.model)
    samples = list(condition_images(SMALL, args.small_images, "train"))
    for enabled in (False, True):
        with blob_look(enabled):
            results = [segment_image(s.image, model).labels for s in samples]
        f1 = [instance_scores(labels, s.labels).f1 for labels, s in zip(results, samples, strict=True)]
        iou = [foreground_iou(labels, s.labels) for labels, s in zip(results, samples, strict=True)]
        print(f"{args.model}, {'with' if enabled else 'without'} blobs, {len(samples)} small-particle images: "
              f"F1 {np.mean(f1):.3f} IoU {np.mean(iou):.3f} (per image {' '.join(f'{x:.2f}' for x in f1)})")


if __name__ == "__main__":
    main()
