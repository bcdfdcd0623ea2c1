"""Classical baseline: Gaussian smoothing, Otsu threshold, watershed split of touching particles.

No training, no weights, fast on a CPU: the reference every deep model must beat.
Defaults were tuned on the article's training images and on `synth` images
(see docs/models.md for the figures and commands).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
from scipy import ndimage as ndi
from skimage.filters import threshold_otsu

from ..errors import TemsegError
from ..instances import DEFAULT_SPLIT_DEPTH, mask_to_instances

Polarity = Literal["dark", "bright", "auto"]


@dataclass
class ClassicalSegmenter:
    """Gaussian + Otsu + distance-transform watershed.

    sigma: Gaussian smoothing in pixels (noise at low dose needs more).
    polarity: "dark" particles on a bright background (bright-field TEM),
        "bright" (dark-field/HAADF), or "auto" (the minority Otsu class).
    threshold_offset: added to the Otsu threshold, in normalised intensity.
    min_size: objects below this many pixels are dropped.
    split / split_depth: watershed split of touching particles (see instances.py).
    """

    sigma: float = 5.0
    polarity: Polarity = "dark"
    threshold_offset: float = 0.0
    min_size: int = 30
    split: bool = True
    split_depth: float = DEFAULT_SPLIT_DEPTH
    name: str = "classical"

    def predict(self, image: np.ndarray, **options) -> np.ndarray:
        """Instance labels (uint32, Y x X) for a normalised float32 image; options override fields."""
        params = {**self.__dict__, **options}
        unknown = set(options) - set(self.__dict__)
        if unknown:
            raise TemsegError(
                f"unknown option(s) for the classical model: {', '.join(sorted(unknown))}; "
                f"known: {', '.join(k for k in self.__dict__ if k != 'name')}"
            )
        smooth = ndi.gaussian_filter(image, params["sigma"], mode="nearest") if params["sigma"] > 0 else image
        foreground = self.foreground(smooth, params["polarity"], params["threshold_offset"])
        return mask_to_instances(
            foreground,
            split=params["split"],
            split_depth=params["split_depth"],
            min_size=params["min_size"],
        )

    @staticmethod
    def foreground(smooth: np.ndarray, polarity: Polarity, offset: float) -> np.ndarray:
        """Boolean particle mask of a smoothed image by Otsu's threshold."""
        if polarity not in ("dark", "bright", "auto"):
            raise TemsegError(f"polarity must be 'dark', 'bright' or 'auto', not {polarity!r}")
        if float(smooth.max()) <= float(smooth.min()):
            return np.zeros(smooth.shape, bool)
        thr = threshold_otsu(smooth) + offset
        dark = smooth < thr
        if polarity == "auto":
            polarity = "dark" if dark.mean() <= 0.5 else "bright"
        return dark if polarity == "dark" else smooth > thr
