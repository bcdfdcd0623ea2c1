"""Prompts for a prompted model: from a napari Points layer's data and features (without
importing napari), and from instance labels (one query per particle).

A Points layer holds (N, 2) y, x or (N, 3) t, y, x coordinates; its `label`
feature says positive/negative (1/0, True/False also accepted) and an optional
`object` feature groups points into one particle.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi

from .errors import TemsegError

POSITIVE_VALUES = {"positive", "1", "true", "pos", "+"}
NEGATIVE_VALUES = {"negative", "0", "false", "neg", "-"}


def label_code(value) -> int:
    """1 (positive) or 0 (negative) from 1/0, 1.0/0.0, true/false, positive/negative, +/-."""
    text = str(value).strip().lower()
    if text.endswith(".0"):
        text = text[:-2]
    if text in POSITIVE_VALUES:
        return 1
    if text in NEGATIVE_VALUES:
        return 0
    raise TemsegError(f"point label {value!r} is neither positive nor negative")


def _label_codes(values) -> np.ndarray:
    return np.array([label_code(v) for v in values], float)


def points_to_prompts(data: np.ndarray, features, image_ndim: int) -> dict[int | None, np.ndarray]:
    """{frame: (N, 4) y, x, label, object} (frame None for a 2-D image) from Points data/features.

    Points must have the image's dimensionality (2 for an image, 3 for a T, Y, X stack).
    Without a `label` feature every point is positive; without `object` every
    positive point is its own particle (object NaN).
    """
    data = np.asarray(data, dtype=float)
    if len(data) == 0:
        return {}
    if data.ndim != 2 or data.shape[1] != image_ndim:
        raise TemsegError(
            f"the Points layer has {data.shape[1]}-D points but the image is {image_ndim}-D; "
            f"make a Points layer with the image's dimensions ({'t, y, x' if image_ndim == 3 else 'y, x'})"
        )
    columns = set(getattr(features, "columns", []))
    labels = _label_codes(features["label"]) if "label" in columns else np.ones(len(data))
    objects = (
        np.asarray(features["object"], dtype=float) if "object" in columns else np.full(len(data), np.nan)
    )
    rows = np.column_stack([data[:, -2], data[:, -1], labels, objects])
    if image_ndim == 2:
        return {None: rows}
    frames = np.round(data[:, 0]).astype(int)
    return {int(t): rows[frames == t] for t in np.unique(frames)}


def one_point_per_particle(labels: np.ndarray) -> np.ndarray:
    """(N, 3) y, x, label=1: the innermost pixel of each labelled particle, as a user would click
    it; how the article-style scores of prompted models are taken."""
    from scipy import ndimage as ndi

    ids = np.unique(labels[labels > 0])
    rows = []
    for i in ids:
        dist = ndi.distance_transform_edt(labels == i)
        y, x = np.unravel_index(np.argmax(dist), dist.shape)
        rows.append((y, x, 1))
    return np.array(rows, float).reshape(-1, 3)


def prompts_from_labels(labels: np.ndarray, margin: float = 4.0) -> list[np.ndarray]:
    """One query per particle: box corners (codes 2, 3) and the centroid (code 1), in (y, x, code)."""
    queries = []
    h, w = labels.shape
    ids = np.unique(labels[labels > 0])
    slices = ndi.find_objects(labels)
    centres = ndi.center_of_mass(np.ones_like(labels), labels, ids) if len(ids) else []
    for i, (cy, cx) in zip(ids, centres, strict=False):
        sy, sx = slices[int(i) - 1]
        y0, x0 = max(sy.start - margin, 0), max(sx.start - margin, 0)
        y1, x1 = min(sy.stop - 1 + margin, h - 1), min(sx.stop - 1 + margin, w - 1)
        queries.append(np.array([[y0, x0, 2], [y1, x1, 3], [cy, cx, 1]], float))
    return queries
