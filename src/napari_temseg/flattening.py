"""The support's uneven brightness, taken off before particles are looked for.

An illumination gradient (a beam off centre) or a support of uneven thickness moves the
grey level particles are judged against from one side of the field to the other: a single
threshold (the classical model's Otsu level) or a network trained on evenly lit images
then takes the darker side's support for particles and misses the brighter side's faint
ones. `flatten_illumination` subtracts what the support does by itself: a fitted plane,
and with "always" the rest of its unevenness too. The networks are given the flattened
image (`segmentation`); the classical model flattens its own (`models.classical`), and
EfficientSAM keeps its image (its prompted masks spread over a flattened support).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage as ndi
from skimage.filters import threshold_otsu

from .appearance import inscribed_radius
from .preprocess import fit_illumination_plane, illumination_plane

#: Gradient across the field, relative to particle contrast, above which "auto" subtracts
#: a fitted plane. The article's images measure < 0.1, synthetic ones with a 15 % ramp > 0.6.
FLATTEN_SPAN = 0.2
#: Unevenness left after the plane (2nd to 98th percentile of `support_surface`), relative to
#: particle contrast, above which "auto" subtracts the support surface too. The article's
#: images measure 0.10-0.26, training-regime simulator images with thickness patches
#: 0.5-1.5 (docs/models.md).
UNEVEN_SPAN = 0.3
#: What flattening can do, gentlest first.
FLATTEN_MODES = ("never", "plane", "always")
#: The modes `flatten=True` and `flatten=False` stand for.
BOOLEAN_MODES = {True: "always", False: "never"}
#: The support surface follows variations broader than this many typical particle radii
#: (and than a fifth of the field, wider than most clusters of touching particles).
SUPPORT_SCALE = 4.0


def support_surface(coarse: np.ndarray, particles: np.ndarray) -> np.ndarray:
    """The brightness of the support under and around dark particles, on `coarse`'s grid.

    A grey closing (the rolling-ball idea) with a square SUPPORT_SCALE typical radii wide
    lifts every dark feature narrower than that to the level of the support around it;
    what it leaves, smoothed as widely, is the support's own unevenness: an illumination
    gradient, and a thickness or ice variation of any shape (which a fitted plane misses,
    and which Otsu's single threshold would take for particles). The typical radius is the
    median inscribed radius of `particles` (a first threshold of the image)."""
    radius = inscribed_radius(particles)
    radius = radius if np.isfinite(radius) else 1.0
    width = int(np.clip(max(np.ceil(SUPPORT_SCALE * radius), min(coarse.shape) / 5), 3, max(min(coarse.shape) // 2, 3)))
    step = max(1, width // 8)  # the closing runs on a copy where the square is ~8 px wide
    small = coarse[::step, ::step]
    closed = ndi.grey_closing(small, size=(width // step) | 1, mode="nearest")
    smooth = ndi.gaussian_filter(closed, max(width / step / 2, 1.0), mode="nearest")
    return ndi.zoom(smooth, (coarse.shape[0] / small.shape[0], coarse.shape[1] / small.shape[1]), order=1,
                    mode="nearest", grid_mode=True)[: coarse.shape[0], : coarse.shape[1]]


@dataclass(frozen=True)
class SupportFit:
    """The support's brightness in an image: a plane (slopes b, c: `fit_illumination_plane`)
    and, on every other pixel, what the plane leaves (`support_surface`); `gradient` and
    `unevenness` are their spans across the field over the particle contrast."""

    b: float
    c: float
    surface: np.ndarray
    gradient: float
    unevenness: float

    def auto_mode(self) -> str:
        """What flatten="auto" does: "never", "plane" or "always" (plane and surface)."""
        if self.unevenness > UNEVEN_SPAN:
            return "always"
        return "plane" if self.gradient > FLATTEN_SPAN else "never"


def fit_support(image: np.ndarray) -> SupportFit | None:
    """The support's brightness in a normalised image with dark particles (None when flat)."""
    # Estimated on every other pixel: the support is smooth, and this step must stay cheap.
    coarse = ndi.gaussian_filter(image[::2, ::2], 2.0, mode="nearest")
    if float(coarse.max()) <= float(coarse.min()):
        return None
    background = coarse >= threshold_otsu(coarse)
    contrast = abs(float(coarse[background].mean() - coarse[~background].mean())) if (~background).any() else 0.0
    b, c = fit_illumination_plane(coarse, background)
    surface = support_surface(coarse - illumination_plane(coarse.shape, b, c), ~background)
    low, high = np.percentile(surface, [2, 98])
    scale = max(contrast, 1e-6)
    return SupportFit(b, c, surface, (abs(b) + abs(c)) / scale, float(high - low) / scale)


def flatten_mode(flatten: bool | str, fit: SupportFit) -> str:
    """The `flatten` option as "never", "plane" or "always" for an image of this fit."""
    if flatten == "auto":
        return fit.auto_mode()
    return BOOLEAN_MODES.get(flatten, flatten)


def flatten_illumination(image: np.ndarray, flatten: bool | str) -> np.ndarray:
    """`image` less the support's uneven brightness (`taken_off`)."""
    return taken_off(image, flatten)[0]


def taken_off(image: np.ndarray, flatten: bool | str) -> tuple[np.ndarray, str]:
    """`image` less the support's uneven brightness (`fit_support`), and what was taken off:
    "plane" the fitted illumination gradient, "always" (True) the remaining unevenness too,
    "auto" what the image needs (`SupportFit.auto_mode`), "never" (False) nothing (then
    `image` itself)."""
    if flatten is False or flatten == "never":
        return image, "never"
    fit = fit_support(image)
    mode = "never" if fit is None else flatten_mode(flatten, fit)
    if mode == "never":
        return image, mode
    flat = image - illumination_plane(image.shape, fit.b, fit.c)
    if mode == "plane":
        return flat, mode
    full = ndi.zoom(fit.surface, 2, order=1, mode="nearest", grid_mode=True)[: image.shape[0], : image.shape[1]]
    return flat - (full - float(fit.surface.mean())), mode


def stack_flatten_mode(frames: list[np.ndarray]) -> str:
    """One flatten mode for a time stack: the most common "auto" decision among its sampled
    `frames` (ties go to the gentler mode). Decided frame by frame, a video near a
    threshold is flattened and left as it is in turn, and its outlines jump."""
    modes = [fit.auto_mode() if fit is not None else "never" for fit in map(fit_support, frames)]
    return max(FLATTEN_MODES, key=modes.count)
