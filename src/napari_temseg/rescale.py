"""Run a model on a resampled copy of an image and bring its labels back to the image's grid.

Every model works best with particles of the sizes it was trained on (its
`radius_range`); a micrograph taken at another magnification is resampled so that its
particles fall inside that range, segmented, and its labels mapped back: by nearest
sample when the copy was larger (small particles), and, when it was smaller (large
particles), along a bilinearly upsampled foreground so that outlines stay smooth rather
than blocky, each pixel taking the ID of the nearest particle.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
from skimage.segmentation import expand_labels
from skimage.transform import resize

from .errors import TemsegError
from .instances import remove_small_and_relabel

#: Particle radii (px) a model is comfortable with when its weights record none: those of the
#: networks trained before the simulator (article images and `synth`, radii 9-35 px), where
#: their F1 holds up on simulated images (`python benchmarks/radius_sweep.py`).
DEFAULT_RADIUS_RANGE = (12.0, 90.0)
#: Resampling stays within these factors (beyond them a particle is a few pixels or a whole tile).
MAX_UPSCALE, MAX_DOWNSCALE = 4.0, 1 / 8
#: A resampled radius lands this far inside the comfortable range, not on its edge.
MARGIN = 1.5


def scale_factor(radius: float, radius_range: tuple[float, float] = DEFAULT_RADIUS_RANGE) -> float:
    """Factor to resample an image by so that particles of `radius` px fall inside
    `radius_range` (1.0 when they already do or the radius is unknown)."""
    lo, hi = radius_range
    if not math.isfinite(radius) or radius <= 0 or lo <= radius <= hi:
        return 1.0
    target = min(lo * MARGIN, math.sqrt(lo * hi)) if radius < lo else max(hi / MARGIN, math.sqrt(lo * hi))
    return float(np.clip(target / radius, MAX_DOWNSCALE, MAX_UPSCALE))


def stored_radius_range(settings: dict) -> tuple[float, float]:
    """The radius range a checkpoint's training recorded, else `DEFAULT_RADIUS_RANGE`."""
    value = settings.get("radius_range")
    if value is None:
        return DEFAULT_RADIUS_RANGE
    lo, hi = (float(v) for v in value)
    if not (0 < lo < hi):
        raise TemsegError(f"a checkpoint records the radius range {value!r}; expected two increasing positive numbers")
    return lo, hi


def resample(image: np.ndarray, factor: float) -> np.ndarray:
    """A float32 copy of `image` `factor` times larger (smaller with anti-aliasing)."""
    shape = tuple(max(8, int(round(n * factor))) for n in image.shape)
    return resize(image, shape, order=1, anti_aliasing=factor < 1, preserve_range=True).astype(np.float32)


def labels_back(labels: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """uint32 labels of a resampled copy, mapped onto the original `shape` (module docstring)."""
    if labels.shape == tuple(shape):
        return labels
    nearest = resize(labels, shape, order=0, preserve_range=True, anti_aliasing=False).astype(np.uint32)
    if labels.shape[0] >= shape[0]:  # the copy was larger: nearest samples are exact enough
        return remove_small_and_relabel(nearest, 1)
    smooth = resize((labels > 0).astype(np.float32), shape, order=1, preserve_range=True) >= 0.5
    step = max(shape[0] / labels.shape[0], shape[1] / labels.shape[1])
    grown = expand_labels(nearest, distance=math.ceil(step))
    return remove_small_and_relabel(np.where(smooth, grown, 0), 1)


def run_at_scale(predict: Callable[[np.ndarray], np.ndarray], image: np.ndarray, factor: float) -> np.ndarray:
    """`predict` on `image` resampled by `factor`, labels on the image's own grid."""
    if factor == 1.0:
        return predict(image)
    return labels_back(predict(resample(image, factor)), image.shape)


def scale_area(value: int, factor: float) -> int:
    """An area in pixels of the image, in pixels of the copy resampled by `factor`."""
    return int(round(value * factor * factor))

