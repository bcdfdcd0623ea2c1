"""Dark-field particles' tapering rims: edges moved out to where each particle ends.

In dark-field TEM and HAADF-STEM a particle's brightness grows with its projected
thickness, so a rounded particle fades out towards its rim, and a threshold midway between
support and particle (Otsu's, and what networks trained on bright-field images learnt)
cuts it at ~0.87 of its radius: 75 % of its area (0.76-0.83 measured on the simulator's
dark-field images). Bright-field contrast is exponential in thickness and saturates, so
its edges are steep and the midpoint is the edge (the article's labels sit there).
`grow_rims` grows every particle a model found over the pixels of its rim, keeping the
model's split into particles.

The same physics makes thin particles faint beside thick ones in dark field, where in
bright field both are about equally dark; `absorption_look` gives a network trained on
bright-field images the look it knows.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import ndimage as ndi
from skimage.segmentation import watershed

from .models.classical import smooth_like_classical
from .preprocess import otsu_levels, smoothed_sample

#: Where edges are drawn by polarity, as a fraction of the way from the support's grey level
#: to Otsu's threshold between support and particles (0.5 = the threshold: models' own edges).
#: 0.2 for bright particles, chosen among 0.1-0.5 on the development set's dark-field images
#: (training regime of `simulator`; docs/robustness.md).
EDGE_LEVELS = {"dark": 0.5, "bright": 0.2}
#: A rounded particle cut at the midpoint keeps 0.87 of its radius and ends at ~0.98 at level
#: 0.2: its rim lies within a sixth of the model's radius outside its edge, further by the
#: image's blur and where a model drew a particle too small. `within_rim_reach` allows
#: RIM_REACH x the radius + RIM_BLUR px (dark-field development images, 12 per model: every
#: model's F1 and IoU as with unbounded growth but YOLO's IoU, 0.928 -> 0.927; 0.5 x cost
#: Swin-UNet F1 0.888 -> 0.885 and YOLO IoU 0.002).
RIM_REACH = 1.0
RIM_BLUR = 6.0
#: Share of the particle class's pixels (smoothed) at least as dark as the level
#: `absorption_look` takes for the thickest particles: a few, so hot pixels do not set it.
THICKEST_SHARE = 0.05


def edge_level(value: Any, polarity: str) -> float:
    """The `edge_level` option ("auto" or a number in [0.05, 0.5], checked by its spec) for
    particles of `polarity`."""
    return EDGE_LEVELS[polarity] if value == "auto" else float(value)


def edge_threshold(smooth: np.ndarray, level: float) -> float:
    """The grey level `level` of the way from the support's mean (Otsu's bright class) to
    twice Otsu's threshold less it: 0.5 is the threshold itself, 0 the support's mean."""
    otsu, _, support = otsu_levels(smooth)
    return support - 2 * level * (support - otsu)


def grow_rims(labels: np.ndarray, image: np.ndarray, level: float) -> np.ndarray:
    """`labels` with each particle grown over the pixels of `image` (normalised, particles
    dark) darker than `edge_threshold` that it reaches first: a watershed on the grey levels,
    smoothed and flattened as the classical model does. Nothing changes at level 0.5."""
    if level >= 0.5 or not labels.any():
        return labels
    smooth = smooth_like_classical(image)
    if float(smooth.max()) <= float(smooth.min()):
        return labels
    rim = (smooth < edge_threshold(smooth, level)) & within_rim_reach(labels)
    return watershed(smooth, labels, mask=rim | (labels > 0)).astype(labels.dtype)


def within_rim_reach(labels: np.ndarray) -> np.ndarray:
    """Pixels no further from their nearest particle than RIM_REACH x its equivalent radius
    + RIM_BLUR px: how far a rim can lie outside the model's edge. Beyond, what the
    threshold takes is the support (on an image of noise, most of the field: a speck grew
    into a "particle" of 9,000 px)."""
    areas = np.bincount(labels.ravel())
    reach = RIM_REACH * np.sqrt(areas / np.pi) + RIM_BLUR
    distance, (iy, ix) = ndi.distance_transform_edt(labels == 0, return_indices=True)
    return distance <= reach[labels[iy, ix]]


def absorption_strength(value: Any, polarity: str, model: Any) -> float:
    """The `df_absorption` option ("auto": the `model`'s own `df_absorption`, 0 where it has
    none; or a number) for particles of `polarity`: 0 (the image as it is) unless the
    particles are bright."""
    if polarity != "bright":
        return 0.0
    return float(getattr(model, "df_absorption", 0.0)) if value == "auto" else float(value)


def absorption_look(image: np.ndarray, strength: float) -> np.ndarray:
    """A dark-field image (normalised and inverted: particles dark) given the look of a
    bright-field one: each pixel's depth below the support, s (1 at the thickest
    particles), becomes (1 - exp(-strength * s)) / (1 - exp(-strength)), as absorption
    saturates with thickness. Faint thin particles come out nearly as dark as thick ones;
    the support, and the image at strength 0, stay as they are. Levels come from the
    smoothed image's Otsu classes: the support's median and the thickest particles'."""
    if strength <= 0:
        return image
    smooth = smoothed_sample(image)
    if float(smooth.max()) <= float(smooth.min()):
        return image
    otsu, _, _ = otsu_levels(smooth)
    particles, support = smooth[smooth < otsu], smooth[smooth >= otsu]
    if particles.size == 0 or support.size == 0:
        return image
    support_level = float(np.median(support))
    thickest = float(np.quantile(particles, THICKEST_SHARE))
    span = support_level - thickest
    if span <= 1e-3:
        return image
    depth = np.clip((support_level - image) / span, 0.0, None)
    mapped = -np.expm1(-strength * depth) / -np.expm1(-strength)
    return np.clip(support_level - mapped * span, 0.0, 1.0).astype(np.float32)
