"""napari-temseg: segment and track nanoparticles in TEM images and in-situ videos.

Public API (no napari or Qt needed):
    segment(image, model=DEFAULT_MODEL, **options) -> uint32 labels
    iter_segment_frames(frames, model, **options) -> (t, labels) per frame of a stack
    track(frames, model=DEFAULT_MODEL, method="link", progress=None, **options) -> TrackResult
        (.labels, .tracks, .events, .graph, .skipped; .save(folder) writes what `temseg track` does)
    load_model(name, weights=None, device=None), available_models(), model_options(name)
    measure(labels, pixel_size_nm=None, marks=()) -> one row per particle (sizes, shape; nm columns)
    TemsegError: every refusal (bad input, options, files), one line saying what to do
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from . import triton_guard

triton_guard.install()  # before anything here can import torchvision (see triton_guard)

from .analysis import measure  # noqa: E402
from .errors import TemsegError  # noqa: E402
from .models import available_models, load_model  # noqa: E402
from .models.specs import DEFAULT_MODEL  # noqa: E402
from .segmentation import iter_segment_frames, model_options, segment  # noqa: E402

if TYPE_CHECKING:
    from .tracking import TrackResult

__version__ = "0.1.0"


def track(frames: Any, model: Any = DEFAULT_MODEL, method: str = "link",
          progress: Callable[[int, int], None] | None = None, **options: Any) -> TrackResult:
    """Segment and track a (T, Y, X) stack (numpy, dask, zarr: frames read one at a time):
    stable IDs through time and fusion events (two or more parents, one child).

    model: as `segment`; method: "link" (segment every frame, then link) or "propagate"
    (a prompted model follows each particle; points= seed the first frame).
    options: the model's (`model_options(model)`) and the linking options: max_gap (frames
    a lost particle may be missing), max_jump (px it may have moved), min_iou,
    parent_fraction, fusion_min_frames (`tracking.LINK_OPTIONS`).
    progress(done, total) is called after each finished frame.
    Returns a TrackResult: .labels (T, Y, X), .tracks, .events, .graph (napari Tracks),
    .skipped (blank or unreadable frames), .save(folder)."""
    from .tracking import track as _track

    return _track(frames, model=model, method=method, progress=progress, **options)


__all__ = [
    "TemsegError",
    "measure",
    "available_models",
    "iter_segment_frames",
    "load_model",
    "model_options",
    "segment",
    "track",
]
