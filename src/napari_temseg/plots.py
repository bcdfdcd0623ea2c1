"""Figures a results folder carries: the size distribution of a batch, and count and size
per frame of a time stack with its fusions marked. Drawn on matplotlib Agg canvases (no
display needed, no pyplot)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from .analysis import SMALL_DIAMETER_PX, SMALL_SHARE_NOTED, populations_of, size_statistics


def _figure(width: float = 6.0, height: float = 4.0):
    """A figure and its axes on an Agg canvas of its own: no pyplot, so drawing here never
    switches the backend of a session (napari's console keeps its Qt plots)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=120)
    FigureCanvasAgg(fig)
    return fig, fig.add_subplot(111)


def note_lines(stats: dict, diameters: np.ndarray) -> list[str]:
    """A figure's short lines for `size_statistics`' note (which says the rest): the share of
    particles too small to size, and two populations where the sizes fall in two."""
    lines = []
    if stats["small_share"] >= SMALL_SHARE_NOTED:
        lines.append(f"{stats['small_share']:.0%} under {SMALL_DIAMETER_PX:.0f} px: small end cut off")
    if populations_of(diameters, stats["small_share"]) is not None:
        lines.append("two populations: one log-normal fits neither")
    return lines


def size_distribution_png(table: pd.DataFrame, path: str | Path, include_border: bool = False) -> Path:
    """Histogram of the equivalent diameter (nm where known) with its log-normal fit; N and
    the statistics (`analysis.size_statistics`) in a legend beside it (over the bars it hid
    some)."""
    stats = size_statistics(table, include_border)
    unit = stats["unit"]
    kept = table if include_border or table.empty else table[~table["touches_border"].astype(bool)]
    diameters = kept["equivalent_diameter_nm" if unit == "nm" else "equivalent_diameter"].to_numpy(float)
    fig, ax = _figure(width=8.5 if diameters.size else 6.0)
    if diameters.size:
        counts, edges, _ = ax.hist(diameters, bins=max(8, min(40, diameters.size // 3)), color="0.7",
                                   edgecolor="0.3", label=f"N = {stats['count']}" + (
                                       f" ({stats['border_excluded']} cut by the border or a mark left out)"
                                       if stats["border_excluded"] else ""))
        median, gsd = stats["lognormal_median"], stats["lognormal_gsd"]
        if np.isfinite(median) and gsd > 1:
            x = np.linspace(max(edges[0], 1e-6), edges[-1], 200)
            sigma = np.log(gsd)
            pdf = np.exp(-((np.log(x) - np.log(median)) ** 2) / (2 * sigma**2)) / (x * sigma * np.sqrt(2 * np.pi))
            ax.plot(x, pdf * diameters.size * (edges[1] - edges[0]), "C3",
                    label=f"log-normal: median {median:.3g} {unit}, σg {gsd:.2f}")
    if diameters.size:
        spread = f" ± {stats['sd']:.2g}" if np.isfinite(stats["sd"]) else ""
        ax.plot([], [], " ", label=f"mean {stats['mean']:.3g}{spread} {unit}")
        ax.plot([], [], " ", label=f"D10/D50/D90 {stats['d10']:.3g} / {stats['d50']:.3g} / {stats['d90']:.3g}")
        ax.plot([], [], " ", label=f"circularity {stats['mean_circularity']:.2f}")
        for line in note_lines(stats, diameters):
            ax.plot([], [], " ", label=line)
        ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.02, 1), borderaxespad=0)
        ax.yaxis.get_major_locator().set_params(integer=True)  # whole particles
    else:
        left_out = (f" ({stats['border_excluded']} cut by the border or a mark left out)"
                    if stats["border_excluded"] else "")
        ax.text(0.5, 0.5, f"no particles{left_out}", ha="center", va="center", transform=ax.transAxes)
    ax.set_xlabel(f"equivalent diameter ({unit})")
    ax.set_ylabel("particles")
    fig.tight_layout()
    fig.savefig(path)
    return Path(path)


def size_over_time_png(tracks: pd.DataFrame, events: list[dict], path: str | Path) -> Path:
    """Particle count and mean equivalent diameter (± sd) per frame, fusion frames marked;
    the diameters leave out particles cut by the field's border (`touches_border`), whose
    size there is not their particle's (a particle leaving the field would pull the mean down)."""
    unit = "nm" if "equivalent_diameter_nm" in tracks.columns else "px"
    column = "equivalent_diameter_nm" if unit == "nm" else "equivalent_diameter"
    whole = tracks[~tracks["touches_border"].astype(bool)] if "touches_border" in tracks.columns else tracks
    per_frame = tracks.groupby("frame").size().rename("count").reset_index().merge(
        whole.groupby("frame")[column].agg(["mean", "std"]).reset_index(), on="frame", how="left")
    fig, ax = _figure(7, 4)
    ax.plot(per_frame["frame"], per_frame["count"], "C0", label="particles")
    ax.set_xlabel("frame")
    ax.set_ylabel("particles", color="C0")
    right = ax.twinx()
    right.plot(per_frame["frame"], per_frame["mean"], "C1", label="mean diameter")
    right.fill_between(per_frame["frame"], per_frame["mean"] - per_frame["std"].fillna(0),
                       per_frame["mean"] + per_frame["std"].fillna(0), color="C1", alpha=0.2)
    cut = " (border particles left out)" if len(whole) < len(tracks) else ""
    right.set_ylabel(f"equivalent diameter ({unit}){cut}", color="C1")
    for k, event in enumerate(events):
        ax.axvline(event["frame"], color="C3", lw=0.8, ls="--", label="fusion" if k == 0 else None)
    ax.legend(loc="upper right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    return Path(path)
