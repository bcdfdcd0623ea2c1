"""What a materials scientist reports from a segmentation: a table of particles with their
sizes and shapes (in nm where the pixel size is known), and size statistics.

`measure(labels, pixel_size_nm)` gives one row per particle; `size_statistics(table)`
the count, mean, standard deviation, D10/D50/D90 of the equivalent diameter and the mean
circularity. Particles that touch the image border are kept in the table (flagged) and
left out of the statistics by default: their true size is unknown.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import ndimage as ndi
from skimage.measure import regionprops_table

from .annotations import int_boxes, near_marks
from .errors import TemsegError
from .preprocess import whole_labels
from .units import check_calibration

#: Columns of `measure`, in pixels (nm columns follow when the pixel size is known).
COLUMNS = ["label", "area", "equivalent_diameter", "major_axis", "minor_axis", "aspect_ratio", "circularity",
           "solidity", "centroid_y", "centroid_x", "touches_border"]


def measure(labels: np.ndarray, pixel_size_nm: float | None = None, marks: tuple | None = ()) -> pd.DataFrame:
    """One row per particle of uint (Y, X) labels (COLUMNS; a boolean mask: one per connected
    piece), plus area_nm2, equivalent_diameter_nm, major_axis_nm, minor_axis_nm when
    `pixel_size_nm` is given.
    marks: boxes (y0, x0, y1, x1) of burned-in marks nothing was seen under
    (`Segmentation.annotations`): a particle they cut is flagged as one at the border is.

    Circularity is 4 pi area / perimeter^2 (1 for a disc, less for rough or elongated
    outlines) of the particle's outline (`circularity`); solidity is area over convex-hull
    area; the axes are those of the ellipse with the same second moments."""
    labels = np.asarray(labels)
    if labels.ndim != 2:
        raise TemsegError(f"measure() takes one (Y, X) label image, got shape {labels.shape}")
    if not whole_labels(labels):
        raise TemsegError(f"measure() takes integer labels (0 background, 1..N particles), not {labels.dtype} "
                          "values such as an image's: segment the image first")
    if labels.size and labels.min() < 0:
        raise TemsegError(f"measure() takes labels of 0 (background) and 1..N (particles); these have negative "
                          f"values (down to {labels.min()}): relabel them first")
    check_calibration("pixel_size_nm", pixel_size_nm)
    marks = [] if marks is None else list(marks)  # boxes, or an (N, 4) array's rows
    if not all(np.shape(box) == (4,) for box in marks):
        raise TemsegError("marks must be boxes (y0, x0, y1, x1), as a segmentation's .annotations")
    marks = int_boxes(marks)
    if labels.dtype == bool:  # a mask: its connected pieces are the particles (it was one particle)
        labels = ndi.label(labels)[0]
    elif _grey_levels(labels):
        raise TemsegError("measure() takes labels (0 background, 1..N particles), and these look like an image's "
                          "grey levels (each value in many pieces): segment the image first")
    if not labels.any():
        table = pd.DataFrame({c: pd.Series(dtype=float) for c in COLUMNS})
    else:
        props = regionprops_table(
            labels.astype(np.int64),
            properties=("label", "area", "equivalent_diameter_area", "axis_major_length", "axis_minor_length",
                        "solidity", "centroid", "bbox", "image"),
        )
        h, w = labels.shape
        area = props["area"].astype(float)
        table = pd.DataFrame({
            "label": props["label"].astype(int),
            "area": area,
            "equivalent_diameter": props["equivalent_diameter_area"],
            "major_axis": props["axis_major_length"],
            "minor_axis": props["axis_minor_length"],
            "aspect_ratio": props["axis_major_length"] / np.maximum(props["axis_minor_length"], 1e-9),
            "circularity": [circularity(mask) for mask in props["image"]],
            "solidity": props["solidity"],
            "centroid_y": props["centroid-0"],
            "centroid_x": props["centroid-1"],
            "touches_border": (props["bbox-0"] == 0) | (props["bbox-1"] == 0) | (props["bbox-2"] == h)
            | (props["bbox-3"] == w) | np.isin(props["label"], np.unique(labels[near_marks(labels.shape, marks)])),
        })
    if pixel_size_nm:
        table["area_nm2"] = table["area"] * pixel_size_nm**2
        for column in ("equivalent_diameter", "major_axis", "minor_axis"):
            table[f"{column}_nm"] = table[column] * pixel_size_nm
    return table


#: Smoothing (px) of a particle's mask before its outline is traced (`circularity`).
OUTLINE_SIGMA = 1.0


def circularity(mask: np.ndarray) -> float:
    """4 pi A / P^2 of the outline of a binary mask: the 0.5 level of the mask smoothed by
    OUTLINE_SIGMA px (the longest such line), with A the area it encloses. A count of
    boundary pixels, or Crofton's estimate, reads the staircase of a digital disc: 0.91 to
    1.04 depending on its size and on how it was drawn (so values above 1 were clipped). An
    outline and the area it encloses obey the isoperimetric inequality (at most 1, no
    clipping); digital discs of radius 3-90 px read 0.97-0.99 however drawn, a 2:1 ellipse
    0.82-0.83 (0.84 exactly), a square 0.82 (0.785: its corners are rounded by a pixel).
    A particle too thin to keep a level of 0.5 when smoothed is traced unsmoothed."""
    from skimage.measure import find_contours

    from .filters import gaussian

    padded = np.pad(mask.astype(np.float32), 3)
    lines = find_contours(gaussian(padded, OUTLINE_SIGMA), 0.5) or find_contours(padded, 0.5)  # thin ones
    if not lines:
        return float("nan")
    outline = max(lines, key=len)
    y, x = outline[:, 0], outline[:, 1]
    enclosed = 0.5 * abs(float(np.dot(y, np.roll(x, 1)) - np.dot(x, np.roll(y, 1))))
    perimeter = float(np.hypot(*np.diff(outline, axis=0).T).sum())
    return 4 * np.pi * enclosed / perimeter**2 if perimeter > 0 else float("nan")


#: Labels hold one region per particle (a few may come in pieces); an image's grey levels
#: come in many pieces per level, as noise scatters them (a uint8 micrograph was measured
#: as 143 "particles", one per level).
PIECES_PER_LEVEL = 4
#: ... and an image has many levels: labels with fewer values are not checked.
GREY_LEVELS = 32


def _grey_levels(labels: np.ndarray) -> bool:
    """Whether integer `labels` are an image's grey levels rather than particles: GREY_LEVELS
    values or more, coming in more than PIECES_PER_LEVEL connected pieces each."""
    from skimage.measure import label

    values = len(np.unique(labels)) - (1 if (labels == 0).any() else 0)
    if values < GREY_LEVELS:  # a model's few particles may come in pieces (a speckled mask, min_size=0)
        return False
    pieces = int(label(labels, background=0, connectivity=1).max())
    return pieces > PIECES_PER_LEVEL * values


#: Particles fewer px across than this are at the edge of what the models find and size: a
#: 1-px edge is an eighth of their diameter, and the fainter ones are missed. A user's
#: magnification series (one specimen at 0.1-1 nm/px, classical model) found 87-100 % of the
#: particles 8 px across or more but 3-53 % of those 2-5 px across, and drew those under 8 px
#: 0.5-2 px wide: at 1 nm/px the median read 63 % large, without a word.
SMALL_DIAMETER_PX = 8.0

#: The share of particles under SMALL_DIAMETER_PX from which a size distribution is noted as
#: cut off at its small end (D10 below it).
SMALL_SHARE_NOTED = 0.1


def size_statistics(table: pd.DataFrame, include_border: bool = False) -> dict:
    """count, mean, sd, D10, D50, D90 and the log-normal fit's median and geometric sd
    (`lognormal_fit`) of the equivalent diameter (nm where the table has it, else px: `unit`
    says which) and the mean circularity; border particles left out unless `include_border`.
    `small_share`: the share of them under SMALL_DIAMETER_PX across, and `note` what that
    means for the distribution (`sizing_note`; '' where nothing needs saying)."""
    if not isinstance(table, pd.DataFrame) or not {"equivalent_diameter", "touches_border"} <= set(table.columns):
        raise TemsegError("size_statistics() takes measure()'s table (columns equivalent_diameter, touches_border, "
                          "...), not labels")
    kept = table if include_border or table.empty else table[~table["touches_border"].astype(bool)]
    unit = "nm" if "equivalent_diameter_nm" in table.columns else "px"
    diameters = kept["equivalent_diameter_nm" if unit == "nm" else "equivalent_diameter"].to_numpy(float)
    if diameters.size == 0:
        nan = float("nan")
        return {"count": 0, "unit": unit, "mean": nan, "sd": nan, "d10": nan, "d50": nan, "d90": nan,
                "lognormal_median": nan, "lognormal_gsd": nan,
                "mean_circularity": nan, "border_excluded": int(len(table) - len(kept)), "small_share": nan, "note": ""}
    d10, d50, d90 = np.percentile(diameters, [10, 50, 90])
    median, gsd = lognormal_fit(diameters)
    return {
        "count": int(diameters.size), "unit": unit, "mean": float(diameters.mean()),
        "sd": float(diameters.std(ddof=1)) if diameters.size > 1 else float("nan"),  # one particle: no spread known
        "d10": float(d10), "d50": float(d50), "d90": float(d90), "lognormal_median": median, "lognormal_gsd": gsd,
        "mean_circularity": float(kept["circularity"].mean()), "border_excluded": int(len(table) - len(kept)),
        **_small_end(kept, diameters, unit),
    }


def _small_end(kept: pd.DataFrame, diameters: np.ndarray, unit: str) -> dict:
    """`small_share` and `note` of `size_statistics` for its particles (`diameters` in its
    `unit`; the share read in px): the small end's note, and where the sizes fall in two
    populations, that one's."""
    pixels = kept["equivalent_diameter"].to_numpy(float)
    share = float(np.mean(pixels < SMALL_DIAMETER_PX))
    two = populations_of(diameters, share)
    notes = [sizing_note(share, float(pixels.min()), _nm_per_px(kept))]
    if two is not None:
        (small, large), larger_share = two
        notes.append(f"the sizes fall in two populations (around {small:.3g} and {large:.3g} {unit}, "
                     f"{larger_share:.0%} of the particles in the larger): one log-normal describes neither; "
                     "give each its own statistics")
    return {"small_share": share, "note": "; ".join(n for n in notes if n)}


#: Where this share of the particles is under SMALL_DIAMETER_PX, their sizes come in a few
#: whole areas (21, 29, 37 px², ...), clumps a mixture of two takes for populations (a review:
#: 7 of 200 single log-normals of median 2-4 px): no two populations are looked for.
COARSE_SHARE = 0.5
#: Fewest particles whose sizes are looked at for two populations (`two_populations`).
TWO_POPULATIONS_MIN_COUNT = 30
#: Two populations are told apart where their log-sizes' means lie this many of their
#: pooled sd apart (Ashman's D; 2 is the usual bound for a clean separation), ...
TWO_POPULATIONS_SEPARATION = 2.0
#: ... the smaller holds at least this share of the particles, ...
TWO_POPULATIONS_MIN_SHARE = 0.1
#: ... and two log-normals fit better than one by at least this much BIC.
TWO_POPULATIONS_BIC = 10.0


def populations_of(diameters: np.ndarray, small_share: float):
    """`two_populations` of sizes of which `small_share` are under SMALL_DIAMETER_PX across;
    None where most are (COARSE_SHARE): a few px across, their areas come in a few whole values."""
    return two_populations(diameters) if small_share < COARSE_SHARE else None


def two_populations(diameters: np.ndarray) -> tuple[tuple[float, float], float] | None:
    """((median of the smaller population, of the larger), share of the particles in the
    larger) where the sizes are a mixture of two log-normals told clearly apart
    (TWO_POPULATIONS_*: a mixture fitted by expectation-maximisation on the log-sizes), else
    None. Why: sintering and Ostwald ripening leave two populations, which one log-normal fit
    blurs into a wide one that describes neither."""
    logs = np.log(np.asarray(diameters, float)[np.asarray(diameters) > 0])
    if logs.size < TWO_POPULATIONS_MIN_COUNT or np.ptp(logs) == 0:
        return None
    one = _normal_log_likelihood(logs, logs.mean(), logs.std(), np.ones(1))
    weights, means, sds = _two_normals(logs)
    two = _normal_log_likelihood(logs, means, sds, weights)
    gain = 2 * (two - one) - 3 * np.log(logs.size)  # BIC of one normal minus that of two (3 more parameters)
    separation = abs(means[1] - means[0]) * np.sqrt(2 / (sds[0] ** 2 + sds[1] ** 2))
    if gain < TWO_POPULATIONS_BIC or separation < TWO_POPULATIONS_SEPARATION or weights.min() < TWO_POPULATIONS_MIN_SHARE:
        return None
    order = np.argsort(means)
    return (float(np.exp(means[order[0]])), float(np.exp(means[order[1]]))), float(weights[order[1]])


def _two_normals(x: np.ndarray, rounds: int = 200) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(weights, means, sds) of a two-normal mixture fitted to `x` by expectation-maximisation,
    started from the halves of `x` below and above its median."""
    lower = x <= np.median(x)
    means = np.array([x[lower].mean(), x[~lower].mean()]) if (~lower).any() else np.array([x.min(), x.max()])
    floor = max(float(x.std()) * 1e-3, 1e-9)  # one component on a few equal sizes: no collapse to zero width
    sds, weights = np.full(2, max(float(x.std()) / 2, floor)), np.full(2, 0.5)
    for _ in range(rounds):
        density = _densities(x, weights, means, sds)
        resp = density / np.maximum(density.sum(axis=1, keepdims=True), 1e-300)
        total = np.maximum(resp.sum(axis=0), 1e-12)
        weights, means = total / x.size, (resp * x[:, None]).sum(axis=0) / total
        sds = np.maximum(np.sqrt((resp * (x[:, None] - means) ** 2).sum(axis=0) / total), floor)
    return weights, means, sds


def _normal_log_likelihood(x: np.ndarray, means, sds, weights) -> float:
    """Log-likelihood of `x` under a mixture of normals."""
    means, sds = np.atleast_1d(means), np.maximum(np.atleast_1d(sds), 1e-12)
    density = _densities(x, weights, means, sds) / np.sqrt(2 * np.pi)
    return float(np.log(np.maximum(density.sum(axis=1), 1e-300)).sum())


def _densities(x: np.ndarray, weights, means, sds) -> np.ndarray:
    """(len(x), components) weighted normal densities of `x`, without the 1/sqrt(2 pi) that
    cancels in the responsibilities."""
    return weights * np.exp(-0.5 * ((x[:, None] - means) / sds) ** 2) / sds


def _nm_per_px(kept: pd.DataFrame) -> float | None:
    """The one pixel size of a table's particles (nm), or None where unknown or mixed."""
    if "equivalent_diameter_nm" not in kept.columns:
        return None
    ratios = (kept["equivalent_diameter_nm"] / kept["equivalent_diameter"]).to_numpy(float)
    return float(ratios[0]) if np.allclose(ratios, ratios[0], rtol=1e-6) else None


def sizing_note(small_share: float, smallest_px: float, nm_per_px: float | None = None) -> str:
    """Why the small end of a size distribution cannot be trusted, where `small_share` of its
    particles are under SMALL_DIAMETER_PX across (at least SMALL_SHARE_NOTED), else ''."""
    if not small_share >= SMALL_SHARE_NOTED:
        return ""
    limit = f"{SMALL_DIAMETER_PX:.0f} px" + (f" ({SMALL_DIAMETER_PX * nm_per_px:.3g} nm)" if nm_per_px else "")
    return (f"{small_share:.0%} of the particles are under {limit} across (the smallest {smallest_px:.1f} px): "
            "smaller ones are missed and 1 px is an eighth of such a diameter, so the distribution's small end is "
            "cut off and its sizes uncertain; image at a higher magnification to size them")


def lognormal_fit(diameters: np.ndarray) -> tuple[float, float]:
    """(median, geometric standard deviation) of the log-normal that fits `diameters` best
    (maximum likelihood, as scipy's `lognorm.fit` with the location at 0: the mean and the
    root-mean-square deviation of their logarithms; the sample sd, n - 1, is not the
    likelihood's and read 0.3 % wide on a user's check)."""
    logs = np.log(np.asarray(diameters, float)[np.asarray(diameters) > 0])
    if logs.size < 2:
        return float("nan"), float("nan")
    return float(np.exp(logs.mean())), float(np.exp(logs.std()))


#: A frame step's common motion (stage drift) is measured only where at least this many
#: particles are seen in both frames: with fewer, their own diffusion would pass for drift.
DRIFT_MIN_TRACKS = 5


def common_drift(tracks: pd.DataFrame) -> pd.DataFrame:
    """The stage's cumulative drift (columns y, x) at every frame that has particles, and
    whether the step into it was measured (`measured`): the median step of the particles
    seen in that frame and in the previous frame with particles (a skipped, blank frame is
    bridged), where there are DRIFT_MIN_TRACKS of them (else 0). A particle's diffusion is
    its motion relative to the support; the stage carries every particle along, and that
    shared motion grows the mean squared displacement quadratically with lag, which a line
    through it reads as diffusion (4-5x too high on the project's own videos). With few
    particles the median takes in part of each one's own motion (D about 13 % low with 5
    particles, unbiased with 50)."""
    observed = np.sort(tracks["frame"].unique()).astype(int) if len(tracks) else np.zeros(0, int)
    previous = pd.Series(observed[:-1], index=observed[1:])
    ordered = tracks.sort_values(["track_id", "frame"])
    steps = ordered.groupby("track_id")[["frame", "y", "x"]].diff()
    frames = ordered["frame"].astype(int)
    spans_one_step = (frames - steps["frame"]) == frames.map(previous)  # from the previous frame with particles
    per_frame = pd.DataFrame({"frame": frames[spans_one_step], "y": steps["y"][spans_one_step],
                              "x": steps["x"][spans_one_step]}).groupby("frame").agg(
        n=("y", "size"), y=("y", "median"), x=("x", "median"))
    per_frame = per_frame.reindex(observed, fill_value=0)
    measured = per_frame["n"] >= DRIFT_MIN_TRACKS
    drift = per_frame[["y", "x"]].where(measured, 0.0)
    if len(observed):
        drift.iloc[0] = 0.0  # the first frame is the origin: no step into it
        measured.iloc[0] = True
    return drift.cumsum().assign(measured=measured)


#: tracks_summary.csv's columns in px (an empty table keeps them as its header).
MOTION_COLUMNS = ["track_id", "frames", "first_frame", "last_frame", "msd_lag1_px2", "diffusion_px2_per_frame",
                  "net_speed_px_per_frame", "drift_removed"]


def track_motion(tracks: pd.DataFrame, pixel_size_nm: float | None = None,
                 frame_interval_s: float | None = None, max_lag: int = 10) -> pd.DataFrame:
    """Per track, relative to the support (the common drift taken out, `common_drift`;
    `drift_removed` says whether it was measured over every step of the track): frames seen,
    mean squared displacement at lag 1, the diffusion coefficient D from a line through the
    MSD over lags 1..max_lag (MSD = 4 D lag in 2-D; 0 where the MSD does not grow with lag:
    no motion above the localisation noise), and the net speed (first to last position over
    the frames between: directed motion, which a pure diffusion model would read as a large
    D); in px^2/frame and px/frame, with nm and s columns where the pixel size and frame
    interval are known."""
    if not isinstance(tracks, pd.DataFrame) or not {"frame", "track_id", "y", "x"} <= set(tracks.columns):
        raise TemsegError("track_motion() takes a tracks table with columns frame, track_id, y, x (a TrackResult's "
                          ".tracks, or tracks.csv), not labels")
    check_calibration("pixel_size_nm", pixel_size_nm)
    check_calibration("frame_interval_s", frame_interval_s)
    drift = common_drift(tracks)
    rows = []
    for track_id, track in tracks.sort_values("frame").groupby("track_id"):
        frames = track["frame"].to_numpy(int)
        ys = track["y"].to_numpy(float) - drift["y"].reindex(frames).to_numpy(float)
        xs = track["x"].to_numpy(float) - drift["x"].reindex(frames).to_numpy(float)
        pairs = {f: (y, x) for f, y, x in zip(frames, ys, xs, strict=True)}
        lags, msd = [], []
        for lag in range(1, min(max_lag, len(frames) - 1) + 1):
            steps = [(pairs[f + lag][0] - y) ** 2 + (pairs[f + lag][1] - x) ** 2
                     for f, (y, x) in pairs.items() if f + lag in pairs]
            if steps:
                lags.append(lag)
                msd.append(float(np.mean(steps)))
        diffusion = max(float(np.polyfit(lags, msd, 1)[0]) / 4, 0.0) if len(lags) >= 2 else float("nan")
        span = frames[-1] - frames[0]
        speed = float(np.hypot(ys[-1] - ys[0], xs[-1] - xs[0]) / span) if span else float("nan")
        row = {"track_id": int(track_id), "frames": len(frames), "first_frame": int(frames[0]),
               "last_frame": int(frames[-1]), "msd_lag1_px2": msd[0] if msd else float("nan"),
               "diffusion_px2_per_frame": diffusion, "net_speed_px_per_frame": speed,
               # no step to take it out of (one frame): not removed, as nothing says it was
               "drift_removed": bool(span) and bool(drift["measured"][(drift.index > frames[0])
                                                                     & (drift.index <= frames[-1])].all())}
        if pixel_size_nm:
            row["diffusion_nm2_per_frame"] = diffusion * pixel_size_nm**2
            row["net_speed_nm_per_frame"] = speed * pixel_size_nm
        if pixel_size_nm and frame_interval_s:
            row["diffusion_nm2_per_s"] = diffusion * pixel_size_nm**2 / frame_interval_s
            row["net_speed_nm_per_s"] = speed * pixel_size_nm / frame_interval_s
        rows.append(row)
    return pd.DataFrame(rows, columns=None if rows else MOTION_COLUMNS)
