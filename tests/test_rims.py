import numpy as np

from napari_temseg.metrics import foreground_iou, instance_scores
from napari_temseg.rims import grow_rims
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
    midpoint = segment_image(1 - image, "classical", polarity="bright", diameter="none", edge_level=0.5).labels
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


def test_bright_field_images_are_left_alone():
    sample = random_image(12, "train", mode="bf", radius_span=(12.0, 20.0), dose=100.0)
    assert np.array_equal(segment_image(sample.image, "classical").labels,
                          segment_image(sample.image, "classical", edge_level=0.5).labels)
