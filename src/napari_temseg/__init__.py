"""napari-temseg: segment and track nanoparticles in TEM images and in-situ videos.

Public API (no napari or Qt needed):
    segment(image, model=DEFAULT_MODEL, **options) -> uint32 labels
    track(frames, model=DEFAULT_MODEL, method="link", **options) -> TrackResult
    load_model(name, weights=None, device=None), available_models()
    measure(labels, pixel_size_nm=None) -> one row per particle (sizes, shape; nm columns)
"""

from __future__ import annotations

from . import triton_guard

triton_guard.install()  # before anything here can import torchvision (see triton_guard)

from .analysis import measure  # noqa: E402
from .errors import TemsegError  # noqa: E402
from .models import available_models, load_model  # noqa: E402
from .models.specs import DEFAULT_MODEL  # noqa: E402
from .segmentation import iter_segment_frames, segment  # noqa: E402

__version__ = "0.1.0"


def track(frames, model=DEFAULT_MODEL, method="link", **options):
    """Track particles through a (T, Y, X) stack; see `napari_temseg.tracking.track`."""
    from .tracking import track as _track

    return _track(frames, model=model, method=method, **options)


__all__ = [
    "TemsegError",
    "measure",
    "available_models",
    "iter_segment_frames",
    "load_model",
    "segment",
    "track",
]
