"""The filters the decisions use give scipy's results: the Gaussians and the distance
transform to within float rounding, also where the kernel is wider than the image, the
3 x 3 maximum and the connected pieces exactly; and OpenCV, which computes them, is
imported without redirecting Qt."""

import os
import subprocess
import sys

import numpy as np
import pytest
from scipy import ndimage as ndi

from napari_temseg.filters import (
    distance_inside,
    gaussian,
    gaussian_laplace,
    gaussian_weights,
    label_pieces,
    maximum_3x3,
)


def _assert_close_to(result: np.ndarray, expected: np.ndarray) -> None:
    assert result.dtype == expected.dtype and result.shape == expected.shape
    eps = np.finfo(expected.dtype).eps
    np.testing.assert_allclose(result, expected, rtol=0, atol=32 * eps * max(1.0, float(np.abs(expected).max())))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("sigma", [0.5, 2.0**-0.5, 1.0, 2.0, 3.7, 11.3, 30.0])
@pytest.mark.parametrize("truncate", [4.0, 3.0, 2.5])
def test_gaussian_is_scipys(dtype, sigma, truncate):
    image = np.random.default_rng(0).random((37, 64)).astype(dtype)
    expected = ndi.gaussian_filter(image, sigma, mode="nearest", truncate=truncate)
    _assert_close_to(gaussian(image, sigma, truncate=truncate), expected)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("sigma", [2.0**-0.5, 1.0, 1.5, 2.0**1.5, 6.0])
def test_gaussian_laplace_is_scipys(dtype, sigma):
    image = np.random.default_rng(1).random((48, 29)).astype(dtype)
    expected = ndi.gaussian_laplace(image, sigma, mode="nearest")
    _assert_close_to(gaussian_laplace(image, sigma), expected)


def test_views_and_integer_images_are_filtered_as_float32():
    image = (np.random.default_rng(2).random((40, 50)) * 200).astype(np.uint8)
    view = image[::-2, 3:]  # neither contiguous nor float
    before = view.copy()
    expected = ndi.gaussian_filter(view.astype(np.float32), 1.5, mode="nearest")
    _assert_close_to(gaussian(view, 1.5), expected)
    assert np.array_equal(view, before)  # the caller's array is left alone


@pytest.mark.parametrize("shape", [(10,), (10, 10, 3)])
def test_only_2d_images_are_filtered(shape):
    with pytest.raises(ValueError, match="2-D"):
        gaussian(np.zeros(shape, np.float32), 1.0)
    with pytest.raises(ValueError, match="2-D"):
        maximum_3x3(np.zeros(shape, np.float32))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(1, 5), (2, 2), (37, 64)])
def test_maximum_3x3_is_scipys_exactly(dtype, shape):
    image = np.minimum(np.random.default_rng(3).random(shape), 0.7).astype(dtype)  # plateaus: ties
    assert np.array_equal(maximum_3x3(image), ndi.maximum_filter(image, 3))


def _blobs(shape: tuple[int, int], seed: int) -> np.ndarray:
    return ndi.gaussian_filter(np.random.default_rng(seed).random(shape), 3) > 0.5


@pytest.mark.parametrize("shape", [(1, 7), (3, 3), (64, 41)])
@pytest.mark.parametrize("seed", [0, 1])
def test_label_pieces_is_scipys_exactly(shape, seed):
    mask = _blobs(shape, seed)
    labels, n = label_pieces(mask)
    expected, m = ndi.label(mask)
    assert n == m and np.array_equal(labels, expected)  # the same pieces, numbered in the same order


def test_pieces_and_distances_of_a_mask_of_numbers_count_every_nonzero_value():
    mask = np.array([[0.5, 0, 0.5], [0, 0, 0], [256, 0, -1]])  # a cast to uint8 read 0.5 and 256 as 0
    assert label_pieces(mask)[1] == ndi.label(mask)[1] == 4
    np.testing.assert_allclose(distance_inside(mask), ndi.distance_transform_edt(mask))


@pytest.mark.parametrize("shape", [(1, 7), (5, 5), (64, 41)])
@pytest.mark.parametrize("seed", [0, 1])
def test_distance_inside_is_scipys(shape, seed):
    mask = _blobs(shape, seed)
    mask[0, 0], mask[-1, -1] = True, False  # a piece touching the border: the border is no edge
    distance = distance_inside(mask)
    assert distance.dtype == np.float32
    np.testing.assert_allclose(distance, ndi.distance_transform_edt(mask), rtol=1e-6, atol=1e-6)


def test_distance_inside_a_mask_without_edge_is_infinite():
    assert np.isinf(distance_inside(np.ones((4, 6), bool))).all()
    assert not distance_inside(np.zeros((4, 6), bool)).any()


def test_cached_weights_cannot_be_changed_by_a_caller():
    weights = gaussian_weights(1.0)
    with pytest.raises(ValueError):
        weights[0] = 1.0
    assert weights.sum() == pytest.approx(1.0)


@pytest.mark.parametrize("before", [(None, None), ("/somewhere/qt/plugins", "/somewhere/fonts")])
def test_opencv_import_leaves_the_qt_environment_alone(before):
    """opencv-python's wheels point Qt at their own plugins and fonts on import; napari's Qt,
    started later in the same process, must not be sent there."""
    names = ("QT_QPA_PLATFORM_PLUGIN_PATH", "QT_QPA_FONTDIR")
    env = {k: v for k, v in os.environ.items() if k not in names}
    env.update({name: value for name, value in zip(names, before, strict=True) if value is not None})
    code = ("import os, sys; from napari_temseg.opencv import opencv; opencv(); assert 'cv2' in sys.modules; "
            "print(os.environ.get('QT_QPA_PLATFORM_PLUGIN_PATH'), os.environ.get('QT_QPA_FONTDIR'))")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout
    assert out.split() == [str(value) for value in before]
