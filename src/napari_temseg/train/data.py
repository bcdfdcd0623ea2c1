"""Training material shared by every trainer: labelled folders plus synthetic images, split once."""

from __future__ import annotations

import numpy as np

from ..datasets import Sample, iter_dataset
from ..synth import synth_image


def synthetic_samples(count: int, seed: int, prefix: str = "synth") -> list[Sample]:
    """`count` 512x512 synthetic micrographs at varied dose and crowding."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(count):
        s = synth_image(
            n_particles=int(rng.integers(12, 40)),
            touching=float(rng.uniform(0.2, 0.5)),
            dose=float(rng.uniform(8, 80)),
            seed=int(rng.integers(1 << 31)),
        )
        out.append(Sample(f"{prefix}_{i:04d}", s.image, s.labels))
    return out


def training_samples(
    data_dirs: list[str], synth_count: int = 0, val_fraction: float = 0.2, seed: int = 0
) -> tuple[list[Sample], list[Sample]]:
    """(train, val): each folder's images split by `val_fraction` (seeded), plus synthetic
    images split the same way. The split is deterministic for a given seed."""
    rng = np.random.default_rng(seed)
    train, val = [], []
    groups = [list(iter_dataset(d)) for d in data_dirs]
    if synth_count:
        groups.append(synthetic_samples(synth_count, seed + 1))
    for samples in groups:
        order = rng.permutation(len(samples))
        n_val = max(1, int(round(val_fraction * len(samples)))) if len(samples) > 1 else 0
        val += [samples[i] for i in order[:n_val]]
        train += [samples[i] for i in order[n_val:]]
    return train, val
