"""Burned-in annotations: the scale bar, its text and the data bar a microscope writes into
the pixels of an exported micrograph.

Such marks are drawn at the image's darkest or brightest grey level, flat (no shot noise)
and axis-aligned, which no part of a specimen is: a black bar on a bright-field image is
otherwise a dark "particle" with the bar's length for its diameter, and a white one moves
the grey levels the rest is judged by. `find_annotations` finds each mark's box, `fill_annotations`
paints it with the support around it before any model sees the image, and
`drop_annotated_particles` removes what a model still drew there.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi

#: A bar is at least this long (px) and at least 2 px thick, and this many times longer than thick.
MIN_BAR_LENGTH = 16
MIN_BAR_ASPECT = 3.0
#: Share of its (holes filled) area a bar's solid rectangle must hold: a bar with end ticks
#: keeps ~0.9, a saturated round particle ~0.4.
MIN_SOLID_SHARE = 0.85
#: A row (column) of a bar's box is solid when the mark covers this share of it.
SOLID_ROW = 0.97
#: Text beside a bar is taken with it within this many bar thicknesses (or a third of its length).
TEXT_REACH = 4.0
#: The most of an image a mark's box may cover: a data bar is a strip, not the picture.
MAX_SHARE = 0.25
#: An RGB pixel is coloured when its channels are this share of the image's range apart.
COLOUR_SPREAD = 0.15
#: Coloured pixels this close (px) are one mark (a bar's text, the letters of a word).
COLOUR_JOIN = 6
#: Width (px) of the band around a box whose pixels fill it.
RING = 4
#: Pixels added around each box: the anti-aliased edge of a drawn mark.
BOX_MARGIN = 2

Box = tuple[int, int, int, int]  # (y0, x0, y1, x1), end-exclusive


def find_annotations(gray: np.ndarray, coloured: np.ndarray | None = None) -> tuple[Box, ...]:
    """The boxes of burned-in marks in a 2-D image: each a flat, solid, axis-aligned bar
    (or a box holding one, as a data bar with text) at the image's lowest or highest grey
    level, grown over the flat marks near it (the scale bar's text); and around each group
    of `coloured` pixels (`coloured_pixels`: a yellow scale bar on a grey micrograph saved
    as RGB); () for none."""
    gray = np.ascontiguousarray(gray)  # a channel of an RGB(A) image compares 10x slower in place
    low, high = gray.min(), gray.max()
    if low == high:
        return ()
    boxes = _coloured_boxes(coloured) if coloured is not None else []
    for level in (low, high):
        at = gray == level
        corners = _solid_block_corners(at)
        if corners is None:  # the quick answer for nearly every micrograph
            continue
        pieces, _ = ndi.label(_flat(at), structure=np.ones((3, 3), bool))
        slices = ndi.find_objects(pieces)
        boxes += [_grown(bar, slices, gray.shape) for bar in _bars(pieces, slices, np.unique(pieces[corners]))]
    boxes = [box for box in boxes if (box[2] - box[0]) * (box[3] - box[1]) <= MAX_SHARE * gray.size]
    return tuple(_merged(boxes))


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
    """`gray` (a float copy) with each box painted with pixels drawn from just around it (a
    fixed seed): the support the mark hides, its grey level and noise, so that neither the
    mark's edges nor a flat patch are there for a model to find."""
    out = np.array(gray, dtype=np.result_type(gray.dtype, np.float32))
    inside = annotation_mask(gray.shape, boxes)
    rng = np.random.default_rng(0)
    for y0, x0, y1, x1 in boxes:
        ring = np.zeros(gray.shape, bool)
        ring[max(0, y0 - RING):y1 + RING, max(0, x0 - RING):x1 + RING] = True
        ring &= ~inside
        support = out[ring] if ring.any() else out[~inside]
        out[y0:y1, x0:x1] = rng.choice(support, size=(y1 - y0, x1 - x0)) if support.size else 0
    return out


def annotation_mask(shape: tuple[int, ...], boxes: tuple[Box, ...]) -> np.ndarray:
    mask = np.zeros(shape[:2], bool)
    for y0, x0, y1, x1 in boxes:
        mask[y0:y1, x0:x1] = True
    return mask


def drop_annotated_particles(labels: np.ndarray, boxes: tuple[Box, ...]) -> np.ndarray:
    """`labels` without what lies in the boxes: a particle mostly inside one is dropped, the
    pixels of the others inside are cleared (nothing there was seen)."""
    if not boxes:
        return labels
    inside = annotation_mask(labels.shape, boxes)
    total = np.bincount(labels.ravel())
    covered = np.bincount(labels[inside], minlength=total.size)
    mostly = np.flatnonzero(covered * 2 > total)
    out = labels.copy()
    out[inside | np.isin(labels, mostly[mostly > 0])] = 0
    return out


def describe_annotations(boxes: tuple[Box, ...]) -> str:
    """', a burned-in scale bar or text left out (rows a-b, columns c-d)' for a status line."""
    if not boxes:
        return ""
    where = "; ".join(f"rows {y0}-{y1 - 1}, columns {x0}-{x1 - 1}" for y0, x0, y1, x1 in boxes)
    return f", {'a burned-in mark' if len(boxes) == 1 else f'{len(boxes)} burned-in marks'} (scale bar, text) left out ({where})"


def _flat(at: np.ndarray) -> np.ndarray:
    """The pixels of `at` with a 4-neighbour in it: a drawn mark is flat, a clipped noisy
    pixel mostly stands alone."""
    pair = np.zeros_like(at)
    pair[1:] |= at[1:] & at[:-1]
    pair[:-1] |= at[1:] & at[:-1]
    pair[:, 1:] |= at[:, 1:] & at[:, :-1]
    pair[:, :-1] |= at[:, 1:] & at[:, :-1]
    return pair


def _solid_block_corners(at: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """Where `at` holds a solid block 2 x MIN_BAR_LENGTH px (or MIN_BAR_LENGTH x 2), as
    every bar does: the blocks' corners (np.nonzero), None for none."""
    if at.sum() < 2 * MIN_BAR_LENGTH:
        return None
    found = []
    for view in (at, at.T):
        pair = (view[:-1] & view[1:]).astype(np.int32)
        runs = np.cumsum(pair, axis=1)
        runs[:, MIN_BAR_LENGTH:] -= runs[:, :-MIN_BAR_LENGTH].copy()
        ys, xs = np.nonzero(runs[:, MIN_BAR_LENGTH - 1:] == MIN_BAR_LENGTH)
        found.append((ys, xs) if view is at else (xs, ys))
    ys, xs = np.concatenate([f[0] for f in found]), np.concatenate([f[1] for f in found])
    return (ys, xs) if ys.size else None


def _bars(pieces: np.ndarray, slices: list, candidates: np.ndarray) -> list[int]:
    """IDs of the flat pieces that are bars (or boxes): a solid axis-aligned rectangle at
    least MIN_BAR_LENGTH long, MIN_BAR_ASPECT times longer than thick (a box: its width
    against its height), holding MIN_SOLID_SHARE of the piece (holes, as a box's text,
    filled), and at least two rows of it solid without filling (a drawn edge or margin;
    the zero counts of a low-dose background are never that solid). Only `candidates`
    (pieces holding a solid block) are looked at."""
    bars = []
    for index in candidates[candidates > 0]:
        window = slices[index - 1]
        if max(pieces[window].shape) < MIN_BAR_LENGTH or min(pieces[window].shape) < 2:
            continue
        raw = pieces[window] == index
        piece = ndi.binary_fill_holes(raw)
        area = int(piece.sum())
        for filled, drawn in ((piece, raw), (piece.T, raw.T)):  # a horizontal bar, then a vertical one
            length = filled.shape[1]
            thick = _longest_run(filled.sum(axis=1) >= SOLID_ROW * length)
            if (length >= MIN_BAR_LENGTH and thick >= 2 and length >= MIN_BAR_ASPECT * min(thick, filled.shape[0])
                    and thick * length >= MIN_SOLID_SHARE * area
                    and _longest_run(drawn.sum(axis=1) >= SOLID_ROW * length) >= 2):
                bars.append(index)
                break
    return bars


def _longest_run(flags: np.ndarray) -> int:
    best = current = 0
    for flag in flags:
        current = current + 1 if flag else 0
        best = max(best, current)
    return best


def _grown(bar: int, slices: list, shape: tuple[int, ...]) -> Box:
    """The bar's box grown over every flat piece lying wholly within reach of it."""
    ys, xs = slices[bar - 1]
    y0, x0, y1, x1 = ys.start, xs.start, ys.stop, xs.stop
    reach = int(max(TEXT_REACH * min(y1 - y0, x1 - x0), (max(y1 - y0, x1 - x0)) / 3))
    ry0, rx0, ry1, rx1 = y0 - reach, x0 - reach, y1 + reach, x1 + reach
    for window in slices:
        if window is None:
            continue
        py, px = window
        if py.start >= ry0 and px.start >= rx0 and py.stop <= ry1 and px.stop <= rx1:
            y0, x0, y1, x1 = min(y0, py.start), min(x0, px.start), max(y1, py.stop), max(x1, px.stop)
    return (max(0, y0 - BOX_MARGIN), max(0, x0 - BOX_MARGIN), min(shape[0], y1 + BOX_MARGIN),
            min(shape[1], x1 + BOX_MARGIN))


def _coloured_boxes(coloured: np.ndarray) -> list[Box]:
    """A box around each group of coloured pixels (letters and bar within COLOUR_JOIN px
    of each other are one group)."""
    joined = ndi.binary_dilation(coloured, np.ones((2 * COLOUR_JOIN + 1,) * 2, bool))
    groups, _ = ndi.label(joined)
    h, w = coloured.shape
    boxes = []
    for ys, xs in ndi.find_objects(groups):
        if coloured[ys, xs].sum() >= 3:
            boxes.append((max(0, ys.start + COLOUR_JOIN - BOX_MARGIN), max(0, xs.start + COLOUR_JOIN - BOX_MARGIN),
                          min(h, ys.stop - COLOUR_JOIN + BOX_MARGIN), min(w, xs.stop - COLOUR_JOIN + BOX_MARGIN)))
    return boxes


def _merged(boxes: list[Box]) -> list[Box]:
    """Overlapping boxes as one (a bar inside its data bar, two bars sharing text)."""
    merged = sorted(set(boxes))
    joined = True
    while joined:
        joined = False
        for i, a in enumerate(merged):
            for j in range(i + 1, len(merged)):
                b = merged[j]
                if a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]:
                    merged[i] = (min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3]))
                    del merged[j]
                    joined = True
                    break
            if joined:
                break
    return merged
