"""Classical baseline: Gaussian smoothing, Otsu threshold, watershed split of touching particles.

No training, no weights, fast on a CPU: the reference every deep model must beat.
Defaults were tuned on the article's training images and on `synth` images
(see docs/models.md for the figures and commands).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage as ndi
from skimage.filters import threshold_otsu

from ..errors import TemsegError
from ..instances import DEFAULT_SPLIT_DEPTH, mask_to_instances
from ..preprocess import fit_illumination_plane, illumination_plane, noise_to_contrast

#: sigma = AUTO_GAIN x (noise/contrast after a sigma-2 smoothing): calibrated so the
#: article's images (ratio ~0.135) get sigma ~5 and dose-40 synthetic ones (~0.064) ~2.4.
#: The estimate is snapped to this ladder so that small changes in noise between
#: frames of a video do not change the smoothing (and the particle outlines).
AUTO_GAIN = 37.0
AUTO_LADDER = np.array([1.0, 2.0, 3.0, 5.0, 8.0])


#: Gradient across the field, relative to particle contrast, above which "auto" flattens.
#: The article's images measure < 0.1, synthetic ones with a 15 % ramp > 0.6.
FLATTEN_SPAN = 0.2


def flatten_illumination(image: np.ndarray, flatten: bool | str) -> np.ndarray:
    """Remove a linear illumination gradient fitted to the background, when asked or needed."""
    if flatten is False or flatten == "never":
        return image
    # Estimated on every other pixel: the plane is smooth, and this step must stay cheap.
    coarse = ndi.gaussian_filter(image[::2, ::2], 2.0, mode="nearest")
    if float(coarse.max()) <= float(coarse.min()):
        return image
    background = coarse >= threshold_otsu(coarse)
    b, c = fit_illumination_plane(coarse, background)
    contrast = float(coarse[background].mean() - coarse[~background].mean()) if (~background).any() else 0.0
    if flatten == "auto" and abs(b) + abs(c) <= FLATTEN_SPAN * abs(contrast):
        return image
    return image - illumination_plane(image.shape, b, c)


def auto_sigma(image: np.ndarray) -> float:
    """Smoothing for `image` from its noise-to-contrast ratio (`noise_to_contrast`)."""
    ratio = noise_to_contrast(image)
    if not np.isfinite(ratio):
        return float(AUTO_LADDER[-1])
    estimate = AUTO_GAIN * ratio
    return float(AUTO_LADDER[np.argmin(np.abs(AUTO_LADDER - estimate))])


@dataclass
class ClassicalSegmenter:
    """Gaussian + Otsu + distance-transform watershed.

    sigma: Gaussian smoothing in pixels, or "auto": scaled to the image's measured
        noise-to-contrast ratio (see `auto_sigma`), so noisy low-dose images get more.
    Particles are dark in the image it is given (`segmentation` inverts dark-field images).
    threshold_offset: added to the Otsu threshold, in normalised intensity.
    min_size: objects below this many pixels are dropped.
    split / split_depth: watershed split of touching particles (see instances.py).
    flatten: subtract a fitted illumination plane first; "auto" does so only when the
        gradient exceeds FLATTEN_SPAN x the particle contrast (well-lit images stay untouched).
    """

    name: str
    sigma: float | str = "auto"
    threshold_offset: float = 0.0
    min_size: int = 30
    split: bool = True
    split_depth: float = DEFAULT_SPLIT_DEPTH
    flatten: bool | str = "auto"
    #: Particle radii (px) it segments well (`python benchmarks/radius_sweep.py`): smaller ones
    #: are lost to the smoothing and min_size, so `segmentation` enlarges their images.
    radius_range = (14.0, 90.0)

    def predict(self, image: np.ndarray, **options) -> np.ndarray:
        """Instance labels (uint32, Y x X) for a normalised float32 image; options override fields."""
        known = {k: v for k, v in self.__dict__.items() if k != "name"}
        unknown = set(options) - set(known)
        if unknown:
            raise TemsegError(
                f"unknown option(s) for the {self.name} model: {', '.join(sorted(unknown))}; known: {', '.join(known)}"
            )
        params = {**known, **options}
        image = flatten_illumination(image, params["flatten"])
        sigma = auto_sigma(image) if params["sigma"] == "auto" else float(params["sigma"])
        smooth = ndi.gaussian_filter(image, sigma, mode="nearest") if sigma > 0 else image
        foreground = self.foreground(smooth, params["threshold_offset"])
        return mask_to_instances(
            foreground,
            split=params["split"],
            split_depth=params["split_depth"],
            min_size=params["min_size"],
        )

    @staticmethod
    def foreground(smooth: np.ndarray, offset: float) -> np.ndarray:
        """Boolean mask of the dark particles of a smoothed image by Otsu's threshold."""
        if float(smooth.max()) <= float(smooth.min()):
            return np.zeros(smooth.shape, bool)
        return smooth < threshold_otsu(smooth) + offset


def build(name: str, weights: str | None, device: str | None, **options) -> ClassicalSegmenter:
    """The classical model with `options` as its defaults (it has no weights)."""
    if weights is not None:
        raise TemsegError("the classical model has no weights; drop --weights")
    return ClassicalSegmenter(name, **options)
