"""napari reader: TIFF micrographs and stacks, TEM video formats, movies, folders of frames, and
`temseg track` result folders.

Stacks and TEM files open lazily (dask) with their nm pixel size as the layer scale.
"""

from __future__ import annotations

import uuid
import warnings
from pathlib import Path

import numpy as np

from .io.movies import MOVIE_SUFFIXES
from .io.stacks import TEM_FORMATS, layer_scale

STACK_SUFFIXES = (".tif", ".tiff", *TEM_FORMATS, *MOVIE_SUFFIXES)


def get_reader(path: str | list[str]):
    """Return a reader for a file or results folder this plugin understands, else None."""
    if isinstance(path, list):
        return None
    p = Path(path)
    if p.is_dir() and (p / "labels.zarr").exists() and (p / "events.csv").exists():
        return read_track_results
    if p.is_dir() and is_frame_folder(p):
        return read_video
    if p.suffix.lower() in STACK_SUFFIXES and p.is_file():
        return read_video
    return None


def is_frame_folder(folder: Path) -> bool:
    """A video as a folder of frames: two or more image files, all of one type, the first and
    last single images of one size (where their headers tell: TIFF). A folder of mixed files,
    of stacks, or of micrographs of different sizes is not taken for one."""
    from .errors import TemsegError
    from .io.images import frame_files, peek

    try:
        files = frame_files(folder)  # none: TemsegError
        if len(files) < 2 or len({p.suffix.lower().replace("tiff", "tif").replace("jpeg", "jpg") for p in files}) > 1:
            return False
        known = {peek(f)[0] for f in (files[0], files[-1])} - {None}  # None: not a TIFF, or a damaged one
    except TemsegError:
        return False
    single = all(len(s) == 2 or (len(s) == 3 and s[-1] in (3, 4)) for s in known)
    return single and len(known) <= 1


def read_video(path: str) -> list[tuple]:
    """An image layer: (T, Y, X) stacks lazily, single images as arrays; scale in nm when known.
    Labels files (`io.images.is_labels_tiff`: what `temseg segment` and the writer save) open
    as a Labels layer. A file that cannot be read raises TemsegError, whose message napari
    shows (the reason, not only "no data"); what the file's notes say (pixels that are not
    square, a cut movie, a lossy codec) comes as a warning, which napari shows too."""
    from .io import open_video
    from .io.images import is_labels_tiff
    from .io.results import EDITABLE_IN_MEMORY

    video = open_video(path)
    for note in (video.pixel_note, video.metadata.get("note")):  # napari shows a warning as a notification
        if note:
            warnings.warn(f"{Path(path).name}: {note}", stacklevel=2)
    kind = "labels" if Path(path).suffix.lower() in (".tif", ".tiff") and is_labels_tiff(path) else "image"
    meta = {"name": Path(path).stem, "metadata": {"temseg": {"pixel_size_nm": video.pixel_size_nm,
                                                          "frame_interval_s": video.frame_interval_s, **video.metadata}}}
    units = layer_units(video.pixel_size_nm or video.pixel_yx_nm)  # napari's scale bar then reads nm
    if video.data.shape[0] == 1:
        return [(video.data[0].compute(), {**meta, "scale": video.scale[1:], "units": units[1:]}, kind)]
    painted = kind == "labels" and video.data.nbytes <= EDITABLE_IN_MEMORY  # in memory to be painted, if it fits
    data = np.asarray(video.data) if painted else video.data
    return [(data, {**meta, "scale": video.scale, "units": units}, kind)]


def layer_units(pixel_size_nm: float | tuple[float, float] | None) -> tuple[str, str, str]:
    """A (T, Y, X) layer's units: nm along Y and X where the scale is the pixel size in nm."""
    space = "nm" if pixel_size_nm else "pixel"
    return ("pixel", space, space)


def read_track_results(path: str) -> list[tuple]:
    """Tracked labels (editable: `io.editable_labels`) with their fusion events and any saved
    review decisions, ready for the review widget, and a Tracks layer whose graph records the
    fusions."""
    import pandas as pd

    from .io import editable_labels, open_track_dir
    from .io.results import results_layer_metadata
    from .tracking.lineage import lineage_graph, napari_tracks_data, tracks_table

    _, events = open_track_dir(path)
    labels = editable_labels(path)
    name = Path(path).name
    table_file = Path(path) / "tracks.csv"
    table = pd.read_csv(table_file, usecols=["frame", "track_id", "y", "x"]) if table_file.is_file() else \
        tracks_table(labels)
    token = uuid.uuid4().hex  # ties the two layers together, whatever they are renamed to
    folder = results_layer_metadata(path)
    pixel = folder["pixel_size_nm"]
    scale = (1.0, *layer_scale(pixel, folder["pixel_yx_nm"]))  # in nm where known, as the video's own layer
    meta = {"temseg": {"events": events, "lineage": token, **folder}}
    units = layer_units(pixel or folder["pixel_yx_nm"])
    tracked = (labels, {"name": f"{name} tracked", "metadata": meta, "scale": scale, "units": units}, "labels")
    if not len(table):  # no particle in any frame: no tracks to draw (napari refuses an empty Tracks layer)
        return [tracked]
    return [
        tracked,
        (napari_tracks_data(table), {"name": f"{name} lineage", "graph": lineage_graph(events), "scale": scale,
                                     "units": units, "metadata": {"temseg": {"lineage": token}}}, "tracks"),
    ]
