"""Sintering measurements: particle sizes per frame, and neck growth and rounding per fusion.

Lengths are in pixels, plus nm columns when the pixel size is known.
Neck width: the narrowest chord of the fused particle perpendicular to the
line joining its parents' last centroids, searched between them; with three or more parents,
for each pair in contact, within the pixels nearer to that pair than to the other parents
(`contact_regions`), and the narrowest of those necks. Rounding:
the child counts as round once its major/minor axis ratio falls to
`ROUND_ASPECT`, and, for three or more parents or a pair of very unequal ones
(`UNEQUAL_SHARE`), its outline is within `ROUND_SPREAD` (or `ROUND_PIXELS`) of a circle (a
trefoil, or a small particle sintering onto a large one, has an axis ratio near 1 from its
first contact: the spread of its outline's distances from the centroid tells its lobes); the coalescence time is
the number of frames from the fusion (first contact) until then.
"""

from __future__ import annotations

from itertools import combinations

import numpy as np
import pandas as pd

from .annotations import near_marks

#: The highest angular harmonic of the outline `outline_spread` fits (the 2nd to this one are lobes).
OUTLINE_HARMONICS = 4
#: Axis ratio below which a fused particle counts as rounded.
ROUND_ASPECT = 1.1
#: Outline spread (`outline_spread`) below which a lobed fusion counts as rounded: digital
#: discs read up to 0.16 at radius 6 px, 0.11 at 8, 0.05-0.07 at 10-16 and about 0.03 from
#: 20 (off-centre pixel grids; ROUND_PIXELS covers the small ones), three equal discs just
#: fused 0.78. Kept at its value for the earlier measure (largest minus smallest distance
#: of the outline, where discs were within 0.113 and the triple at 0.35).
ROUND_SPREAD = 0.12
#: ... or within this many pixels, whichever is more: the outline of a digital disc of radius
#: 3-8 px is 0.7-1.1 px out of round by pixelation alone.
ROUND_PIXELS = 1.5
#: A pair whose smaller parent is less than this share of their area is lobed: its axis
#: ratio is near 1 from contact (a 24:4 px pair: 1.08; coalescence read 0 frames where the
#: small lobe stayed 15). Pairs nearer in size are judged by their axis ratio alone: the
#: spread read for every pair made the classical model's coalescence times on development
#: videos further from the same rule on truth masks (mean |error| 1.81 -> 2.64 and 3.85 ->
#: 5.08 frames on two draws; with this share 1.62 and 3.85).
UNEQUAL_SHARE = 0.25


def is_round(axis_ratio: float, spread: float, area: float, lobed: bool) -> bool:
    """Whether a fused particle has rounded up (module docstring): its axis ratio, and for
    `lobed` ones (three or more parents, or a pair of very unequal ones: `UNEQUAL_SHARE`)
    its outline spread, allowing for pixelation."""
    if axis_ratio > ROUND_ASPECT:
        return False
    if not lobed or not np.isfinite(spread):  # an outline too small to fit shows no lobes
        return True
    return spread <= max(ROUND_SPREAD, ROUND_PIXELS / np.sqrt(max(area, 1.0) / np.pi))


def outline_spread(mask: np.ndarray) -> float:
    """How far the outline departs from a circle: twice the summed amplitudes of the 2nd to
    4th angular harmonics of its distance from the centroid, over the mean distance (0 for
    a circle; 0.78 for three discs just fused, whose lobes are the 3rd harmonic; NaN for an
    outline of under 9 pixels, too few to fit). A fit
    over every outline pixel, so that the pixel-sized bumps of a segmented outline barely
    move it (the largest minus the smallest distance, used until 2026-12-06, read them as
    lobes: 7 of 19 triples segmented by the classical model never rounded up)."""
    from scipy import ndimage as ndi

    ys, xs = np.nonzero(mask)
    if len(ys) == 0:
        return float("nan")
    by, bx = np.nonzero(mask & ~ndi.binary_erosion(mask))
    dy, dx = by - ys.mean(), bx - xs.mean()
    distance, angle = np.hypot(dy, dx), np.arctan2(dy, dx)
    if len(distance) < 2 * OUTLINE_HARMONICS + 1 or distance.mean() <= 0:
        return float("nan")
    design = np.stack([np.ones_like(angle)] + [f(k * angle) for k in range(1, OUTLINE_HARMONICS + 1)
                                               for f in (np.cos, np.sin)], axis=1)
    coef = np.linalg.lstsq(design, distance, rcond=None)[0]
    lobes = sum(np.hypot(coef[2 * k - 1], coef[2 * k]) for k in range(2, OUTLINE_HARMONICS + 1))
    return float(2 * lobes / coef[0])


def _moments(ys: np.ndarray, xs: np.ndarray) -> tuple[float, float, float, float]:
    """Centroid y, x and the major/minor axis lengths (4 sqrt(eigenvalues) of the covariance)."""
    cy, cx = ys.mean(), xs.mean()
    if len(ys) < 2:
        return cy, cx, 0.0, 0.0
    cov = np.cov(np.stack([ys - cy, xs - cx]))
    ev = np.sort(np.clip(np.linalg.eigvalsh(cov), 0, None))[::-1]
    return cy, cx, 4 * np.sqrt(ev[0]), 4 * np.sqrt(ev[1])


def touches_border(ys: np.ndarray, xs: np.ndarray, shape: tuple[int, ...]) -> bool:
    """Whether pixels (ys, xs) reach the edge of a frame of `shape`: a particle cut by the
    field's edge, whose size there is not its particle's."""
    return bool(ys.min() == 0 or xs.min() == 0 or ys.max() == shape[0] - 1 or xs.max() == shape[1] - 1)


def particle_table(labels, pixel_size_nm: float | None = None, marks: tuple = (),
                   frame_marks: dict[int, tuple] | None = None) -> pd.DataFrame:
    """Per track and frame: area, equivalent diameter, centroid, eccentricity, whether it
    touches the frame's border (its size there is not its particle's) or a box that hides
    the specimen alike: a burned-in mark's (`marks`: (y0, x0, y1, x1) each, `annotations`)
    or one frame's own (`frame_marks` {frame: boxes}: a drift-corrected export's padding)
    (+ nm columns)."""
    rows = []
    shape = tuple(labels.shape[1:3])
    cut = near_marks(shape, marks)
    frame_marks = frame_marks or {}
    for t in range(labels.shape[0]):
        frame = np.asarray(labels[t])
        hidden = cut | near_marks(shape, tuple(frame_marks[t])) if frame_marks.get(t) else cut
        flat = frame.ravel()
        order = np.argsort(flat, kind="stable")
        ids, starts = np.unique(flat[order], return_index=True)
        bounds = list(starts[1:]) + [len(order)]
        for tid, a, b in zip(ids, starts, bounds, strict=False):
            if tid == 0:
                continue
            ys, xs = np.divmod(order[a:b], frame.shape[1])
            cy, cx, major, minor = _moments(ys.astype(float), xs.astype(float))
            area = b - a
            ecc = np.sqrt(1 - (minor / major) ** 2) if major > 0 else 0.0
            rows.append((t, int(tid), cy, cx, area, 2 * np.sqrt(area / np.pi), ecc,
                         touches_border(ys, xs, frame.shape) or bool(hidden[ys, xs].any())))
    table = pd.DataFrame(
        rows, columns=["frame", "track_id", "y", "x", "area", "equivalent_diameter", "eccentricity", "touches_border"]
    )
    if pixel_size_nm:
        table["area_nm2"] = table["area"] * pixel_size_nm**2
        table["equivalent_diameter_nm"] = table["equivalent_diameter"] * pixel_size_nm
        table["y_nm"] = table["y"] * pixel_size_nm
        table["x_nm"] = table["x"] * pixel_size_nm
    return table


def neck_width(mask: np.ndarray, a: np.ndarray, b: np.ndarray, radii: tuple[float, float] = (1.0, 1.0)) -> float:
    """Narrowest chord (px) of `mask` perpendicular to segment a->b, around where parents of
    these `radii` (equal where not given) touch: their discs' radical line, within 0.3 of
    the distance scaled by the smaller radius over the mean (the middle 60 % for equal
    parents). A middle band missed the contact of a 24:4 px pair, at 0.86 of the way, and
    read chords through the large parent (19 px for a neck of 3)."""
    axis = b - a
    length = float(np.hypot(*axis))
    ys, xs = np.nonzero(mask)
    if length < 2 or len(ys) == 0:
        return float("nan")
    unit = axis / length
    u = (ys - a[0]) * unit[0] + (xs - a[1]) * unit[1]
    ra, rb = radii
    centre = float(np.clip((length**2 + ra**2 - rb**2) / (2 * length), 0.0, length))
    half = 0.3 * length * 2 * min(ra, rb) / max(ra + rb, 1e-9)
    lo = max(centre - half, 0.0)
    slabs = int(min(centre + half, length) - lo)  # whole 1-px slabs only: a part-filled last one
    inside = (u >= lo) & (u < lo + slabs)          # read as a narrow neck
    if not inside.any():
        return float("nan")
    counts = np.bincount(np.floor(u[inside] - lo).astype(int), minlength=slabs)
    return float(counts.min())


def contact_regions(mask: np.ndarray, anchors: list[np.ndarray], radii: list[float]) -> dict:
    """{(i, j): the pixels of `mask` whose nearest parent is i or j} for every pair of parents
    whose regions touch. "Nearest" by power distance (|p - anchor|^2 - radius^2), whose
    boundary between two touching discs passes through their contact. A chord between two
    lobes of a three-particle fusion otherwise crosses the third lobe too (a just-touching
    trefoil read necks of 24-29 px, as wide as a particle), and parents at the two ends of a
    chain do not touch at all. Two parents: the whole mask, as one pair."""
    if len(anchors) < 3:  # a pair, or fewer than two parents ever seen before the event: no neck
        return {(0, 1): mask} if len(anchors) == 2 else {}
    from scipy import ndimage as ndi

    ys, xs = np.nonzero(mask)
    if len(ys) == 0:
        return {}
    power = np.stack([(ys - a[0]) ** 2 + (xs - a[1]) ** 2 - r**2 for a, r in zip(anchors, radii, strict=True)])
    top, left = max(int(ys.min()) - 1, 0), max(int(xs.min()) - 1, 0)  # the work stays within the particle's box
    box = (slice(top, int(ys.max()) + 2), slice(left, int(xs.max()) + 2))
    owner = np.full(mask[box].shape, -1)
    owner[ys - top, xs - left] = np.argmin(power, axis=0)
    regions = {}
    for i, j in combinations(range(len(anchors)), 2):
        if (ndi.binary_dilation(owner == i) & (owner == j)).any():
            regions[(i, j)] = np.zeros(mask.shape, bool)
            regions[(i, j)][box] = (owner == i) | (owner == j)
    return regions


def sintering_table(labels, events: list[dict], pixel_size_nm: float | None = None) -> pd.DataFrame:
    """Per fusion event and frame of the child's life: neck width, axis ratio, area ratio,
    and the event's coalescence time (frames from contact to a rounded particle)."""
    particles = particle_table(labels, None)
    rows = []
    for k, ev in enumerate(events):
        f0, child, parents = int(ev["frame"]), int(ev["child"]), [int(p) for p in ev["parents"]]
        # Each parent as last seen before the fusion: a skipped frame, or a parent the
        # segmentation missed for a frame or two, lies between it and the event.
        earlier = particles[particles.track_id.isin(parents) & (particles.frame < f0)]
        last_seen = {int(r.track_id): r for _, r in earlier.sort_values("frame").groupby("track_id").tail(1).iterrows()}
        before = [last_seen[p] for p in parents if p in last_seen]
        parent_area = sum(r["area"] for r in before)
        anchors = [np.array([r["y"], r["x"]]) for r in before]
        radii = [float(np.sqrt(r["area"] / np.pi)) for r in before]
        lobed = len(parents) >= 3 or min((r["area"] for r in before), default=0) < UNEQUAL_SHARE * max(parent_area, 1)
        life = particles[(particles.track_id == child) & (particles.frame >= f0)]
        if life.empty:
            continue
        origin = np.array([life.iloc[0]["y"], life.iloc[0]["x"]])
        event_rows = []
        for r in life.itertuples():
            mask = np.asarray(labels[r.frame]) == child
            shift = np.array([r.y, r.x]) - origin  # follow the child's drift
            moved = [a + shift for a in anchors]
            necks = [neck_width(region, moved[i], moved[j], (radii[i], radii[j]))
                     for (i, j), region in contact_regions(mask, moved, radii).items()]
            ys, xs = np.nonzero(mask)
            _, _, major, minor = _moments(ys.astype(float), xs.astype(float))
            aspect = major / minor if minor > 0 else float("inf")
            spread = outline_spread(mask)
            event_rows.append(
                {
                    "event": k,
                    "frame": int(r.frame),
                    "child": child,
                    "parents": ";".join(map(str, parents)),
                    "frames_since_contact": int(r.frame) - f0,
                    "neck_width": float(np.nanmin(necks)) if necks and not np.isnan(necks).all() else np.nan,
                    "axis_ratio": aspect,
                    "outline_spread": spread,
                    "area": int(r.area),
                    "area_ratio": r.area / parent_area if parent_area else np.nan,
                }
            )
        rounded = [e["frames_since_contact"] for e in event_rows
                   if is_round(e["axis_ratio"], e["outline_spread"], e["area"], lobed)]
        for e in event_rows:
            e["coalescence_frames"] = rounded[0] if rounded else np.nan
        rows += event_rows
    table = pd.DataFrame(
        rows,
        columns=[
            "event", "frame", "child", "parents", "frames_since_contact", "neck_width",
            "axis_ratio", "outline_spread", "area", "area_ratio", "coalescence_frames",
        ],
    )
    if pixel_size_nm:
        table["neck_width_nm"] = table["neck_width"] * pixel_size_nm
        table["area_nm2"] = table["area"] * pixel_size_nm**2
    return table
