"""The domain-randomised simulator: deterministic, its truth consistent with its image, both regimes."""

from dataclasses import replace

import numpy as np
import pytest
from scipy import ndimage as ndi

from napari_temseg import TemsegError
from napari_temseg.simulator import Params, Particle, draw_params, random_image, render, simulate
from napari_temseg.train.data import dark_particles, synthetic_samples


def test_same_seed_same_image_and_regimes_differ():
    a, b = random_image(5, "train"), random_image(5, "train")
    assert np.array_equal(a.image, b.image) and np.array_equal(a.labels, b.labels)
    held = draw_params(np.random.default_rng(0), "heldout")
    assert held.formation == "ctf" and draw_params(np.random.default_rng(0), "train").formation == "additive"
    with pytest.raises(TemsegError, match="regime must be one of train, heldout"):
        draw_params(np.random.default_rng(0), "test")


@pytest.mark.parametrize("regime", ["train", "heldout"])
@pytest.mark.parametrize("mode", ["bf", "df"])
def test_particles_show_in_the_image_with_the_right_polarity(regime, mode):
    params = draw_params(np.random.default_rng(1), regime, mode=mode, radius_span=(10.0, 20.0), shape=(256, 256),
                         dose=200.0, dtype="float32")
    sample = simulate(params, seed=1)
    assert sample.labels.dtype == np.uint32 and sample.labels.max() >= 5
    image = sample.image.astype(np.float64)
    inside, outside = image[sample.labels > 0].mean(), image[sample.labels == 0].mean()
    assert (inside < outside) if mode == "bf" else (inside > outside)


def test_touching_particles_touch_and_ids_are_consecutive():
    params = Params(shape=(256, 256), radius=(10.0, 14.0), coverage=0.3, touching=1.0, chain=0.5, overlap=0.0,
                    dose=100.0)
    sample = simulate(params, seed=2)
    ids = np.unique(sample.labels)
    assert list(ids) == list(range(int(ids.max()) + 1))
    foreground, _ = ndi.label(sample.labels > 0)
    assert foreground.max() < sample.labels.max()  # some particles share a connected piece: they touch


def test_overlap_in_projection_gives_the_upper_particle_the_pixels():
    lower = Particle(1, 50, 40, 15, z=0.1)
    upper = Particle(2, 50, 60, 15, z=0.9)
    labels, thickness, _ = render([lower, upper], (100, 100))
    assert labels[50, 50] == 2 and labels[50, 30] == 1
    assert thickness[50, 50] > thickness[50, 30]  # mass-thickness adds where they overlap


@pytest.mark.parametrize("dtype", ["uint8", "uint16", "float32"])
def test_detector_formats(dtype):
    sample = simulate(Params(shape=(128, 128), radius=(8.0, 12.0), dtype=dtype), seed=0)
    assert sample.image.dtype == np.dtype(dtype)


def test_a_wider_fresnel_span_changes_only_the_fringe():
    """`--synth-fresnel`: stronger fringes of either sign, every other draw the same, so a
    run with it differs from the recorded recipe by the fringe alone."""
    spans = {span: [draw_params(np.random.default_rng(k), "train", fresnel_span=span) for k in range(40)]
             for span in (0.15, 0.5)}
    for narrow, wide in zip(spans[0.15], spans[0.5], strict=True):
        assert abs(wide.fresnel) <= 0.5 and wide.fresnel == pytest.approx(narrow.fresnel * 0.5 / 0.15)
        assert replace(wide, fresnel=narrow.fresnel) == narrow
    assert max(abs(p.fresnel) for p in spans[0.5]) > 0.3
    with pytest.raises(TemsegError, match="Fresnel fringe span must lie in 0-1"):
        draw_params(np.random.default_rng(0), "train", fresnel_span=-0.1)


def test_training_images_have_dark_particles():
    samples = synthetic_samples(4, seed=3)
    for s in samples:
        image = s.image.astype(np.float64)
        assert image[s.labels > 0].mean() < image[s.labels == 0].mean()
    flipped = dark_particles(np.array([[0, 10], [200, 255]], np.uint8))
    assert flipped.dtype == np.uint8 and flipped.tolist() == [[255, 245], [55, 0]]
