"""Sintering videos with the conditions real in-situ videos have, and their exact truth.

`synth.synth_video` is the simple video the tracker was built with. This one draws its
particles and image formation from `simulator` (the "heldout" regime by default: coherent
phase contrast or a STEM probe, faceted and irregular shapes, detector read noise), and
adds what a real in-situ run does to a tracker: Brownian motion and stage drift with
sudden jumps, particles drifting out of and into the field, a dose change mid-video,
frame-to-frame flicker, blank frames (detector drop-outs), pairs that touch for tens of
frames without fusing, two- and three-particle fusions that sinter fast or slowly.

A fusion's truth frame is the first frame of material contact: from then on the parents'
pixels carry the child's ID (a neck joins them, then the child rounds up over
`sinter_frames`). Nothing in this project is tuned on the "heldout" regime; the tracking
table of docs/tracking.md is measured on it (`benchmarks/tracking_heldout.py`).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from .errors import TemsegError
from .simulator import FORMATION, REGIMES, Particle, _draw_particle, draw_params, render
from .synth import SynthVideo, place_apart

#: Gap (px) between the members of a group before they start to approach, and their speed (px/frame).
START_GAP, APPROACH = 14.0, 1.0
#: Draws of a group's particles before a frame is called too small for the groups.
GROUP_DRAWS = 10


@dataclass
class VideoConditions:
    """What happens in the video. Lengths in px, times in frames."""

    n_frames: int = 60
    shape: tuple[int, int] = (384, 384)
    n_single: int = 8
    n_pairs: int = 3
    n_triples: int = 1
    n_touching: int = 1  # pairs that touch for `touch_frames`, then part
    radius: tuple[float, float] = (8.0, 16.0)
    brownian: float = 0.4  # random walk step of each particle (sd, px/frame)
    drift: tuple[float, float] = (0.3, -0.2)  # stage drift
    drift_jumps: int = 0  # sudden stage jumps of `jump` px at random frames
    jump: float = 12.0
    crossing: int = 0  # singles that cross the field's edge (half leave, half enter)
    dose: tuple[float, float] = (30.0, 120.0)  # the video's dose is drawn in this range (e-/px)
    dose_step: float = 1.0  # the dose is multiplied by this from the middle frame on
    flicker: float = 0.0  # relative illumination jitter per frame (sd)
    blank: tuple[int, ...] = ()  # frames lost by the detector (all zero)
    touch_frames: int = 20
    sinter_frames: tuple[int, int] = (4, 20)  # frames from contact to a round child
    mode: str = "bf"  # "bf" or "df"
    regime: str = "heldout"  # image formation and particle statistics (see `simulator`)
    dtype: str = "uint16"
    image: dict = field(default_factory=dict)  # `simulator.Params` fields to fix (e.g. carbon=0.02)


@dataclass
class _Group:
    members: list[Particle]
    directions: np.ndarray  # unit vectors from the group's centre, one per member
    contact: int
    fuse: bool
    sinter: int
    child: int = 0
    centre: np.ndarray = field(default_factory=lambda: np.zeros(2))


def _child(g: _Group, t: int, centre: np.ndarray) -> Particle:
    """The fused particle at frame t: the parents as lobes closing in on a growing neck."""
    radii = np.array([m.r for m in g.members])
    final = float(np.sqrt((radii**2).sum()))
    progress = min((t - g.contact) / g.sinter, 1.0)
    body = final * (0.35 + 0.65 * progress)  # the neck, growing into the whole particle
    offsets = radii * (2 / np.sqrt(3) if len(radii) == 3 else 1.0) * 0.85 * (1 - progress)
    lobes = tuple(
        (float(o * d[0] / body), float(o * d[1] / body), float((r * (1 - progress) + final * progress) / body))
        for o, d, r in zip(offsets, g.directions, radii, strict=False)
    )
    # The parents' material, not the neck's size, sets how dark the child is: at contact it
    # looks as its parents did (their area-weighted thickness scale, density and facets),
    # and it becomes a particle of the final radius as it rounds up.
    area = radii**2 / (radii**2).sum()
    parents = float(area @ np.sqrt(radii))
    mass_radius = ((1 - progress) * parents + progress * np.sqrt(final)) ** 2
    density = float(area @ np.array([m.density for m in g.members]))
    return Particle(g.child, float(centre[0]), float(centre[1]), body, lobes=lobes, density=density,
                    flat=all(m.flat for m in g.members), mass_radius=float(mass_radius))


def _members(g: _Group, t: int, centre: np.ndarray, touch_frames: int) -> list[Particle]:
    """The separate members at frame t: approaching, touching, or parting again."""
    radii = np.array([m.r for m in g.members])
    contact_offset = radii * (2 / np.sqrt(3) if len(radii) == 3 else 1.0)
    gap = min(APPROACH * max(g.contact - t, 0), START_GAP)
    if not g.fuse and t > g.contact + touch_frames:
        gap = min(APPROACH * (t - g.contact - touch_frames), START_GAP)
    return [replace(m, y=float(centre[0] + (o + gap / 2) * d[0]), x=float(centre[1] + (o + gap / 2) * d[1]))
            for o, d, m in zip(contact_offset, g.directions, g.members, strict=False)]


def _place(rng, shape, extent: float, taken: list, margin: float) -> np.ndarray | None:
    """`synth.place_apart` with no extra spacing (groups bring their own gap), as an array."""
    centre = place_apart(rng, shape, extent, taken, margin, spacing=0.0)
    return None if centre is None else np.array(centre)


def simulate_video(conditions: VideoConditions | None = None, seed: int = 0) -> SynthVideo:
    """A sintering video, its tracked truth labels and its fusion events."""
    c = conditions or VideoConditions()
    if c.regime not in REGIMES or c.mode not in ("bf", "df"):
        raise TemsegError(f"regime must be one of {', '.join(REGIMES)} and mode bf or df")
    if c.n_frames < 2:
        raise TemsegError(f"n_frames must be >= 2, not {c.n_frames}")
    rng = np.random.default_rng(seed)
    params = draw_params(rng, c.regime, radius_span=c.radius, shape=tuple(c.shape), mode=c.mode, dtype=c.dtype,
                         contrast=float(np.exp(rng.uniform(np.log(0.4), np.log(1.2)))), **c.image)
    params.radius = c.radius
    shapes_rng = np.random.default_rng([seed, 1])
    next_id, taken, groups = 1, [], []
    margin = float(np.hypot(*c.drift) * c.n_frames / 2 + c.jump * np.sqrt(c.drift_jumps) / 2 + 6)
    for size, fuse in [(2, True)] * c.n_pairs + [(3, True)] * c.n_triples + [(2, False)] * c.n_touching:
        for _ in range(GROUP_DRAWS):  # a group too large for the room left is drawn again
            members = [_draw_particle(shapes_rng, params, next_id + i, c.regime == "train") for i in range(size)]
            for m in members:
                m.lobes, m.aspect = (), min(m.aspect, 1.6)  # compact shapes: groups meet at known offsets
            angle = rng.uniform(0, 2 * np.pi)
            angles = angle + 2 * np.pi * np.arange(size) / size
            directions = np.stack([np.sin(angles), np.cos(angles)], axis=1)
            contact = int(rng.integers(c.n_frames // 5, c.n_frames * 2 // 3))
            sinter = int(rng.integers(c.sinter_frames[0], c.sinter_frames[1] + 1))
            extent = 2.6 * max(m.r for m in members) + START_GAP
            centre = _place(rng, c.shape, extent, taken, margin)
            if centre is not None:
                break
        else:
            raise TemsegError(f"cannot fit the particle groups into {c.shape}: use a larger frame or fewer groups")
        next_id += size
        groups.append(_Group(members, directions, contact, fuse, sinter, centre=centre))
    singles, velocity = [], {}
    for i in range(c.n_single + c.crossing):
        part = _draw_particle(shapes_rng, params, next_id, c.regime == "train")
        part.lobes = ()
        if i >= c.n_single:  # crosses an edge at mid-video: leaving the field, or entering it
            outward = np.array([[1, 0], [-1, 0], [0, 1], [0, -1]][rng.integers(4)], float)
            half, speed = np.array(c.shape) / 2, 1.5
            leaving = (i - c.n_single) % 2 == 0
            edge = half + outward * half + rng.uniform(-0.3, 0.3) * c.shape[0] * outward[::-1]
            part.y, part.x = edge - outward * speed * c.n_frames / 2 * (1 if leaving else -1)
            velocity[next_id] = outward * speed * (1 if leaving else -1)
        else:
            centre = _place(rng, c.shape, part.r * 1.4 + 3 * c.brownian * np.sqrt(c.n_frames), taken, margin)
            if centre is None:
                continue
            part.y, part.x = centre
            velocity[next_id] = np.zeros(2)
        singles.append(part)
        next_id += 1
    events = []
    for g in groups:
        if g.fuse:
            g.child = next_id
            next_id += 1
            events.append({"frame": g.contact, "parents": [m.label for m in g.members], "child": g.child})
    jumps = set(rng.choice(np.arange(1, c.n_frames), size=min(c.drift_jumps, c.n_frames - 1), replace=False).tolist())
    dose = float(np.exp(rng.uniform(np.log(c.dose[0]), np.log(c.dose[1]))))
    frames = np.zeros((c.n_frames, *c.shape), np.dtype(c.dtype))
    labels = np.zeros((c.n_frames, *c.shape), np.uint32)
    stage, walk = np.zeros(2), {p.label: np.zeros(2) for p in singles}
    group_walk = [np.zeros(2) for _ in groups]
    formation_seed, top = int(rng.integers(1 << 31)), float(np.iinfo(c.dtype).max) if c.dtype != "float32" else 1.0
    gain = level = None
    for t in range(c.n_frames):
        particles = []
        for p in singles:
            walk[p.label] += rng.normal(0, c.brownian, 2) + velocity[p.label]
            particles.append(replace(p, y=float(p.y + stage[0] + walk[p.label][0]),
                                     x=float(p.x + stage[1] + walk[p.label][1]), angle=p.angle + 0.01 * t))
        for g, w in zip(groups, group_walk, strict=False):
            w += rng.normal(0, c.brownian / 2, 2)
            centre = g.centre + stage + w
            particles += [_child(g, t, centre)] if g.fuse and t >= g.contact else _members(g, t, centre, c.touch_frames)
        labels[t], thickness, cover = render(particles, c.shape, keep_ids=True)
        # one support film and optics for the whole video (same seed), new shot noise every frame
        intensity = FORMATION[params.formation, c.mode](np.random.default_rng(formation_seed), particles, thickness,
                                                        cover, params)
        if level is None:  # beam current and detector gain are set once, on the first frame
            level = float(np.median(intensity)) if c.mode == "bf" else float(np.percentile(intensity, 99))
        intensity = intensity * (1 + c.flicker * rng.normal())
        frame_dose = dose * (c.dose_step if t >= c.n_frames // 2 else 1.0)
        counts = rng.poisson(np.clip(intensity, 0, None) * frame_dose / max(level, 1e-6)).astype(np.float32)
        if gain is None:
            gain = top * 0.6 / max(float(np.percentile(counts, 99.9)), 1.0)
        if t in c.blank:
            labels[t] = 0  # nothing to see in a lost frame
        else:
            frames[t] = np.clip(counts * gain, 0, top).astype(c.dtype)
        if t + 1 in jumps:
            stage += rng.normal(0, c.jump / np.sqrt(2), 2)
        stage += np.array(c.drift) + rng.normal(0, 0.1, 2)
    return SynthVideo(frames=frames, labels=labels, events=[e for e in events if e["frame"] < c.n_frames])
