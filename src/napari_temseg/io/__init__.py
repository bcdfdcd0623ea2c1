"""Reading micrographs and stacks, writing labels and tracking results."""

from .images import IMAGE_SUFFIXES, read_image, read_stack, write_labels_tiff, write_stack_tiff
from .results import (
    editable_labels,
    open_track_dir,
    read_review,
    read_track_dir,
    results_calibration,
    write_review,
    write_track_dir,
)
from .stacks import TEM_FORMATS, Video, open_video, read_micrograph

__all__ = [
    "IMAGE_SUFFIXES",
    "TEM_FORMATS",
    "Video",
    "editable_labels",
    "open_track_dir",
    "open_video",
    "read_image",
    "read_micrograph",
    "read_review",
    "read_stack",
    "read_track_dir",
    "results_calibration",
    "write_labels_tiff",
    "write_review",
    "write_stack_tiff",
    "write_track_dir",
]
