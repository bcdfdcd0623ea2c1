"""Touching particles cut where their joint outline turns inwards twice.

The distance-transform split (`instances.mask_to_instances`) needs a neck: two particles
that meet along a face (faceted crystals side by side, a rod lying against a cube) or
overlap in projection leave no narrowing, and their union is one object with two concave
corners where the outlines meet. A particle alone is convex (rods, cubes, octahedra,
spheres in projection), so an object that falls well short of its convex hull, and whose
two deepest concave corners are joined by a straight cut inside it that leaves two
nearly convex parts, is cut there. A sintering pair's neck can look the same, which is
why the frames of a time stack are not cut unless asked (`segmentation.resolve_single_image_rules`).
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi
from scipy.spatial import ConvexHull
from skimage.draw import line
from skimage.morphology import convex_hull_image

#: Objects at least this convex (area over convex hull area) are left whole.
CUT_SOLIDITY = 0.95
#: A concave corner lies at least this far inside the convex hull, from the bay's lid (px,
#: and share of the object's equivalent radius, whichever is larger): an outline's own
#: pixel steps and noise are not corners.
CORNER_DEPTH_PX = 3.0
CORNER_DEPTH_SHARE = 0.12
#: Each part of a cut must be at least this convex.
PART_SOLIDITY = 0.9
#: The cut is at most this share of the smaller part's equivalent diameter long.
CUT_LENGTH = 1.0
#: At most this many cuts per object (each part is looked at again: chains).
MAX_CUTS = 3
#: (The values above were chosen on the development set, two draws: docs/models.md.)


def solidity(mask: np.ndarray) -> float:
    """Area of a boolean mask over the area of its convex hull (1 for a convex shape)."""
    area = int(mask.sum())
    return area / max(int(convex_hull_image(mask).sum()), 1) if area else 1.0


def solidity_lower_bound(mask: np.ndarray) -> float:
    """A fast lower bound of `solidity` (the pixels' area over the polygon hull of their
    corners, which covers the pixel hull): objects it already finds convex enough skip the
    pixel hull, most of a frame's particles."""
    ys, xs = np.nonzero(mask & ~ndi.binary_erosion(mask))
    corners = np.concatenate([np.stack([ys + dy, xs + dx], 1) for dy in (-0.5, 0.5) for dx in (-0.5, 0.5)])
    return float(mask.sum()) / ConvexHull(corners).volume


def concave_corners(mask: np.ndarray, min_depth: float) -> list[tuple[int, int, float]]:
    """(y, x, depth) of the deepest outline pixel of each bay between `mask` and its convex
    hull, depth measured from the bay's lid (its side along the hull), for bays at least
    `min_depth` px deep. Each bay is measured in its own box (one pixel wider): a bay too
    small to be that deep (most are the outline's pixel steps) is not measured at all."""
    hull = convex_hull_image(mask)
    outside = ndi.binary_dilation(np.pad(~hull, 1, constant_values=True))[1:-1, 1:-1]
    bays, _ = ndi.label(hull & ~mask)
    corners = []
    for bay, box in enumerate(ndi.find_objects(bays), start=1):
        if box is None or np.hypot(*(s.stop - s.start + 1 for s in box)) < min_depth:
            continue
        box = tuple(slice(max(s.start - 1, 0), s.stop + 1) for s in box)
        own = bays[box] == bay
        lid = own & outside[box]
        rim = mask[box] & ndi.binary_dilation(own)
        if not lid.any() or not rim.any():  # an enclosed hole is no bay
            continue
        depth = np.where(rim, ndi.distance_transform_edt(~lid), 0.0)
        y, x = np.unravel_index(int(np.argmax(depth)), depth.shape)
        if depth[y, x] >= min_depth:
            corners.append((int(y + box[0].start), int(x + box[1].start), float(depth[y, x])))
    return corners


def best_cut(mask: np.ndarray, min_size: int) -> np.ndarray | None:
    """`mask` (one connected piece) as two parts, labels 1 and 2, along the straight cut
    between two concave corners that leaves both parts most convex, or None where no cut
    leaves both at least PART_SOLIDITY convex. (Also cutting where only one part is convex,
    for chains of three whose middle particle no single cut frees, tried on the development
    set: +0.003 on one draw, -0.003 on another; not kept.)"""
    area = int(mask.sum())
    if area < max(2 * min_size, 8) or solidity_lower_bound(mask) >= CUT_SOLIDITY or solidity(mask) >= CUT_SOLIDITY:
        return None
    min_depth = max(CORNER_DEPTH_PX, CORNER_DEPTH_SHARE * np.sqrt(area / np.pi))
    corners = concave_corners(mask, min_depth)
    best, best_score = None, PART_SOLIDITY
    for i, (y0, x0, _) in enumerate(corners):
        for y1, x1, _ in corners[i + 1:]:
            rr, cc = line(y0, x0, y1, x1)
            if mask[rr, cc].mean() < 0.9:  # the cut must run inside the object
                continue
            cut = mask.copy()
            cut[rr, cc] = False
            parts, n = ndi.label(cut)
            if n < 2:
                continue
            sizes = np.bincount(parts.ravel())[1:]
            keep = np.argsort(sizes)[::-1][:2] + 1
            small = int(min(sizes[keep - 1]))
            if small < min_size or np.hypot(y1 - y0, x1 - x0) > CUT_LENGTH * 2 * np.sqrt(small / np.pi):
                continue
            score = min(solidity(parts == k) for k in keep)
            if score >= best_score:
                two = np.zeros(mask.shape, np.int32)
                two[parts == keep[0]], two[parts == keep[1]] = 1, 2
                best, best_score = two, score
    if best is None:
        return None
    # the cut's own pixels (and any crumbs beside it) go to the nearer part
    _, (iy, ix) = ndi.distance_transform_edt(best == 0, return_indices=True)
    return np.where(mask, best[iy, ix], 0)


def cut_at_corners(labels: np.ndarray, min_size: int = 16) -> np.ndarray:
    """`labels` (instances numbered 1..N) as uint32, with every object that is two or more
    convex particles joined along a face cut into them (`best_cut`, its largest connected
    piece, up to MAX_CUTS cuts); new parts get IDs above N. Objects below 2 x `min_size`
    px are left alone."""
    out = np.asarray(labels).astype(np.uint32)
    boxes = ndi.find_objects(out)
    next_id = len(boxes) + 1
    queue = [(label, box, 0) for label, box in enumerate(boxes, start=1) if box is not None]
    while queue:
        label, box, cuts = queue.pop()
        if cuts >= MAX_CUTS:
            continue
        box = tuple(slice(max(s.start - 1, 0), s.stop + 1) for s in box)
        pieces, n = ndi.label(out[box] == label)
        largest = pieces == (1 + int(np.argmax(np.bincount(pieces.ravel())[1:])) if n > 1 else 1)
        two = best_cut(largest, min_size)
        if two is None:
            continue
        out[box][two == 2] = next_id
        queue += [(label, box, cuts + 1), (next_id, box, cuts + 1)]
        next_id += 1
    return out
