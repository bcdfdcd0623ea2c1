"""Objects the shot noise alone could have drawn: dropped; faint particles: kept."""

import numpy as np
import pytest
from conftest import faint_discs

from napari_temseg.errors import TemsegError
from napari_temseg.metrics import instance_scores
from napari_temseg.segmentation import segment_image
from napari_temseg.significance import (
    MIN_SIGNIFICANCE,
    drop_noise_objects,
    object_significance,
    pixel_noise,
    required_significance,
)


def test_pixel_noise_reads_white_noise_through_edges_and_gradients():
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:256, :256]
    scene = 0.3 * (xx / 256) + 0.4 * (np.hypot(yy - 128, xx - 128) < 40)
    assert pixel_noise(scene + 0.05 * rng.normal(size=scene.shape)) == pytest.approx(0.05, rel=0.1)


def test_pixel_noise_is_not_overstated_by_rounding_or_column_offsets():
    """From a review: the median of neighbour differences read 8-bit noise of 0.6 grey levels
    as 1.05 and a two-port camera's +-0.8 column offsets on noise of 1 as 1.73, and the rule
    then dropped up to 23 of 81 faint particles."""
    rng = np.random.default_rng(4)
    assert pixel_noise(np.round(100 + 0.6 * rng.normal(size=(256, 256)))) < 0.75  # 0.67 with rounding's own
    offsets = np.where(np.arange(256) % 2, 0.8, -0.8)[None, :]
    assert pixel_noise(rng.normal(size=(256, 256)) + offsets) == pytest.approx(1.0, rel=0.1)


def test_a_disc_stands_out_by_its_contrast_over_the_standard_error():
    rng = np.random.default_rng(1)
    yy, xx = np.mgrid[:128, :128]
    disc = np.hypot(yy - 64, xx - 64) < 6
    image = 0.6 - 0.05 * disc + 0.05 * rng.normal(size=disc.shape)
    n = disc.sum()
    ring = (np.hypot(yy - 64, xx - 64) >= 8) & (np.hypot(yy - 64, xx - 64) <= 12)
    expected = 0.05 / (0.05 * np.sqrt(1 / n + 1 / ring.sum()))  # ~9.5
    z = object_significance(disc.astype(np.uint32), image)
    assert z[1] == pytest.approx(expected, rel=0.25)


def test_the_darkest_specks_of_noise_alone_are_dropped():
    """What a model draws on a field of noise (here: the darkest specks of the smoothed
    noise, as a threshold takes them) does not stand out from the pixels around it."""
    from scipy import ndimage as ndi

    rng = np.random.default_rng(2)
    image = 0.5 + 0.05 * rng.normal(size=(256, 256))
    smooth = ndi.gaussian_filter(image, 2)
    specks, n = ndi.label(smooth < np.percentile(smooth, 1))
    assert n > 10
    kept = drop_noise_objects(specks.astype(np.uint32), image)
    assert kept.max() <= 0.1 * n


def test_faint_particles_are_kept_with_their_pixels_and_renumbered():
    image, truth = faint_discs([(24, 24), (24, 72), (72, 24), (72, 72)], radius=4.0, shape=(96, 96),
                               contrast=0.25, noise=0.04, seed=0)  # ~6 noise levels deep in the core
    labels = truth.astype(np.uint32)
    speck = np.zeros_like(labels)
    speck[46:49, 46:49] = 9  # a 3x3 patch of plain support
    kept = drop_noise_objects(labels + speck, image)
    assert instance_scores(kept, truth).f1 == 1.0
    assert kept.max() == 4 and not kept[46:49, 46:49].any()


def test_nothing_is_dropped_where_noise_cannot_be_measured_or_when_asked_not_to():
    labels = np.zeros((64, 64), np.uint32)
    labels[10:14, 10:14] = 1
    flat = np.full((64, 64), 0.5)  # noise-free: a drawing
    assert np.isinf(object_significance(labels, flat)[1])
    assert drop_noise_objects(labels, flat) is labels
    noisy = 0.5 + 0.05 * np.random.default_rng(3).normal(size=(64, 64))
    assert drop_noise_objects(labels, noisy, 0) is labels


def test_segmenting_noise_alone_finds_next_to_nothing():
    """A frame of shot noise (beam blanked, a field before the particles drift in) gave the
    classical model 7-179 particles; now a few at most, and `min_significance=0` brings them back."""
    rng = np.random.default_rng(0)
    frame = rng.poisson(40, (256, 256)).astype(np.uint16)
    assert segment_image(frame, "classical").count <= 3
    assert segment_image(frame, "classical", min_significance=0).count > segment_image(frame, "classical").count


def test_min_significance_is_checked():
    with pytest.raises(TemsegError, match="min_significance"):
        segment_image(np.zeros((32, 32)), "classical", min_significance=-1)
    assert MIN_SIGNIFICANCE > 0


def test_a_speck_needs_more_than_a_particle():
    """The deepest of many small noise patches reaches further than the deepest of few large ones."""
    labels = np.zeros((512, 512), np.uint32)
    labels[10:13, 10:13] = 1  # 9 px
    labels[100:160, 100:160] = 2  # 3600 px
    need = required_significance(labels)
    assert need[1] == pytest.approx(np.sqrt(2 * np.log(512 * 512 / 9)), rel=1e-6) and need[1] > 4.5
    assert need[2] == MIN_SIGNIFICANCE


def test_a_video_of_noise_alone_has_next_to_no_tracks():
    """20 frames of shot noise gave 239 tracks (14.5 specks a frame); now 1 (`min_significance=0`: as before)."""
    from napari_temseg import track

    frames = np.random.default_rng(0).poisson(40, (6, 256, 256)).astype(np.uint16)
    tracked = track(frames).labels
    assert max(len(np.unique(frame)) - 1 for frame in tracked) <= 1
    assert len(np.unique(track(frames, min_significance=0).labels)) > 6
