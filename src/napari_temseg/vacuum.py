"""Vacuum: a hole in the support film, or the field beyond the film's edge.

Particles on holey or lacey carbon are imaged at a hole's edge as often as not. There is
no specimen in the hole: it is brighter than the film in bright field (nothing scatters)
and darker in dark field, so in the image a model is given (particles dark) it is a third
grey level beyond the support, on the side away from the particles. Left in, it stretches
the grey levels the rest is judged by, the classical model's flattening takes its edge for
uneven illumination and the film along the edge for particles (39 objects for 21 particles,
sizes up to twice the true ones, with every model). `find_vacuum` finds it: the brightest of
three grey-level classes, a large piece that stands out from the support by more than its
noise, across a sharp edge (a film's edge is a step; uneven illumination a slope), with no
particle inside. `fill_vacuum` paints it with the support's own pixels before a model sees
the image, and `segmentation` drops what a model still draws there.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi
from skimage.filters import threshold_multiotsu

from .appearance import block_mean
from .preprocess import robust_spread

#: The coarse grid the search runs on: about this many px along the shorter side (a hole is
#: large; the edge is found again at full resolution, `_refined`).
COARSE_SIDE = 64
#: Smoothing (px of the coarse grid) before the grey levels are classed.
COARSE_SIGMA = 0.75
#: A vacuum piece covers at least this share of the image.
MIN_SHARE = 0.02
#: Its level lies at least this many of the support's noise (smoothed, robust) above the
#: support's: 5.4-12 for the holes seen, 2.6-2.8 for the brighter half of a plain support
#: and for illumination gradients up to 3x across the field (the development set: none).
MIN_SEPARATION = 4.0
#: Across its edge, the level steps by at least this share of its difference from the
#: support (bands a few coarse px each side: a slope of the illumination steps little).
MIN_STEP_SHARE = 0.5
#: The middle class, the support beside a vacuum, holds a film: at least this share of the
#: image lies SUPPORT_CORE coarse px inside it. Beside large particles in bright field the
#: support itself is the brightest class and the middle one their soft rims, thin bands
#: (a review: two spheres of 100-150 px radius, the support taken for 64 % vacuum).
MIN_SUPPORT_SHARE = 0.05
SUPPORT_CORE = 2
#: See `_three_plateaus`.
MIN_PEAK_RATIO = 5.0
FILM_SHARE = 0.7
#: At most this share of it, holes filled, is of the particles' class (a film with particles
#: on it is support, however bright).
MAX_DARK_INSIDE = 0.01


def find_vacuum(image: np.ndarray) -> np.ndarray:
    """Boolean (Y, X) mask of vacuum in a normalised image whose particles are dark; all
    False where there is none (most images)."""
    step = max(1, min(image.shape) // COARSE_SIDE)
    coarse = block_mean(image, step)
    smooth = ndi.gaussian_filter(coarse, COARSE_SIGMA)
    try:
        dark_top, support_top = threshold_multiotsu(smooth, classes=3, nbins=64)  # 64: 4x faster, enough
    except ValueError:  # fewer than three grey levels
        return np.zeros(image.shape, bool)
    pieces, n = ndi.label(smooth > support_top)
    middle = (smooth > dark_top) & (smooth <= support_top)
    if n == 0 or ndi.binary_erosion(middle, iterations=SUPPORT_CORE).sum() < MIN_SUPPORT_SHARE * middle.size \
            or not _three_plateaus(smooth, dark_top, support_top):
        return np.zeros(image.shape, bool)
    support = float(np.median(smooth[middle]))
    noise = max(robust_spread(smooth[middle], support), 1e-6)
    sizes = np.bincount(pieces.ravel())
    sizes[0] = 0
    found = np.zeros(coarse.shape, bool)
    for index in np.flatnonzero(sizes >= MIN_SHARE * coarse.size):
        piece = pieces == index
        if _is_vacuum(piece, smooth, middle, support, noise, dark_top):
            found |= piece
    if not found.any():
        return np.zeros(image.shape, bool)
    return _refined(found, image, step, support, float(np.median(smooth[found])))


def _three_plateaus(smooth: np.ndarray, dark_top: float, support_top: float) -> bool:
    """Whether the two upper grey classes are plateaus of their own, support and vacuum, with
    the support holding most of the field that is not vacuum: the commonest levels of both
    stand MIN_PEAK_RATIO x above the least common level between them (a hole: 15-270 x; an
    illumination slope: 1-2 x), and the middle class covers FILM_SHARE of what the two
    lower classes cover (the support with its particles; beside large particles in bright
    field, where the support itself is the brightest class, the middle one is their soft
    rims: 0.14-0.54)."""
    counts, edges = np.histogram(smooth, 64)
    counts = np.convolve(counts, [0.25, 0.5, 0.25], mode="same")
    centres = (edges[:-1] + edges[1:]) / 2
    classes = [(centres > dark_top) & (centres <= support_top), centres > support_top]
    if not all(c.any() for c in classes):
        return False
    middle, bright = (int(np.flatnonzero(c)[np.argmax(counts[c])]) for c in classes)
    valley = max(float(counts[middle:bright + 1].min()), 1e-9)
    film = float((smooth > dark_top).sum() - (smooth > support_top).sum())
    return bool(min(counts[middle], counts[bright]) >= MIN_PEAK_RATIO * valley
                and film >= FILM_SHARE * float((smooth <= support_top).sum()))


def _is_vacuum(piece: np.ndarray, smooth: np.ndarray, middle: np.ndarray, support: float, noise: float,
               dark_top: float) -> bool:
    level = float(np.median(smooth[piece]))
    if (level - support) / noise < MIN_SEPARATION:
        return False
    inside = ndi.binary_erosion(piece, iterations=1) & ~ndi.binary_erosion(piece, iterations=3)
    outside = ndi.binary_dilation(piece, iterations=3) & ~ndi.binary_dilation(piece, iterations=1) & middle
    if not inside.any() or not outside.any():
        return False
    if float(np.median(smooth[inside]) - np.median(smooth[outside])) < MIN_STEP_SHARE * (level - support):
        return False
    filled = ndi.binary_fill_holes(piece)
    return float((filled & (smooth <= dark_top)).sum()) <= MAX_DARK_INSIDE * float(piece.sum())


def _refined(coarse: np.ndarray, image: np.ndarray, step: int, support: float, level: float) -> np.ndarray:
    """The coarse mask at full resolution, its edge where the (lightly smoothed) image crosses
    half-way from the support to the vacuum, within a coarse pixel of where it was found."""
    grown = _at_full_size(ndi.binary_dilation(coarse, iterations=1), step, image.shape)
    core = _at_full_size(ndi.binary_erosion(coarse, iterations=1), step, image.shape)
    bright = ndi.gaussian_filter(np.asarray(image, np.float32), 1.5) > (support + level) / 2
    pieces, _ = ndi.label(grown & bright)
    keep = np.unique(pieces[core & (pieces > 0)])
    return np.isin(pieces, keep) & (pieces > 0)


def _at_full_size(mask: np.ndarray, step: int, shape: tuple[int, ...]) -> np.ndarray:
    """A coarse mask's `step` x `step` blocks at the image's `shape` (the uncovered last rows
    and columns False)."""
    full = np.zeros(shape, bool)
    blocks = np.kron(mask, np.ones((step, step), bool))
    full[:blocks.shape[0], :blocks.shape[1]] = blocks
    return full


def fill_vacuum(image: np.ndarray, vacuum: np.ndarray, seed: int = 0) -> np.ndarray:
    """`image` with its vacuum painted with pixels drawn from the support (the rest of the
    image, particles excepted), so that its grey levels and noise are the support's: a
    model sees a field of film where the hole was."""
    rest = image[~vacuum]
    support = rest[rest >= np.median(rest)]  # the brighter half of the rest: support, not particles
    out = image.copy()
    out[vacuum] = np.random.default_rng(seed).choice(support, size=int(vacuum.sum()))
    return out


def drop_particles_in_vacuum(labels: np.ndarray, vacuum: np.ndarray) -> np.ndarray:
    """`labels` without the objects that lie mostly in the vacuum (what a model drew on the
    fill), and without the vacuum's pixels in the others."""
    if not vacuum.any() or not labels.any():
        return labels
    total = np.bincount(labels.ravel())
    inside = np.bincount(labels[vacuum].ravel(), minlength=total.size)
    gone = inside > 0.5 * np.maximum(total, 1)
    gone[0] = False
    out = np.where(gone[labels] | vacuum, 0, labels)
    return out.astype(labels.dtype)
