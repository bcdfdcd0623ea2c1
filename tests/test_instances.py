"""The watershed split's markers: h-maxima of each foreground piece on its own, one marker
per 8-connected plateau."""

import numpy as np
from scipy import ndimage as ndi
from skimage.draw import disk
from skimage.morphology import h_maxima

from napari_temseg.instances import EIGHT_CONNECTED, centre_to_instances, mask_to_instances, split_markers


def pieces_and_relief(seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A foreground of scattered, partly overlapping discs (some pieces in one another's
    boxes) and the log-distance relief plus a bumpy, non-negative image term (as the
    darkness is) that also covers the background."""
    rng = np.random.default_rng(seed)
    foreground = np.zeros((160, 160), bool)
    for _ in range(14):
        foreground[disk(tuple(rng.uniform(5, 155, 2)), rng.uniform(3, 14), shape=foreground.shape)] = True
    bumps = np.abs(ndi.gaussian_filter(rng.normal(size=foreground.shape), 3)) * 40
    relief = (np.log1p(ndi.distance_transform_edt(foreground)) + bumps).astype(np.float32)
    return foreground, relief


def test_markers_are_the_h_maxima_of_every_piece_on_a_floor_of_zero():
    for seed in range(4):
        foreground, relief = pieces_and_relief(seed)
        markers = split_markers(relief, 0.3, foreground)
        coarse_fg, coarse = foreground[::2, ::2], relief[::2, ::2]
        expected = h_maxima(np.where(coarse_fg, coarse, 0), 0.3).astype(bool) & coarse_fg
        assert np.array_equal(markers[::2, ::2] > 0, expected)
        assert not markers[~foreground].any()
        assert markers.max() == ndi.label(expected, structure=EIGHT_CONNECTED)[1]


def diagonal_bar(width: float = 17, size: int = 160) -> np.ndarray:
    """A bar `width` px wide lying at 45 degrees across a square field."""
    yy, xx = np.mgrid[:size, :size]
    return (np.abs(yy - xx) <= width / np.sqrt(2)) & (yy + xx > 40) & (yy + xx < 2 * size - 40)


def test_a_particle_lying_at_45_degrees_is_one_particle():
    """Its ridge of equal distances runs corner to corner: labelled 4-connected, every
    ridge pixel was a marker of its own (this bar came out in 51 pieces)."""
    bar = diagonal_bar()
    assert mask_to_instances(bar).max() == 1


def test_a_centre_map_ridge_at_45_degrees_seeds_one_particle():
    """The same for a network's centre map (76 pieces when labelled 4-connected)."""
    bar = diagonal_bar()
    centre = ndi.distance_transform_edt(bar)
    labels = centre_to_instances(bar.astype(np.float32), centre / centre.max())
    assert labels.max() == 1


def test_every_particle_is_one_piece_the_largest():
    from napari_temseg.instances import one_piece_per_particle

    labels = np.zeros((16, 16), np.uint32)
    labels[2:6, 2:6] = 1
    labels[9:11, 9:11] = 1  # a stray piece of 1, apart from it
    labels[2:6, 6:9] = 2
    labels[6, 9] = 2  # diagonal to 2's corner: the same piece
    labels[12:15, 12:15] = 3
    kept = one_piece_per_particle(labels)
    assert not (kept[9:11, 9:11]).any() and (kept[2:6, 2:6] == 1).all()
    assert kept[6, 9] == 2 and (kept == 3).sum() == 9
    assert one_piece_per_particle(kept) is kept  # nothing to do: the same array back
