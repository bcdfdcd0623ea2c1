"""The contract every model follows, so that API, CLI, widgets and tracking treat them alike."""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

import numpy as np


@runtime_checkable
class Segmenter(Protocol):
    """A model built once by `load_model` and called many times.

    `predict` takes a float32 (Y, X) image in [0, 1] (see `preprocess.normalize`)
    and returns uint32 instance labels of the same shape: 0 = background,
    1..N = particles. It never reads files or touches napari. A model whose
    `predict` takes `refine_edges` (models.edge_refiner) says so with a class
    attribute `refines_edges = True`, so that a time stack gets one decision for
    all its frames (`segmentation.stack_options`). A model with decisions of its own
    to take once per stack gives a method `decide_for_stack(frames, options,
    particle_radius) -> dict` of option overrides, from sampled frames as it would be
    given them (`particle_radius`: the particles' radius in those frames, NaN unknown).
    """

    name: str

    def predict(self, image: np.ndarray, **options: Any) -> np.ndarray: ...
