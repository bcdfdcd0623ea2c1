"""Objects the image's shot noise alone could have drawn, told apart from particles.

Every model draws a few objects on an empty support, and on a frame of noise alone
(detector noise with the beam blanked, a field before the particles drift in) dozens:
every rule that picks particles also picks the darkest specks of the noise. A particle,
however faint, differs from its surround by more than the noise of the pixels it covers;
a speck does not. The test is on the raw pixels, not a smoothed image: the object's mean
against the mean of a ring just outside it (other objects left out), in units of the
noise of a mean (`pixel_noise`: from neighbouring 2 x 2 blocks' differences, the largest
left out, so the particles' edges and the support's grains hardly move it). The level a
speck must reach grows with the number of places noise could put it: a particle kept in
a crop may need more significance in the whole frame it was cut from.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi

#: Objects whose contrast against their surround is fewer noise standard errors than this
#: are dropped (small ones need more: `required_significance`); chosen among 2-6 on the
#: development set (3.5 dropped the most noise specks without losing particles of radius
#: 3-7 px).
MIN_SIGNIFICANCE = 3.5
#: The surround: pixels within this many px (a square) of an object, ...
RING_OUTER = 6
#: ... and more than this many px from every object (their blurred edges left out).
RING_INNER = 2
#: Fewer surround pixels than this: the object is measured against the whole support (a
#: network tiling a frame of noise with objects leaves them none of their own).
MIN_RING = 5
#: The noise is measured on this many rows and columns spread over the image ...
NOISE_LINES = 128
#: ... as the RMS of the differences between neighbouring 2 x 2 block means, leaving out the
#: largest `NOISE_TRIM` of them (edges, grains) and scaled back to an untrimmed Gaussian's
#: (`_TRIMMED_RMS`, the RMS of a Gaussian's values within its central 90 %).
NOISE_TRIM = 0.1
_TRIMMED_RMS = 0.7893


def pixel_noise(image: np.ndarray) -> float:
    """The noise of `image` as a per-pixel standard deviation that makes sigma / sqrt(n) the
    error of an n-pixel mean: measured on 2 x 2 block means (twice their spread), so that
    noise correlated between neighbours counts as it affects means (a sharpened export's
    anti-correlated noise averages out faster than white noise, a blurred one's slower); a
    trimmed RMS, not a median, so that 8-bit noise under 1 grey level is not rounded up;
    the smaller of the horizontal and vertical estimates, so that a two-port camera's
    column offsets are not taken for noise."""
    image = np.asarray(image, np.float64)
    h, w = (image.shape[0] // 2) * 2, (image.shape[1] // 2) * 2
    blocks = image[:h, :w].reshape(h // 2, 2, w // 2, 2).mean(axis=(1, 3))
    estimates = [_difference_spread(lines) for lines in (blocks, blocks.T) if lines.shape[1] > 1]
    return 2.0 * min(estimates) if estimates else 0.0


def _difference_spread(lines: np.ndarray) -> float:
    """Standard deviation of the values along `lines` (rows of block means, `NOISE_LINES`
    of them), from their neighbours' differences (trimmed RMS)."""
    sample = lines[:: max(1, lines.shape[0] // NOISE_LINES)]
    diff = np.abs(np.diff(sample, axis=1).ravel())
    kept = np.sort(diff)[: max(1, int(round(diff.size * (1 - NOISE_TRIM))))]
    return float(np.sqrt(np.mean(kept**2) / 2.0) / _TRIMMED_RMS)


def object_significance(labels: np.ndarray, image: np.ndarray) -> np.ndarray:
    """Per label (index = ID; index 0 unused) how many standard errors of the pixel noise
    the object is darker than its surround (`RING_INNER`-`RING_OUTER` px out; where two
    objects' surrounds meet, the higher ID's; the whole support where that leaves it too
    little); inf where the noise is unmeasurable (a noise-free image) or nothing is support."""
    count = int(labels.max())
    z = np.full(count + 1, np.inf)
    sigma = pixel_noise(image)
    if count == 0 or not sigma > 0:
        return z
    image = np.asarray(image, np.float64)
    inside = labels > 0
    owner = ndi.maximum_filter(labels, 2 * RING_OUTER + 1)
    ring = (owner > 0) & ~ndi.maximum_filter(inside, 2 * RING_INNER + 1)
    n_in, mean_in = _counts_and_means(labels[inside], image[inside], count)
    n_ring, surround = _counts_and_means(owner[ring], image[ring], count)
    enclosed = n_ring < MIN_RING
    background = image[~inside]
    if enclosed.any() and background.size >= MIN_RING:  # no surround of its own: the whole support's
        surround[enclosed], n_ring[enclosed] = background.mean(), background.size
    valid = (n_in > 0) & (n_ring >= MIN_RING)
    error = sigma * np.sqrt(1.0 / np.maximum(n_in, 1) + 1.0 / np.maximum(n_ring, 1))
    z[valid] = (surround[valid] - mean_in[valid]) / error[valid]
    return z


def _counts_and_means(ids: np.ndarray, values: np.ndarray, count: int) -> tuple[np.ndarray, np.ndarray]:
    """How many `values` each id in 0..count has, and their mean."""
    n = np.bincount(ids, minlength=count + 1)
    return n, np.bincount(ids, values, minlength=count + 1) / np.maximum(n, 1)


def required_significance(labels: np.ndarray, floor: float = MIN_SIGNIFICANCE) -> np.ndarray:
    """Per label the significance it needs: at least `floor`, and as much as the deepest of
    the image's noise patches of its size reaches by chance, sqrt(2 ln(image area / its
    area)) (a small speck has many more places to arise than a large one: on frames of noise
    alone the flat floor left specks of 4-25 px at 3.5-4.8)."""
    area = np.maximum(np.bincount(labels.ravel()), 1)
    return np.maximum(floor, np.sqrt(2.0 * np.log(np.maximum(labels.size / area, 2.0))))


def drop_noise_objects(labels: np.ndarray, image: np.ndarray, min_significance: float = MIN_SIGNIFICANCE) -> np.ndarray:
    """`labels` without the objects that stand out from their surround in `image`
    (normalised, particles dark) by fewer noise standard errors than they need
    (`required_significance`, at least `min_significance`; 0: all kept), the others
    renumbered 1..N in their order."""
    if min_significance <= 0 or not labels.any():
        return labels
    keep = object_significance(labels, image) >= required_significance(labels, min_significance)
    keep[0] = False
    if keep[1:].all():
        return labels
    return np.where(keep, np.cumsum(keep), 0).astype(labels.dtype)[labels]
