"""Where a model draws particle edges against the physical outline, on the development set.

For every particle matched at IoU 0.5, the signed offset of its drawn edge from the true one
is (drawn area - true area) / true perimeter in px: negative = drawn inside the outline
(sizes too small), positive = outside. Foreground IoU can be low with every particle found;
this says whether edges are to blame and which way they are off. Training regime only
(`robustness.condition_images(..., "train")`), never the held-out regime.

    python benchmarks/edge_offsets.py [--model classical] [--weights W] [--per-condition 4] [--seed 9100]
"""

from __future__ import annotations

import argparse

import numpy as np
from robustness import CONDITIONS, condition_images, model_options
from scipy import ndimage as ndi
from table import MarkdownTable

from napari_temseg import load_model
from napari_temseg.local_edges import SMALL_RADIUS  # particles below it: their own column
from napari_temseg.metrics import foreground_iou, pairwise_iou
from napari_temseg.models.specs import DEFAULT_MODEL
from napari_temseg.segmentation import segment_image


def edge_offsets(labels: np.ndarray, truth: np.ndarray) -> list[tuple[float, float]]:
    """(signed edge offset in px, true equivalent radius in px) of every true particle that
    a drawn one matches at IoU > 0.5."""
    pred_ids, true_ids, iou = pairwise_iou(labels, truth)
    areas_pred = np.bincount(labels.ravel())
    areas_true = np.bincount(truth.ravel())
    perimeters = np.bincount(truth[_outline(truth)], minlength=len(areas_true))
    out = []
    for pid, tid in zip(pred_ids[iou > 0.5].tolist(), true_ids[iou > 0.5].tolist(), strict=True):
        offset = (int(areas_pred[pid]) - int(areas_true[tid])) / int(perimeters[tid])
        out.append((offset, float(np.sqrt(areas_true[tid] / np.pi))))
    return out


def _outline(truth: np.ndarray) -> np.ndarray:
    """Pixels of each particle with a 4-neighbour (or the image's edge) outside it: what
    `binary_erosion` of each particle's own mask removes, for all particles in one pass."""
    cross = ndi.generate_binary_structure(2, 1)
    low = ndi.grey_erosion(truth, footprint=cross, mode="constant", cval=0)
    high = ndi.grey_dilation(truth, footprint=cross, mode="constant", cval=0)
    return (truth > 0) & ((low != truth) | (high != truth))


def _mean(values: np.ndarray) -> str:
    return f"{values.mean():+.2f}" if len(values) else "–"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=DEFAULT_MODEL)
    parser.add_argument("--weights", help="weights for the model instead of its default (a file or variant name)")
    parser.add_argument("--per-condition", type=int, default=4)
    parser.add_argument("--seed", type=int, default=9100)
    args = parser.parse_args()
    model = load_model(args.model, weights=args.weights)
    options = model_options(args.model)
    table = MarkdownTable(
        f"| condition | particles matched | edge offset, mean (median) px | radius < {SMALL_RADIUS:g} px "
        f"| radius ≥ {SMALL_RADIUS:g} px | foreground IoU |",
        "|---|---|---|---|---|---|",
    )
    for condition in CONDITIONS:
        offsets, ious = [], []
        for sample in condition_images(condition, args.per_condition, "train", args.seed):
            labels = segment_image(sample.image, model, **options).labels
            offsets += edge_offsets(labels, sample.labels)
            ious.append(foreground_iou(labels, sample.labels))
        values = np.array(offsets).reshape(-1, 2)
        small, large = values[values[:, 1] < SMALL_RADIUS, 0], values[values[:, 1] >= SMALL_RADIUS, 0]
        median = f"{np.median(values[:, 0]):+.2f}" if len(values) else "–"
        table.add(f"| {condition} | {len(values)} | {_mean(values[:, 0])} ({median}) | {_mean(small)} | {_mean(large)} "
                  f"| {np.mean(ious):.3f} |")


if __name__ == "__main__":
    main()
