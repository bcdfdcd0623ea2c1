"""The one segmentation entry point every front end (API, CLI, widgets, tracking) calls."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from .errors import TemsegError
from .models import Segmenter, load_model
from .models.edge_refiner import refine_edges_for_stack
from .preprocess import normalize


def segment(image: Any, model: str | Segmenter = "classical", **options: Any) -> np.ndarray:
    """Segment one 2-D micrograph into particles.

    image: (Y, X) grayscale or (Y, X, 3|4) RGB/RGBA, any integer or float dtype.
    model: a registry name (see `available_models()`) or a model from `load_model`.
    options: model options (e.g. sigma=2.0 for "classical").
    Returns uint32 (Y, X) instance labels: 0 background, 1..N one ID per particle.
    """
    segmenter = load_model(model) if isinstance(model, str) else model
    labels = segmenter.predict(normalize(image), **options)
    return np.asarray(labels, dtype=np.uint32)


def iter_segment_frames(
    frames: Any, model: str | Segmenter = "classical", **options: Any
) -> Iterator[tuple[int, np.ndarray]]:
    """Yield (t, labels) for each frame of a (T, Y, X) stack, reading frames one at a time.

    Works lazily on dask arrays: only the frame in hand is computed. Consumers
    (widgets, tracking, video) use it so that progress and cancel come for free.
    """
    if getattr(frames, "ndim", None) not in (3, 4) or (frames.ndim == 4 and frames.shape[-1] not in (3, 4)):
        raise TemsegError(
            f"expected a time stack (T, Y, X), got shape {getattr(frames, 'shape', None)}"
        )
    segmenter = load_model(model) if isinstance(model, str) else model
    options = stack_options(frames, segmenter, options)
    for t in range(frames.shape[0]):
        frame = np.asarray(frames[t])
        yield t, segment(frame, segmenter, **options)


def stack_options(frames: Any, segmenter: Segmenter, options: dict[str, Any]) -> dict[str, Any]:
    """`options` for every frame of a time stack: for a model that refines edges, whether
    it does is decided once for the stack (`edge_refiner.refine_edges_for_stack`), so that
    all frames follow one edge rule."""
    if not getattr(segmenter, "refines_edges", False):
        return options
    return {**options, "refine_edges": refine_edges_for_stack(frames, options.get("refine_edges", True))}
