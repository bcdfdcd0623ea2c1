"""Track particles through (T, Y, X) stacks: stable IDs, fusion events, lineage."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..errors import TemsegError
from ..models import Segmenter, load_model
from ..models.options import Option, check_options, number
from ..models.specs import DEFAULT_MODEL
from ..preprocess import read_frame
from ..segmentation import as_stack, check_model_options, segment_image, stack_options
from .lineage import events_table, lineage_graph, napari_tracks_data, tracks_table
from .link import Linker, LinkOptions

METHODS = ("link", "propagate")


@dataclass
class TrackResult:
    """labels: (T, Y, X) uint32, same ID = same particle in every frame;
    tracks: table frame, track_id, y, x, area; events: [{frame, parents, child,
    onset_earliest, onset_latest}] (the window the first frame of contact lies in);
    graph: napari Tracks graph {child: [parents]}; skipped: frames that were blank or
    unreadable (empty labels; tracking went on across them); pixel_size_nm: as given to
    `track` (None: unknown), what `save` writes sizes in nm with."""

    labels: np.ndarray
    tracks: pd.DataFrame
    events: list[dict]
    skipped: list[dict] = field(default_factory=list)  # {frame, reason}: blank or unreadable frames
    pixel_size_nm: float | None = None
    #: {frame: boxes} each frame's segmentation left out (burned-in marks, padding): the
    #: particles they cut are flagged in the saved tracks.csv as those cut by the border
    frame_marks: dict[int, tuple] = field(default_factory=dict)

    @property
    def graph(self) -> dict[int, list[int]]:
        return lineage_graph(self.events)

    def save(self, out: str | Path, pixel_size_nm: float | None = None, frame_interval_s: float | None = None) -> Path:
        """Write the results folder `temseg track` writes (labels.zarr, tracks.csv, events.csv,
        sintering.csv, tracks.geff, tracks_summary.csv, skipped_frames.csv, ...; sizes in nm
        and rates per s where the pixel size and frame interval are given; the pixel size
        given to `track` unless another is), which napari's reader, `temseg export` and
        `temseg evaluate-track` open."""
        from ..io.results import write_track_dir

        pixel = self.pixel_size_nm if pixel_size_nm is None else pixel_size_nm
        return write_track_dir(out, self.labels, self.events, pixel, frame_interval_s, skipped=self.skipped,
                               frame_marks=self.frame_marks)

    @property
    def events_table(self) -> pd.DataFrame:
        return events_table(self.events)

    def napari_tracks(self) -> np.ndarray:
        """(N, 4) track_id, t, y, x for napari's Tracks layer."""
        return napari_tracks_data(self.tracks)


_DEFAULTS = LinkOptions()
#: The linker's options, checked like model options (`models.options`).
LINK_OPTIONS = (
    Option("min_iou", _DEFAULTS.min_iou, number(0, 1), "least IoU for a one-to-one link"),
    Option("parent_fraction", _DEFAULTS.parent_fraction, number(0.1, 1),  # 0: any neighbour was a parent
           "share of a parent a merged object must cover"),
    Option("fusion_min_frames", _DEFAULTS.fusion_min_frames, number(1, 10000, integer=True),
           "frames a merge must last to count as fusion (at least 4 for its rounding)"),
    Option("max_gap", _DEFAULTS.max_gap, number(0, 10000, integer=True), "frames a lost particle may be missing"),
    Option("max_jump", _DEFAULTS.max_jump, number(0, None), "px a reappearing particle may have moved"),
)


def split_options(options: dict) -> tuple[LinkOptions, dict]:
    """(linking options, checked; the rest: model options) from one keyword dict."""
    names = {o.name for o in LINK_OPTIONS}
    link = {k: options.pop(k) for k in list(options) if k in names}
    return LinkOptions(**check_options(link, LINK_OPTIONS, "tracking")), options


def check_tracked_model_options(segmenter: Segmenter, options: dict) -> dict:
    """The model's options checked for linking; an unknown one is told with the tracking
    options too (a misspelt max_gap was answered with the model's options alone)."""
    try:
        return check_model_options(segmenter, options)
    except TemsegError as err:
        if not str(err).startswith("unknown option"):
            raise
        raise TemsegError(f"{err}; tracking: {', '.join(o.name for o in LINK_OPTIONS)}") from None


def check_method(method: str) -> None:
    if method not in METHODS:
        raise TemsegError(f"unknown tracking method {method!r}; use one of {', '.join(METHODS)}")


def new_linker(options: LinkOptions, method: str) -> Linker:
    """A linker for `method`: prompt propagation's masks keep touching particles apart by
    construction, so its linker does not date fusions by necks (`Linker.date_by_neck`)."""
    return Linker(options, date_by_neck=method != "propagate")


def iter_track(
    frames: Any, model: str | Segmenter = DEFAULT_MODEL, method: str = "link",
    frame_marks: dict[int, tuple] | None = None, **options: Any
) -> Iterator[tuple[int, np.ndarray, Linker]]:
    """Yield (t, tracked labels, linker) as frames finish, in order; linker.events grows;
    `frame_marks`, where given, is filled with {t: boxes} each frame's segmentation left out.

    method "link": segment every frame with `model`, then link. method "propagate":
    `model` is a prompted model (efficientsam-tiny); the first frame (or any frame
    that lost every particle) is segmented by `seed_model` (default: the default model),
    later ones are prompted with the previous frame's tracked masks; `keyframes`
    {t: labels} replace frames the user corrected.
    """
    check_method(method)
    frames = as_stack(frames)
    link_opts, model_opts = split_options(dict(options))
    segmenter = load_model(model)
    linker = new_linker(link_opts, method)
    if method == "propagate":
        from .propagate import iter_propagate

        for t, tracked in iter_propagate(frames, segmenter, linker, frame_marks=frame_marks, **model_opts):
            yield t, tracked, linker
        return
    model_opts = stack_options(frames, segmenter, check_tracked_model_options(segmenter, model_opts))
    shape = tuple(frames.shape[1:3])
    for t in range(frames.shape[0]):
        frame, problem = read_frame(frames, t)
        if problem:
            finished = linker.skip(shape, problem)
        else:
            found = segment_image(frame, segmenter, **model_opts)
            finished = linker.push(found.labels, frame)
            if found.annotations and frame_marks is not None:
                frame_marks[t] = found.annotations
        for done, tracked in finished:
            yield done, tracked, linker
    for t, tracked in linker.flush():
        yield t, tracked, linker


def track(
    frames: Any,
    model: str | Segmenter = DEFAULT_MODEL,
    method: str = "link",
    progress: Callable[[int, int], None] | None = None,
    **options: Any,
) -> TrackResult:
    """Segment and track a (T, Y, X) stack (numpy or dask), returning a TrackResult.

    options: model options (e.g. sigma=2.0) and linking options (see LinkOptions).
    progress(done, total) is called after each finished frame.
    """
    if progress is not None and not callable(progress):  # else a traceback after the first frame
        raise TemsegError(f"progress must be a function progress(done, total), not {progress!r}")
    frames = as_stack(frames)
    n = int(frames.shape[0])
    out = None
    linker = None
    frame_marks = {}
    for t, tracked, current in iter_track(frames, model, method, frame_marks, **options):
        linker = current  # the same linker every time; kept for its events
        if out is None:
            out = np.zeros((n, *tracked.shape), np.uint32)
        out[t] = tracked
        if progress:
            progress(t + 1, n)
    if out is None:
        raise TemsegError("the stack has no frames; nothing to track")
    return TrackResult(labels=out, tracks=tracks_table(out), events=list(linker.events), skipped=list(linker.skipped),
                       pixel_size_nm=options.get("pixel_size_nm"), frame_marks=frame_marks)


__all__ = ["LINK_OPTIONS", "LinkOptions", "Linker", "TrackResult", "check_method", "check_tracked_model_options", "iter_track", "new_linker", "split_options",
           "track"]
