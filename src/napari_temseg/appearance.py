"""What the particles look like in an image: their contrast polarity and typical size.

Models are trained on dark particles of some size; users bring bright-field TEM (dark
particles) and dark-field/HAADF STEM (bright particles) at any magnification.
`measure_appearance` decides both from the image itself, in about a tenth of the
classical model's time, so that every model can be given the image it expects. On a
copy at most 256 px across (WORK_SIZE):

- two size guesses: where the image's autocorrelation falls to half its height (about
  0.8 particle radii, whatever the particles' polarity, shape or number), measured on
  the image and on a copy smoothed against grainy noise (the smoothing's own width
  taken off);
- for each guess, the image band-passed around that size and split into two classes
  (Otsu). The guess whose split separates the grey levels best (Otsu's between-class
  share of the variance: 0.64 for noise alone, near 1 for particles on a support) gives
  the size, among the guesses whose split looks like particles on a support (see
  polarity: asymmetric, at least ASYMMETRY_SHARE of the clearest one): a grainy carbon
  support is a symmetric texture of dark and bright grains, and at its grain size it
  can separate better than the particles do;
- polarity: the classes are told apart by topology, not by which is smaller: particles
  are many compact pieces without holes, the support one piece with a hole per
  particle, so the Euler number (pieces minus holes; specks left out) of the particle
  class is the larger, whatever the coverage. The look where that difference is largest
  per piece decides;
- size, second look: the median height of the distance transform's peaks in the particle
  class (one per particle centre, also inside clusters).
  Where it agrees with the guess (within a factor 1.7) the size is their geometric
  mean; otherwise it is unknown (NaN), and callers leave the image at its scale, so a
  doubtful measurement does no harm;
- small particles, third look: where the size measured could be a small particles' (up
  to BLOB_REACH x SMALL_RADIUS, or unknown), their scale-space blob response
  (`blob_radius`) is measured too; where it finds particles (of any size) and disagrees
  with the size (beyond BLOB_AGREEMENT), or the size is unknown, it gives the size. Shot
  noise and support grain swamp the autocorrelation of sparse small particles (sizes 2-4x
  too large were measured on the development set), a coarse carbon grain that of sparse
  large ones (7 px measured for particles of 26), and with a Fresnel fringe the looks
  measured a fifth of the size on a development image; none of them moves a blob's best
  scale much;
- a rough size where the size is unknown: the guess whose look separates clearly
  (PARTICLE_SEPARATION), else the unsmoothed autocorrelation guess. A single image is
  sized by it (a time stack is not: its size is decided once, from trusted measurements):
  on noisy images of small particles, the noise alone would otherwise set the classical
  model's smoothing far above the particles' size, and the networks would see them at a
  few pixels across.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import scipy.fft
from skimage.filters import threshold_otsu

from .errors import TemsegError
from .filters import distance_inside, gaussian, gaussian_laplace, label_pieces, maximum_3x3
from .preprocess import noise_to_contrast

#: The decisions run on a block-averaged copy at most this many pixels across (a strip
#: only down to 16 px along its shorter side).
WORK_SIZE = 256
#: The two size measurements must agree within this factor for the size to be trusted.
AGREEMENT = 1.7
#: Particles measured smaller than this (px) are measured again at full resolution, and
#: that measurement is kept only where its classes separate at least this well (Otsu's
#: between-class share of the variance is 0.64 for noise alone).
SMALL_RADIUS = 10.0
PARTICLE_SEPARATION = 0.68
#: Small particles as blobs (`blob_radius`): the detection scale is judged by this
#: percentile of the response, centres lie this many robust spreads above the bulk and are
#: round peaks (`_peaks_not_ridges`); fewer than BLOB_COUNT centres, or fewer than
#: BLOB_ROUND_SHARE of the peaks that stand out, say nothing.
BLOB_PERCENTILE = 99.5
BLOB_DEPTH = 5.0
BLOB_COUNT = 5
BLOB_ROUNDNESS = 0.5
BLOB_ROUND_SHARE = 0.5
BLOB_SIGMAS = 2.0 ** np.arange(-0.5, 5.01, 0.5)
#: The blob look gives the size where it disagrees beyond BLOB_AGREEMENT, and is taken
#: where the size measured is at most BLOB_REACH x SMALL_RADIUS: the first two looks read
#: sparse small particles 1.3-5.9x too large on the development set (joined pairs and grain
#: widen both). Beyond AGREEMENT x SMALL_RADIUS it looks at the work copy's central
#: quarter only (about 3 ms, not 12: the decisions' cost stays within a tenth of the
#: classical model's). Chosen among agreement 1.3 / 1.5 / 1.7 and reach 1.7 / 2.5 / 3.5
#: there (docs/robustness.md).
BLOB_AGREEMENT = 1.5
BLOB_REACH = 2.5
#: Equivalent-disc radius over inscribed radius, for the faceted, elongated and round shapes
#: of the simulator's training regime (a disc 1.0, a square 1.13, a 2:1 rod 1.41; median
#: of the measured ratios 1.2): the second look measures the latter, callers want the former.
INSCRIBED_TO_EQUIVALENT = 1.2
#: A size guess is only taken if its look is at least this share as asymmetric (pieces
#: against holes) as the clearest look: chosen among 0.6-0.8 on the development set
#: (docs/robustness.md).
ASYMMETRY_SHARE = 0.7
#: Smoothing per unit of noise-to-contrast ratio for the second size guess (px of the work image).
NOISE_GAIN = 15.0
POLARITIES = ("dark", "bright")


@dataclass(frozen=True)
class Appearance:
    """polarity: "dark" (particles darker than the support: bright-field TEM) or "bright";
    radius: typical particle radius in pixels of the image measured (NaN when it could not
    be trusted); contrast_score: Euler number of the dark class less that of the bright
    class in the look that decided the polarity (0 = a guess); rough_radius: the radius
    where it is trusted, else a rough size (module docstring; NaN when there is none)."""

    polarity: str
    radius: float
    contrast_score: float
    rough_radius: float = float("nan")

    @property
    def diameter(self) -> float:
        return 2 * self.radius


def block_mean(image: np.ndarray, factor: int) -> np.ndarray:
    """Mean of each factor x factor block (edges cropped to whole blocks)."""
    image = np.asarray(image, np.float32)
    if factor <= 1:
        return image
    h, w = (image.shape[0] // factor) * factor, (image.shape[1] // factor) * factor
    if factor <= 4:  # a few strided sums: several times faster than reshaped sums at these factors
        out = np.zeros((h // factor, w // factor), np.float32)
        for dy in range(factor):
            for dx in range(factor):
                out += image[dy:h:factor, dx:w:factor]
        return out * np.float32(1 / factor**2)
    rows = image[:h, :w].reshape(h // factor, factor, w).sum(axis=1)  # two 1-D sums: faster than one 4-D mean
    return rows.reshape(h // factor, w // factor, factor).sum(axis=2) * np.float32(1 / factor**2)


def _clean(mask: np.ndarray, min_area: int) -> np.ndarray:
    """`mask` without pieces smaller than `min_area` and with holes that small filled: then
    neither it nor its complement has specks."""
    labels, n = label_pieces(mask)
    if n:
        keep = np.bincount(labels.ravel()) >= min_area
        keep[0] = False
        mask = keep[labels]
    holes, n = label_pieces(~mask)
    if n:
        fill = np.bincount(holes.ravel()) < min_area
        fill[0] = False
        mask = mask | fill[holes]
    return mask


def _pieces_and_holes(labels: np.ndarray, n: int, complement: np.ndarray, m: int) -> tuple[int, int]:
    """(pieces, holes) of a class: its `n` labelled pieces, and the `m` labelled pieces of its
    complement that do not reach the image border (those are enclosed: holes)."""
    border = np.concatenate([complement[0], complement[-1], complement[:, 0], complement[:, -1]])
    return n, m - int(np.count_nonzero(np.unique(border)))


def inscribed_radius(particles: np.ndarray) -> float:
    """Median of the distance transform's local peaks in `particles` (px): one peak per
    particle centre (a few along a rod's axis), also inside clusters of touching ones."""
    distance = distance_inside(particles)
    peaks = distance[(distance >= 1) & (distance == maximum_3x3(distance))]
    return float(np.median(peaks)) if peaks.size else float("nan")


@lru_cache(maxsize=8)
def _correlation_grids(shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """For an image of `shape`: the Gaussian high-pass of its real FFT, and the flat indices
    and integer lags of the central (2m x 2m) window within m px of lag 0 (the radial
    average's bins). They depend on the shape only, and every frame of a video shares it."""
    ny, nx = shape
    ky = np.fft.fftfreq(ny)[:, None]
    kx = np.fft.rfftfreq(nx)[None, :]
    slow = max(shape) / 8
    high_pass = 1 - np.exp(-2 * (np.pi * slow) ** 2 * (ky**2 + kx**2))
    m = min(ny, nx) // 4
    yy, xx = np.mgrid[-m:m, -m:m]
    lag = np.rint(np.hypot(yy, xx)).astype(int)
    inside = lag < m
    rows, cols = np.nonzero(inside)
    flat = (rows + ny // 2 - m) * nx + (cols + nx // 2 - m)
    return high_pass, flat, lag[inside], m


def autocorrelation_radius(work: np.ndarray) -> float:
    """Particle radius (px of `work`) from the lag at which the radially averaged
    autocorrelation falls to half its height at lag 0 (extrapolated from lags 1 and 2, so
    that pixel noise, which correlates only at lag 0, does not count). Slow variations
    (illumination, support thickness: scales above an eighth of the field) are taken out
    of the power spectrum first, as a Gaussian high-pass."""
    centred = work - work.mean()
    high_pass, flat, lag, m = _correlation_grids(centred.shape)
    power = (np.abs(scipy.fft.rfft2(centred)) * high_pass) ** 2
    acf = np.fft.fftshift(scipy.fft.irfft2(power, s=centred.shape))
    counts = np.bincount(lag, minlength=m)
    profile = np.bincount(lag, acf.ravel()[flat], minlength=m) / np.maximum(counts, 1)
    half = max(2 * profile[1] - profile[2], profile[1]) / 2
    below = np.nonzero(profile[1:] <= half)[0]
    if len(below) == 0 or half <= 0:
        return float("nan")
    k = below[0] + 1
    return float((k - 1 + (profile[k - 1] - half) / max(profile[k - 1] - profile[k], 1e-12)) / 0.8)


@dataclass
class _Look:
    """The image band-passed around one candidate radius, split into two classes."""

    radius: float  # the candidate, px of the work image
    step: int  # block size of the copy the classes are drawn on
    dark: np.ndarray
    bright: np.ndarray
    score: float  # Euler number of the dark class less that of the bright class
    separation: float  # Otsu's effectiveness: between-class over total variance (0.64 for noise alone)
    asymmetry: float  # |score| per piece: ~2 for particles on a support, ~0 for a symmetric texture

    def particles(self, polarity: str) -> np.ndarray:
        return self.dark if polarity == "dark" else self.bright


def _look(work: np.ndarray, radius: float) -> _Look | None:
    """`work` band-passed around particles of `radius` px, on a copy where they are 2-4 px
    across, split by Otsu into two classes without specks (None for a flat image)."""
    step = max(1, 2 ** int(np.floor(np.log2(max(radius, 1.0) / 2))))
    if min(work.shape) // step < 16:
        step = max(1, min(work.shape) // 16)
    coarse, r = block_mean(work, step), radius / step
    band = gaussian(coarse, max(r / 3, 0.5)) - gaussian(coarse, 3 * r, truncate=2.5)
    if float(band.max()) <= float(band.min()):
        return None
    dark = band < threshold_otsu(band)
    share = dark.mean()
    between = share * (1 - share) * (band[dark].mean() - band[~dark].mean()) ** 2 if 0 < share < 1 else 0.0
    dark = _clean(dark, max(3, int(r * r / 4)))
    bright = ~dark
    dark_labels, n_dark = label_pieces(dark)
    bright_labels, n_bright = label_pieces(bright)
    dark_pieces, dark_holes = _pieces_and_holes(dark_labels, n_dark, bright_labels, n_bright)
    bright_pieces, bright_holes = _pieces_and_holes(bright_labels, n_bright, dark_labels, n_dark)
    score = (dark_pieces - dark_holes) - (bright_pieces - bright_holes)  # Euler numbers
    return _Look(radius, step, dark, bright, float(score), float(between / max(float(band.var()), 1e-12)),
                 abs(score) / max(n_dark + n_bright, 1))


def _smoothing(work: np.ndarray) -> float:
    """Gaussian sigma (px of `work`) that brings grainy noise down to the particles' scale
    of variation: the classical model's rule (`classical.AUTO_GAIN`), at most 4 px."""
    h, w = work.shape
    crop = work[max(0, h // 2 - 64) : h // 2 + 64, max(0, w // 2 - 64) : w // 2 + 64]  # as good a sample, 4x cheaper
    ratio = noise_to_contrast(crop)
    return float(np.clip(NOISE_GAIN * ratio, 0, 4)) if np.isfinite(ratio) else 4.0


def _rough_radius(looks: list[_Look], guesses: list[float]) -> float:
    """Where the size is unknown: the radius of the look that separates most clearly, if any
    separates better than noise does (PARTICLE_SEPARATION), else the first guess."""
    clear = [look for look in looks if look.separation >= PARTICLE_SEPARATION]
    return max(clear, key=lambda look: look.separation).radius if clear else guesses[0]


def _measure(work: np.ndarray, polarity: str) -> tuple[str, float, float, float, float]:
    """(polarity, radius in px of `work` or NaN, Euler score, separation of the look that
    gave the radius, rough radius: `_rough_radius` where the radius is NaN) of one work image."""
    sigma = _smoothing(work)
    guesses = [autocorrelation_radius(work)]
    if sigma > 0.5:  # grainy noise: the smoothed image's correlation, less the smoothing's own width
        smoothed = autocorrelation_radius(gaussian(work, sigma, truncate=3.0))
        second_guess = math.sqrt(max(smoothed**2 - 2 * sigma**2, 0.25 * smoothed**2))
        if not (np.isfinite(guesses[0]) and abs(math.log(second_guess / guesses[0])) < math.log(1.25)):
            guesses.append(second_guess)  # a guess close to the first would give the same look
    looks = [look for g in guesses if np.isfinite(g) for look in [_look(work, g)] if look is not None]
    if not looks:
        return ("dark" if polarity == "auto" else polarity), float("nan"), 0.0, 0.0, guesses[0]
    clearest = max(looks, key=lambda look: look.asymmetry)
    best = max((look for look in looks if look.asymmetry >= ASYMMETRY_SHARE * clearest.asymmetry),
               key=lambda look: look.separation)
    clearest = clearest if polarity == "auto" else best
    if polarity == "auto":
        polarity = "dark" if clearest.score >= 0 else "bright"
    second = inscribed_radius(best.particles(polarity)) * best.step * INSCRIBED_TO_EQUIVALENT
    agree = np.isfinite(second) and 1 / AGREEMENT < second / best.radius < AGREEMENT
    radius = math.sqrt(best.radius * second) if agree else float("nan")
    return polarity, radius, clearest.score, best.separation, radius if agree else _rough_radius(looks, guesses)


def _blob_responses(work: np.ndarray, sign: float) -> list[tuple[float, int, np.ndarray, float, float]]:
    """`_laplacian` of `work` for sigmas half an octave apart, as (sigma, step, response,
    spread, top), each computed on a `step` x `step` block mean where sigma is at most
    2 px (cheap, and the scale-normalised responses stay comparable)."""
    copies = {1: work}
    out = []
    for sigma in BLOB_SIGMAS:
        step = max(1, 2 ** int(math.floor(math.log2(sigma))))
        if min(work.shape) // step < 16:
            break
        if step not in copies:
            copies[step] = block_mean(copies[step // 2], 2)
        out.append((float(sigma), step, *_laplacian(copies[step], sigma / step, sign)))
    return out


def _laplacian(image: np.ndarray, sigma: float, sign: float) -> tuple[np.ndarray, float, float]:
    """(response, spread, top): `sign` x sigma² x the Laplacian of Gaussian of `image` less
    its median (`sign` makes particles positive), its robust spread (1.4826 x the median
    absolute deviation) and its BLOB_PERCENTILE, the statistics taken on every other
    pixel of large images (as good, four times cheaper)."""
    response = sign * sigma**2 * gaussian_laplace(image, sigma)
    middle, top, spread = _median_top_spread(response[::2, ::2] if response.size > 4096 else response)
    response -= middle
    return response, max(spread, 1e-12), top - middle


def _median_top_spread(sample: np.ndarray) -> tuple[float, float, float]:
    """`np.percentile(sample, [50, BLOB_PERCENTILE])` and `robust_spread(sample, median)`
    (the same numbers but for float32 rounding: these interpolate in float64), from one
    copy partitioned in place at the four ranks the two percentiles interpolate between: a
    third of the time of the two calls, which ran on every rung of every blob search."""
    values = np.array(sample).ravel()
    n = values.size
    positions = (0.5 * (n - 1), BLOB_PERCENTILE / 100 * (n - 1))
    values.partition(sorted({min(int(p) + k, n - 1) for p in positions for k in (0, 1)}))

    def percentile(position: float) -> float:  # numpy's linear interpolation, as it computes it
        low, t = int(position), position - int(position)
        a, b = float(values[low]), float(values[min(low + 1, n - 1)])
        return a + (b - a) * t if t < 0.5 else b - (b - a) * (1 - t)

    middle, top = (percentile(p) for p in positions)
    deviations = np.abs(values - middle)  # in the sample's precision, as robust_spread takes it
    half = n // 2
    deviations.partition([half - 1, half] if n % 2 == 0 else [half])
    mad = (float(deviations[half - 1]) + float(deviations[half])) / 2 if n % 2 == 0 else float(deviations[half])
    return middle, top, 1.4826 * mad


def _peaks_not_ridges(response: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The local maxima (rows, cols) of `response` that are round peaks, not points on a
    ridge: along the inner side of a large particle's edge the Laplacian runs as a ridge
    whose noise makes maxima too. The Hessian (central differences) of a peak has two
    negative eigenvalues, and its determinant over the squared mean eigenvalue (1 for a
    round peak, 0 on a ridge) is at least BLOB_ROUNDNESS (0.5: eigenvalues within ~6x
    of each other). The points lie at least a pixel inside the border (`blob_radius`
    keeps them 2 sigma away)."""
    r, c = rows, cols
    centre = response[r, c]
    dyy = response[r + 1, c] + response[r - 1, c] - 2 * centre
    dxx = response[r, c + 1] + response[r, c - 1] - 2 * centre
    dxy = (response[r + 1, c + 1] + response[r - 1, c - 1] - response[r + 1, c - 1] - response[r - 1, c + 1]) / 4
    half_trace = (dxx + dyy) / 2
    round_peak = (half_trace < 0) & (dxx * dyy - dxy**2 >= BLOB_ROUNDNESS * half_trace**2)
    return rows[round_peak], cols[round_peak]


def blob_radius(work: np.ndarray, polarity: str) -> float:
    """Typical radius (px of `work`) of the `polarity` ("dark" or "bright") particles seen
    as blobs: NaN when fewer than BLOB_COUNT stand out, when most of what stands out is
    not round (the edges of larger particles), or when the size lies beyond the scales
    looked at.

    The scale-normalised Laplacian of Gaussian of a disc of radius r peaks at its centre
    for sigma = r / sqrt(2) (Lindeberg's scale selection). Pixel noise favours the wrong
    scale if the scale is picked by how far blobs stand out (noise falls faster with
    sigma than a particle's response does), so two steps: the detection scale is the one
    whose strongest responses stand out most (BLOB_PERCENTILE, in spreads), its local
    peaks above BLOB_DEPTH spreads mark particle centres, and the size is the scale
    (interpolated between rungs) whose response at those centres is largest. Grainy noise
    and texture, which fool the autocorrelation on sparse small particles, barely move it."""
    if polarity not in POLARITIES:
        raise TemsegError(f"polarity must be 'dark' or 'bright', not {polarity!r}")
    sign = 1.0 if polarity == "dark" else -1.0  # a dark blob's Laplacian is positive at its centre
    responses = _blob_responses(work, sign)
    if len(responses) < 3:
        return float("nan")
    sigma, step, detect, spread, _ = max(responses, key=lambda item: item[4] / item[3])
    if step > 1:  # centres to the pixel
        detect, spread, _ = _laplacian(work, sigma, sign)
    rows, cols = np.nonzero((detect >= BLOB_DEPTH * spread) & (detect == maximum_3x3(detect)))
    border = math.ceil(2 * sigma)  # the response there sees the padding as much as the image
    away = (rows >= border) & (rows < work.shape[0] - border) & (cols >= border) & (cols < work.shape[1] - border)
    candidates = int(np.count_nonzero(away))
    rows, cols = _peaks_not_ridges(detect, rows[away], cols[away])
    if len(rows) < max(BLOB_COUNT, BLOB_ROUND_SHARE * candidates):
        return float("nan")
    heights = np.array([float(r[np.minimum(rows // k, r.shape[0] - 1), np.minimum(cols // k, r.shape[1] - 1)].mean())
                        for _, k, r, _, _ in responses])
    best = int(np.argmax(heights))
    if best in (0, len(heights) - 1):
        return float("nan")
    left, centre, right = heights[best - 1 : best + 2]
    curvature = left - 2 * centre + right
    offset = 0.5 * (left - right) / curvature if curvature < 0 else 0.0  # the parabola's vertex, in rungs
    return float(responses[best][0] * math.sqrt(2) ** (1 + offset))


def _centre(image: np.ndarray, size: int) -> np.ndarray:
    """The central size x size crop of `image` (all of it along a shorter side)."""
    h, w = image.shape
    half = size // 2
    return image[max(0, h // 2 - half) : h // 2 + half, max(0, w // 2 - half) : w // 2 + half]


def measure_appearance(image: np.ndarray, polarity: str = "auto") -> Appearance:
    """Polarity and typical radius (px) of the particles in a normalised (Y, X) image.

    polarity: "auto" decides it (module docstring); "dark" or "bright" is taken as given
    and only the size is measured. The radius is NaN where it could not be trusted.
    Where the size could be a small particles' (or is untrusted), the particles are
    also looked at as blobs (`blob_radius`), which gives the size where it finds small
    ones and disagrees. Small particles (or none found) in a large image are measured
    again on a full-resolution crop of the centre, where the work copy's averaging
    blurs none; the polarity is always the whole image's.
    """
    if polarity not in ("auto", *POLARITIES):
        raise TemsegError(f"polarity must be 'dark', 'bright' or 'auto', not {polarity!r}")
    image = np.asarray(image, np.float32)
    if min(image.shape) < 16 or float(image.max()) <= float(image.min()):
        return Appearance("dark" if polarity == "auto" else polarity, float("nan"), 0.0)
    # at most WORK_SIZE across, but never under 16 px along the shorter side (a long strip)
    factor = max(1, min(math.ceil(max(image.shape) / WORK_SIZE), min(image.shape) // 16))
    work = block_mean(image, factor)
    decided, radius, score, _, rough = _measure(work, polarity)
    if not radius * factor > BLOB_REACH * SMALL_RADIUS:  # could be small, or not trusted: are they blobs?
        if radius * factor > AGREEMENT * SMALL_RADIUS:  # likely not: a cheaper look, at the centre
            blob = blob_radius(_centre(work, WORK_SIZE // 2), decided) * factor
        else:
            blob = blob_radius(work, decided) * factor
            if factor > 1 and not np.isfinite(blob):  # too small for the averaged copy: at full resolution
                blob = blob_radius(_centre(image, WORK_SIZE), decided)
        if np.isfinite(blob) and not 1 / BLOB_AGREEMENT < radius * factor / blob < BLOB_AGREEMENT:  # NaN too
            return Appearance(decided, blob, score, blob)
    if factor > 1 and not radius * factor > SMALL_RADIUS:  # small (or not found): look closer
        crop = _centre(image, WORK_SIZE)
        _, radius_crop, _, separation, _ = _measure(crop, decided)  # the whole image decides the polarity
        if radius_crop <= SMALL_RADIUS and separation >= PARTICLE_SEPARATION:
            return Appearance(decided, radius_crop, score, radius_crop)
    return Appearance(decided, radius * factor, score, rough * factor)
