"""napari writer: a Labels layer as a uint32 TIFF (2-D or a (T, Y, X) stack)."""

from __future__ import annotations

from .io import write_labels_tiff


def write_labels(path: str, data, meta: dict) -> list[str]:
    return [str(write_labels_tiff(path, data))]
