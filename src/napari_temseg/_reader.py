"""napari reader: TIFF micrographs and stacks, and folders written by `temseg track`."""

from __future__ import annotations

from pathlib import Path

from .errors import TemsegError


def get_reader(path: str | list[str]):
    """Return a reader for a .tif/.tiff file or a tracking results folder, else None."""
    if isinstance(path, list):
        return None
    p = Path(path)
    if p.is_dir() and (p / "labels.zarr").exists() and (p / "events.csv").exists():
        return read_track_results
    if p.suffix.lower() in (".tif", ".tiff") and p.is_file():
        return read_tiff
    return None


def read_tiff(path: str) -> list[tuple]:
    """An image layer from a TIFF micrograph or (T, Y, X) stack."""
    from .io import read_image

    try:
        data = read_image(path)
    except TemsegError:
        return []
    return [(data, {"name": Path(path).stem}, "image")]


def read_track_results(path: str) -> list[tuple]:
    """Tracked labels (lazy zarr) with their fusion events, ready for the review widget."""
    from .io import open_track_dir

    labels, events = open_track_dir(path)
    meta = {"temseg": {"events": events, "source": str(path)}}
    return [(labels, {"name": f"{Path(path).name} tracks", "metadata": meta}, "labels")]
