"""How the article's masks relate to their images: the per-image edge level, stretched vs anchored.

For each image: the threshold on its sigma-5 smoothing that best reproduces the mask,
in percentile-stretched units and after `anchor_two_classes`; prints the spread of that
level over the images and the IoU of one fixed level (0.5) on anchored images.

    python benchmarks/article_label_levels.py ../shared/data/paper-tem/train
"""

import sys

import numpy as np
from scipy import ndimage as ndi

from napari_temseg.datasets import iter_dataset
from napari_temseg.preprocess import anchor_two_classes, normalize


def iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / max((a | b).sum(), 1))


def best_level(smooth: np.ndarray, mask: np.ndarray, lo: float, hi: float) -> float:
    levels = np.linspace(lo, hi, 401)
    return float(levels[np.argmax([iou(smooth < t, mask) for t in levels])])


def main(folder: str) -> None:
    stretched, anchored, fixed = [], [], []
    for sample in iter_dataset(folder):
        mask = sample.labels > 0
        image = normalize(sample.image)
        smooth = ndi.gaussian_filter(image, 5, mode="nearest")
        stretched.append(best_level(smooth, mask, float(smooth.min()), float(smooth.max())))
        smooth_anchored = ndi.gaussian_filter(anchor_two_classes(image), 5, mode="nearest")
        anchored.append(best_level(smooth_anchored, mask, 0.4, 0.6))
        fixed.append(iou(smooth_anchored < 0.5, mask))
    print(f"{len(fixed)} images; best edge level, standard deviation over images:")
    print(f"  percentile stretch {np.std(stretched):.4f} (mean {np.mean(stretched):.3f})")
    print(f"  anchored           {np.std(anchored):.4f} (mean {np.mean(anchored):.3f})")
    print(f"  one level (0.5) on anchored images: mean IoU {np.mean(fixed):.4f}")


if __name__ == "__main__":
    main(sys.argv[1])
