from types import SimpleNamespace

import numpy as np
import pytest

from napari_temseg.metrics import foreground_iou, instance_scores
from napari_temseg.rims import absorption_look, absorption_strength, grow_rims
from napari_temseg.segmentation import segment_image
from napari_temseg.simulator import random_image


def _tapered_discs() -> tuple[np.ndarray, np.ndarray]:
    """Two touching spheres and a lone one whose brightness is their projected thickness
    (dark field, inverted: particles dark), and their true extent."""
    yy, xx = np.mgrid[:160, :160]
    image, truth = np.ones((160, 160), np.float32), np.zeros((160, 160), np.uint32)
    for label, (y, x, r) in enumerate([(50, 50, 22), (50, 93, 22), (115, 110, 26)], 1):
        d2 = (yy - y) ** 2 + (xx - x) ** 2
        image -= 0.6 * np.sqrt(np.clip(1 - d2 / r**2, 0, None)).astype(np.float32)
        truth[(d2 < r**2) & (truth == 0)] = label
    return np.clip(image, 0, 1), truth


def test_rims_grow_to_the_particles_extent_and_keep_the_split():
    image, truth = _tapered_discs()
    midpoint = segment_image(1 - image, "classical", polarity="bright", diameter="none", edge_level=0.5,
                             df_absorption=0).labels  # the threshold's own edges, on the image as it is
    grown = grow_rims(midpoint, image, 0.2)
    assert grown.max() == midpoint.max() == 3
    assert foreground_iou(grown, truth) > foreground_iou(midpoint, truth) + 0.1
    assert np.array_equal(grow_rims(midpoint, image, 0.5), midpoint)  # the midpoint: left as it is


def test_dark_field_images_get_their_rims_whatever_the_split():
    """On the simulator's dark-field images (training regime: brightness ~ thickness^1.3) the
    automatic edge is closer to the truth than the midpoint, with as many particles found."""
    sample = random_image(11, "train", mode="df", radius_span=(12.0, 20.0), dose=100.0, touching=0.3)
    auto = segment_image(sample.image, "classical")
    midpoint = segment_image(sample.image, "classical", edge_level=0.5)
    assert auto.polarity == "bright" and auto.edge_level == 0.2 and "outer rim" in auto.describe()
    assert auto.labels.max() == midpoint.labels.max()
    assert foreground_iou(auto.labels, sample.labels) > foreground_iou(midpoint.labels, sample.labels) + 0.05
    assert instance_scores(auto.labels, sample.labels).f1 >= instance_scores(midpoint.labels, sample.labels).f1


def test_rims_reach_no_further_than_a_rim_can_lie():
    """On an image of noise (particles dark, after inversion) a speck the model took for a
    particle grew over most of the field; now within RIM_REACH x its radius + RIM_BLUR px."""
    from napari_temseg.rims import RIM_BLUR, RIM_REACH

    rng = np.random.default_rng(3)
    image = np.clip(0.5 + 0.05 * rng.normal(size=(256, 256)), 0, 1).astype(np.float32)
    labels = np.zeros(image.shape, np.uint32)
    labels[126:130, 126:130] = 1
    grown = grow_rims(labels, image, 0.2)
    reach = RIM_REACH * np.sqrt(16 / np.pi) + RIM_BLUR
    ys, xs = np.nonzero(grown)
    assert np.hypot(ys - 127.5, xs - 127.5).max() <= reach + 3
    assert (grown > 0).sum() > 16  # it still grows, over what the threshold takes


def test_bright_field_images_are_left_alone():
    sample = random_image(12, "train", mode="bf", radius_span=(12.0, 20.0), dose=100.0)
    assert np.array_equal(segment_image(sample.image, "classical").labels,
                          segment_image(sample.image, "classical", edge_level=0.5).labels)


def _thick_and_thin(seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """An inverted dark-field image (particles dark) with a thick particle 0.7 below the
    support and a thin one 0.1 below it, in noise; and the two particles' masks."""
    yy, xx = np.mgrid[:128, :128]
    thick = (yy - 40) ** 2 + (xx - 40) ** 2 < 15**2
    thin = (yy - 85) ** 2 + (xx - 85) ** 2 < 15**2
    image = 0.9 - 0.7 * thick - 0.1 * thin + np.random.default_rng(seed).normal(0, 0.01, thick.shape)
    return np.clip(image, 0, 1).astype(np.float32), thick, thin


def test_absorption_look_makes_thin_particles_nearly_as_dark_as_thick_ones():
    image, thick, thin = _thick_and_thin()
    looked = absorption_look(image, 2.0)
    support = ~(thick | thin)
    depth = lambda img, mask: float(np.median(img[support]) - np.median(img[mask]))  # noqa: E731
    assert abs(float(np.median(looked[support])) - float(np.median(image[support]))) < 0.005  # the support stays
    assert abs(depth(looked, thick) - depth(image, thick)) < 0.02  # so do the thickest particles
    # 1 - exp(-2 s) / (1 - exp(-2)) at s = 0.1 / 0.7: 0.28 of the thick particle's depth instead of 0.14
    assert depth(looked, thin) / depth(looked, thick) == pytest.approx(0.28, abs=0.03)
    assert depth(image, thin) / depth(image, thick) == pytest.approx(0.14, abs=0.02)
    assert looked.dtype == np.float32 and looked.min() >= 0 and looked.max() <= 1
    assert absorption_look(image, 0.0) is image
    assert absorption_look(np.full((32, 32), 0.5, np.float32), 2.0).max() == 0.5  # a flat image as it is


def test_absorption_strength_only_for_bright_particles():
    bright_field_only, other = SimpleNamespace(df_absorption=2.0), object()
    assert absorption_strength("auto", "bright", bright_field_only) == 2.0
    assert absorption_strength("auto", "bright", other) == 0.0  # models without their own look
    assert absorption_strength("auto", "dark", bright_field_only) == 0.0  # bright-field images are never touched
    assert absorption_strength(1.5, "bright", other) == 1.5
    assert absorption_strength(3, "dark", other) == 0.0
