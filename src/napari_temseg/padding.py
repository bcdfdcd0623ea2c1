"""The no-data border of a drift-corrected or registered export: whole rows and columns
along the image's edge filled with one level (black, white or a grey) where the shifted
frame holds no specimen.

A lossless export's padding is one grey level and `annotations` finds it as a flat mark;
a movie's lossy codec leaves it a few levels off (0-10 around a black fill in MPEG-4 and
MJPEG), and in bright field it was then a dark "particle" the width of the image that
took every particle beside it (52 tracks for 21 in a drift-corrected MPEG-4,
docs/robustness.md). Padding here is told by what no specimen line does: nearly every
pixel of the line within a few levels of one value, the lines beside it at that value
too, out to the image's edge, and a line where they end that is hardly at that value.
"""

from __future__ import annotations

import numpy as np

from .annotations import Box

#: A line is padding when this share of its pixels lies within PAD_TOLERANCE of the
#: padding's level (a codec's ringing where the padding meets the specimen: 2 % of an
#: MPEG-4 frame's outer column lay beyond it).
PAD_SHARE = 0.95
#: How far (a share of the image's grey range) a padding pixel may lie from its level: an
#: MPEG-4 or MJPEG export's black fill reached 10 of 237 levels.
PAD_TOLERANCE = 0.05
#: The specimen's first line holds at most this share of pixels at the padding's level: a
#: step to the specimen (a dark-field support is as flat as padding, but the line where the
#: first particle starts is still mostly support).
PAD_AFTER = 0.2
#: Padding takes at most this share of the image's lines from one side: a frame shifted
#: further holds too little specimen to be read as one.
MAX_PAD_SHARE = 0.5


def edge_padding(gray: np.ndarray) -> tuple[Box, ...]:
    """The boxes (y0, x0, y1, x1, end-exclusive) of the padding along each side of a 2-D
    image: the outermost rows or columns filled with one level to within the codec's error,
    ending where the specimen starts; () for none."""
    if gray.ndim != 2 or min(gray.shape) < 8:
        return ()
    low, high = np.percentile(gray[:: max(1, gray.shape[0] // 128), :: max(1, gray.shape[1] // 128)], [0.5, 99.5])
    height, width = gray.shape
    lines = {"top": gray, "bottom": gray[::-1], "left": gray.T, "right": gray.T[::-1]}
    across = {"top": ("left", "right"), "bottom": ("left", "right"), "left": ("top", "bottom"),
              "right": ("top", "bottom")}
    depth = {side: _padded_lines(side_lines, float(low), float(high)) for side, side_lines in lines.items()}
    for side, side_lines in lines.items():  # again without the padding found across them: an L of padding
        start, stop = depth[across[side][0]], side_lines.shape[1] - depth[across[side][1]]
        if not depth[side] and stop - start < side_lines.shape[1]:
            depth[side] = _padded_lines(side_lines[:, start:stop], float(low), float(high))
    boxes = {"top": (0, 0, depth["top"], width), "bottom": (height - depth["bottom"], 0, height, width),
             "left": (0, 0, height, depth["left"]), "right": (0, width - depth["right"], height, width)}
    return tuple(boxes[side] for side in lines if depth[side])


def _padded_lines(lines: np.ndarray, low: float, high: float) -> int:
    """How many of `lines` (the first is at the image's edge) are padding: each with
    PAD_SHARE of its pixels within PAD_TOLERANCE of the first line's median (of every 4th
    pixel), followed by a line with at most PAD_AFTER of them there; 0 where the run takes
    MAX_PAD_SHARE or more. The grey range is the image's (`low`-`high`, the 0.5-99.5th
    percentiles of a 128 x 128 sample) reaching to the padding's level, which a thin padding
    lies outside of. Read in blocks of 16 lines from the edge: most images' first line ends
    it."""
    most = int(MAX_PAD_SHARE * lines.shape[0])
    level = float(np.median(lines[0, ::4]))  # a sample: nearly every pixel of a padding line is at it
    tolerance = PAD_TOLERANCE * (max(high, level) - min(low, level))
    if tolerance <= 0:
        return 0

    def at_level(block: np.ndarray) -> np.ndarray:
        return (np.abs(block.astype(np.float32) - level) <= tolerance).mean(axis=-1)

    if at_level(lines[0]) < PAD_SHARE:
        return 0  # most images: the specimen reaches the edge
    depth = 0
    while depth < most:
        padded = at_level(lines[depth : depth + 16]) >= PAD_SHARE
        depth += int(np.argmin(padded)) if not padded.all() else padded.size
        if not padded.all():
            break
    if depth == 0 or depth >= most:
        return 0
    return depth if at_level(lines[depth]) <= PAD_AFTER else 0
