"""Gaussian filters whose kernels are built once per sigma.

The polarity and size decisions filter many small images (block-averaged copies of
16-256 px) with the same few sigmas; there scipy's building of the kernel on every call
costs as much as the filtering. These give scipy's results to the bit (the same kernels,
applied by the same `correlate1d` passes in the same order), only cheaper.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from scipy import ndimage as ndi


@lru_cache(maxsize=256)
def gaussian_weights(sigma: float, order: int = 0, truncate: float = 4.0) -> np.ndarray:
    """The weights `ndi.gaussian_filter1d(x, sigma, order=order, truncate=truncate)`
    correlates with, read off its response to a unit impulse (so they are scipy's own)."""
    radius = int(truncate * float(sigma) + 0.5)
    impulse = np.zeros(2 * radius + 1)
    impulse[radius] = 1.0
    weights = ndi.gaussian_filter1d(impulse, sigma, order=order, mode="constant", truncate=truncate)[::-1].copy()
    weights.flags.writeable = False
    return weights


def gaussian(image: np.ndarray, sigma: float, truncate: float = 4.0) -> np.ndarray:
    """`ndi.gaussian_filter(image, sigma, mode="nearest", truncate=truncate)` (sigma > 0)."""
    weights = gaussian_weights(float(sigma), 0, truncate)
    out = image
    for axis in range(image.ndim):
        out = ndi.correlate1d(out, weights, axis, mode="nearest")
    return out


def gaussian_laplace(image: np.ndarray, sigma: float) -> np.ndarray:
    """`ndi.gaussian_laplace(image, sigma, mode="nearest")` of a 2-D image (sigma > 0):
    the second derivative along each axis, smoothed along the other, summed."""
    smooth, second = gaussian_weights(float(sigma), 0), gaussian_weights(float(sigma), 2)
    out = ndi.correlate1d(ndi.correlate1d(image, second, 0, mode="nearest"), smooth, 1, mode="nearest")
    out += ndi.correlate1d(ndi.correlate1d(image, smooth, 0, mode="nearest"), second, 1, mode="nearest")
    return out
