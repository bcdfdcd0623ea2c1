"""Small and faint particles' edges at their own contrast.

A model draws every particle of an image at one grey level (the classical model's global
threshold, or the level a network learnt). Where particles are small and sparse, that level
sits near the support (small particles are thin and faint, and blur lowers their cores),
so their outlines run out into the support's noise: spiky, too large, and joined to a
neighbour through it; most of them then miss an IoU of 0.5 with the particle. Each small
particle is therefore drawn again within a pixel of where the model put it, at
`LOCAL_LEVEL` of the way from the support right around it to its own core, the way one
would threshold that particle alone.

Among larger particles the level sits halfway to the *typical* particle, so one much
fainter than the others (thinner, or of a lighter material) is cut well inside its
outline: a particle of 9 px radius drawn at 6 px misses IoU 0.5, and a tracked particle
loses its ID's frames that way. `redraw_faint_particles` grows such a particle, never
shrinks it, to the same own level. `segmentation` does so in the frames of a time stack;
on single images it is asked for (`local_edges`): the article's labels draw faint
particles at the image's one level, and there the gain on the development set (mean F1
+0.002) did not pay for 0.004 of the IoU on the article's held-out images.

Particles cut by the image's border (whose size is not their particle's) are left as the
model drew them.
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
#: A particle is faint when its own contrast (support around it to its core) is below this
#: share of the median particle's in the image. 0.7 was chosen among 0.5-0.7 on the
#: development set's images; 0.9 on training-regime videos (seeds 8100-8105: a particle 0.8
#: as dark as the others, drawn at half its area, lost its ID's frames; docs/tracking.md).
FAINT_SHARE = 0.9
#: How far a faint particle may grow when it is drawn again: this share of its drawn equivalent
#: radius, at least 2 px. 0.35 and 0.6 measured the same on the development set's images; on
#: its videos (training regime, seeds 8100-8101 and 8000-8001, 11 conditions each) a faint
#: particle drawn at a quarter of its area grew to half of it and missed IoU 0.5 in 18 of 60
#: frames: mean consistent-ID 0.9934 / 0.9969 at 0.6, 0.9960 / 0.9969 at 1.0, 0.9970 / 0.9969
#: at 1.5 (fusion F1 the same; docs/tracking.md).
FAINT_REACH = 1.5
#: Fewer particles than this in an image: no median to call one of them faint against.
FAINT_MIN_COUNT = 3


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
    for index, box in _inner_boxes(labels):
        window = _padded(box, RING[1] + 2, labels.shape)
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


def redraw_faint_particles(labels: np.ndarray, image: np.ndarray,
                           keep_out: np.ndarray | None = None) -> tuple[np.ndarray, int]:
    """`labels` with each faint particle (own contrast below FAINT_SHARE of the image's
    median particle's) grown over the pixels of `image` (normalised, particles dark) within
    FAINT_REACH of its radius, and of no other particle nor `keep_out` (burned-in marks'
    boxes, painted with support), that are darker than LOCAL_LEVEL of the way from the
    support beyond that reach to its core and connected to it; and how many particles were
    drawn again. Grown only: the model decided which particles there are, and where two touch."""
    if int(labels.max()) < FAINT_MIN_COUNT:
        return labels, 0
    smooth = ndi.gaussian_filter(np.asarray(image, np.float32), SIGMA)
    looks = {}
    for index, box in _inner_boxes(labels):
        window = _padded(box, RING[1] + 2, labels.shape)
        own = labels[window] == index
        looks[index] = (_support_and_core(smooth[window], _ring(own, labels[window] == 0), own), int(own.sum()), box)
    contrasts = [look[0] - look[1] for look, _, _ in looks.values() if look is not None]
    if len(contrasts) < FAINT_MIN_COUNT:
        return labels, 0
    faint = FAINT_SHARE * float(np.median(contrasts))
    out, count = labels.copy(), 0
    for index, (look, area, box) in looks.items():
        if look is None or not 0 < look[0] - look[1] < faint:
            continue
        reach = max(2, int(round(FAINT_REACH * np.sqrt(area / np.pi))))
        window = _padded(box, reach + RING[1] + 1, labels.shape)
        count += _grow(out[window], index, smooth[window], reach, None if keep_out is None else keep_out[window])
    return out, count


def _grow(view: np.ndarray, index: int, smooth: np.ndarray, reach: int, keep_out: np.ndarray | None = None) -> bool:
    """Grow particle `index` of the labels `view` in place over the connected pixels within
    `reach` px of it, of no other particle, darker than its own level, read with the support
    beyond the reach (a particle cut well inside its outline has its own rim right around
    it). Whether it was drawn again."""
    own, free = view == index, (view == 0) if keep_out is None else (view == 0) & ~keep_out
    around = ndi.binary_dilation(own, iterations=reach)
    level = own_level(smooth, _ring(around, free), own)
    if level is None:
        return False
    dark = around & (own | free) & ((smooth < level) | own)
    pieces, _ = ndi.label(dark)
    grown = np.isin(pieces, np.unique(pieces[own])) & free
    view[grown] = index
    return True


def _inner_boxes(labels: np.ndarray):
    """(ID, bounding box) of every particle not cut by the image's border."""
    height, width = labels.shape
    for index, box in enumerate(ndi.find_objects(labels), start=1):
        if box is not None and not _on_border(box, height, width):
            yield index, box


def _padded(box: tuple[slice, slice], pad: int, shape: tuple[int, ...]) -> tuple[slice, slice]:
    """`box` widened by `pad` px on every side, within an image of `shape`."""
    return tuple(slice(max(s.start - pad, 0), min(s.stop + pad, n)) for s, n in zip(box, shape, strict=True))


def _ring(own: np.ndarray, free: np.ndarray) -> np.ndarray:
    """The support around a particle: RING px out, other particles excluded."""
    return ndi.binary_dilation(own, iterations=RING[1]) & ~ndi.binary_dilation(own, iterations=RING[0]) & free


def _on_border(box: tuple[slice, slice], height: int, width: int) -> bool:
    return box[0].start == 0 or box[1].start == 0 or box[0].stop == height or box[1].stop == width


def _draw(own: np.ndarray, free: np.ndarray, smooth: np.ndarray, area: int) -> list[np.ndarray] | None:
    """The particle's new pieces, largest first, or None where it stays as it is."""
    level = own_level(smooth, _ring(own, free), own)
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
    look = _support_and_core(smooth, ring, core)
    if look is None or look[1] >= look[0]:
        return None
    return look[0] + LOCAL_LEVEL * (look[1] - look[0])


def _support_and_core(smooth: np.ndarray, ring: np.ndarray, core: np.ndarray) -> tuple[float, float] | None:
    """(support, core) grey levels of a particle as `own_level` reads them; None where the
    ring is under 10 px."""
    if ring.sum() < 10:
        return None
    return float(np.median(smooth[ring])), float(np.percentile(smooth[core], CORE_PERCENTILE))


def redraws_small_particles(image_radius: float, edge_level: float, prompted: bool) -> bool:
    """Whether an image's small particles are drawn again: only in an image of small
    particles (typical radius `image_radius` up to SMALL_RADIUS; where larger particles set
    the model's level it suits the small ones among them too, and the article's labels
    follow it: their F1 fell 0.983 -> 0.960 when every image's small particles were redrawn)
    and where `redraws_at_own_contrast`."""
    return image_radius <= SMALL_RADIUS and redraws_at_own_contrast(edge_level, prompted)


def redraws_at_own_contrast(edge_level: float, prompted: bool) -> bool:
    """Whether particles may be drawn again at their own contrast: where edges are the
    model's own (`edge_level` 0.5: dark-field edges are drawn at the particles' outer rim,
    `rims`), and not for prompted particles, which the user named."""
    return edge_level >= 0.5 and not prompted
