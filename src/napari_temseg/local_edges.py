"""Small particles' edges at their own contrast.

A model draws every particle of an image at one grey level (the classical model's global
threshold, or the level a network learnt). Where particles are small and sparse, that level
sits near the support (small particles are thin and faint, and blur lowers their cores),
so their outlines run out into the support's noise: spiky, too large, and joined to a
neighbour through it; most of them then miss an IoU of 0.5 with the particle. Each small
particle is therefore drawn again within a pixel of where the model put it, at
`LOCAL_LEVEL` of the way from the support right around it to its own core, the way one
would threshold that particle alone. Large particles, and particles cut by the image's
border (whose size is not their particle's), are left as the model drew them.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi

#: Particles up to this equivalent radius (px, in the image's own pixels) are drawn again.
SMALL_RADIUS = 12.0
#: The level, from the surrounding support (0) to the particle's core (1); chosen among
#: 0.35-0.6 on the development set's small particles.
LOCAL_LEVEL = 0.4
#: Smoothing (px) of the grey levels the particle is drawn on.
SIGMA = 1.5
#: The core: this percentile of the particle's smoothed grey levels (its darkest part).
CORE_PERCENTILE = 10
#: The surrounding support: the ring this many px outside the particle, other particles excluded.
RING = (2, 5)
#: A piece of the new drawing counts only at this share of the particle's area (and 5 px).
PIECE_SHARE = 0.2
#: If the new drawing keeps less than this share of the particle's area, the particle's own
#: look is not clear enough to draw it by (noise): it stays as the model drew it.
KEEP_SHARE = 0.5


def redraw_small_particles(labels: np.ndarray, image: np.ndarray) -> np.ndarray:
    """`labels` with each small particle redrawn at its own contrast in `image` (normalised,
    particles dark): the pixels within 1 px of it (and of no other particle) darker than
    `LOCAL_LEVEL` of the way from its ring of support to its core; a drawing in several
    pieces becomes several particles (new IDs after the largest; uint32 or wider out)."""
    out = labels.astype(np.promote_types(labels.dtype, np.uint32))
    if not labels.any():
        return out
    smooth = ndi.gaussian_filter(np.asarray(image, np.float32), SIGMA)
    next_id = int(labels.max()) + 1
    height, width = labels.shape
    for index, box in enumerate(ndi.find_objects(labels), start=1):
        if box is None or _on_border(box, height, width):
            continue
        pad = RING[1] + 2
        window = tuple(slice(max(s.start - pad, 0), min(s.stop + pad, n)) for s, n in zip(box, (height, width), strict=True))
        own = labels[window] == index
        area = int(own.sum())
        if area > np.pi * SMALL_RADIUS**2:
            continue
        pieces = _draw(own, labels[window] == 0, smooth[window], area)
        if pieces is None:
            continue
        view = out[window]
        view[own] = 0
        for rank, piece in enumerate(pieces):
            claim = piece & (view == 0)
            if rank == 0:
                view[claim] = index
            elif claim.any():
                view[claim] = next_id
                next_id += 1
    return out


def _on_border(box: tuple[slice, slice], height: int, width: int) -> bool:
    return box[0].start == 0 or box[1].start == 0 or box[0].stop == height or box[1].stop == width


def _draw(own: np.ndarray, free: np.ndarray, smooth: np.ndarray, area: int) -> list[np.ndarray] | None:
    """The particle's new pieces, largest first, or None where it stays as it is."""
    ring = ndi.binary_dilation(own, iterations=RING[1]) & ~ndi.binary_dilation(own, iterations=RING[0]) & free
    level = own_level(smooth, ring, own)
    if level is None:
        return None
    reach = ndi.binary_dilation(own) & (own | free)
    pieces, count = ndi.label(reach & (smooth < level))
    if count == 0:
        return None
    sizes = np.bincount(pieces.ravel(), minlength=count + 1)[1:]
    order = [i for i in np.argsort(-sizes) if sizes[i] >= max(5, PIECE_SHARE * area)]
    if sum(sizes[i] for i in order) < KEEP_SHARE * area:
        return None
    return [pieces == i + 1 for i in order]


def own_level(smooth: np.ndarray, ring: np.ndarray, core: np.ndarray) -> float | None:
    """The grey level a particle is drawn at: LOCAL_LEVEL of the way from the support (the
    median of `smooth` over `ring`) to its core (CORE_PERCENTILE over `core`); None where
    the ring is too small to tell (under 10 px) or the core is no darker than the support."""
    if ring.sum() < 10:
        return None
    support = float(np.median(smooth[ring]))
    darkest = float(np.percentile(smooth[core], CORE_PERCENTILE))
    return support + LOCAL_LEVEL * (darkest - support) if darkest < support else None


def redraws_small_particles(image_radius: float, edge_level: float, prompted: bool) -> bool:
    """Whether an image's small particles are drawn again: only in an image of small
    particles (typical radius `image_radius` up to SMALL_RADIUS; where larger particles set
    the model's level it suits the small ones among them too, and the article's labels
    follow it: their F1 fell 0.983 -> 0.960 when every image's small particles were redrawn),
    where edges are the model's own (`edge_level` 0.5: dark-field edges are drawn at the
    particles' outer rim, `rims`), and not for prompted particles, which the user named."""
    return image_radius <= SMALL_RADIUS and edge_level >= 0.5 and not prompted
