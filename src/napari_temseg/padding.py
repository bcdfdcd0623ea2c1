"""The no-data border of a drift-corrected or registered export: whole rows and columns
along the image's edge filled with one level (black, white or a grey) where the shifted
frame holds no specimen.

A lossless export's padding is one grey level and `annotations` finds it as a flat mark;
a movie's lossy codec leaves it a few levels off (0-10 around a black fill in MPEG-4 and
MJPEG), and in bright field it was then a dark "particle" the width of the image that
took every particle beside it (52 tracks for 21 in a drift-corrected MPEG-4,
docs/robustness.md). Padding here is told by what no specimen line does: nearly every
pixel of the line within a few levels of one value, the lines beside it at that value
too, out to the image's edge, and a step to the specimen where they end.
"""

from __future__ import annotations

import numpy as np

from .annotations import Box

#: A line is padding when this share of its pixels lies within PAD_TOLERANCE of the
#: padding's level (a codec's ringing where the padding meets the specimen stays within it).
PAD_SHARE = 0.98
#: How far (a share of the image's grey range) a padding pixel may lie from its level: an
#: MPEG-4 or MJPEG export's black fill reached 10 of 237 levels.
PAD_TOLERANCE = 0.05
#: The specimen's first line differs from the padding's level by at least this share of the
#: grey range (its median): a step, not a line of the specimen's own flat support.
PAD_STEP = 0.1
#: Padding takes at most this share of the image's lines from one side: a frame shifted
#: further holds too little specimen to be read as one.
MAX_PAD_SHARE = 0.5


def edge_padding(gray: np.ndarray) -> tuple[Box, ...]:
    """The boxes (y0, x0, y1, x1, end-exclusive) of the padding along each side of a 2-D
    image: the outermost rows or columns filled with one level to within the codec's error,
    ending in a step to the specimen; () for none."""
    if gray.ndim != 2 or min(gray.shape) < 8:
        return ()
    low, high = np.percentile(gray[:: max(1, gray.shape[0] // 256), :: max(1, gray.shape[1] // 256)], [0.5, 99.5])
    span = float(high - low)
    if span <= 0:
        return ()
    height, width = gray.shape
    boxes = []
    for side, lines in (("top", gray), ("bottom", gray[::-1]), ("left", gray.T), ("right", gray.T[::-1])):
        depth = _padded_lines(lines, span)
        if depth:
            boxes.append({"top": (0, 0, depth, width), "bottom": (height - depth, 0, height, width),
                          "left": (0, 0, height, depth), "right": (0, width - depth, height, width)}[side])
    return tuple(boxes)


def _padded_lines(lines: np.ndarray, span: float) -> int:
    """How many of `lines` (the first is at the image's edge) are padding: each with
    PAD_SHARE of its pixels within PAD_TOLERANCE of the first line's median, followed by a
    line whose median steps PAD_STEP away; 0 where the run takes MAX_PAD_SHARE or more."""
    most = int(MAX_PAD_SHARE * lines.shape[0])
    level = float(np.median(lines[0]))
    near = np.abs(lines[: most + 1].astype(np.float64) - level) <= PAD_TOLERANCE * span
    padded = near.mean(axis=1) >= PAD_SHARE
    depth = int(np.argmin(padded)) if not padded.all() else padded.size
    if depth == 0 or depth >= most:
        return 0
    return depth if abs(float(np.median(lines[depth])) - level) >= PAD_STEP * span else 0
