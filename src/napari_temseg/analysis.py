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
from skimage.measure import regionprops_table

#: Columns of `measure`, in pixels (nm columns follow when the pixel size is known).
COLUMNS = ["label", "area", "equivalent_diameter", "major_axis", "minor_axis", "aspect_ratio", "circularity",
           "solidity", "centroid_y", "centroid_x", "touches_border"]


def measure(labels: np.ndarray, pixel_size_nm: float | None = None) -> pd.DataFrame:
    """One row per particle of uint (Y, X) labels (COLUMNS), plus area_nm2,
    equivalent_diameter_nm, major_axis_nm, minor_axis_nm when `pixel_size_nm` is given.

    Circularity is 4 pi area / perimeter^2 (1 for a disc, less for rough or elongated
    outlines), with the Crofton estimate of the perimeter: the boundary-pixel count that
    regionprops' `perimeter` follows makes digital discs less circular the larger they are
    (0.91 at radius 90 px), so batches of other sizes could not be compared; solidity is area over convex-hull area; the axes are those of the ellipse
    with the same second moments."""
    from .errors import TemsegError

    labels = np.asarray(labels)
    if labels.ndim != 2:
        raise TemsegError(f"measure() takes one (Y, X) label image, got shape {labels.shape}")
    whole = np.issubdtype(labels.dtype, np.integer) or labels.dtype == bool or (
        np.issubdtype(labels.dtype, np.floating) and np.array_equal(labels, np.round(labels)))
    if not whole:
        raise TemsegError(f"measure() takes integer labels (0 background, 1..N particles), not {labels.dtype} "
                          "values such as an image's: segment the image first")
    if labels.size and labels.min() < 0:
        raise TemsegError(f"measure() takes labels of 0 (background) and 1..N (particles); these have negative "
                          f"values (down to {labels.min()}): relabel them first")
    if pixel_size_nm is not None and not (isinstance(pixel_size_nm, int | float | np.number)
                                          and np.isfinite(pixel_size_nm) and pixel_size_nm > 0):
        raise TemsegError(f"pixel_size_nm must be a positive number of nm (or None), not {pixel_size_nm!r}")
    if not labels.any():
        table = pd.DataFrame({c: pd.Series(dtype=float) for c in COLUMNS})
    else:
        props = regionprops_table(
            labels.astype(np.int64),
            properties=("label", "area", "equivalent_diameter_area", "axis_major_length", "axis_minor_length",
                        "perimeter_crofton", "solidity", "centroid", "bbox"),
        )
        h, w = labels.shape
        area = props["area"].astype(float)
        perimeter = np.maximum(props["perimeter_crofton"], 1e-9)
        table = pd.DataFrame({
            "label": props["label"].astype(int),
            "area": area,
            "equivalent_diameter": props["equivalent_diameter_area"],
            "major_axis": props["axis_major_length"],
            "minor_axis": props["axis_minor_length"],
            "aspect_ratio": props["axis_major_length"] / np.maximum(props["axis_minor_length"], 1e-9),
            "circularity": np.clip(4 * np.pi * area / perimeter**2, 0, 1),
            "solidity": props["solidity"],
            "centroid_y": props["centroid-0"],
            "centroid_x": props["centroid-1"],
            "touches_border": (props["bbox-0"] == 0) | (props["bbox-1"] == 0) | (props["bbox-2"] == h)
            | (props["bbox-3"] == w),
        })
    if pixel_size_nm:
        table["area_nm2"] = table["area"] * pixel_size_nm**2
        for column in ("equivalent_diameter", "major_axis", "minor_axis"):
            table[f"{column}_nm"] = table[column] * pixel_size_nm
    return table


def size_statistics(table: pd.DataFrame, include_border: bool = False) -> dict:
    """count, mean, sd, D10, D50, D90 of the equivalent diameter (nm where the table has it,
    else px: `unit` says which) and the mean circularity; border particles left out unless
    `include_border`."""
    kept = table if include_border or table.empty else table[~table["touches_border"].astype(bool)]
    unit = "nm" if "equivalent_diameter_nm" in table.columns else "px"
    diameters = kept["equivalent_diameter_nm" if unit == "nm" else "equivalent_diameter"].to_numpy(float)
    if diameters.size == 0:
        nan = float("nan")
        return {"count": 0, "unit": unit, "mean": nan, "sd": nan, "d10": nan, "d50": nan, "d90": nan,
                "mean_circularity": nan, "border_excluded": int(len(table) - len(kept))}
    d10, d50, d90 = np.percentile(diameters, [10, 50, 90])
    return {
        "count": int(diameters.size), "unit": unit, "mean": float(diameters.mean()),
        "sd": float(diameters.std(ddof=1)) if diameters.size > 1 else 0.0,
        "d10": float(d10), "d50": float(d50), "d90": float(d90),
        "mean_circularity": float(kept["circularity"].mean()), "border_excluded": int(len(table) - len(kept)),
    }


def lognormal_fit(diameters: np.ndarray) -> tuple[float, float]:
    """(median, geometric standard deviation) of the log-normal that fits `diameters` best
    (maximum likelihood: the mean and sd of their logarithms)."""
    logs = np.log(np.asarray(diameters, float)[np.asarray(diameters) > 0])
    if logs.size < 2:
        return float("nan"), float("nan")
    return float(np.exp(logs.mean())), float(np.exp(logs.std(ddof=1)))


def track_motion(tracks: pd.DataFrame, pixel_size_nm: float | None = None,
                 frame_interval_s: float | None = None, max_lag: int = 10) -> pd.DataFrame:
    """Per track: frames seen, mean squared displacement at lag 1 and the diffusion
    coefficient D from a line through the MSD over lags 1..max_lag (MSD = 4 D lag in 2-D),
    in px^2/frame, and nm^2/frame and nm^2/s where the pixel size and frame interval are known."""
    rows = []
    for track_id, track in tracks.sort_values("frame").groupby("track_id"):
        frames, ys, xs = (track[c].to_numpy(float) for c in ("frame", "y", "x"))
        lags, msd = [], []
        for lag in range(1, min(max_lag, len(frames) - 1) + 1):
            pairs = {f: (y, x) for f, y, x in zip(frames, ys, xs, strict=True)}
            steps = [(pairs[f + lag][0] - y) ** 2 + (pairs[f + lag][1] - x) ** 2
                     for f, (y, x) in pairs.items() if f + lag in pairs]
            if steps:
                lags.append(lag)
                msd.append(float(np.mean(steps)))
        slope = float(np.polyfit(lags, msd, 1)[0]) if len(lags) >= 2 else float("nan")
        row = {"track_id": int(track_id), "frames": len(frames), "first_frame": int(frames[0]),
               "last_frame": int(frames[-1]), "msd_lag1_px2": msd[0] if msd else float("nan"),
               "diffusion_px2_per_frame": slope / 4}
        if pixel_size_nm:
            row["diffusion_nm2_per_frame"] = slope / 4 * pixel_size_nm**2
        if pixel_size_nm and frame_interval_s:
            row["diffusion_nm2_per_s"] = slope / 4 * pixel_size_nm**2 / frame_interval_s
        rows.append(row)
    return pd.DataFrame(rows)
