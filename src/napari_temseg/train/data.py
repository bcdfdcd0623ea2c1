"""Training material shared by every trainer: labelled folders plus simulated images, split once."""

from __future__ import annotations

import sys

import numpy as np

from ..datasets import Sample, iter_dataset
from ..errors import TemsegError
from ..simulator import TRAIN_FRESNEL, check_fresnel_span, draw_params, simulate

#: Particle radii (px) of the simulated training images: the sizes a model meets once
#: `segmentation` has resampled an image into its `radius_range`, with room on both sides.
TRAINING_RADII = (4.0, 48.0)
#: The radius range (`rescale`) recorded in weights trained on these images: inside the
#: simulated radii with a margin, so that resampled images land where training was dense.
TRAINED_RADIUS_RANGE = (6.0, 40.0)
#: Largest simulated training image (px): larger fields add time, not variety.
TRAINING_SIDE = 640


def dark_particles(image: np.ndarray) -> np.ndarray:
    """`image` with its grey levels reversed (same dtype and range): dark-field images are
    given to models this way (`segmentation`), so they are trained this way."""
    lo, hi = image.min(), image.max()
    return (hi - image + lo).astype(image.dtype)


def synthetic_samples(count: int, seed: int, prefix: str = "sim", fresnel: float = TRAIN_FRESNEL) -> list[Sample]:
    """`count` micrographs from the simulator's training regime (`simulator`), particles dark;
    `fresnel`: the largest Fresnel fringe amplitude drawn."""
    out = []
    for i in range(count):
        rng = np.random.default_rng([seed, i])
        params = draw_params(rng, "train", radius_span=TRAINING_RADII, fresnel_span=fresnel)
        side = min(params.shape[0], TRAINING_SIDE)
        params.shape = (side, side)
        sample = simulate(params, seed=int(rng.integers(1 << 31)))
        image = sample.image if params.mode == "bf" else dark_particles(sample.image)
        out.append(Sample(f"{prefix}_{i:04d}", image, sample.labels))
    return out


def recorded_radius_range(value: tuple[float, float] | None) -> list[float]:
    """The radius range (px) a run records in its weights, which inference resamples
    particles into (`rescale`): TRAINED_RADIUS_RANGE unless given. Checked first: trainers
    call this before they write anything. A model whose input is smoothed (`--denoise`)
    cannot see particles the smoothing blurs away, so may be given a higher range."""
    if value is None:
        return list(TRAINED_RADIUS_RANGE)
    lo, hi = (float(v) for v in value)
    if not 0 < lo < hi:
        raise TemsegError(f"the radius range needs two increasing positive radii in px (LO HI), not {lo:g} {hi:g}")
    return [lo, hi]


def synth_settings(fresnel: float) -> dict:
    """What a run records about its simulated images beyond the defaults (refused on resume
    if it differs; kept in the weights file as provenance). Checks it first: trainers call
    this before they write anything."""
    check_fresnel_span(fresnel)
    return {} if fresnel == TRAIN_FRESNEL else {"synth_fresnel": fresnel}


def training_samples(
    data_dirs: list[str], synth_count: int = 0, val_fraction: float = 0.2, seed: int = 0, repeat: int = 1,
    fresnel: float = TRAIN_FRESNEL,
) -> tuple[list[Sample], list[Sample]]:
    """(train, val): each folder's images split by `val_fraction` (seeded), plus simulated
    images split the same way. The split is deterministic for a given seed. `repeat`: the
    folders' training images appear this many times (weight real data against many
    simulated images); validation images once. `fresnel`: the simulated images' largest
    Fresnel fringe amplitude."""
    rng = np.random.default_rng(seed)
    train, val = [], []
    groups = [(list(iter_dataset(d)), repeat) for d in data_dirs]
    if synth_count:
        groups.append((synthetic_samples(synth_count, seed + 1, fresnel=fresnel), 1))
    for samples, times in groups:
        order = rng.permutation(len(samples))
        n_val = max(1, int(round(val_fraction * len(samples)))) if len(samples) > 1 else 0
        val += [samples[i] for i in order[:n_val]]
        kept = [samples[i] for i in order[n_val:]]
        train += kept + [Sample(f"{s.name}_r{k}", s.image, s.labels) for k in range(1, times) for s in kept]
    return train, val


def drawn_samples(
    data_dirs: list[str], synth_count: int = 0, val_fraction: float = 0.2, seed: int = 0, repeat: int = 1,
    fresnel: float = TRAIN_FRESNEL,
) -> tuple[list[Sample], list[Sample]]:
    """`training_samples`, refusing a run without training images and saying once that there
    is nothing to validate on (the last epoch's weights are then kept: `run_state.keep_epoch`),
    so that the log's empty validation columns are not read as a score."""
    train, val = training_samples(data_dirs, synth_count, val_fraction, seed, repeat, fresnel)
    if not train:
        raise TemsegError("no training images: give --data folders and/or --synth N")
    if not val:
        print(f"warning: no validation images (a share of {val_fraction:g} of the labelled images rounds to none): "
              "the last epoch's weights are kept and the log's validation columns are empty", file=sys.stderr)
    return train, val
