"""napari writer: a Labels layer as a uint32 TIFF (2-D or a (T, Y, X) stack)."""

from __future__ import annotations

from .io import write_labels_tiff
from .io.stacks import pixel_size_from_scale


def write_labels(path: str, data, meta: dict) -> list[str]:
    """The layer's pixel size goes with it where its scale gives one."""
    recorded = (meta.get("metadata") or {}).get("temseg", {}).get("pixel_size_nm")
    unit = (meta.get("units") or (None,))[-1]
    return [str(write_labels_tiff(path, data, pixel_size_from_scale(meta.get("scale") or (1.0, 1.0), recorded, unit)))]
