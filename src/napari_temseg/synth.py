"""Synthetic bright-field TEM images and sintering videos with exact ground truth.

Tests, sample data, the demo and training use these. The image model is simple
but has what makes real micrographs hard: touching particles, irregular
outlines, thickness contrast, a Fresnel-like bright fringe, uneven
illumination and Poisson (shot) noise at a chosen electron dose.

Videos: particles drift with the stage and jitter; pairs and triples approach,
touch and sinter into one particle whose projected area equals the parents'
sum, rounding up over the following frames; other pairs only touch and part
again (they must keep their identities). Everything is deterministic by seed.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage as ndi

from .errors import TemsegError


@dataclass
class Disc:
    """One convex lobe of a particle; a particle is the union of its discs."""

    label: int
    y: float
    x: float
    r: float
    wobble: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 0.0)  # a2, phase2, a3, phase3


@dataclass
class SynthImage:
    """image: (Y, X) uint8/uint16 micrograph; labels: (Y, X) uint32 ground truth."""

    image: np.ndarray
    labels: np.ndarray


@dataclass
class SynthVideo:
    """frames: (T, Y, X) micrograph stack; labels: (T, Y, X) uint32 with stable track IDs;
    events: fusion events {frame, parents, child}, frame = first frame the child exists."""

    frames: np.ndarray
    labels: np.ndarray
    events: list[dict] = field(default_factory=list)
    pixel_size_nm: float = 0.5


def _random_wobble(rng: np.random.Generator, amount: float) -> tuple[float, float, float, float]:
    return (
        float(rng.uniform(0, amount)),
        float(rng.uniform(0, 2 * np.pi)),
        float(rng.uniform(0, amount / 2)),
        float(rng.uniform(0, 2 * np.pi)),
    )


def render_labels(discs: list[Disc], shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Rasterise discs: (labels uint32, relative projected thickness float32 in [0, 1]).

    Where two particles overlap, a pixel goes to the one whose (normalised)
    boundary is farther away, which gives a straight contact line.
    """
    labels = np.zeros(shape, np.uint32)
    score = np.full(shape, np.inf, np.float32)
    thickness = np.zeros(shape, np.float32)
    for d in discs:
        reach = d.r * 1.4 + 2
        y0, y1 = max(int(d.y - reach), 0), min(int(d.y + reach) + 1, shape[0])
        x0, x1 = max(int(d.x - reach), 0), min(int(d.x + reach) + 1, shape[1])
        if y0 >= y1 or x0 >= x1:
            continue
        yy, xx = np.mgrid[y0:y1, x0:x1].astype(np.float32)
        dy, dx = yy - d.y, xx - d.x
        phi = np.arctan2(dy, dx)
        a2, p2, a3, p3 = d.wobble
        radius = d.r * (1 + a2 * np.cos(2 * (phi - p2)) + a3 * np.cos(3 * (phi - p3)))
        s = np.hypot(dy, dx) / radius
        inside = s < 1
        region = score[y0:y1, x0:x1]
        take = inside & (s < region)
        region[take] = s[take]
        labels[y0:y1, x0:x1][take] = d.label
        t = np.sqrt(np.clip(1 - s**2, 0, 1))
        np.maximum(thickness[y0:y1, x0:x1], t, out=thickness[y0:y1, x0:x1])
    return labels, thickness


def form_image(
    labels: np.ndarray,
    thickness: np.ndarray,
    rng: np.random.Generator,
    *,
    dose: float = 40.0,
    contrast: float = 0.35,
    halo: float = 0.08,
    illumination: float = 0.15,
    bit_depth: int = 8,
    polarity: str = "dark",
    illumination_angle: float | None = None,
) -> np.ndarray:
    """Bright-field image formation: absorption + fringe + illumination + shot noise + PSF."""
    ny, nx = labels.shape
    mask = (labels > 0).astype(np.float32)
    absorb = mask * (0.75 + 0.25 * thickness)
    intensity = 1.0 - contrast * ndi.gaussian_filter(absorb, 0.8)
    fringe = ndi.gaussian_filter(mask, 1.5) - ndi.gaussian_filter(mask, 4.0)
    intensity -= halo * fringe  # bright just outside the edge, darker just inside
    yy, xx = np.mgrid[0:ny, 0:nx].astype(np.float32)
    angle = rng.uniform(0, 2 * np.pi) if illumination_angle is None else illumination_angle
    ramp = (np.cos(angle) * yy / ny + np.sin(angle) * xx / nx) - 0.5
    intensity *= 1 + illumination * ramp
    if polarity == "bright":
        intensity = intensity.max() + intensity.min() - intensity
    counts = rng.poisson(np.clip(intensity, 0, None) * dose).astype(np.float32)
    image = ndi.gaussian_filter(counts, 0.7)
    top = 255 if bit_depth == 8 else 65535
    scale = top * 0.8 / max(float(np.percentile(image, 99.9)), 1e-6)
    out = np.clip(image * scale, 0, top)
    return out.astype(np.uint8 if bit_depth == 8 else np.uint16)


def place_apart(
    rng: np.random.Generator, shape: tuple[int, int], extent: float, taken: list, margin: float, spacing: float = 3.0
) -> tuple[float, float] | None:
    """A random centre, `margin + extent` inside the border, whose disc of radius `extent` keeps
    `spacing` px from every disc already in `taken` (appended to it); None if none fits."""
    if 2 * (margin + extent) >= min(shape):
        return None
    for _ in range(300):
        y = rng.uniform(margin + extent, shape[0] - margin - extent)
        x = rng.uniform(margin + extent, shape[1] - margin - extent)
        if all(np.hypot(y - ty, x - tx) > extent + te + spacing for ty, tx, te in taken):
            taken.append((y, x, extent))
            return y, x
    return None


def synth_image(
    shape: tuple[int, int] = (512, 512),
    n_particles: int = 30,
    radius: tuple[float, float] = (9.0, 24.0),
    touching: float = 0.4,
    dose: float = 40.0,
    bit_depth: int = 8,
    polarity: str = "dark",
    seed: int = 0,
) -> SynthImage:
    """A micrograph with `n_particles` particles, about `touching` of them in touching pairs."""
    rng = np.random.default_rng(seed)
    discs: list[Disc] = []
    taken: list = []
    label = 1
    while label <= n_particles:
        r = rng.uniform(*radius)
        pair = label < n_particles and rng.random() < touching
        r2 = rng.uniform(*radius) if pair else 0.0
        extent = r + 2 * r2 * 1.1 if pair else r * 1.15
        centre = place_apart(rng, shape, extent, taken, margin=0)
        if centre is None:
            break
        y, x = centre
        wob = 0.08
        if not pair:
            discs.append(Disc(label, y, x, r, _random_wobble(rng, wob)))
            label += 1
            continue
        angle = rng.uniform(0, 2 * np.pi)
        sep = (r + r2) * rng.uniform(0.97, 1.01)
        discs.append(Disc(label, y, x, r, _random_wobble(rng, wob)))
        y2, x2 = y + sep * np.sin(angle), x + sep * np.cos(angle)
        discs.append(Disc(label + 1, y2, x2, r2, _random_wobble(rng, wob)))
        label += 2
    labels, thickness = render_labels(discs, shape)
    image = form_image(labels, thickness, rng, dose=dose, bit_depth=bit_depth, polarity=polarity)
    return SynthImage(image=image, labels=labels)


@dataclass
class _Group:
    """Particles that will meet: members converge on a moving centre, then fuse or part."""

    members: list[Disc]
    directions: np.ndarray  # unit vectors, one per member
    contact: int  # frame at which the members touch
    fuse: bool  # True: sinter into one; False: touch and separate again
    hold: int = 2  # frames spent touching before parting (touch-only groups)
    child: int = 0


#: Largest gap (px) between group members before they start to approach.
MAX_GAP = 10.0
#: How fast (px/frame) members close the gap: particles snap into contact.
APPROACH_SPEED = 2.0


def _union_area(discs: list[Disc], shape: tuple[int, int]) -> int:
    return int(np.count_nonzero(render_labels(discs, shape)[0]))


def _group_discs(g: _Group, t: int, cy: float, cx: float, shape: tuple[int, int]) -> list[Disc]:
    """Member discs of a group at frame t (before, during and after contact)."""
    radii = np.array([m.r for m in g.members])
    k = 2 / np.sqrt(3) if len(g.members) == 3 else 1.0
    contact_offset = radii * k
    gap = min(APPROACH_SPEED * max(g.contact - t, 0), MAX_GAP)
    if not g.fuse and t > g.contact + g.hold:
        gap = min(APPROACH_SPEED * (t - g.contact - g.hold), MAX_GAP)
    if g.fuse and t > g.contact:
        # Sintering: lobes overlap at once (a wide neck), then round up; area is conserved.
        progress = min((t - g.contact - 1) / 12.0, 1.0)
        offsets = contact_offset * 0.6 * (1 - progress)
        discs = [
            Disc(g.child, cy + o * d[0], cx + o * d[1], r, m.wobble)
            for o, d, r, m in zip(offsets, g.directions, radii, g.members, strict=False)
        ]
        target = sum(_union_area([Disc(1, 40, 40, m.r, m.wobble)], (80, 80)) for m in g.members)
        for _ in range(3):
            area = _union_area(discs, shape) or 1
            for disc in discs:
                disc.r *= np.sqrt(target / area)
        return discs
    offsets = contact_offset + gap / 2
    return [
        Disc(m.label, cy + o * d[0], cx + o * d[1], m.r, m.wobble)
        for o, d, m in zip(offsets, g.directions, g.members, strict=False)
    ]


def synth_video(
    n_frames: int = 60,
    shape: tuple[int, int] = (320, 320),
    n_single: int = 6,
    n_pairs: int = 3,
    n_triples: int = 1,
    n_touching: int = 1,
    radius: tuple[float, float] = (8.0, 13.0),
    drift: tuple[float, float] = (0.3, 0.2),
    jitter: float = 0.4,
    dose: float = 40.0,
    bit_depth: int = 8,
    seed: int = 0,
) -> SynthVideo:
    """A sintering video: `n_pairs` pairs and `n_triples` triples fuse, `n_touching` pairs
    only touch, `n_single` particles wander alone; the stage drifts by `drift` px/frame."""
    if n_frames < 1:
        raise TemsegError(f"n_frames must be >= 1, not {n_frames}")
    rng = np.random.default_rng(seed)
    taken: list = []
    next_id = 1
    groups: list[tuple[_Group, float, float]] = []
    sizes = [2] * n_pairs + [3] * n_triples + [2] * n_touching
    fuse_flags = [True] * (n_pairs + n_triples) + [False] * n_touching
    margin = float(np.hypot(*drift) * n_frames / 2 + 4)
    for size, fuse in zip(sizes, fuse_flags, strict=False):
        members = [Disc(next_id + i, 0, 0, rng.uniform(*radius), _random_wobble(rng, 0.05)) for i in range(size)]
        next_id += size
        contact = int(rng.integers(max(n_frames // 6, 1), max(n_frames * 2 // 3, 2)))
        extent = 2.4 * max(m.r for m in members) + MAX_GAP
        centre = place_apart(rng, shape, extent, taken, margin)
        if centre is None:
            raise TemsegError(
                f"cannot fit {len(sizes)} particle groups into a {shape[0]}x{shape[1]} frame; "
                "use a larger size or fewer pairs/triples/touching groups"
            )
        angle = rng.uniform(0, 2 * np.pi)
        angles = angle + 2 * np.pi * np.arange(size) / size
        dirs = np.stack([np.sin(angles), np.cos(angles)], axis=1)
        groups.append((_Group(members, dirs, contact, fuse), *centre))
    singles = []
    for _ in range(n_single):
        r = rng.uniform(*radius)
        centre = place_apart(rng, shape, r * 1.3 + 3 * jitter * np.sqrt(n_frames), taken, margin)
        if centre is not None:
            singles.append(Disc(next_id, *centre, r, _random_wobble(rng, 0.08)))
            next_id += 1
    if n_single and not singles and not groups:  # a crowded frame takes fewer than asked; none at all: no video
        raise TemsegError(
            f"cannot fit any of {n_single} single particles into a {shape[0]}x{shape[1]} frame, the stage drifting "
            f"{np.hypot(*drift) * n_frames:.0f} px over {n_frames} frames; use a larger size or fewer frames"
        )
    events = []
    for g, _, _ in groups:
        if g.fuse:
            g.child = next_id
            next_id += 1
            events.append({"frame": g.contact + 1, "parents": [m.label for m in g.members], "child": g.child})
    events = [e for e in events if e["frame"] < n_frames]
    walk = {d.label: np.zeros(2) for d in singles}
    frames = np.zeros((n_frames, *shape), np.uint8 if bit_depth == 8 else np.uint16)
    labels = np.zeros((n_frames, *shape), np.uint32)
    stage = np.zeros(2)
    angle = rng.uniform(0, 2 * np.pi)
    for t in range(n_frames):
        discs = []
        for d in singles:
            walk[d.label] += rng.normal(0, jitter, 2)
            y, x = np.array([d.y, d.x]) + stage + walk[d.label]
            discs.append(Disc(d.label, y, x, d.r, d.wobble))
        for g, cy, cx in groups:
            discs += _group_discs(g, t, cy + stage[0], cx + stage[1], shape)
        lab, thick = render_labels(discs, shape)
        labels[t] = lab
        frames[t] = form_image(lab, thick, rng, dose=dose, bit_depth=bit_depth, illumination_angle=angle)
        stage += np.array(drift) + rng.normal(0, jitter / 2, 2)
    return SynthVideo(frames=frames, labels=labels, events=events)
