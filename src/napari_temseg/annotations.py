"""Burned-in annotations: the scale bar, its text, its backing box and the data bar a
microscope writes into the pixels of an exported micrograph (and flat padding).

Such marks are drawn flat (every pixel one grey level: no shot noise) as axis-aligned
rectangles with straight edges, which no part of a specimen is: a black bar on a
bright-field image is otherwise a dark "particle" with the bar's length for its diameter,
and a flat box moves the grey levels the rest is judged by. `find_annotations` finds
each mark's box (the rectangle, grown over the text beside it), `fill_annotations`
paints it with the support around it before any model sees the image, and
`drop_annotated_particles` removes what a model still drew there.

In a time stack a mark has a second sign: it stays still while the specimen's shot noise
changes every frame. `still_marks` finds marks so, where a lossy codec (a movie's H.264 or
MPEG-4, a JPEG) has left them no longer one grey level.

Not found: text without a bar, 1-px bars, and marks in a single lossy (JPEG) image, whose
flat pixels are no longer one grey level; nothing in a noise-free drawing or mask, where
every object is as flat as a mark (docs/robustness.md, "Burned-in marks").
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import ndimage as ndi

#: Flat blocks of this length (px) and 2 px seed the search; a mark's rectangle is at least
#: MIN_MARK_LENGTH long, 2 thick and MIN_MARK_AREA in all (a clipped particle rim holds
#: 2 x 17 runs); a scale bar is MIN_BAR_ASPECT times longer than thick.
MIN_BAR_LENGTH = 16
MIN_MARK_LENGTH = 24
MIN_MARK_AREA = 80
MIN_BAR_ASPECT = 3.0
#: A strip at most EDGE_STRIP px thick lying along the image's edge is padding only when it
#: runs along this share of it (a short one there is clipped support).
EDGE_SPAN = 0.9
EDGE_STRIP = 8
#: Grey levels, and pieces of one level, holding flat blocks that are looked at, the most
#: blocks first (a bar, its box and text use 1-3 levels; a smooth 8-bit gradient hundreds).
MAX_LEVELS = 4
MAX_PIECES = 8
#: The pixels right outside a mark differ from it by at least this share of the image's range
#: (a drawn edge is a step; a plateau of a smoothed 8-bit image ends 1-3 levels off; `_stands_out`).
MIN_EDGE_STEP = 0.05
#: Text may grow a mark's box to at most this many times the rectangle's area, or
#: TEXT_AREA_MIN px, whichever is more (not over the clipped cores of a particle field).
TEXT_AREA_FACTOR = 10
TEXT_AREA_MIN = 64 * 64
#: A line just outside a mark's rectangle may share its grey level over at most this share
#: of its length (a clipped round particle has a rectangle inside it, but not straight edges).
MAX_EDGE_SHARE = 0.5
#: Flat blocks tried per piece (a data bar holds thousands, all in one rectangle).
MAX_TRIES = 24
#: A mark's rectangle differs from the pixels around it by at least this share of the
#: image's grey range (a plateau of a smoothed 8-bit image is one level off its surround).
MIN_MARK_CONTRAST = 0.05
#: A piece of text stands out from what surrounds it by at least this share of the range
#: (ink on a support; a clipped particle core is surrounded by the particle's own dark).
MIN_TEXT_CONTRAST = 0.25
#: Thicker rectangles are boxes or strips: their text is sized as a bar this thick would have.
MAX_BAR_THICKNESS = 8
#: A particle beside a thicker box is carried this many rows into it, then fades out over
#: as many (`fill_annotations`): it is cut there, and its hidden part is a guess.
CARRIED_ROWS = 4
#: Text joins a mark within this many of the bar's thicknesses (at least TEXT_GAP_MIN px)
#: of its box, one glyph after another.
TEXT_GAP = 2.0
TEXT_GAP_MIN = 16
#: A glyph's flat pixels (an anti-aliased 12-px font keeps 4-8 at its exact level; fewer:
#: clipped noise).
MIN_GLYPH_AREA = 4
#: Share of an image's pixels equal to their neighbours above which it has no noise to tell
#: a mark from the specimen by (a drawing, a mask; a micrograph with a data bar: ~0.1).
MAX_FLAT_SHARE = 0.5
#: The most of an image a mark's box may cover: a data bar is a strip, not the picture.
MAX_SHARE = 0.25
#: An RGB pixel is coloured when its channels are this share of the image's range apart.
COLOUR_SPREAD = 0.15
#: Coloured pixels this close (px) are one mark (a bar's text, the letters of a word).
COLOUR_JOIN = 6
#: Overlapping boxes are merged when their union is at most this many times their summed areas.
MERGE_SLACK = 1.2
#: A time stack's pixel is still when its spread over the sampled frames is under this share
#: of the median pixel's (the specimen's shot noise changes from frame to frame; a burned-in
#: mark only by the codec's error: a movie's marks 2 grey levels, its support 4-10).
STILL_SHARE = 0.35
#: Fewest frames to tell still pixels by.
STILL_MIN_FRAMES = 3
#: Rows of the sampled frames read at once to measure how still each pixel is.
STILL_BAND = 256
#: A still piece is a mark's rectangle when two opposite sides of its box are covered this
#: much and every side by STILL_SIDE_MIN: straight edges (a codec frays a bar's ends to
#: 0.67, while a round particle clipped to one grey level in every frame touches its box at
#: a few pixels, and a saturated vacuum along the image's edge has one wavy side).
STILL_SIDE_SHARE = 0.7
STILL_SIDE_MIN = 0.5
#: Outermost lines of a still piece's box its sides are read at (the best of them).
STILL_FRAYED = 3
#: A still glyph is a stroke at most this wide (px): the still core of a clipped particle
#: beside a mark is not its text.
MAX_STROKE = 6
#: Pixels added around each box: the anti-aliased edge of a drawn mark.
BOX_MARGIN = 2
#: A backing box's pixels lie within this share of the image's grey range of its level
#: (`_encloses_marks`; a JPEG rings beside the bar it holds).
ENCLOSING_TOLERANCE = 0.25
#: A backing box reaches at most this many px across its strip beside the bar (bar and text).
BOX_REACH = 128
#: Marks named one by one in a status line; more are counted.
NAMED_MARKS = 3

Box = tuple[int, int, int, int]  # (y0, x0, y1, x1), end-exclusive


def int_boxes(boxes) -> tuple[Box, ...]:
    """`boxes` (any sequence of 4 numbers each: numpy rows, JSON lists) as tuples of Python
    ints: comparable, hashable and written to JSON as they are."""
    return tuple(tuple(int(v) for v in box) for box in boxes)


def find_annotations(gray: np.ndarray, coloured: np.ndarray | None = None) -> tuple[Box, ...]:
    """The boxes of burned-in marks in a 2-D image: flat, solid, axis-aligned rectangles of
    one grey level with straight edges that stand out from their surround (a bar, its
    backing box, a data bar, padding), each grown over the flat text beside it; and around
    each coloured scale bar (`coloured_pixels`) with its text; () for none."""
    gray = np.ascontiguousarray(gray)  # a channel of an RGB(A) image compares 10x slower in place
    if gray.ndim != 2 or min(gray.shape) < 2:
        return ()
    boxes = _coloured_boxes(coloured) if coloured is not None else []
    span = _grey_span(gray)
    boxes += [_with_text(gray, rectangle, value, span) for rectangle, value in _flat_rectangles(gray, span)]
    boxes = merged_marks([_padded(box, gray.shape) for box in boxes])
    return tuple(box for box in boxes if _area(box) <= MAX_SHARE * gray.size)


def scale_bar_length(image: np.ndarray) -> int | None:
    """The length (px) of the image's burned-in scale bar: the longest mark at most
    MAX_BAR_THICKNESS thick and MIN_BAR_ASPECT times longer than thick (a bar, not its box
    or a data bar) clear of the image's edge (not padding), flat grey or coloured on a grey
    RGB export; None for none."""
    from .preprocess import as_2d_gray, without_non_finite

    gray = np.ascontiguousarray(without_non_finite(as_2d_gray(image))[0])  # a NaN border: no data, not a mark
    span = _grey_span(gray) if min(gray.shape) >= 2 else 0.0
    flat = _flat_rectangles(gray, span) if min(gray.shape) >= 2 else []
    shaped = lambda box: _bar_shaped(box, gray.shape)  # noqa: E731
    bars = [box for box, value in flat if shaped(box) and not _encloses_marks(gray, box, value, flat, span)]
    coloured = coloured_pixels(image)
    if coloured is not None:
        bars += [box for box in _rectangles_in(coloured) if shaped(box)]
    return max((max(y1 - y0, x1 - x0) for y0, x0, y1, x1 in bars), default=None)


def _bar_shaped(box: Box, shape: tuple[int, ...]) -> bool:
    """At most MAX_BAR_THICKNESS thick, MIN_BAR_ASPECT times longer than thick, and clear of
    the image's edge (where padding lies)."""
    y0, x0, y1, x1 = box
    thickness, length = min(y1 - y0, x1 - x0), max(y1 - y0, x1 - x0)
    return thickness <= MAX_BAR_THICKNESS and length >= MIN_BAR_ASPECT * thickness and y0 > 0 and x0 > 0 \
        and y1 < shape[0] and x1 < shape[1]


def _encloses_marks(gray: np.ndarray, box: Box, value, marks: list[tuple[Box, Any]], span: float) -> bool:
    """Whether the piece of `value` holding `box` surrounds another of the `marks`: a backing
    box around its bar, whose margin beside the bar is a strip as thin as a bar and as long
    as the box (a 135-px bar in its box was measured 143-156 px). Looked for within
    BOX_REACH px across the strip and a few px beyond its ends (labelling the whole image for
    every mark cost 0.8 s on a 2048² image with 64 of them)."""
    if not any(other != value for _, other in marks):
        return False  # nothing of another level to surround
    horizontal = box[3] - box[1] >= box[2] - box[0]
    across = min(max(box[2] - box[0], box[3] - box[1]), BOX_REACH)  # a box's height beside its strip
    along = 2 * MAX_BAR_THICKNESS  # its margin beyond the strip's ends
    reach_y, reach_x = (across, along) if horizontal else (along, across)
    y0, x0 = max(box[0] - reach_y, 0), max(box[1] - reach_x, 0)
    view = gray[y0:box[2] + reach_y, x0:box[3] + reach_x].astype(np.float64)
    near_value = np.abs(view - float(value)) <= ENCLOSING_TOLERANCE * span
    pieces, _ = ndi.label(near_value)  # near, not equal: a JPEG's ringing breaks an exact ring
    own = pieces == pieces[(box[0] + box[2]) // 2 - y0, (box[1] + box[3]) // 2 - x0]
    window = ndi.find_objects(own.astype(np.uint8))[0]
    inside = np.zeros_like(own)
    inside[window] = ndi.binary_fill_holes(own[window]) & ~own[window]
    h, w = inside.shape
    centres = [((b[0] + b[2]) // 2 - y0, (b[1] + b[3]) // 2 - x0) for b, other in marks if other != value]
    return any(0 <= y < h and 0 <= x < w and inside[y, x] for y, x in centres)


def pixel_size_from_scale_bar(image: np.ndarray, bar_nm: float) -> float:
    """nm per pixel from the image's burned-in scale bar, `bar_nm` long (`scale_bar_length`)."""
    from .errors import TemsegError

    length = scale_bar_length(image)
    if length is None:
        raise TemsegError(f"no burned-in scale bar found (a flat bar of one grey level, at least {MIN_MARK_LENGTH} px "
                          "long, clear of the image's edge); "
                          "give --pixel-size NM instead")
    return bar_nm / length


def _flat_rectangles(gray: np.ndarray, span: float) -> list[tuple[Box, Any]]:
    """(rectangle, grey level) of every mark: a flat solid rectangle (`_solid_rectangles`)
    that stands out from its surround; none in an image flat over more than MAX_FLAT_SHARE
    (a drawing or mask without noise, where every object is as flat as a mark)."""
    equal = _equal_neighbours(gray)
    seeds = _flat_block_seeds(equal)
    if seeds is None or equal.mean() > MAX_FLAT_SHARE:
        return []
    found = []
    values, counts = np.unique(gray[seeds], return_counts=True)
    for value in values[np.argsort(counts, kind="stable")[::-1][:MAX_LEVELS]]:
        pieces, _ = ndi.label(_flat(gray == value), structure=np.ones((3, 3), bool))
        on_value = gray[seeds] == value
        found += [(rectangle, value) for rectangle in _rectangles_in(pieces, (seeds[0][on_value], seeds[1][on_value]))
                  if _mark_shaped(rectangle, gray.shape) and _stands_out(gray, rectangle, value, span)
                  and _stands_out(gray, rectangle, value, span, MIN_EDGE_STEP, near=0, far=1)]
    return found


def _mark_shaped(box: Box, shape: tuple[int, ...]) -> bool:
    """Long and large enough for a mark; a thin strip lying along the image's edge only where
    it runs along the edge (padding; a short one there is clipped support)."""
    height, width = box[2] - box[0], box[3] - box[1]
    if max(height, width) < MIN_MARK_LENGTH or height * width < MIN_MARK_AREA:
        return False
    along_top_or_bottom = (box[0] == 0 or box[2] == shape[0]) and height <= EDGE_STRIP
    along_a_side = (box[1] == 0 or box[3] == shape[1]) and width <= EDGE_STRIP
    return (not along_top_or_bottom or width >= EDGE_SPAN * shape[1]) and (
        not along_a_side or height >= EDGE_SPAN * shape[0])


def _rectangles_in(pieces: np.ndarray, seeds: tuple[np.ndarray, np.ndarray] | None = None) -> list[Box]:
    """The marks' rectangles in labelled `pieces` (a bool mask is labelled here) from their
    flat blocks (`seeds`; found here where not given): the MAX_PIECES pieces holding the
    most blocks (a mark holds hundreds, a plateau of a smoothed image a few)."""
    if pieces.dtype == bool:
        seeds = _flat_block_seeds(_neighbours_within(pieces))
        if seeds is None:
            return []
        pieces, _ = ndi.label(pieces, structure=np.ones((3, 3), bool))
    windows = ndi.find_objects(pieces)
    ys, xs = seeds
    indices, counts = np.unique(pieces[ys, xs], return_counts=True)
    found = []
    for index in indices[np.argsort(counts, kind="stable")[::-1][:MAX_PIECES]]:
        if index:
            at = pieces[ys, xs] == index
            found += _solid_rectangles(pieces, index, windows[index - 1], ys[at], xs[at])
    return found


def coloured_pixels(image: np.ndarray) -> np.ndarray | None:
    """Where an RGB(A) micrograph that is grey almost everywhere has colour (channels at
    least COLOUR_SPREAD of their range apart: an overlay, not a compression's tint); None
    for a grey image, or one in colour throughout (a colour map, a photograph)."""
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[-1] not in (3, 4) or min(image.shape[:2]) <= 4:
        return None
    rgb = image[..., :3].astype(np.float32)
    spread = rgb.max(axis=-1) - rgb.min(axis=-1)
    span = float(rgb.max() - rgb.min())
    coloured = spread > COLOUR_SPREAD * span if span > 0 else np.zeros(spread.shape, bool)
    return coloured if 0 < coloured.mean() <= MAX_SHARE else None


def fill_annotations(gray: np.ndarray, boxes: tuple[Box, ...]) -> np.ndarray:
    """`gray` (a float copy) with each box painted as the support across it: interpolated
    between its two long sides (a thin bar across a particle leaves the particle whole),
    from the one side where the other is the image's edge, plus the image's own noise (a
    fixed seed), so that neither the mark's edges nor a flat patch are left for a model."""
    out = np.array(gray, dtype=np.result_type(gray.dtype, np.float32))
    inside = annotation_mask(gray.shape, boxes)
    rng = np.random.default_rng(0)
    noise = _noise_level(out, inside)
    for box in boxes:
        y0, x0, y1, x1 = box
        across_rows = (y1 - y0) <= (x1 - x0)  # interpolate across the short side
        view = out if across_rows else out.T
        a0, b0, a1, b1 = (y0, x0, y1, x1) if across_rows else (x0, y0, x1, y1)
        before = _side(view, inside if across_rows else inside.T, a0 - 3, a0, b0, b1)
        after = _side(view, inside if across_rows else inside.T, a1, a1 + 3, b0, b1)
        if before is None and after is None:
            rest = out[~inside]
            before = after = np.full(b1 - b0, np.median(rest) if rest.size else 0.0)
        depth = a1 - a0
        # at the image's edge the far side is the near side's support: a particle beside the
        # box is not carried in from the edge as well
        before = _running_support(after, depth) if before is None else before
        after = _running_support(before, depth) if after is None else after
        view[a0:a1, b0:b1] = _across(before, after, depth) + rng.normal(0, noise, (depth, b1 - b0))
    return out


def _across(before: np.ndarray, after: np.ndarray, depth: int) -> np.ndarray:
    """The support painted `depth` rows across a box from the rows beside its two long
    sides, interpolated from side to side. Across a bar (at most MAX_BAR_THICKNESS rows) a
    particle stays whole. Across a thicker box (backing box, text, data bar) the support is
    the sides' running medians (without the particles that touch the box) and what a
    particle adds to a side is carried `CARRIED_ROWS` rows in, fading out over as many
    again: drawn to the far side, a particle beside the box was dropped as mostly inside it."""
    t = np.arange(1, depth + 1, dtype=np.float64)[:, None]  # rows from the near side
    weight = t / (depth + 1)
    if depth <= MAX_BAR_THICKNESS:
        return (1 - weight) * before + weight * after
    support_before, support_after = _running_support(before, depth), _running_support(after, depth)

    def carried(distance: np.ndarray) -> np.ndarray:
        return np.clip((2 * CARRIED_ROWS - distance) / CARRIED_ROWS, 0.0, 1.0)

    return ((1 - weight) * (support_before + (before - support_before) * carried(t))
            + weight * (support_after + (after - support_after) * carried(depth + 1 - t)))


def _running_support(side: np.ndarray, depth: int) -> np.ndarray:
    """The support along a box's side: its running median over four times the box's depth,
    without the particles that touch the box."""
    return ndi.median_filter(side, min(side.size, 4 * depth + 1), mode="nearest")


def annotation_mask(shape: tuple[int, ...], boxes: tuple[Box, ...]) -> np.ndarray:
    mask = np.zeros(shape[:2], bool)
    for y0, x0, y1, x1 in boxes:
        mask[y0:y1, x0:x1] = True
    return mask


def near_marks(shape: tuple[int, ...], boxes: tuple[Box, ...]) -> np.ndarray:
    """The pixels in or beside (8-connected) the boxes: a particle with one is cut by a mark.
    (Each box one pixel larger all round: the boxes' dilation, without dilating a frame.)"""
    grown = tuple((max(y0 - 1, 0), max(x0 - 1, 0), y1 + 1, x1 + 1) for y0, x0, y1, x1 in boxes if y1 > y0 and x1 > x0)
    return annotation_mask(shape, grown)


def drop_annotated_particles(labels: np.ndarray, boxes: tuple[Box, ...]) -> np.ndarray:
    """`labels` without the particles mostly inside a box (what was drawn there). The others
    stay whole, the painted support carrying them across a thin bar (clearing the box cut
    a particle in two); their size there is a guess, so `measure(marks=)` flags them. A box
    across the whole image along its edge (padding, a data bar) hides no specimen to carry
    them into: they end at it, as at the image's edge (its BOX_MARGIN on the image's side
    is specimen, and kept)."""
    if not boxes:
        return labels
    inside = annotation_mask(labels.shape, boxes)
    total = np.bincount(labels.ravel())
    covered = np.bincount(labels[inside], minlength=total.size)
    mostly = np.flatnonzero(covered * 2 > total)
    out = labels.copy()
    out[np.isin(labels, mostly[mostly > 0])] = 0
    out[annotation_mask(labels.shape, tuple(filter(None, (_no_specimen(box, labels.shape) for box in boxes))))] = 0
    return out


def _no_specimen(box: Box, shape: tuple[int, ...]) -> Box | None:
    """The part of `box` that holds no specimen where it runs from one side of the image to
    the other along its edge (padding, a data bar): the box less its BOX_MARGIN on the
    image's side; None for other boxes."""
    y0, x0, y1, x1 = box
    if x0 == 0 and x1 == shape[1] and (y0 == 0 or y1 == shape[0]):
        return (y0, x0, y1 - BOX_MARGIN, x1) if y0 == 0 else (y0 + BOX_MARGIN, x0, y1, x1)
    if y0 == 0 and y1 == shape[0] and (x0 == 0 or x1 == shape[1]):
        return (y0, x0, y1, x1 - BOX_MARGIN) if x0 == 0 else (y0, x0 + BOX_MARGIN, y1, x1)
    return None


def describe_annotations(boxes: tuple[Box, ...]) -> str:
    """', a burned-in mark or flat region (scale bar, text, padding) left out (rows a-b,
    columns c-d)' for a status line; the largest NAMED_MARKS named where there are more."""
    if not boxes:
        return ""
    largest = sorted(boxes, key=lambda b: (b[2] - b[0]) * (b[3] - b[1]), reverse=True)[:NAMED_MARKS]
    where = "; ".join(f"rows {y0}-{y1 - 1}, columns {x0}-{x1 - 1}" for y0, x0, y1, x1 in largest)
    count = "a burned-in mark or flat region" if len(boxes) == 1 else f"{len(boxes)} burned-in marks or flat regions"
    named = f"the largest {NAMED_MARKS}: " if len(boxes) > NAMED_MARKS else ""
    return f", {count} (scale bar, text, padding) left out ({named}{where})"


def _flat(at: np.ndarray) -> np.ndarray:
    """The pixels of `at` with a 4-neighbour in it: a drawn mark is flat, a clipped noisy
    pixel mostly stands alone."""
    pair = np.zeros_like(at)
    pair[1:] |= at[1:] & at[:-1]
    pair[:-1] |= at[1:] & at[:-1]
    pair[:, 1:] |= at[:, 1:] & at[:, :-1]
    pair[:, :-1] |= at[:, 1:] & at[:, :-1]
    return pair


def _flat_block_seeds(both: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """Pixels starting a block of one grey level 2 x MIN_BAR_LENGTH (or MIN_BAR_LENGTH x 2),
    as every mark holds: np.nonzero-style (ys, xs), None for none. `both`: (Y-1, X-1),
    whether each pixel equals its right and its lower neighbour (`_equal_neighbours`)."""
    span = MIN_BAR_LENGTH - 1
    found = []
    for view, transpose in ((both, False), (both.T, True)):
        lines = np.flatnonzero(view.sum(axis=1) >= span)  # the quick answer for nearly every micrograph
        if lines.size == 0 or view.shape[1] < span:
            continue
        runs = np.cumsum(view[lines], axis=1, dtype=np.int32)
        runs[:, span:] -= runs[:, :-span].copy()
        rows, starts = np.nonzero(runs[:, span - 1:] == span)
        rows = lines[rows]
        found.append((starts, rows) if transpose else (rows, starts))
    if not found or not sum(f[0].size for f in found):
        return None
    return np.concatenate([f[0] for f in found]), np.concatenate([f[1] for f in found])


def _equal_neighbours(gray: np.ndarray) -> np.ndarray:
    """(Y-1, X-1): whether each pixel equals its right and its lower neighbour."""
    return (gray[:-1, :-1] == gray[:-1, 1:]) & (gray[:-1, :-1] == gray[1:, :-1])


def _neighbours_within(mask: np.ndarray) -> np.ndarray:
    """(Y-1, X-1): whether each pixel and its right and lower neighbours are in `mask`."""
    return mask[:-1, :-1] & mask[:-1, 1:] & mask[1:, :-1]


def _grey_span(gray: np.ndarray) -> float:
    sample = gray.ravel()[:: max(1, gray.size // 65536)].astype(np.float64)
    low, high = np.percentile(sample, [1, 99])
    return float(high - low) if high > low else float(gray.max()) - float(gray.min())


def _solid_rectangles(pieces: np.ndarray, index: int, window: tuple[slice, slice], ys: np.ndarray,
                      xs: np.ndarray) -> list[Box]:
    """The marks' rectangles in piece `index`, from its flat blocks at (ys, xs): a block
    inside a rectangle already found is not tried again, and at most MAX_TRIES blocks are
    (evenly spread) in one piece. Where the piece as it is holds none, it is tried with its
    holes (a box's text) filled, unless its window is larger than a mark's box may be (the
    filling would take seconds on a smooth gradient's plateaus)."""
    piece = pieces[window] == index
    oy, ox = window[0].start, window[1].start
    picks = np.unique(np.linspace(0, len(ys) - 1, min(len(ys), MAX_TRIES)).round().astype(int))
    found: list[Box] = []
    for filled in (False, True):
        if filled:
            if found or piece.size > MAX_SHARE * pieces.size:
                break
            piece = ndi.binary_fill_holes(piece)
        for y, x in zip(ys[picks] - oy, xs[picks] - ox, strict=True):
            if not any(b[0] <= y < b[2] and b[1] <= x < b[3] for b in found):
                box = _solid_rectangle(piece, int(y), int(x))
                found += [box] if box is not None else []
    return [(b[0] + oy, b[1] + ox, b[2] + oy, b[3] + ox) for b in found]


def _solid_rectangle(piece: np.ndarray, y: int, x: int) -> Box | None:
    """The largest solid rectangle of `piece` through the block at (y, x): along the block's
    two rows, then row by row while whole rows hold (or the same along columns); None
    unless it is a mark's: at least MIN_BAR_LENGTH long and 2 thick, with straight edges
    (the lines just outside share its level over at most MAX_EDGE_SHARE)."""
    for rows in (piece, piece.T):  # a horizontal run first, then a vertical one
        r, c = (y, x) if rows is piece else (x, y)
        if r + 1 >= rows.shape[0] or not (rows[r, c] and rows[r + 1, c]):
            continue
        pair = rows[r] & rows[r + 1]
        left = c - int(np.argmin(pair[c::-1])) + 1 if not pair[: c + 1].all() else 0
        right = c + int(np.argmin(pair[c:])) if not pair[c:].all() else rows.shape[1]
        if right - left < MIN_BAR_LENGTH:
            continue
        top, bottom = r, r + 2
        while top > 0 and rows[top - 1, left:right].all():
            top -= 1
        while bottom < rows.shape[0] and rows[bottom, left:right].all():
            bottom += 1
        edges = [rows[top - 1, left:right].mean() if top > 0 else 0.0,
                 rows[bottom, left:right].mean() if bottom < rows.shape[0] else 0.0,
                 rows[top:bottom, left - 1].mean() if left > 0 else 0.0,
                 rows[top:bottom, right].mean() if right < rows.shape[1] else 0.0]
        if max(edges) <= MAX_EDGE_SHARE:
            return (top, left, bottom, right) if rows is piece else (left, top, right, bottom)
    return None


def _ring(shape: tuple[int, ...], box: Box, width: int) -> tuple[slice, slice]:
    y0, x0, y1, x1 = box
    return slice(max(0, y0 - width), min(shape[0], y1 + width)), slice(max(0, x0 - width), min(shape[1], x1 + width))


def _stands_out(gray: np.ndarray, box: Box, value, span: float, contrast: float = MIN_MARK_CONTRAST,
                own: tuple[np.ndarray, int] | None = None, near: int = 1, far: int = 3) -> bool:
    """Whether the pixels more than `near` and at most `far` px around `box` (other than those
    at the mark's own level; by default past the anti-aliased pixel next to it; near=0,
    far=1: right outside it, a drawn edge's step) differ from `value` by `contrast` of the
    image's range. own: (labelled pieces, index) of a glyph, whose pixels and their
    neighbours are left out instead (a glyph's box holds background between its strokes)."""
    outer, inner = _ring(gray.shape, box, far), _ring(gray.shape, box, near)
    region = gray[outer].astype(np.float64)
    keep = np.ones(region.shape, bool)
    if own is None:
        keep[inner[0].start - outer[0].start:inner[0].stop - outer[0].start,
             inner[1].start - outer[1].start:inner[1].stop - outer[1].start] = False
    else:
        keep &= ~ndi.binary_dilation(own[0][outer] == own[1], np.ones((3, 3), bool))
    keep &= region != value
    return bool(keep.any()) and float(np.median(np.abs(region[keep] - float(value)))) >= contrast * span


def _with_text(gray: np.ndarray, box: Box, value, span: float) -> Box:
    """`box` grown over the flat glyphs beside it, one after another (each within the gap
    of the box so far): pieces at the bar's level or the image's lowest or highest, no
    larger than text, that stand out from their own surround by MIN_TEXT_CONTRAST."""
    thick, gap, tallest, limit = _text_room(box, gray.size)
    reach = _ring(gray.shape, box, gap + tallest)  # a line of text beside the bar, not a chain across the image
    oy, ox = reach[0].start, reach[1].start
    glyphs = []
    for level in {value, gray.min(), gray.max()}:
        pieces, _ = ndi.label(_flat(gray[reach] == level), structure=np.ones((3, 3), bool))
        sizes = np.bincount(pieces.ravel())
        for index, (ys, xs) in enumerate(ndi.find_objects(pieces), start=1):
            height, width = ys.stop - ys.start, xs.stop - xs.start
            glyph = max(height, width) <= tallest or min(height, width) <= thick  # a glyph, or a line of text
            if glyph and sizes[index] >= MIN_GLYPH_AREA and (ys.start + oy, xs.start + ox) != box[:2]:
                glyphs.append(((ys.start + oy, xs.start + ox, ys.stop + oy, xs.stop + ox), level, pieces, index))

    def stands_out(glyph) -> bool:
        piece, level, pieces, index = glyph
        local = (piece[0] - oy, piece[1] - ox, piece[2] - oy, piece[3] - ox)
        return _stands_out(gray[reach], local, level, span, MIN_TEXT_CONTRAST, own=(pieces, index))

    return _grown_over(box, [(glyph[0], glyph) for glyph in glyphs], gap, limit, stands_out)


def _text_room(box: Box, size: int) -> tuple[int, int, int, float]:
    """(thickness, gap, tallest glyph, largest box) of the text a mark's `box` may be grown
    over in an image of `size` px: a box's text is a bar's size."""
    thick = min(box[2] - box[0], box[3] - box[1], MAX_BAR_THICKNESS)
    gap, tallest = max(int(TEXT_GAP * thick), TEXT_GAP_MIN), max(4 * thick, 3 * TEXT_GAP_MIN)
    return thick, gap, tallest, min(MAX_SHARE * size, max(TEXT_AREA_FACTOR * _area(box), TEXT_AREA_MIN))


def _grown_over(box: Box, glyphs: list[tuple[Box, Any]], gap: int, limit: float, accept) -> Box:
    """`box` grown over the (box, glyph) `glyphs` beside it, one after another (each within
    `gap` of the box so far), where the joined box stays within `limit` px and `accept(glyph)`."""
    glyphs = list(glyphs)
    grown = True
    while grown:
        grown = False
        for k, (piece, glyph) in enumerate(glyphs):
            if not (piece[0] < box[2] + gap and box[0] - gap < piece[2] and piece[1] < box[3] + gap
                    and box[1] - gap < piece[3]):
                continue
            del glyphs[k]
            joined = (min(box[0], piece[0]), min(box[1], piece[1]), max(box[2], piece[2]), max(box[3], piece[3]))
            if _area(joined) <= limit and accept(glyph):
                box = joined
            grown = True
            break
    return box


def _padded(box: Box, shape: tuple[int, ...]) -> Box:
    ys, xs = _ring(shape, box, BOX_MARGIN)
    return ys.start, xs.start, ys.stop, xs.stop


def _noise_level(image: np.ndarray, inside: np.ndarray) -> float:
    """The image's pixel noise (median absolute difference of horizontal neighbours outside
    the marks, as a Gaussian's standard deviation)."""
    steps = np.abs(np.diff(image, axis=1))[~(inside[:, 1:] | inside[:, :-1])]
    return float(np.median(steps) * 1.4826 / np.sqrt(2)) if steps.size else 0.0


def _side(view: np.ndarray, inside: np.ndarray, start: int, stop: int, b0: int, b1: int) -> np.ndarray | None:
    """The mean of rows start..stop (clipped to the image) over columns b0..b1, outside the
    marks; None where no such row is left (the box is at the image's edge)."""
    start, stop = max(0, start), min(view.shape[0], stop)
    if stop <= start:
        return None
    rows, keep = view[start:stop, b0:b1], ~inside[start:stop, b0:b1]
    counts = keep.sum(axis=0)
    if not counts.any():
        return None
    mean = np.where(counts > 0, (rows * keep).sum(axis=0) / np.maximum(counts, 1), np.nan)
    return np.where(np.isnan(mean), np.nanmedian(mean), mean)


def _coloured_boxes(coloured: np.ndarray) -> list[Box]:
    """A box around each group of coloured pixels (letters and bar within COLOUR_JOIN px of
    each other are one group) that holds a solid bar: a scale bar with its text, not
    coloured markers or a caption alone."""
    seeds = _flat_block_seeds(_neighbours_within(coloured))
    if seeds is None:
        return []
    joined = ndi.maximum_filter1d(ndi.maximum_filter1d(coloured.view(np.uint8), 2 * COLOUR_JOIN + 1, axis=0),
                                  2 * COLOUR_JOIN + 1, axis=1).astype(bool)
    groups, _ = ndi.label(joined)
    windows = ndi.find_objects(np.where(coloured, groups, 0))  # each group's own coloured pixels
    return [(ys.start, xs.start, ys.stop, xs.stop) for ys, xs in (windows[i - 1] for i in np.unique(groups[seeds]))]


def _area(box: Box) -> int:
    return (box[2] - box[0]) * (box[3] - box[1])


def overlap(a: Box, b: Box) -> float:
    """Intersection over union of two boxes."""
    inter = _area((max(a[0], b[0]), max(a[1], b[1]), max(min(a[2], b[2]), max(a[0], b[0])),
                   max(min(a[3], b[3]), max(a[1], b[1]))))
    return inter / (_area(a) + _area(b) - inter) if inter else 0.0


def merged_marks(boxes: list[Box]) -> list[Box]:
    """Overlapping boxes as one where their union is hardly larger (a bar inside its data
    bar, two bars sharing text); not the two strips of an L of padding, whose union is the
    whole image."""
    merged = sorted(set(boxes))
    joined = True
    while joined:
        joined = False
        for i, a in enumerate(merged):
            for j in range(i + 1, len(merged)):
                b = merged[j]
                union = (min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3]))
                if a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3] and _area(union) <= MERGE_SLACK * (
                        _area(a) + _area(b)):
                    merged[i] = union
                    del merged[j]
                    joined = True
                    break
            if joined:
                break
    return merged


def still_marks(frames: list[np.ndarray]) -> tuple[Box, ...]:
    """The boxes of burned-in marks in a time stack's sampled 2-D grey `frames` (raw grey
    levels, at least STILL_MIN_FRAMES), found by staying still (STILL_SHARE): a still piece
    with straight sides (`_straight_sided`) at least MIN_MARK_LENGTH long, 2 px thick and
    MIN_MARK_AREA in all that stands out from the pixels around it (MIN_MARK_CONTRAST: a
    codec leaves blocks of a static, quiet support still too), grown over the still pieces
    of text beside it (thin strokes: a timestamp's digits change, the box they are written
    in does not; a particle's still core is no glyph); () for none."""
    if len(frames) < STILL_MIN_FRAMES:
        return ()
    spread, mean = _spread_and_level(frames)
    typical = float(np.nanmedian(spread))  # NaN: no data (a drift-corrected export's padding)
    if not typical > 0:  # nothing changes: no noise to tell a mark from the specimen by
        return ()
    # opened by 2 x 2: a still pixel of the support beside a mark does not fray its sides
    pieces, _ = ndi.label(ndi.binary_opening(np.nan_to_num(spread, nan=np.inf) < STILL_SHARE * typical,
                                             np.ones((2, 2), bool)))
    sizes = np.bincount(pieces.ravel())
    span = float(np.subtract(*np.nanpercentile(mean, [99, 1])))
    rectangles, glyphs = [], []
    for index, (ys, xs) in enumerate(ndi.find_objects(pieces), start=1):
        box, own = (ys.start, xs.start, ys.stop, xs.stop), pieces[ys, xs] == index
        length, thick = max(ys.stop - ys.start, xs.stop - xs.start), min(ys.stop - ys.start, xs.stop - xs.start)
        if (length >= MIN_MARK_LENGTH and thick >= 2 and sizes[index] >= MIN_MARK_AREA and _straight_sided(own)
                and _stands_apart(mean, box, own, span)):
            rectangles.append(box)
        elif sizes[index] >= MIN_GLYPH_AREA and ndi.distance_transform_edt(np.pad(own, 1)).max() <= MAX_STROKE / 2:
            glyphs.append(box)
    boxes = [_with_still_text(box, glyphs, spread.size) for box in rectangles]
    boxes = merged_marks([_padded(box, spread.shape) for box in boxes])
    return tuple(box for box in boxes if _area(box) <= MAX_SHARE * spread.size)


def _spread_and_level(frames: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Each pixel's standard deviation and median over `frames`, float32, read in bands of
    STILL_BAND rows: with the 8 frames of 2048² uint16 as one float stack still_marks
    peaked at 752 MiB, in bands at 126 MiB (tracemalloc; the same boxes)."""
    shape = np.shape(frames[0])
    spread, level = np.empty(shape, np.float32), np.empty(shape, np.float32)
    for y in range(0, shape[0], STILL_BAND):
        band = np.stack([np.asarray(frame[y : y + STILL_BAND], np.float32) for frame in frames])
        spread[y : y + STILL_BAND], level[y : y + STILL_BAND] = band.std(axis=0), np.nanmedian(band, axis=0)
    return spread, level


def _straight_sided(own: np.ndarray) -> bool:
    """Whether a piece covers two opposite sides of its box by STILL_SIDE_SHARE and every
    side by STILL_SIDE_MIN, each side read at the best of its STILL_FRAYED outermost lines
    (a codec frays a box's edge by a pixel or two)."""
    depth = min(STILL_FRAYED, *own.shape)
    sides = [own[:depth].mean(axis=1).max(), own[-depth:].mean(axis=1).max(),
             own[:, :depth].mean(axis=0).max(), own[:, -depth:].mean(axis=0).max()]
    return bool(min(sides) >= STILL_SIDE_MIN and max(min(sides[:2]), min(sides[2:])) >= STILL_SIDE_SHARE)


def _stands_apart(mean: np.ndarray, box: Box, own: np.ndarray, span: float) -> bool:
    """Whether a still piece's grey level (its median over the frames) differs from the
    ring of pixels 2-4 px outside its box by MIN_MARK_CONTRAST of the image's span."""
    y0, x0, y1, x1 = box
    ring = np.zeros(mean.shape, bool)
    ring[_ring(mean.shape, box, 4)] = True
    ring[_ring(mean.shape, box, 1)] = False
    level, around = np.nanmedian(mean[y0:y1, x0:x1][own]), np.nanmedian(mean[ring]) if ring.any() else np.nan
    return bool(abs(level - around) >= MIN_MARK_CONTRAST * span) if np.isfinite(around) else True


def _with_still_text(box: Box, glyphs: list[Box], size: int) -> Box:
    """`box` grown over the still `glyphs` beside it, no larger than text (as `_with_text`
    does for flat ones)."""
    _, gap, tallest, limit = _text_room(box, size)
    text = [(g, g) for g in glyphs if max(g[2] - g[0], g[3] - g[1]) <= tallest]
    return _grown_over(box, text, gap, limit, lambda glyph: True)
