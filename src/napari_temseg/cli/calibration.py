"""What a run says about its calibration: which pixel size and frame interval its sizes
and times are in, and where each came from."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from ..errors import TemsegError

if TYPE_CHECKING:
    from ..io.stacks import Calibration


def bar_source(bar: float, bar_nm: float, found: Calibration) -> str:
    """Where a pixel size measured on a burned-in scale bar came from, and what the file said
    where that differs (the bar wins, but not without a word)."""
    said = f"; the file says {found.nm:.4g} nm" if found.nm and not math.isclose(found.nm, bar, rel_tol=1e-3) else ""
    return f"pixel size {bar:.4g} nm (its {bar_nm:g} nm scale bar{said})"


def pixel_source(given: float | None, found: Calibration) -> str:
    """Which pixel size the sizes are in, and where it came from: --pixel-size (and what the
    file said, where that differs), the file, or none (and why, where the file has one that
    cannot be used)."""
    if given:
        said = ""
        if found.nm is not None and not math.isclose(found.nm, given, rel_tol=1e-3):
            said = f"; the file says {found.nm:.4g} nm"
        elif found.nm is None and found.yx_nm is not None:
            said = f"; the file's pixels are {found.yx_nm[0]:.4g} nm tall, {found.yx_nm[1]:.4g} nm wide"
        return f"pixel size {given:.4g} nm (--pixel-size{said})"
    if found.nm:
        return f"pixel size {found.nm:.4g} nm (from the file)"
    return found.note or "pixel size unknown: sizes in px"


def interval_source(given: float | None, recorded: float | None, used: float | None,
                    playback_fps: float | None = None) -> str:
    """Which frame interval the time columns use (`used`: as the results folder records it),
    and where it came from (as `pixel_source`): --frame-interval, the file, or an earlier
    run into the folder; a movie's rate (`playback_fps`) is named, not used."""
    if given:
        said = f"; the file says {recorded:.4g} s" if recorded and not math.isclose(recorded, given, rel_tol=1e-3) else ""
        return f"frame interval {given:.4g} s (--frame-interval{said})"
    if recorded:
        return f"frame interval {recorded:.4g} s (from the file)"
    if used:
        return f"frame interval {used:.4g} s (given to an earlier run into the folder)"
    if playback_fps:
        return (f"frame interval unknown: times in frames (the movie plays at {playback_fps:.4g} frames/s, which "
                "an export may have sped up or slowed: give --frame-interval)")
    return "frame interval unknown: times in frames"


def check_nm_diameter(options: dict, pixel_size_nm: float | None, found: Calibration) -> None:
    """A diameter in nm on a file whose pixel size cannot be used (non-square pixels: its
    calibration's note) says why, not only that the pixel size is unknown."""
    from ..segmentation import in_nm

    if in_nm(options.get("diameter")) and not pixel_size_nm and found.note:
        raise TemsegError(f"diameter {options['diameter']!r} is in nm, but {found.note} (or give the diameter "
                          "in px)")
