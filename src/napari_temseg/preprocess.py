"""Turn any 2-D micrograph a user may hold into the float32 [0, 1] image models take.

Done once, here, so that every model sees the same normalisation: grayscale,
RGB and RGBA (the article's PNGs are RGBA with R = G = B), any integer or float
dtype, with a robust per-image percentile stretch that ignores hot pixels.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from scipy import ndimage as ndi
from skimage.filters import threshold_otsu

from .errors import TemsegError
from .filters import gaussian

#: Percentiles used for the robust stretch; outliers beyond them are clipped.
LOW_PERCENTILE = 0.5
HIGH_PERCENTILE = 99.5


def as_2d_gray(image: np.ndarray) -> np.ndarray:
    """Return a 2-D (Y, X) view of `image`, collapsing RGB/RGBA channels to gray.

    Accepts (Y, X), (Y, X, 3) and (Y, X, 4) (the alpha channel is ignored), (Y, X, 2) where the
    second is an alpha of at most two values (grey and alpha; two channels of data are
    refused), and (1, Y, X) or (Y, X, 1): one frame, one channel.
    Raises TemsegError for anything that is not a single 2-D image.
    """
    if isinstance(image, str | bytes) or hasattr(image, "__fspath__"):
        raise TemsegError(f"got the file name {str(image)!r}, not an image: read it first "
                          "(napari_temseg.io.read_image), or use `temseg segment` on files")
    if image is None:
        raise TemsegError("got None, not an image: pass the pixels (a 2-D array)")
    try:
        arr = np.asarray(image)
    except ValueError:  # nested lists of unequal lengths
        raise TemsegError("the image is no rectangular array of pixels (rows of different lengths?)") from None
    if arr.dtype == bool:
        arr = arr.astype(np.uint8)
    if not (np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating)):
        raise TemsegError(f"image has dtype {arr.dtype}; expected integer or floating-point pixels")
    if arr.size == 0:
        raise TemsegError(f"image is empty (shape {arr.shape}); load a real micrograph")
    if arr.ndim == 3 and 1 in (arr.shape[0], arr.shape[-1]) and arr.shape != (1, 1, 1):
        arr = arr[0] if arr.shape[0] == 1 else arr[..., 0]  # a one-frame stack, or one channel: an image
    if arr.ndim == 3 and arr.shape[-1] == 2 and min(arr.shape[:2]) > 4 and len(np.unique(arr[..., 1])) <= 2:
        arr = arr[..., 0]  # grey and alpha (opaque, or clear corners of a rotated export): ignored, as for RGBA
    if arr.ndim == 3 and arr.shape[-1] in (3, 4) and min(arr.shape[:2]) > 4:
        red, green, blue = arr[..., 0], arr[..., 1], arr[..., 2]
        if np.array_equal(red, green) and np.array_equal(red, blue):
            arr = red
        else:
            arr = (red.astype(np.float32) + green + blue) / 3.0
    if arr.ndim == 3 and arr.shape[-1] == 2 and min(arr.shape[:2]) > 4:
        raise TemsegError(f"the image has two channels of data (shape {arr.shape}; two detectors?): segment one, "
                          "image[..., 0] or image[..., 1], or save it as a grey image")
    if arr.ndim != 2:
        raise TemsegError(
            f"expected a 2-D image (Y, X) or an RGB/RGBA image (Y, X, 3|4), got shape {arr.shape}; "
            "a time stack is tracked (temseg track; in Python, track()), or in Python segmented frame by frame "
            "(segment(stack[t]))"
        )
    if min(arr.shape) < 2:
        raise TemsegError(f"image of shape {arr.shape} is too small to segment (need at least 2x2 pixels)")
    return arr


def normalize(image: np.ndarray) -> np.ndarray:
    """Return `image` as float32 (Y, X) in [0, 1], robustly stretched per image.

    NaN/inf pixels are read as the median of the others (`without_non_finite`). Raises
    TemsegError on mostly NaN/inf, empty or 1-pixel input, or >2-D input.
    A constant image maps to all zeros.
    """
    arr, _ = without_non_finite(as_2d_gray(image))
    if arr.dtype == np.float64:  # values beyond float32's range (1e-300, 1e300) keep their contrast
        peak = float(np.abs(arr).max())
        arr = arr / peak if peak > 0 and not 1e-30 < peak < 1e30 else arr
    arr = arr.astype(np.float32, copy=False)
    # Percentiles of a strided sample: as robust, and 10x faster than a full sort.
    sample = arr.ravel()[:: max(1, arr.size // 65536)]
    lo, hi = np.percentile(sample, [LOW_PERCENTILE, HIGH_PERCENTILE])
    if hi <= lo:
        lo, hi = float(arr.min()), float(arr.max())
    if hi <= lo:
        return np.zeros(arr.shape, np.float32)
    out = (arr - np.float32(lo)) / np.float32(hi - lo)
    np.clip(out, 0.0, 1.0, out=out)
    return out.astype(np.float32, copy=False)


def whole_labels(labels: np.ndarray) -> bool:
    """Whether `labels` hold whole numbers, as particle IDs do (integers, booleans, or floats
    without a fraction), rather than an image's values."""
    return bool(np.issubdtype(labels.dtype, np.integer) or labels.dtype == bool or (
        np.issubdtype(labels.dtype, np.floating) and np.array_equal(labels, np.round(labels))))


def non_finite_count(image: np.ndarray) -> int:
    """Pixels of `image` that are NaN or infinite (none in an integer image)."""
    return int((~np.isfinite(image)).sum()) if np.issubdtype(image.dtype, np.floating) else 0


def without_non_finite(image: np.ndarray) -> tuple[np.ndarray, int]:
    """(`image` with its NaN and infinite pixels read as the median of the others, how many):
    no data there, as a drift-corrected float export pads its border, so the level of the
    support, where no particle is found. Refused where fewer than half the pixels hold data."""
    if not np.issubdtype(image.dtype, np.floating):
        return image, 0
    finite = np.isfinite(image)
    bad = image.size - int(np.count_nonzero(finite))
    if not bad:
        return image, 0
    if 2 * bad > image.size:
        raise TemsegError(f"image is mostly NaN or infinite ({bad} of {image.size} pixels): no data to segment")
    return np.where(finite, image, np.median(image[finite])).astype(image.dtype, copy=False), bad


def first_readable_frame(frames: Any) -> np.ndarray | None:
    """The first frame of a stack that can be read and is not blank (`read_frame`), None for none."""
    for t in range(frames.shape[0]):
        frame, problem = read_frame(frames, t)
        if problem is None:
            return frame
    return None


def read_frame(frames: Any, t: int) -> tuple[np.ndarray | None, str | None]:
    """(frame t, None), or (None, why it cannot be segmented): unreadable (a damaged file of
    a frame folder, a truncated stack), mostly not finite (some NaN or infinite pixels are
    read as the median of the others, `without_non_finite`), or blank (every pixel the same, as a
    frame the camera dropped). Tracking skips such frames rather than losing every
    particle in them."""
    try:
        frame = np.asarray(frames[t])
    except Exception as err:  # noqa: BLE001 - readers raise many kinds for a damaged frame
        return None, f"unreadable ({type(err).__name__}: {str(err)[:120]})"
    try:
        frame, _ = without_non_finite(frame)  # a NaN-padded border: the rest is tracked
    except TemsegError:
        return None, "mostly NaN or infinite pixels (no data)"
    if frame.size == 0 or frame.max() == frame.min():
        return None, "blank (every pixel the same)"
    if random_bytes(frame):
        return None, "corrupt (values spread evenly over the whole range, unrelated to their neighbours)"
    return frame, None


#: `random_bytes`: the share of a frame's values each sixteenth of its integer type's range
#: must hold (of the even 1/16) ...
EVEN_SHARE = (0.5, 1.5)
#: ... and the largest correlation of horizontal neighbours (micrographs: 0.3-0.99; white
#: noise of a very low dose frame is spread over a few levels, not the whole range).
UNRELATED_NEIGHBOURS = 0.05


def random_bytes(frame: np.ndarray) -> bool:
    """Whether an integer frame looks like random bytes (a frame a damaged file or a dropped
    transfer filled with garbage): its values fill the whole range of its type evenly and
    no pixel relates to its neighbour. A histogram-equalised micrograph fills the range
    evenly too, but its neighbours correlate; a frame of shot noise alone relates to no
    neighbour either, but sits on a few levels."""
    if not np.issubdtype(frame.dtype, np.integer) or frame.ndim != 2 or frame.size < 256:
        return False
    info = np.iinfo(frame.dtype)
    sample = frame[:: max(1, frame.shape[0] // 128), :: max(1, frame.shape[1] // 128)].astype(np.float64)
    bins = np.floor((sample - info.min) / ((float(info.max) - info.min + 1) / 16)).astype(int).ravel()
    share = np.bincount(bins, minlength=16) / (bins.size / 16)
    if not (share.min() >= EVEN_SHARE[0] and share.max() <= EVEN_SHARE[1]):
        return False
    left, right = frame[:, :-1].astype(np.float64).ravel(), frame[:, 1:].astype(np.float64).ravel()
    return abs(float(np.corrcoef(left, right)[0, 1])) < UNRELATED_NEIGHBOURS


def _unit_axes(shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Column and row coordinates running from -0.5 to 0.5 across the image."""
    ys = np.linspace(-0.5, 0.5, shape[0], dtype=np.float32)[:, None]
    xs = np.linspace(-0.5, 0.5, shape[1], dtype=np.float32)[None, :]
    return ys, xs


def fit_illumination_plane(image: np.ndarray, background: np.ndarray) -> tuple[float, float]:
    """Slopes (b, c) of the least-squares plane a + b*y + c*x through the `background`
    pixels, with y and x running from -0.5 to 0.5 across the image: b and c are the
    brightness change from edge to edge. Particles are excluded by `background`, so
    they do not bias the fit."""
    ys, xs = _unit_axes(image.shape)
    iy, ix = np.nonzero(background)
    if len(iy) < 3:
        return 0.0, 0.0
    design = np.stack([np.ones(len(iy), np.float32), ys[iy, 0], xs[0, ix]], 1)
    (_, b, c), *_ = np.linalg.lstsq(design, image[iy, ix], rcond=None)
    return float(b), float(c)


def illumination_plane(shape: tuple[int, int], b: float, c: float) -> np.ndarray:
    """The zero-mean plane b*y + c*x over an image of `shape` (see fit_illumination_plane)."""
    ys, xs = _unit_axes(shape)
    return (b * ys + c * xs).astype(np.float32)


def otsu_levels(smooth: np.ndarray) -> tuple[float, float, float]:
    """(Otsu threshold, mean below it, mean at or above it) of a smoothed image."""
    thr = float(threshold_otsu(smooth))
    low, high = smooth[smooth < thr], smooth[smooth >= thr]
    if low.size == 0 or high.size == 0:
        return thr, thr, thr
    return thr, float(low.mean()), float(high.mean())


def robust_spread(values: np.ndarray, centre: float | None = None) -> float:
    """1.4826 x the median absolute deviation of `values` about `centre` (their median by
    default): the standard deviation of Gaussian noise, unmoved by the few values that are
    something else (particles, edges)."""
    middle = float(np.median(values)) if centre is None else centre
    return 1.4826 * float(np.median(np.abs(values - middle)))


def noise_to_contrast(image: np.ndarray) -> float:
    """Noise over particle/background contrast of an image after a sigma-2 smoothing.

    Noise: robust spread (MAD) of the band-pass residual of the smoothed image,
    which sees grainy, correlated noise as well as white noise. Contrast:
    difference of the Otsu class means. Both are unitless, so any dtype works.
    A flat image gives 0, one whose Otsu classes do not differ infinity.
    """
    smooth = gaussian(image, 2.0)
    if float(smooth.max()) <= float(smooth.min()):
        return 0.0
    residual = smooth - gaussian(smooth, 4.0)
    noise = 1.4826 * np.median(np.abs(residual - np.median(residual)))  # in float32: robust_spread (float64) would move it in the 8th digit
    _, low, high = otsu_levels(smooth)
    return float(noise / (high - low)) if high > low else float("inf")


def smoothed_sample(image: np.ndarray) -> np.ndarray:
    """`image` smoothed by a sigma-2 Gaussian, on a grid of at most ~512 px per side (large
    images subsampled first): grey-level statistics at the cost of one 512 px smoothing."""
    stride = max(1, min(image.shape) // 512)
    return ndi.gaussian_filter(image[::stride, ::stride], 2.0 / stride, mode="nearest")


#: Output levels of `anchor_two_classes`: the Otsu threshold and the distance of the class means from it.
ANCHOR_LEVEL, ANCHOR_HALF_CONTRAST = 0.5, 0.15


def anchor_two_classes(image: np.ndarray) -> np.ndarray:
    """Map a [0, 1] image linearly so that its particle/background Otsu threshold
    (after a sigma-2 smoothing) sits at 0.5 and the two class means at 0.35 and 0.65.

    Why: the percentile stretch leaves the particle edge at a different grey level in
    every image (the article's label edges move by 0.013 between images, in stretched
    units), which a network with a local view cannot infer; anchored, the edge lies
    at one level everywhere (0.002 spread), so a network learns it once. Gain, offset and
    dose drop out. Statistics come from a subsample of large images, so the cost stays
    that of one 512 px smoothing. Not clipped: clipping the noise tails would move
    smoothed edges. An image without two classes is returned unchanged.
    """
    sample = smoothed_sample(image)
    if float(sample.max()) <= float(sample.min()):
        return image
    thr, low, high = otsu_levels(sample)
    if high - low <= 1e-3:
        return image
    scale = np.float32(ANCHOR_HALF_CONTRAST * 2 / (high - low))
    return (np.float32(ANCHOR_LEVEL) + (image - np.float32(thr)) * scale).astype(np.float32, copy=False)


#: How a checkpoint's network expects its input beyond `normalize`:
#: "stretch" (the percentile stretch alone; checkpoints without the setting) or
#: "anchored" (then `anchor_two_classes` on the whole image, before tiling).
INPUT_MODES = ("stretch", "anchored")


def check_input_mode(mode: str, denoise: float = 0.0) -> None:
    if mode not in INPUT_MODES:
        raise TemsegError(f"input mode must be one of {', '.join(INPUT_MODES)}, not {mode!r}")
    if not (math.isfinite(denoise) and 0 <= denoise <= 20):
        raise TemsegError(f"denoise is a Gaussian sigma in pixels between 0 (off) and 20, not {denoise!r}")


def stored_input(settings: dict) -> tuple[str, float]:
    """(input mode, denoise sigma) recorded in a checkpoint's settings, checked; checkpoints
    from before these settings existed get the plain stretch."""
    mode, denoise = settings.get("input", "stretch"), float(settings.get("denoise", 0.0))
    check_input_mode(mode, denoise)
    return mode, denoise


def prepare_input(image: np.ndarray, mode: str, denoise: float = 0.0) -> np.ndarray:
    """The network input for a normalised image, as the checkpoint was trained.

    `denoise` > 0: a Gaussian of that sigma (pixels) after the levels are set. Why:
    labels drawn on a smoothed image (the article's) have edges the network must
    otherwise infer through the shot noise; given the smoothed image it learns them
    within a few epochs (docs/semantic-models.md)."""
    check_input_mode(mode, denoise)
    prepared = anchor_two_classes(image) if mode == "anchored" else image
    return ndi.gaussian_filter(prepared, denoise, mode="nearest") if denoise > 0 else prepared
