"""Classical baseline: support flattening, Gaussian smoothing, Otsu threshold, watershed split
of touching particles.

No training, no weights, fast on a CPU: the reference every deep model must beat.
Defaults were tuned on the article's training images and on `synth` images
(see docs/models.md for the figures and commands).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage as ndi

from ..errors import TemsegError
from ..flattening import flatten_illumination, stack_flatten_mode
from ..instances import DEFAULT_SPLIT_DEPTH, mask_to_instances
from ..preprocess import noise_to_contrast, otsu_levels

#: Strength of the bright-field look dark-field images are given (`rims.absorption_look`):
#: there brightness grows with thickness, and Otsu's level between the support and the thick
#: particles passed over the thin ones (a HAADF user's particles of radius 4-5 px beside ones
#: of 20: 5 of 21 found). Chosen among 0-3 on the development set's dark-field images (16,
#: F1 0.960 -> 0.983 at 1.5 and 2; radius 3-7 px 0.903 -> 0.944, 35-80 px 0.794 -> 0.982,
#: dose 8 0.772 -> 0.939 at 2; IoU the same; docs/models.md).
DARK_FIELD_ABSORPTION = 2.0

#: sigma = AUTO_GAIN x (noise/contrast after a sigma-2 smoothing): calibrated so the
#: article's images (ratio ~0.135) get sigma ~5 and dose-40 synthetic ones (~0.064) ~2.4.
#: The estimate is snapped to this ladder so that small changes in noise between
#: frames of a video do not change the smoothing (and the particle outlines).
AUTO_GAIN = 37.0
AUTO_LADDER = np.array([1.0, 2.0, 3.0, 5.0, 8.0])
#: ... but never more than this share of the particles' radius, where it is known
#: (`capped_sigma`): chosen among 0.15-0.4 on the development set (docs/models.md).
SIGMA_PER_RADIUS = 0.25


#: Weight of the particles' darkness in the split relief (`darkness`), chosen among 0-2 on the
#: development set, training-regime videos, `synth` and the article's images (docs/models.md).
SPLIT_DARKNESS = 1.0
#: On a grainy support (or at a dose that leaves much noise after smoothing) the darkness
#: inside particles is the grains' as much as the particles' thickness, and a split by it
#: follows them; with `grain_guard` the darkness weighs fully where the support's own spread
#: (`support_spread`) is at most TEXTURE_FULL of the particle contrast, not at all from
#: TEXTURE_NONE, linearly between (`textured_weight`; chosen on training-regime videos with
#: the heaviest carbon the generator draws, docs/models.md).
TEXTURE_FULL, TEXTURE_NONE = 0.25, 0.35
#: How far below the support's mean (in units of `support_spread`) a piece of the
#: foreground must reach somewhere to be kept (`drop_shallow`): chosen among 0-5 on the
#: development set (docs/models.md).
SEED_DEPTH = 4.0
#: Where Otsu's threshold cuts into the support itself (sparse particles: a few per cent of
#: the field, whose histogram is one peak with a tail), the threshold is lowered to the
#: support's most common level less this many `support_spread`s (`particle_levels`):
#: chosen among 1.5-3 on the development set (docs/models.md).
SPARSE_DEPTH = 2.0

def darkness(smooth: np.ndarray, particles: float, support: float) -> np.ndarray:
    """How dark each pixel of a smoothed image is, in units of the particle contrast: 0 at
    the support's mean grey level, 1 at the particles', clipped to [0, 2]. A particle is
    darkest where it is thickest, near its centre, and two touching particles are lighter
    where they meet, so this marks them apart where their outline has no neck."""
    return np.clip((support - smooth) / max(support - particles, 1e-6), 0.0, 2.0)


def support_spread(smooth: np.ndarray, support: float) -> float:
    """How much a smoothed support varies by itself (shot noise left by the smoothing, carbon
    texture, thickness): the RMS deviation of the pixels brighter than its mean level, the
    side of the support that no particle reaches."""
    upper = smooth[smooth > support]
    return float(np.sqrt(np.mean((upper - support) ** 2))) if upper.size else 0.0


def textured_weight(weight: float, smooth: np.ndarray, particles: float, support: float) -> float:
    """`weight` of the darkness split, less where the support's texture rivals the particle
    contrast (TEXTURE_FULL, TEXTURE_NONE)."""
    texture = support_spread(smooth, support) / max(support - particles, 1e-6)
    return weight * float(np.clip((TEXTURE_NONE - texture) / (TEXTURE_NONE - TEXTURE_FULL), 0.0, 1.0))


def drop_shallow(foreground: np.ndarray, smooth: np.ndarray, support: float, depth: float) -> np.ndarray:
    """`foreground` without the pieces whose darkest point is less than `depth` x
    `support_spread` below the support: a hysteresis threshold. Otsu's level sits halfway to
    the particles, and on a grainy carbon support or at low dose the support's own dark
    grains cross it; a particle, however faint, has a core well below what the support
    does by itself."""
    if depth <= 0:
        return foreground
    pieces, n = ndi.label(foreground)
    keep = np.zeros(n + 1, bool)
    keep[np.unique(pieces[smooth <= support - depth * support_spread(smooth, support)])] = True
    keep[0] = False
    return keep[pieces]


def support_mode(smooth: np.ndarray) -> float:
    """The most common grey level of a smoothed image (peak of its lightly smoothed
    256-bin histogram between the 0.5th and 99.5th percentiles)."""
    low, high = np.percentile(smooth, [0.5, 99.5])
    if high <= low:
        return float(low)
    counts, edges = np.histogram(smooth, 256, (low, high))
    peak = int(np.argmax(ndi.gaussian_filter1d(counts.astype(np.float64), 2.0)))
    return float((edges[peak] + edges[peak + 1]) / 2)


def particle_levels(smooth: np.ndarray, depth: float) -> tuple[float, float, float]:
    """(threshold, mean below it, mean at or above it) of a smoothed image with dark particles.

    Otsu's threshold, unless it lies above the support's most common level
    (`support_mode`) less `depth` spreads: Otsu splits a histogram into two classes of
    comparable weight, and when particles cover a few per cent of the field it halves the
    support's own noise and texture instead (hundreds of support patches taken for
    particles). The threshold is then that lowered level (the spread: `support_spread`
    about the most common level, on its bright side, where no particle reaches). An image
    whose most common level is a particle's (dense fields: in the darker half of Otsu's dark
    class) keeps Otsu's; a support with a long bright tail (coarse grain) has its most common
    level just below Otsu's threshold, which there halves the support, not a dense field."""
    threshold, particles, support = otsu_levels(smooth)
    mode = support_mode(smooth)
    if mode <= (threshold + particles) / 2:
        return threshold, particles, support
    lowered = mode - depth * support_spread(smooth, mode)
    below = smooth < lowered
    if lowered >= threshold or not below.any():
        return threshold, particles, support
    return lowered, float(smooth[below].mean()), float(smooth[~below].mean())


def smoothed(image: np.ndarray, flatten: bool | str, sigma: float | str, radius: float) -> np.ndarray:
    """`image` flattened (`flatten_illumination`) and smoothed as the classical model does:
    `sigma` px, or "auto" (`auto_sigma`, within a quarter of the particles' `radius` where
    known, `capped_sigma`)."""
    flat = flatten_illumination(image, flatten)
    sigma = capped_sigma(auto_sigma(flat), radius) if sigma == "auto" else float(sigma)
    return ndi.gaussian_filter(flat, sigma, mode="nearest") if sigma > 0 else flat


def smooth_like_classical(image: np.ndarray, radius: float = float("nan")) -> np.ndarray:
    """`image` as the classical model smooths it by default (`smoothed`, flatten and sigma
    "auto"): what other steps read grey levels from (`rims`, the networks' darkness split,
    `drop_shallow_particles`)."""
    return smoothed(image, "auto", "auto", radius)


def drop_shallow_particles(labels: np.ndarray, image: np.ndarray, depth: float = SEED_DEPTH,
                           radius: float = float("nan"), flatten: bool | str = "auto",
                           sigma: float | str = "auto") -> np.ndarray:
    """Any model's `labels` on `image` (normalised, particles dark) without the connected
    pieces the classical model's `drop_shallow` would drop: none of their pixels lies
    `depth` support spreads below the support, the image flattened and smoothed as given
    (the classical model's own options, a stack's decided flattening). A network that learnt
    what particles look like also draws a grainy support's dark grains as particles (hundreds
    of them on some simulated images); the grains rarely reach a particle's depth."""
    if depth <= 0 or not labels.any():
        return labels
    smooth = smoothed(image, flatten, sigma, radius)
    if float(smooth.max()) <= float(smooth.min()):
        return labels
    _, _, support = particle_levels(smooth, SPARSE_DEPTH)
    return np.where(drop_shallow(labels > 0, smooth, support, depth), labels, 0).astype(labels.dtype)


def image_darkness(image: np.ndarray) -> np.ndarray:
    """`darkness` of a normalised image with dark particles, smoothed as the classical model does."""
    smooth = smooth_like_classical(image)
    _, particles, support = otsu_levels(smooth)
    return darkness(smooth, particles, support)


def auto_sigma(image: np.ndarray) -> float:
    """Smoothing for `image` from its noise-to-contrast ratio (`noise_to_contrast`)."""
    ratio = noise_to_contrast(image)
    if not np.isfinite(ratio):
        return float(AUTO_LADDER[-1])
    estimate = AUTO_GAIN * ratio
    return float(AUTO_LADDER[np.argmin(np.abs(AUTO_LADDER - estimate))])


def capped_sigma(sigma: float, radius: float) -> float:
    """`sigma` lowered to the largest rung of AUTO_LADDER within SIGMA_PER_RADIUS x `radius`
    (px; unchanged when the radius is unknown). The noise alone asks for heavy smoothing on
    a noisy image of small particles, which blurs touching pairs into one and draws every
    outline a few pixels out; a smoothing of a quarter radius still leaves a particle its
    core."""
    if not np.isfinite(radius):
        return sigma
    rung = max(int(np.searchsorted(AUTO_LADDER, SIGMA_PER_RADIUS * radius, side="right")) - 1, 0)
    return min(sigma, float(AUTO_LADDER[rung]))


@dataclass
class ClassicalSegmenter:
    """Gaussian + Otsu + distance-transform watershed.

    sigma: Gaussian smoothing in pixels, or "auto": scaled to the image's measured
        noise-to-contrast ratio (see `auto_sigma`), so noisy low-dose images get more, within
        a quarter of the particles' radius where `segmentation` knows it (`capped_sigma`).
    Particles are dark in the image it is given (`segmentation` inverts dark-field images).
    threshold_offset: added to the Otsu threshold, in normalised intensity.
    min_size: objects below this many pixels are dropped.
    split / split_depth: watershed split of touching particles (see instances.py).
    corner_cuts: as part of the split, cut objects that are convex particles joined along a
        face (`cuts`); "auto" = on (`segmentation` turns it off for time stacks).
    split_darkness: weight of the particles' darkness (`darkness`) added to the log-distance
        relief the split runs on; 0 splits by the outline alone.
    grain_guard: the darkness weighs less where the support's grains rival the particle
        contrast (`textured_weight`); "auto" = off (`segmentation` turns it on for the frames
        of a time stack, where a split that follows grains and noise changes from frame to
        frame and takes identities and merges with it, and the stack decides the weight once,
        `decide_for_stack`).
    seed_depth: a piece of the foreground is kept only where it reaches this many
        `support_spread`s below the support (`drop_shallow`); 0 keeps every piece.
    flatten: subtract the support's uneven brightness first (`flatten_illumination`):
        "plane" a fitted gradient, "always" (True) the rest too, "never" (False) nothing;
        "auto" what exceeds FLATTEN_SPAN (a gradient) or UNEVEN_SPAN (the rest) x the
        particle contrast, so evenly lit images on an even support stay untouched, and a
        time stack decides once (`decide_for_stack`).
    """

    name: str
    sigma: float | str = "auto"
    threshold_offset: float = 0.0
    min_size: int = 30
    split: bool = True
    split_depth: float = DEFAULT_SPLIT_DEPTH
    split_darkness: float = SPLIT_DARKNESS
    grain_guard: bool | str = "auto"
    corner_cuts: bool | str = "auto"
    seed_depth: float = SEED_DEPTH
    flatten: bool | str = "auto"
    #: Particle radii (px) it segments well (`python benchmarks/radius_sweep.py`): smaller ones
    #: are lost to the smoothing and min_size, so `segmentation` enlarges their images.
    radius_range = (14.0, 90.0)
    #: `segmentation` passes the particles' measured radius in the image it hands over.
    takes_particle_radius = True
    #: It drops shallow pieces itself (`seed_depth`), before splitting: `segmentation` does not.
    checks_depth = True
    #: It flattens the support itself (`flatten`), on the image it smooths: `segmentation` does not.
    flattens = True
    #: The bright-field look `segmentation` gives it for dark-field images (`rims.absorption_look`).
    df_absorption = DARK_FIELD_ABSORPTION

    def decide_for_stack(self, frames: list[np.ndarray], options: dict,
                         particle_radius: float = float("nan")) -> dict:
        """What the whole time stack shares, from sampled frames: one flatten mode, the most
        common among them (ties go to the gentler mode; a mode given explicitly is kept), and
        with `grain_guard` one weight of the darkness split, the median of theirs
        (`textured_weight`). Why: decided frame by frame, a video near a threshold gets
        flattened and unflattened frames, or frames split by the darkness and frames split by
        the outline, in turn; its outlines jump, and touching particles are seen to merge and part."""
        if not frames:
            return {}
        decided = {}
        flatten = options.get("flatten", self.flatten)
        if flatten == "auto":
            decided["flatten"] = flatten = stack_flatten_mode(frames)
        if options.get("grain_guard", self.grain_guard) is True:
            weight = float(options.get("split_darkness", self.split_darkness))
            sigma = options.get("sigma", self.sigma)
            weights = [self._grain_weight(frame, weight, flatten, sigma, particle_radius) for frame in frames]
            decided.update(split_darkness=float(np.median(weights)), grain_guard=False)  # decided: not per frame
        return decided

    @staticmethod
    def _grain_weight(image: np.ndarray, weight: float, flatten: bool | str, sigma: float | str,
                      particle_radius: float) -> float:
        """`textured_weight` of one image, smoothed as `predict` smooths it."""
        smooth = smoothed(image, flatten, sigma, particle_radius)
        if float(smooth.max()) <= float(smooth.min()):
            return weight
        _, particles, support = particle_levels(smooth, SPARSE_DEPTH)
        return textured_weight(weight, smooth, particles, support)

    def predict(self, image: np.ndarray, particle_radius: float = float("nan"), **options) -> np.ndarray:
        """Instance labels (uint32, Y x X) for a normalised float32 image; options override fields.
        particle_radius: the particles' typical radius in `image` (px; NaN = unknown)."""
        known = {k: v for k, v in self.__dict__.items() if k != "name"}
        unknown = set(options) - set(known)
        if unknown:
            raise TemsegError(
                f"unknown option(s) for the {self.name} model: {', '.join(sorted(unknown))}; known: {', '.join(known)}"
            )
        params = {**known, **options}
        smooth = smoothed(image, params["flatten"], params["sigma"], particle_radius)
        if float(smooth.max()) <= float(smooth.min()):
            return np.zeros(smooth.shape, np.uint32)
        threshold, particles, support = particle_levels(smooth, SPARSE_DEPTH)
        weight = float(params["split_darkness"])
        if params["grain_guard"] is True:
            weight = textured_weight(weight, smooth, particles, support)
        foreground = drop_shallow(smooth < threshold + params["threshold_offset"], smooth, support,
                                  float(params["seed_depth"]))
        return mask_to_instances(
            foreground,
            split=params["split"],
            split_depth=params["split_depth"],
            corner_cuts=params["corner_cuts"] is not False,
            min_size=params["min_size"],
            inner_relief=weight * darkness(smooth, particles, support) if weight and params["split"] else None,
        )


def build(name: str, weights: str | None, device: str | None, **options) -> ClassicalSegmenter:
    """The classical model with `options` as its defaults (it has no weights)."""
    if weights is not None:
        raise TemsegError("the classical model has no weights: leave the weights empty (weights=None; drop --weights)")
    return ClassicalSegmenter(name, **options)
