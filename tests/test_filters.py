"""The cached-kernel Gaussian filters give scipy's results to the bit: the decisions that use
them must not move when they are swapped in."""

import numpy as np
import pytest
from scipy import ndimage as ndi

from napari_temseg.filters import gaussian, gaussian_laplace, gaussian_weights


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("sigma", [0.5, 2.0**-0.5, 1.0, 2.0, 3.7, 11.3])
@pytest.mark.parametrize("truncate", [4.0, 3.0, 2.5])
def test_gaussian_is_scipys_to_the_bit(dtype, sigma, truncate):
    image = np.random.default_rng(0).random((37, 64)).astype(dtype)
    expected = ndi.gaussian_filter(image, sigma, mode="nearest", truncate=truncate)
    result = gaussian(image, sigma, truncate=truncate)
    assert result.dtype == expected.dtype
    assert np.array_equal(result, expected)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("sigma", [2.0**-0.5, 1.0, 1.5, 2.0**1.5, 6.0])
def test_gaussian_laplace_is_scipys_to_the_bit(dtype, sigma):
    image = np.random.default_rng(1).random((48, 29)).astype(dtype)
    expected = ndi.gaussian_laplace(image, sigma, mode="nearest")
    result = gaussian_laplace(image, sigma)
    assert result.dtype == expected.dtype
    assert np.array_equal(result, expected)


def test_cached_weights_cannot_be_changed_by_a_caller():
    weights = gaussian_weights(1.0)
    with pytest.raises(ValueError):
        weights[0] = 1.0
    assert weights.sum() == pytest.approx(1.0)
