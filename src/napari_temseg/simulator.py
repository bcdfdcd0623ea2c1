"""A domain-randomised TEM/STEM simulator: nanoparticle micrographs with their exact truth.

Where `synth` draws one kind of image, this draws from a wide parameter space so that a
model trained on it meets real micrographs as one more draw: radius 3-100 px; round,
faceted, cube- and octahedron-like, rod and irregular particles; isolated, touching,
chained, clustered and overlapping in projection; bright-field TEM or dark-field/HAADF
STEM; 2-500 e-/px; amorphous carbon, lattice and Fresnel fringes, illumination and
thickness gradients; 8-bit, 16-bit or float output. The truth is the physical particle
outline at each pixel centre, before any blur: where particles overlap in projection,
the upper one owns the pixels.

Two regimes, with the same geometry code and parameter names:

- "train": an additive image model (absorption x support x fringes, Gaussian PSF). The
  only regime that training and tuning may use.
- "heldout": a second image-formation model, coherent phase contrast through a
  contrast transfer function (Fresnel fringes and carbon granularity arise from defocus
  rather than being painted), a probe with Lorentzian tails and scan jitter in STEM, a
  detector read-out with gain and read noise, other shape and size statistics. Nothing
  in this project is trained or tuned on it: it stands in for real data a model has not
  seen, and docs/robustness.md reports it.

`draw_params(rng, regime)` draws a `Params`; `simulate(params, seed)` renders it; each
field's physics is explained in docs/simulator.md.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
from scipy import ndimage as ndi

from .errors import TemsegError
from .synth import SynthImage

REGIMES = ("train", "heldout")
SHAPES = ("round", "faceted", "cube", "octahedron", "rod", "irregular")


@dataclass
class Params:
    """One micrograph's parameters. Lengths in pixels, intensities relative to the background."""

    shape: tuple[int, int] = (512, 512)
    radius: tuple[float, float] = (8.0, 30.0)  # range of the particles' mean radii
    coverage: float = 0.2  # target fraction of the field covered by particles
    touching: float = 0.4  # chance a new particle is slid into contact with an existing one
    chain: float = 0.3  # given contact: chance it attaches to the newest particle (chains, not clusters)
    overlap: float = 0.1  # given contact: chance it overlaps in projection instead of just touching
    shapes: dict[str, float] = field(default_factory=lambda: {"round": 1.0})  # shape -> weight
    mode: str = "bf"  # "bf": bright-field TEM (dark particles) or "df": dark-field / HAADF STEM
    formation: str = "additive"  # "additive" (train) or "ctf" (heldout)
    contrast: float = 0.5  # absorption (bf) or Z-contrast gain (df) of a particle 20 px thick
    carbon: float = 0.05  # amorphous carbon texture amplitude
    carbon_grain: float = 1.5  # its grain size
    fresnel: float = 0.05  # signed Fresnel fringe amplitude (additive); defocus in px^2 (ctf)
    fresnel_width: float = 1.5
    fringes: float = 0.1  # lattice fringe amplitude inside particles
    fringe_period: float = 4.0
    gradient: float = 0.1  # illumination/thickness ramp, edge to edge
    blotch: float = 0.03  # low-frequency support thickness variation
    psf: float = 0.8  # optics (bf) or probe (df) blur
    dose: float = 40.0  # electrons per pixel at the background (bf) or per pixel at full signal (df)
    read_noise: float = 0.0  # detector read noise, in electrons
    dtype: str = "uint8"  # "uint8", "uint16" or "float32"


#: The training regime's largest additive Fresnel fringe amplitude (either sign), by default.
TRAIN_FRESNEL = 0.15


def check_fresnel_span(span: float) -> None:
    """Refuse a fringe amplitude span outside 0-1 (a fringe deeper than the background is
    not an image)."""
    if not 0 <= span <= 1:
        raise TemsegError(f"the Fresnel fringe span must lie in 0-1 (relative to the background), not {span}")


def _log_uniform(rng: np.random.Generator, lo: float, hi: float) -> float:
    return float(np.exp(rng.uniform(np.log(lo), np.log(hi))))


def draw_params(
    rng: np.random.Generator, regime: str = "train", radius_span: tuple[float, float] = (3.0, 100.0),
    fresnel_span: float = TRAIN_FRESNEL, **fixed
) -> Params:
    """Random parameters of `regime`, particle radii within `radius_span` px; keyword
    arguments fix fields (e.g. mode="df"). `fresnel_span`: the training regime's largest
    fringe amplitude (a wider span trains for stronger defocus; the draws are otherwise
    the same)."""
    if regime not in REGIMES:
        raise TemsegError(f"regime must be one of {', '.join(REGIMES)}, not {regime!r}")
    check_fresnel_span(fresnel_span)
    train = regime == "train"
    lowest, highest = radius_span
    top = max(lowest, highest / 1.6)
    r_lo = _log_uniform(rng, lowest, top) if train else float(rng.uniform(lowest, top))
    r_hi = min(r_lo * (rng.uniform(1.3, 2.5) if train else rng.uniform(1.2, 2.0)), highest)
    side = int(rng.choice([384, 512, 640, 768])) if train else int(rng.choice([448, 512, 896]))
    side = max(side, int(min(6 * r_hi, 1024)))
    shapes = (
        {s: float(w) for s, w in zip(SHAPES, rng.dirichlet(np.ones(len(SHAPES)) * 0.7), strict=False)}
        if train else {s: float(w) for s, w in zip(SHAPES, rng.dirichlet([3, 1, 1, 1, 0.5, 2]), strict=False)}
    )
    mode = "df" if rng.random() < (0.3 if train else 0.4) else "bf"
    contrast = _log_uniform(rng, 0.15, 1.2)
    # Visible particles: blur and carbon grain finer than the smallest particles, and a dose
    # at which the smallest one stands 5 noise levels above its background (an image no
    # microscopist would record, or could label, teaches nothing).
    sharpest = max(0.35, 0.35 * r_lo)
    edge_contrast = 0.5 if mode == "df" else 1 - np.exp(-contrast * np.sqrt(r_lo / 20))
    min_dose = float(np.clip(25 / (edge_contrast**2 * np.pi * r_lo**2), 2, 400))
    params = Params(
        shape=(side, side), radius=(r_lo, r_hi),
        coverage=float(rng.uniform(0.05, 0.45)), touching=float(rng.uniform(0.1, 0.8)),
        chain=float(rng.uniform(0, 0.8)), overlap=float(rng.uniform(0, 0.3)), shapes=shapes, mode=mode,
        formation="additive" if train else "ctf",
        contrast=contrast, carbon=float(rng.uniform(0, 0.12)),
        carbon_grain=float(rng.uniform(0.7, max(0.8, min(3.0, 0.5 * r_lo)))),
        fresnel=float(rng.uniform(-fresnel_span, fresnel_span)) if train else float(rng.choice([-1, 1]) * _log_uniform(rng, 5, 150)),
        fresnel_width=float(rng.uniform(0.8, 3.0)), fringes=float(rng.uniform(0, 0.3)),
        fringe_period=float(rng.uniform(2.5, 8.0)), gradient=float(rng.uniform(0, 0.3)),
        blotch=float(rng.uniform(0, 0.08)), psf=float(rng.uniform(0.3, min(2.0, sharpest))),
        dose=_log_uniform(rng, min_dose, 500), read_noise=float(rng.uniform(0, 3)) if not train else 0.0,
        dtype=str(rng.choice(["uint8", "uint16", "float32"], p=[0.5, 0.35, 0.15])),
    )
    return replace(params, **fixed)


# -- geometry -------------------------------------------------------------------------------------


@dataclass
class Particle:
    """A star-shaped particle: a rounded polygon (sides 0 = round) stretched by `aspect`,
    with outline harmonics and, for aggregates, extra round lobes (offsets in units of r)."""

    label: int
    y: float
    x: float
    r: float
    angle: float = 0.0
    aspect: float = 1.0
    sides: int = 0
    rounding: float = 1.0
    harmonics: tuple = ()
    lobes: tuple = ()
    flat: bool = False  # faceted crystals are plates of even thickness; round ones are spheres
    density: float = 1.0
    z: float = 0.0
    #: Radius (px) that sets the thickness scale (`thickness`); 0 = r. A sintering child that
    #: is still mostly its parents' lobes keeps their thickness, not that of its small neck.
    mass_radius: float = 0.0

    def reach(self) -> float:
        lobe = max((np.hypot(dy, dx) + lr for dy, dx, lr in self.lobes), default=1.0)
        return self.r * max(np.sqrt(self.aspect), 1.0) * 1.4 * max(lobe, 1.0) + 2

    def window(self, shape: tuple[int, int]) -> tuple[slice, slice] | None:
        reach = self.reach()
        y0, y1 = max(int(self.y - reach), 0), min(int(self.y + reach) + 2, shape[0])
        x0, x1 = max(int(self.x - reach), 0), min(int(self.x + reach) + 2, shape[1])
        return (slice(y0, y1), slice(x0, x1)) if y0 < y1 and x0 < x1 else None

    def distance(self, yy: np.ndarray, xx: np.ndarray) -> np.ndarray:
        """Normalised distance s: < 1 inside, 1 on the outline (pixel coordinates in)."""
        dy, dx = yy - self.y, xx - self.x
        c, s = np.cos(self.angle), np.sin(self.angle)
        u, v = (c * dx + s * dy) / np.sqrt(self.aspect), (-s * dx + c * dy) * np.sqrt(self.aspect)
        rho = np.hypot(u, v)
        if self.sides:
            apothem = np.sqrt(np.pi / (self.sides * np.tan(np.pi / self.sides)))  # same area as the circle
            normals = np.arange(self.sides) * 2 * np.pi / self.sides
            poly = np.max([u * np.cos(a) + v * np.sin(a) for a in normals], axis=0) / apothem
            dist = (1 - self.rounding) * poly + self.rounding * rho
        else:
            dist = rho
        if self.harmonics:
            phi = np.arctan2(v, u)
            dist = dist / (1 + sum(a * np.cos(k * phi + p) for k, a, p in self.harmonics))
        dist = dist / self.r
        for ly, lx, lr in self.lobes:
            dist = np.minimum(dist, np.hypot(dy - ly * self.r, dx - lx * self.r) / (lr * self.r))
        return dist

    def thickness(self, dist: np.ndarray) -> np.ndarray:
        """Projected mass thickness, 1 at the centre of a 20 px particle. It grows as the square
        root of the radius, not linearly: small particles are imaged at higher magnification,
        where phase contrast adds to their weak absorption, and large ones saturate."""
        inside = np.clip(1 - dist, 0, 1)
        profile = np.sqrt(np.clip(1 - (1 - inside) ** (6 if self.flat else 2), 0, 1))
        return profile * np.sqrt((self.mass_radius or self.r) / 20.0) * self.density


def _draw_particle(rng: np.random.Generator, p: Params, label: int, regime_train: bool) -> Particle:
    names = list(p.shapes)
    weights = np.array([p.shapes[n] for n in names], float)
    kind = names[int(rng.choice(len(names), p=weights / weights.sum()))]
    lo, hi = p.radius
    r = _log_uniform(rng, lo, hi) if regime_train else float(rng.uniform(lo, hi))
    part = Particle(label, 0.0, 0.0, r, angle=float(rng.uniform(0, np.pi)), density=float(rng.uniform(0.7, 1.3)),
                    z=float(rng.random()))
    ks = (2, 3) if regime_train else (4, 5)
    wobble = 0.06 if regime_train else 0.05
    part.harmonics = tuple((k, float(rng.uniform(0, wobble / (k - 1))), float(rng.uniform(0, 2 * np.pi))) for k in ks)
    if kind == "faceted":
        part.sides, part.rounding, part.flat = int(rng.integers(5, 9)), float(rng.uniform(0.1, 0.5)), True
    elif kind == "cube":
        part.sides, part.rounding, part.flat = 4, float(rng.uniform(0.05, 0.35)), True
        part.aspect = float(rng.uniform(1.0, 1.3))
    elif kind == "octahedron":
        part.sides, part.rounding, part.flat = int(rng.choice([4, 6])), float(rng.uniform(0.05, 0.3)), True
        part.aspect = 1.0 if part.sides == 6 else float(rng.uniform(1.0, 1.6))
    elif kind == "rod":
        part.aspect = float(rng.uniform(2.0, 5.0))
        part.sides, part.rounding = (4, float(rng.uniform(0.3, 0.9))) if rng.random() < 0.5 else (0, 1.0)
        part.r = r * float(np.sqrt(rng.uniform(1.0, 1.6)))
    elif kind == "irregular":
        n = int(rng.integers(1, 4))
        angles = rng.uniform(0, 2 * np.pi, n)
        part.lobes = tuple((float(0.7 * np.sin(a)), float(0.7 * np.cos(a)), float(rng.uniform(0.45, 0.8)))
                           for a in angles)
        part.harmonics += ((int(rng.integers(6, 9)), float(rng.uniform(0, 0.04)), float(rng.uniform(0, 6.3))),)
    return part


class _Canvas:
    """Particles placed so far, with an owner map for overlap checks."""

    def __init__(self, shape: tuple[int, int]):
        self.shape = shape
        self.owner = np.zeros(shape, np.int32)
        self.particles: list[Particle] = []

    def footprint(self, part: Particle, grow: float = 0.0):
        win = part.window(self.shape)
        if win is None:
            return None, None
        yy, xx = np.mgrid[win[0], win[1]].astype(np.float32)
        return win, part.distance(yy, xx) < 1 + grow / part.r

    def conflicts(self, part: Particle, grow: float) -> np.ndarray:
        """Labels of the particles within `grow` px of `part`, with how many pixels each."""
        win, mask = self.footprint(part, grow)
        if win is None:
            return np.zeros((0, 2), int)
        ids, counts = np.unique(self.owner[win][mask], return_counts=True)
        keep = ids > 0
        return np.stack([ids[keep], counts[keep]], 1)

    def add(self, part: Particle) -> None:
        win, mask = self.footprint(part)
        if win is not None:
            self.owner[win][mask & (self.owner[win] == 0)] = part.label
        self.particles.append(part)


def _slide_into_contact(canvas: _Canvas, part: Particle, anchor: Particle, rng, overlap: bool) -> bool:
    """Put `part` against `anchor` along a random direction: the closest distance at which it
    overlaps the anchor by at most a sliver (touching) or by a chosen share (overlapping)."""
    direction = rng.uniform(0, 2 * np.pi)
    area = np.pi * min(part.r, anchor.r) ** 2
    allowed = area * (rng.uniform(0.08, 0.3) if overlap else 0.015)
    lo, hi = 0.2, 1.6
    span = (part.reach() + anchor.reach()) * 0.75
    for _ in range(12):
        mid = (lo + hi) / 2
        part.y, part.x = anchor.y + mid * span * np.sin(direction), anchor.x + mid * span * np.cos(direction)
        hits = canvas.conflicts(part, 0.0)
        shared = hits[hits[:, 0] == anchor.label, 1].sum() if len(hits) else 0
        if shared > allowed:
            lo = mid
        else:
            hi = mid
    part.y, part.x = anchor.y + hi * span * np.sin(direction), anchor.x + hi * span * np.cos(direction)
    hits = canvas.conflicts(part, 1.5)
    touches_anchor = len(hits) and anchor.label in hits[:, 0]
    others = hits[hits[:, 0] != anchor.label] if len(hits) else hits
    return bool(touches_anchor) and len(others) == 0 and _inside(part, canvas.shape)


def _inside(part: Particle, shape: tuple[int, int]) -> bool:
    """Centre inside the field (particles may be cut by the border, as in real micrographs)."""
    return 0 <= part.y < shape[0] and 0 <= part.x < shape[1]


def place_particles(rng: np.random.Generator, p: Params, regime_train: bool = True) -> list[Particle]:
    """Particles up to the target coverage: each new one isolated or slid into contact."""
    canvas = _Canvas(p.shape)
    target = p.coverage * p.shape[0] * p.shape[1]
    covered, label, failures = 0.0, 1, 0
    while covered < target and failures < 60 and label < 2000:
        part = _draw_particle(rng, p, label, regime_train)
        placed = False
        if canvas.particles and rng.random() < p.touching:
            anchor = canvas.particles[-1] if rng.random() < p.chain else canvas.particles[rng.integers(len(canvas.particles))]
            placed = _slide_into_contact(canvas, part, anchor, rng, rng.random() < p.overlap)
        else:
            for _ in range(20):
                part.y, part.x = rng.uniform(0, p.shape[0]), rng.uniform(0, p.shape[1])
                if not len(canvas.conflicts(part, 3.0)):
                    placed = True
                    break
        if placed:
            canvas.add(part)
            covered += np.pi * part.r**2
            label += 1
            failures = 0
        else:
            failures += 1
    return canvas.particles


def render(
    particles: list[Particle], shape: tuple[int, int], keep_ids: bool = False
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(labels uint32, projected thickness float32, soft coverage float32 in [0, 1]).

    Labels: the upper particle (larger z) owns each pixel centre inside several outlines.
    Thickness adds where particles overlap (mass-thickness). Coverage is the share of
    each pixel inside any particle, from the distance to the outline (anti-aliasing), so
    that small particles are imaged as they would be, not as pixel staircases."""
    labels = np.zeros(shape, np.uint32)
    top = np.full(shape, -1.0, np.float32)
    thickness = np.zeros(shape, np.float32)
    cover = np.zeros(shape, np.float32)
    for part in particles:
        win = part.window(shape)
        if win is None:
            continue
        yy, xx = np.mgrid[win[0], win[1]].astype(np.float32)
        dist = part.distance(yy, xx)
        inside = dist < 1
        owns = inside & (part.z > top[win])
        labels[win][owns] = part.label
        top[win][owns] = part.z
        thickness[win] += part.thickness(dist)
        np.maximum(cover[win], np.clip((1 - dist) * part.r + 0.5, 0, 1), out=cover[win])
    if keep_ids:  # the particles' own labels (a video's track IDs), not 1..N
        return labels, thickness, cover
    ids = np.unique(labels)
    lut = np.zeros(int(ids.max()) + 1, np.uint32)
    lut[ids[ids > 0]] = np.arange(1, int((ids > 0).sum()) + 1, dtype=np.uint32)
    return lut[labels], thickness, cover


# -- image formation ------------------------------------------------------------------------------


def _field(rng: np.random.Generator, shape: tuple[int, int], sigma: float) -> np.ndarray:
    """Gaussian random field of unit standard deviation and correlation length `sigma`."""
    noise = ndi.gaussian_filter(rng.standard_normal(shape).astype(np.float32), sigma, mode="wrap")
    return noise / max(float(noise.std()), 1e-6)


def _ramp(rng: np.random.Generator, shape: tuple[int, int], span: float) -> np.ndarray:
    angle = rng.uniform(0, 2 * np.pi)
    yy, xx = np.mgrid[0 : shape[0], 0 : shape[1]].astype(np.float32)
    return 1 + span * ((np.cos(angle) * yy / shape[0] + np.sin(angle) * xx / shape[1]) - 0.5)


def _lattice(rng: np.random.Generator, particles: list[Particle], p: Params, shape) -> np.ndarray:
    """A cosine of one orientation and period per particle, where that particle lies (0 elsewhere)."""
    out = np.zeros(shape, np.float32)
    for part in particles:
        win = part.window(shape)
        if win is None or rng.random() < 0.3:  # not every particle is on a zone axis
            continue
        yy, xx = np.mgrid[win[0], win[1]].astype(np.float32)
        inside = part.distance(yy, xx) < 1
        a, period = rng.uniform(0, np.pi), p.fringe_period * rng.uniform(0.8, 1.25)
        wave = np.cos(2 * np.pi * (np.cos(a) * xx + np.sin(a) * yy) / period + rng.uniform(0, 2 * np.pi))
        out[win][inside] = wave[inside]
    return out


def _additive_bf(rng, particles, thickness, cover, p: Params) -> np.ndarray:
    support = (1 + p.carbon * _field(rng, p.shape, p.carbon_grain)) * (1 + p.blotch * _field(rng, p.shape, p.shape[0] / 8))
    lattice = 1 + p.fringes * _lattice(rng, particles, p, p.shape) * np.clip(thickness, 0, 1)
    intensity = np.exp(-p.contrast * thickness * lattice) * support * _ramp(rng, p.shape, p.gradient)
    halo = ndi.gaussian_filter(cover, p.fresnel_width) - ndi.gaussian_filter(cover, 2.5 * p.fresnel_width)
    intensity = intensity - p.fresnel * halo
    return ndi.gaussian_filter(np.clip(intensity, 0, None), p.psf)


def _additive_df(rng, particles, thickness, cover, p: Params) -> np.ndarray:
    lattice = 1 + p.fringes * _lattice(rng, particles, p, p.shape)
    support = 0.02 * (1 + p.carbon * 4 * _field(rng, p.shape, p.carbon_grain)) * (1 + p.blotch * _field(rng, p.shape, 40))
    signal = p.contrast * thickness**1.3 * lattice + np.clip(support, 0, None)
    signal = signal * _ramp(rng, p.shape, p.gradient / 2)
    return ndi.gaussian_filter(np.clip(signal, 0, None), p.psf)


def _ctf_bf(rng, particles, thickness, cover, p: Params) -> np.ndarray:
    """Coherent image of a phase-and-amplitude object through a contrast transfer function."""
    film = 0.6 + p.carbon * 3 * _field(rng, p.shape, 0.6) + p.blotch * _field(rng, p.shape, p.shape[0] / 6)
    potential = thickness * (1 + p.fringes * _lattice(rng, particles, p, p.shape)) + np.clip(film, 0, None) * 0.15
    wave = np.exp(-0.5 * p.contrast * potential) * np.exp(1j * 0.8 * potential)
    ky = np.fft.fftfreq(p.shape[0])[:, None]
    kx = np.fft.fftfreq(p.shape[1])[None, :]
    k2 = ky**2 + kx**2
    chi = np.pi * p.fresnel * k2 + 0.5 * np.pi * 10.0 * k2**2  # defocus and spherical aberration
    envelope = np.exp(-k2 / (2 * (0.35 / max(p.psf, 0.3)) ** 2))
    image = np.abs(np.fft.ifft2(np.fft.fft2(wave) * envelope * np.exp(-1j * chi))) ** 2
    return (image * _ramp(rng, p.shape, p.gradient)).astype(np.float32)


def _probe_df(rng, particles, thickness, cover, p: Params) -> np.ndarray:
    """HAADF: Z-contrast from thickness, a probe with Lorentzian tails, scan-line jitter."""
    signal = p.contrast * thickness**1.5 * (1 + p.fringes * _lattice(rng, particles, p, p.shape))
    signal += 0.04 * np.clip(1 + p.carbon * 5 * _field(rng, p.shape, p.carbon_grain), 0, None)
    core = ndi.gaussian_filter(signal, p.psf)
    tails = ndi.gaussian_filter(signal, 6 * p.psf + 3)
    image = 0.85 * core + 0.15 * tails
    shifts = rng.normal(0, 0.3, p.shape[0])  # fly-back jitter: each scan line lands slightly off
    image = np.stack([ndi.shift(row, s, mode="nearest", order=1) for row, s in zip(image, shifts, strict=False)])
    return (image * _ramp(rng, p.shape, p.gradient / 2)).astype(np.float32)


FORMATION = {("additive", "bf"): _additive_bf, ("additive", "df"): _additive_df,
             ("ctf", "bf"): _ctf_bf, ("ctf", "df"): _probe_df}


def detect(rng: np.random.Generator, intensity: np.ndarray, p: Params) -> np.ndarray:
    """Shot noise at the dose, read noise, then the detector's gain, offset and number format."""
    scale = p.dose / max(float(np.median(intensity)) if p.mode == "bf" else float(np.percentile(intensity, 99)), 1e-6)
    counts = rng.poisson(np.clip(intensity, 0, None) * scale).astype(np.float32)
    if p.read_noise:
        counts += rng.normal(0, p.read_noise, counts.shape).astype(np.float32)
    if p.dtype == "float32":
        return counts * np.float32(rng.uniform(0.01, 10))
    top = 255 if p.dtype == "uint8" else 65535
    high = float(np.percentile(counts, 99.9))
    gain = top * rng.uniform(0.4, 0.95) / max(high, 1e-6)
    offset = rng.uniform(0, 0.2) * top if p.dtype == "uint8" else rng.uniform(0, 2000)
    return np.clip(counts * gain + offset, 0, top).round().astype(p.dtype)


def simulate(params: Params, seed: int = 0) -> SynthImage:
    """Render one micrograph and its truth (uint32 labels, 0 = background)."""
    if params.mode not in ("bf", "df") or params.formation not in ("additive", "ctf"):
        raise TemsegError(f"unknown mode/formation {params.mode!r}/{params.formation!r}")
    rng = np.random.default_rng(seed)
    particles = place_particles(rng, params, params.formation == "additive")
    labels, thickness, cover = render(particles, params.shape)
    intensity = FORMATION[params.formation, params.mode](rng, particles, thickness, cover, params)
    return SynthImage(image=detect(rng, intensity, params), labels=labels)


def random_image(seed: int, regime: str = "train", **fixed) -> SynthImage:
    """`simulate(draw_params(...))` with one seed for both, e.g. `random_image(3, "heldout", mode="df")`."""
    rng = np.random.default_rng([seed, REGIMES.index(regime)])
    return simulate(draw_params(rng, regime, **fixed), seed=int(rng.integers(1 << 31)))
