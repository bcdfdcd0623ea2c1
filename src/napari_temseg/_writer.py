"""napari writer: a Labels layer as a uint32 TIFF (2-D or a (T, Y, X) stack)."""

from __future__ import annotations

from .io import write_labels_tiff


def write_labels(path: str, data, meta: dict) -> list[str]:
    """The layer's pixel size goes with it where its scale gives one (square, not 1)."""
    y, x = (float(v) for v in (meta.get("scale") or (1.0, 1.0))[-2:])
    return [str(write_labels_tiff(path, data, x if x == y and x != 1.0 else None))]
