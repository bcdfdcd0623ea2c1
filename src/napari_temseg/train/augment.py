"""Augmentations that fit TEM: the physics allows any orientation, dose and gain, little else.

All take and return (image float32 [0, 1] (Y, X), labels uint32 (Y, X)) and draw from
the given numpy Generator, so runs are reproducible with a seed.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi


def flip_rotate(image: np.ndarray, labels: np.ndarray, rng: np.random.Generator):
    """One of the 8 symmetries of the square."""
    k = int(rng.integers(4))
    image, labels = np.rot90(image, k), np.rot90(labels, k)
    if rng.random() < 0.5:
        image, labels = image[:, ::-1], labels[:, ::-1]
    return np.ascontiguousarray(image), np.ascontiguousarray(labels)


def intensity(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Brightness, contrast and gamma changes, as between microscopes and sessions."""
    gamma = float(np.exp(rng.uniform(-0.3, 0.3)))
    out = np.clip(image, 0, 1) ** gamma
    out = (out - 0.5) * rng.uniform(0.7, 1.3) + 0.5 + rng.uniform(-0.1, 0.1)
    return np.clip(out, 0, 1).astype(np.float32)


def shot_noise(image: np.ndarray, rng: np.random.Generator, dose: tuple[float, float] = (5.0, 200.0)) -> np.ndarray:
    """Re-expose the image at a random electron dose (Poisson noise), so low-dose frames are seen."""
    d = float(np.exp(rng.uniform(np.log(dose[0]), np.log(dose[1]))))
    return np.clip(rng.poisson(np.clip(image, 0, 1) * d) / d, 0, 1).astype(np.float32)


def rescale(image: np.ndarray, labels: np.ndarray, rng: np.random.Generator, spread: float = 0.15):
    """A small magnification change, cropped or padded back to the original shape."""
    factor = float(rng.uniform(1 - spread, 1 + spread))
    img = ndi.zoom(image, factor, order=1)
    lab = ndi.zoom(labels, factor, order=0)
    h, w = image.shape
    out_img = np.full((h, w), float(np.median(image)), np.float32)
    out_lab = np.zeros((h, w), labels.dtype)
    ch, cw = min(h, img.shape[0]), min(w, img.shape[1])
    out_img[:ch, :cw] = img[:ch, :cw]
    out_lab[:ch, :cw] = lab[:ch, :cw]
    return out_img, out_lab


def augment(image: np.ndarray, labels: np.ndarray, rng: np.random.Generator):
    """The full chain: for labels that mark the physical particle edge."""
    image, labels = flip_rotate(image, labels, rng)
    if rng.random() < 0.5:
        image, labels = rescale(image, labels, rng)
    image = intensity(image, rng)
    if rng.random() < 0.5:
        image = shot_noise(image, rng)
    return image, labels


def augment_light(image: np.ndarray, labels: np.ndarray, rng: np.random.Generator):
    """Symmetries and intensity only: for labels drawn on the image's own noise.

    Annotations made by smoothing and thresholding (the article's) put each edge where
    this image's noise put it; a re-exposure or a resampling moves the image's edge by a
    pixel or so but not the label's, which teaches the network to ignore exactly what it
    must follow.
    """
    image, labels = flip_rotate(image, labels, rng)
    return intensity(image, rng), labels


#: `temseg train --augment` choices.
AUGMENTATIONS = {"full": augment, "light": augment_light}
