import numpy as np
import pytest

from napari_temseg import TemsegError, segment
from napari_temseg.preprocess import anchor_two_classes, as_2d_gray, normalize


def test_rgba_with_equal_channels_is_its_gray_channel():
    gray = np.random.default_rng(0).integers(0, 255, (32, 32), dtype=np.uint8)
    rgba = np.dstack([gray, gray, gray, np.full_like(gray, 255)])
    assert np.array_equal(as_2d_gray(rgba), gray)


def test_a_grey_and_alpha_png_is_its_grey_channel(tmp_path):
    """A PNG saved as grey + alpha (GIMP's export) was refused as a time stack."""
    from PIL import Image

    from napari_temseg.io import read_image

    gray = np.random.default_rng(0).integers(0, 255, (32, 32), dtype=np.uint8)
    Image.fromarray(gray).convert("LA").save(tmp_path / "la.png")
    assert np.array_equal(as_2d_gray(read_image(tmp_path / "la.png")), gray)
    clear_corners = np.dstack([gray, np.full_like(gray, 255)])
    clear_corners[:4, :4, 1] = 0  # a rotated export's transparent corners
    assert np.array_equal(as_2d_gray(clear_corners), gray)
    with pytest.raises(TemsegError, match="two channels of data"):  # two detectors: not grey and alpha
        as_2d_gray(np.dstack([gray, gray[::-1]]))


def test_rgb_with_colour_is_averaged():
    rgb = np.zeros((8, 8, 3), np.uint8)
    rgb[..., 0] = 30
    rgb[..., 2] = 60
    assert np.allclose(as_2d_gray(rgb), 30.0)


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.int32, np.float32, np.float64])
def test_normalize_maps_any_dtype_to_unit_range(dtype):
    img = (np.random.default_rng(1).random((40, 50)) * 1000).astype(dtype)
    out = normalize(img)
    assert out.dtype == np.float32 and out.shape == (40, 50)
    assert out.min() >= 0.0 and out.max() <= 1.0 and out.max() > 0.9


def test_constant_image_gives_zeros_and_no_particles():
    assert normalize(np.full((16, 16), 7)).max() == 0
    assert segment(np.full((64, 64), 100, np.uint8)).max() == 0


def test_nan_pixels_are_no_data_not_a_reason_to_refuse_the_image():
    """A drift-corrected float export pads its border with NaN: such images were refused, and a
    video's every frame skipped; one NaN pixel cost a frame."""
    from napari_temseg.preprocess import read_frame
    from napari_temseg.synth import synth_image

    sample = synth_image((128, 128), 6, radius=(8, 12), seed=0)
    padded = sample.image.astype(np.float32)
    padded[:, :6] = np.nan
    padded[60, 60] = np.inf
    labels = segment(padded)
    assert not labels[:, :6].any()
    assert abs(int(labels.max()) - int(segment(sample.image).max())) <= 1
    frame, problem = read_frame(np.stack([padded]), 0)
    assert problem is None and np.isfinite(frame).all()
    assert read_frame(np.full((1, 8, 8), np.nan, np.float32), 0)[1] == "mostly NaN or infinite pixels (no data)"


@pytest.mark.parametrize(
    "bad, message",
    [
        (np.array([[np.nan, np.nan], [np.nan, 3.0]]), "mostly NaN or infinite \\(3 of 4 pixels\\)"),
        (np.array([[np.inf, np.inf], [-np.inf, 3.0]]), "mostly NaN or infinite"),
        (np.zeros((0, 5)), "empty"),
        (np.zeros((1, 1)), "too small"),
        (np.zeros((1, 7)), "too small"),
        (np.zeros((4, 8, 8)), "2-D image"),
        (np.array(["a", "b"]), "dtype"),
        (np.zeros((8, 8), bool), "a boolean mask is no micrograph"),  # was read as dark field, particles grown
        (None, "got None, not an image"),  # "dtype object"
        ([[1, 2], [3]], "no rectangular array"),  # a traceback from numpy
    ],
)
def test_bad_input_names_the_problem(bad, message):
    with pytest.raises(TemsegError, match=message):
        segment(bad)


def test_anchoring_puts_the_class_boundary_at_one_level_whatever_the_gain():
    """Particles at 0.3, background at 0.8: after anchoring the means sit near 0.35 and 0.65
    (the class means are taken after smoothing, which pulls edge pixels inwards) and the
    image no longer depends on gain or offset."""
    rng = np.random.default_rng(1)
    particles = np.zeros((256, 256), bool)
    particles[40:90, 50:120] = particles[150:220, 140:200] = True
    image = np.where(particles, 0.3, 0.8).astype(np.float32) + rng.normal(0, 0.02, (256, 256)).astype(np.float32)
    anchored = anchor_two_classes(image)
    assert abs(anchored[particles].mean() - 0.35) < 0.03 and abs(anchored[~particles].mean() - 0.65) < 0.03
    assert np.allclose(anchor_two_classes(0.5 * image + 0.2), anchored, atol=1e-4)
    flat = np.full((64, 64), 0.4, np.float32)
    assert np.array_equal(anchor_two_classes(flat), flat)


def test_a_one_frame_stack_or_one_channel_is_an_image():
    """A (1, Y, X) TIFF was refused as a time stack."""
    image = np.arange(48, dtype=np.uint8).reshape(6, 8)
    assert np.array_equal(as_2d_gray(image[None]), image) and np.array_equal(as_2d_gray(image[..., None]), image)
    with pytest.raises(TemsegError, match=r"segment\(stack\[t\]\)"):
        as_2d_gray(np.stack([image] * 5))


def test_a_dask_image_is_read_once():
    """A 2-D dask frame was computed twice per segmentation (grey levels, then colour)."""
    import dask
    import dask.array as da

    from napari_temseg.synth import synth_image

    image, reads = synth_image((96, 96), 4, radius=(8, 10), seed=0).image, []
    lazy = da.from_delayed(dask.delayed(lambda: reads.append(1) or image)(), shape=image.shape, dtype=image.dtype)
    assert segment(lazy).max() > 0 and len(reads) == 1


def test_random_bytes_are_told_from_noise_alone_and_equalised_frames():
    from napari_temseg.preprocess import random_bytes

    rng = np.random.default_rng(3)
    assert random_bytes(rng.integers(0, 65536, (200, 300), dtype=np.uint16))
    assert random_bytes(rng.integers(-128, 128, (64, 64), dtype=np.int8))
    assert not random_bytes(rng.poisson(1.0, (200, 300)).astype(np.uint16))  # a very low dose: a few levels
    assert not random_bytes(rng.integers(0, 65536, (200, 300), dtype=np.uint16).astype(np.float32))  # floats: NaN rules
    smooth = np.cumsum(np.cumsum(rng.normal(size=(200, 300)), 0), 1)  # neighbours related
    ranks = smooth.ravel().argsort().argsort().reshape(smooth.shape)  # its values spread evenly: equalised
    assert not random_bytes((ranks * 65535 // ranks.max()).astype(np.uint16))
