"""Small particles a model missed: faint spots of the particles' size are found and drawn,
the support's noise alone gives (almost) none, and what the model drew is kept."""

import numpy as np
from conftest import faint_discs
from scipy import ndimage as ndi

from napari_temseg.metrics import instance_scores
from napari_temseg.segmentation import segment_image
from napari_temseg.small_detection import decoy_threshold, find_missed_particles

CENTRES = [(24, 24), (24, 72), (24, 120), (72, 24), (72, 72), (72, 120), (120, 24), (120, 72), (120, 120)]


def faint_field(seed=0):
    """Nine small particles, each ~6 noise levels deep in its core: a model drew only the first."""
    image, truth = faint_discs(CENTRES, radius=4.0, shape=(144, 144), contrast=0.25, noise=0.04, seed=seed)
    drawn = np.where(truth == 1, 1, 0).astype(np.uint32)
    return image, truth, drawn


def test_faint_particles_the_model_missed_are_found_and_drawn():
    image, truth, drawn = faint_field()
    found, added = find_missed_particles(drawn, image, radius=4.0)
    scores = instance_scores(found, truth)
    assert scores.recall == 1.0 and added <= 9  # every particle; one noise spot at most
    assert scores.mean_matched_iou > 0.6


def test_what_the_model_drew_is_kept_with_its_ids():
    image, truth, drawn = faint_field()
    drawn = drawn * 7
    found, _ = find_missed_particles(drawn, image, radius=4.0)
    np.testing.assert_array_equal(found[drawn > 0], 7)
    assert found.dtype == np.uint32 and set(np.unique(found)) == {0, 7, *range(8, int(found.max()) + 1)}


def test_the_supports_noise_alone_gives_almost_nothing():
    for seed in range(3):
        rng = np.random.default_rng(seed)
        noise = (0.8 + rng.normal(0, 0.04, (256, 256))).astype(np.float32)
        _, added = find_missed_particles(np.zeros((256, 256), np.uint32), noise, radius=4.0)
        assert added <= 1


def test_an_unknown_size_finds_nothing():
    image, _, drawn = faint_field()
    found, added = find_missed_particles(drawn, image, radius=float("nan"))
    assert added == 0
    np.testing.assert_array_equal(found, drawn)


def test_the_threshold_is_where_decoys_are_a_tenth_of_the_candidates():
    candidates = np.array([9.0, 8.0, 7.0, 6.0, 5.0, 4.0, 3.0, 2.5, 2.2, 2.1])
    assert decoy_threshold(candidates, decoys=np.array([2.9, 2.1])) == 3.0
    assert decoy_threshold(candidates, decoys=np.array([])) == 2.0
    assert decoy_threshold(candidates[:0], decoys=np.array([])) == float("inf")


class DrawsOne:
    """A user's own model that finds only the particle at the top left."""

    name = "a user's own model"

    def predict(self, image, **options):
        corner = np.zeros(image.shape, bool)
        corner[: image.shape[0] // 4, : image.shape[1] // 4] = True
        smooth = ndi.gaussian_filter(image, 4)
        return (corner & (smooth < (np.median(smooth) + smooth.min()) / 2)).astype(np.uint32)


def test_segment_image_adds_them_and_says_so_unless_small_particles_are_as_drawn():
    image, truth, _ = faint_field()
    result = segment_image(image, DrawsOne(), diameter=8, polarity="dark")
    assert result.found >= 8 and f"{result.found} found beyond the model's" in result.describe()
    assert instance_scores(result.labels, truth).recall == 1.0
    as_drawn = segment_image(image, DrawsOne(), diameter=8, polarity="dark", local_edges=False)
    assert as_drawn.found == 0 and as_drawn.count == 1


class DrawsTheDarkOnes:
    """A user's own model that draws only particles at least half as dark as the darkest."""

    name = "a user's own model"

    def predict(self, image, **options):
        smooth = ndi.gaussian_filter(image, 2)
        support = np.median(smooth)
        return ndi.label(smooth < support - 0.5 * (support - smooth.min()))[0].astype(np.uint32)


def test_a_frame_of_a_time_stack_gets_the_faint_particles_the_model_missed():
    """A time stack's frames (`local_edges` "faint") add what the matched filter finds, at the
    size the frame's own particles show: a faint particle missed in some frames and drawn in
    others breaks its track."""
    centres = [(40, 40), (40, 120), (40, 200), (120, 40), (120, 200), (200, 40), (200, 120), (200, 200)]
    image, truth = faint_discs(centres, radius=10.0, shape=(240, 240), contrast=0.4, noise=0.02)
    faint, faint_truth = faint_discs([(120, 120)], radius=10.0, shape=(240, 240), contrast=0.08, noise=0.0)
    image = image + faint - 0.8
    truth[faint_truth > 0] = 9
    result = segment_image(image, DrawsTheDarkOnes(), diameter=20, polarity="dark", local_edges="faint")
    assert result.found == 1 and "1 found beyond the model's" in result.describe()
    assert instance_scores(result.labels, truth).recall == 1.0
    as_drawn = segment_image(image, DrawsTheDarkOnes(), diameter=20, polarity="dark", local_edges=False)
    assert as_drawn.found == 0 and as_drawn.count == 8
