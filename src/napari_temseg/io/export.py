"""Tracking results in the formats other trackers read: GEFF and the Cell Tracking Challenge.

GEFF (`tracks.geff`, through the `geff` library): a node per particle and frame (t, y, x,
area, `seg_id` = its label value in that frame, `track_id`), an edge per link between a
particle's consecutive appearances, and a fusion as a child node with one incoming edge
from each parent's last node (in-degree >= 2): motile-tracker, traccuracy, ultrack,
laptrack, TrackMate and napari-geff read it.

Cell Tracking Challenge (`temseg export ctc`): `maskTTT.tif` (uint16, one ID per
tracklet) and `res_track.txt` (`ID start end parent`). CTC has no merges and no gaps: a
track is cut into tracklets where it is missing for a frame (the later one's parent is the
earlier one), and a fusion child's parent is its largest parent (the others end the
frame before; events.csv keeps every parent).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import TemsegError
from .folders import replace_folder, writing_name


def track_graph(tracks: pd.DataFrame, events: list[dict]):
    """networkx DiGraph of `tracks` (frame, track_id, y, x, area) and fusion `events`."""
    import networkx as nx

    graph = nx.DiGraph()
    ordered = tracks.sort_values(["track_id", "frame"]).reset_index(drop=True)
    node_of: dict[tuple[int, int], int] = {}
    for node, row in enumerate(ordered.itertuples()):
        key = (int(row.track_id), int(row.frame))
        node_of[key] = node
        graph.add_node(node, t=int(row.frame), y=float(row.y), x=float(row.x), area=float(row.area),
                       seg_id=int(row.track_id), track_id=int(row.track_id))
    for _, track in ordered.groupby("track_id"):
        frames = track["frame"].to_numpy(int)
        tid = int(track["track_id"].iloc[0])
        for a, b in zip(frames[:-1], frames[1:], strict=True):
            graph.add_edge(node_of[tid, a], node_of[tid, b])
    for event in events:
        child = node_of.get((int(event["child"]), int(event["frame"])))
        for parent in event["parents"]:
            seen = ordered[(ordered.track_id == int(parent)) & (ordered.frame < int(event["frame"]))]
            if child is not None and not seen.empty:
                graph.add_edge(node_of[int(parent), int(seen["frame"].max())], child)
    return graph


def write_geff(path: str | Path, tracks: pd.DataFrame, events: list[dict], pixel_size_nm: float | None = None,
               frame_interval_s: float | None = None) -> Path:
    """`tracks.geff` (zarr) of the tracking results; axes t, y, x in frames and pixels, with the
    scales to seconds and nm where known (GEFF's `scale` and `scaled_unit`)."""
    import geff

    path = Path(path)
    try:
        geff.write(
            track_graph(tracks, events), str(path), axis_names=["t", "y", "x"],
            axis_types=["time", "space", "space"],
            axis_units=[None, None, None],  # values are frames and pixels; the scales make them s and nm
            axis_scales=[frame_interval_s, pixel_size_nm, pixel_size_nm],
            scaled_units=["second" if frame_interval_s else None, "nanometer" if pixel_size_nm else None,
                          "nanometer" if pixel_size_nm else None], overwrite=True,
        )
    except OSError as err:
        raise TemsegError(f"{path}: cannot write ({err.strerror or err})") from None
    return path


def ctc_tracklets(tracks: pd.DataFrame, events: list[dict]) -> tuple[pd.DataFrame, dict[tuple[int, int], int]]:
    """(res_track table ID, start, end, parent; {(track_id, frame): CTC ID}) per the module docstring."""
    rows, ids = [], {}
    next_id = 1
    last_of: dict[int, int] = {}  # track id -> its latest tracklet
    for track_id, track in tracks.sort_values(["track_id", "frame"]).groupby("track_id"):
        frames = track["frame"].to_numpy(int)
        runs = np.split(frames, np.flatnonzero(np.diff(frames) > 1) + 1)
        for k, run in enumerate(runs):
            parent = last_of[int(track_id)] if k else 0
            rows.append([next_id, int(run[0]), int(run[-1]), parent])
            ids.update({(int(track_id), int(f)): next_id for f in run})
            last_of[int(track_id)] = next_id
            next_id += 1
    table = pd.DataFrame(rows, columns=["id", "start", "end", "parent"])
    area = tracks.set_index(["track_id", "frame"])["area"]
    seen = tracks.groupby("track_id")["frame"].apply(lambda f: np.sort(f.to_numpy(int)))
    for event in events:
        frame, child = int(event["frame"]), ids.get((int(event["child"]), int(event["frame"])))
        before = []  # (area, parent, frame) at each parent's last frame before the fusion
        for parent in map(int, event["parents"]):
            frames = seen.get(parent, np.empty(0, int))
            earlier = frames[frames < frame]
            if len(earlier):  # not always frame - 1: a frame before the fusion may have been skipped
                before.append((area.get((parent, int(earlier[-1])), 0), parent, int(earlier[-1])))
        if child is not None and before:
            _, largest, last = max(before)
            table.loc[table.id == child, "parent"] = ids[largest, last]
    return table, ids


#: The file that marks a folder as this project's CTC export (which a later export replaces).
CTC_MARK = ".temseg-ctc"


#: Files a desktop leaves in a folder it only showed: not a user's work, replaced with the rest.
DESKTOP_FILES = (".DS_Store", "Thumbs.db", "desktop.ini")


def _is_ctc_file(path: Path) -> bool:
    """Whether `path` is one an export writes (maskTTT.tif, res_track.txt, the mark)."""
    return path.is_file() and (path.name in ("res_track.txt", CTC_MARK) or
                               (path.name.startswith("mask") and path.name[4:-4].isdigit() and path.suffix == ".tif"))


def _check_ctc_folder(out: Path) -> None:
    """`out` may be replaced by an export: absent, empty, or an earlier export of ours
    holding only what it wrote (desktop files aside, in either); a folder holding anything else (another tracker's results, a
    results folder, notes added to an earlier export), a file or a link is refused."""
    if out.is_symlink() or (out.exists() and not out.is_dir()):
        raise TemsegError(f"{out}: is a file or a link, not a folder; export into an empty folder")
    if not out.is_dir():
        return
    marked = (out / CTC_MARK).is_file()
    others = sorted(p.name for p in out.iterdir() if not (marked and _is_ctc_file(p)) and p.name not in DESKTOP_FILES)
    if others:
        what = "files added to an earlier `temseg export ctc`" if marked else \
            "files that are not an earlier `temseg export ctc`"
        raise TemsegError(f"{out}: holds {what} ({', '.join(others[:3])}{' ...' if len(others) > 3 else ''}), "
                          "which an export would delete; export into an empty folder, or move them away")


def write_ctc(labels, tracks: pd.DataFrame, events: list[dict], out: str | Path) -> Path:
    """maskTTT.tif per frame and res_track.txt into `out` (labels: (T, Y, X), read frame by frame)."""
    import tifffile

    out = Path(out)
    table, ids = ctc_tracklets(tracks, events)
    if len(table) and table["id"].max() > np.iinfo(np.uint16).max:
        raise TemsegError(f"{len(table)} tracklets: more than CTC's 16-bit masks can hold")
    out = Path(os.path.abspath(out))  # "." has no name to put a sibling folder beside
    written = writing_name(out)
    try:
        _check_ctc_folder(out)
        if written.exists():
            shutil.rmtree(written)  # an export stopped halfway
        written.mkdir(parents=True)
        digits = max(3, len(str(labels.shape[0] - 1)))
        for t in range(labels.shape[0]):
            frame = np.asarray(labels[t])
            lut = np.zeros(int(frame.max()) + 1, np.uint16)
            for tid in np.unique(frame[frame > 0]):
                lut[tid] = ids[int(tid), t]
            tifffile.imwrite(written / f"mask{t:0{digits}d}.tif", lut[frame])
        table.to_csv(written / "res_track.txt", sep=" ", header=False, index=False)
        (written / CTC_MARK).write_text("written by temseg export ctc; a later export replaces this folder\n")
        replace_folder(written, out)  # an earlier export is replaced whole, never mixed with this one
    except OSError as err:
        raise TemsegError(f"{out}: cannot write ({err.strerror or err})") from None
    return out
