"""Small particles a model missed, found by a matched filter and drawn at their own contrast.

In images of small particles (a few pixels across, thin and faint) every model misses
some that a microscopist still sees as a dark spot: the classical model's one global
level does not reach them, and the networks were trained mostly on larger ones. A
centre-minus-surround filter at the particles' measured size (a difference of two
Gaussians, the matched filter of a blob) lifts such a spot above the noise; its
threshold is set per image by *decoys*: the support's noise and carbon texture are as
likely to be brighter as darker than the support, a particle only darker, so the number
of bright spots that stand out as far as the dark candidates estimates how many of those
the support made by itself. The threshold is the lowest at which that is at most
`DECOY_SHARE` of the candidates (a false-discovery control; no fixed level fits doses
of 8 to 500 e-/px and supports from smooth to grainy). A candidate away from every
particle is drawn at its own level between the support around it and its core
(`local_edges.own_level`), as `local_edges` draws the model's small particles.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi
from skimage.feature import peak_local_max

from .local_edges import SIGMA, own_level
from .preprocess import robust_spread

#: The filter's centre and surround Gaussians, in units of the particles' radius.
CENTRE, SURROUND = 0.5, 1.75
#: Highest share of candidates the support may have made by itself (`decoy_threshold`);
#: chosen among 0.05-0.3 on the development set's small particles.
DECOY_SHARE = 0.1
#: Thresholds tried, in robust standard deviations of the filter's response.
THRESHOLDS = np.arange(2.0, 12.0, 0.25)
#: A candidate within this many radii of a drawn particle is that particle's.
CLEARANCE = 0.5
#: A particle is drawn within this many radii of its candidate, from the support's level in
#: the ring `RING` radii out (other particles excluded) ...
REACH, RING = 1.6, (1.5, 3.0)
#: ... and kept at this share of a disc of the radius (noise makes smaller pieces).
MIN_AREA_SHARE = 0.3


def find_missed_particles(labels: np.ndarray, image: np.ndarray, radius: float,
                          min_size: int = 0) -> tuple[np.ndarray, int]:
    """`labels` with the small particles of `image` (normalised, particles dark; typical
    radius `radius` px) that no label covers added under new IDs (none under `min_size`
    pixels), and how many were added."""
    out = labels.astype(np.promote_types(labels.dtype, np.uint32))
    if not (np.isfinite(radius) and radius > 0):
        return out, 0
    image = np.asarray(image, np.float32)
    candidates = dark_spots(image, radius)
    if not len(candidates):
        return out, 0
    taken = ndi.binary_dilation(out > 0, iterations=max(1, int(CLEARANCE * radius)))
    smooth = ndi.gaussian_filter(image, SIGMA)
    next_id = int(out.max()) + 1
    added = 0
    for y, x in candidates:
        if taken[y, x]:
            continue
        window, piece = _draw(out, smooth, int(y), int(x), radius)
        if piece is None or np.count_nonzero(piece) < min_size:
            continue
        out[window][piece] = next_id
        taken[window] |= piece
        next_id += 1
        added += 1
    return out, added


def drawn_radius(labels: np.ndarray) -> float:
    """Equivalent radius (px) of the median particle drawn in `labels` (NaN where none is):
    the size a frame's own particles show, which a time stack's missed particles are looked
    for at (its size is decided once for the whole video)."""
    areas = np.bincount(np.asarray(labels).ravel())[1:]
    areas = areas[areas > 0]
    return float(np.sqrt(np.median(areas) / np.pi)) if areas.size else float("nan")


def dark_spots(image: np.ndarray, radius: float) -> np.ndarray:
    """(N, 2) pixel positions of the dark spots of `image` the size of a particle of `radius`
    px that stand out beyond `decoy_threshold`, strongest first."""
    response = ndi.gaussian_filter(image, CENTRE * radius) - ndi.gaussian_filter(image, SURROUND * radius)
    centre = float(np.median(response))
    spread = robust_spread(response, centre)
    if spread <= 0:
        return np.empty((0, 2), int)
    z = (centre - response) / spread
    apart = max(2, int(round(0.8 * radius)))
    lowest = float(THRESHOLDS[0])  # weaker peaks never count, and searching them is slow
    dark = peak_local_max(z, min_distance=apart, threshold_abs=lowest, exclude_border=False)
    bright = peak_local_max(-z, min_distance=apart, threshold_abs=lowest, exclude_border=False)
    threshold = decoy_threshold(z[tuple(dark.T)], -z[tuple(bright.T)])
    return dark[z[tuple(dark.T)] >= threshold] if np.isfinite(threshold) else dark[:0]


def decoy_threshold(candidates: np.ndarray, decoys: np.ndarray) -> float:
    """The lowest of THRESHOLDS at which the decoys standing as high are at most
    DECOY_SHARE of the candidates (inf where none is)."""
    for level in THRESHOLDS:
        found = int((candidates >= level).sum())
        if found and (decoys >= level).sum() <= DECOY_SHARE * found:
            return float(level)
    return float("inf")


def _draw(labels: np.ndarray, smooth: np.ndarray, y: int, x: int, radius: float):
    """(window, mask) of the particle at candidate (y, x), or (window, None) where the spot
    is not drawn: too little support around it, no core darker than it, or too small."""
    half = int(np.ceil(RING[1] * radius)) + 2
    height, width = labels.shape
    window = (slice(max(y - half, 0), min(y + half + 1, height)), slice(max(x - half, 0), min(x + half + 1, width)))
    yy, xx = np.mgrid[window]
    distance = np.hypot(yy - y, xx - x)
    free = labels[window] == 0
    grey = smooth[window]
    ring = free & (distance >= RING[0] * radius) & (distance <= RING[1] * radius)
    level = own_level(grey, ring, distance <= max(1.0, 0.5 * radius))
    if level is None:
        return window, None
    pieces, count = ndi.label(free & (distance <= REACH * radius) & (grey < level))
    if count == 0:
        return window, None
    nearest = np.where(pieces > 0, distance, np.inf)
    closest = int(np.argmin(nearest))
    if nearest.flat[closest] > 0.5 * radius:
        return window, None
    piece = pieces == pieces.flat[closest]
    if piece.sum() < max(5, MIN_AREA_SHARE * np.pi * radius**2):
        return window, None
    return window, piece
