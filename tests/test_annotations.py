"""Burned-in scale bars, their text and data bars are left out, never measured as particles."""

import numpy as np
import pytest

from napari_temseg.analysis import measure
from napari_temseg.annotations import annotation_mask, coloured_pixels, fill_annotations, find_annotations
from napari_temseg.segmentation import iter_segment_frames, segment_image
from napari_temseg.simulator import draw_params, random_image, simulate


def burn_glyphs(image: np.ndarray, value, top: int, left: int) -> None:
    """Five 12-px-high glyphs of 2-px strokes ("50 nm" as a microscope writes it)."""
    for k in range(5):
        x = left + 10 * k
        image[top:top + 12, x:x + 2] = value  # a stem
        image[top:top + 2, x:x + 7] = value  # a bar across
        if k % 2 == 0:
            image[top + 10:top + 12, x:x + 7] = value
            image[top:top + 12, x + 5:x + 7] = value


def burn_scale_bar(image: np.ndarray, value, ticks: bool = False) -> tuple[slice, slice]:
    """A 100 x 6 px bar near the bottom right corner with its text below; the bar's place."""
    h, w = image.shape[:2]
    bar = (slice(h - 34, h - 28), slice(w - 130, w - 30))
    image[bar] = value
    if ticks:
        image[h - 38:h - 24, w - 130:w - 128] = value
        image[h - 38:h - 24, w - 32:w - 30] = value
    burn_glyphs(image, value, h - 22, w - 105)
    return bar


def field(mode: str, seed: int = 1) -> np.ndarray:
    params = draw_params(np.random.default_rng(5), "train", radius_span=(10, 20), mode=mode)
    return simulate(params, seed=seed).image


@pytest.mark.parametrize(("mode", "colour", "ticks"),
                         [("bf", "black", False), ("bf", "black", True), ("bf", "white", False), ("df", "white", True)])
def test_a_scale_bar_and_its_text_are_found(mode, colour, ticks):
    """(A black bar on a dark field of zero counts joins them, and is left: the models see
    nothing there either.)"""
    image = field(mode)
    value = image.max() if colour == "white" else image.min()
    bar = burn_scale_bar(image, value, ticks=ticks)
    boxes = find_annotations(image)
    assert len(boxes) == 1
    mask = annotation_mask(image.shape, boxes)
    h, w = image.shape[:2]
    assert mask[bar].all() and mask[h - 22:h - 10, w - 105:w - 58].all()  # the bar and its text
    assert mask.sum() < 4 * 140 * 45  # the mark's box, not the picture


def test_a_black_scale_bar_is_not_a_particle():
    """Without the rule the bar (with its text) was one dark particle 100 px long."""
    image = field("bf")
    bar = burn_scale_bar(image, image.min())
    result = segment_image(image, "classical")
    assert not result.labels[bar].any()
    assert result.annotations and "scale bar" in result.describe()
    clean = segment_image(field("bf"), "classical")
    assert abs(result.count - clean.count) <= 2  # the particles elsewhere are the same


def test_a_data_bar_strip_with_text_is_left_out():
    image = field("bf")
    h, w = image.shape[:2]
    image[h - 40:] = image.min()  # the microscope's data bar: a black strip across the bottom
    burn_glyphs(image, image.max(), h - 30, 20)
    image[h - 14:h - 10, 300:420] = image.max()
    assert find_annotations(image) == ((h - 42, 0, h, w),)
    labels = segment_image(image, "classical").labels
    assert not labels[h - 40:].any()


def test_the_mark_is_painted_with_the_support_around_it():
    image = field("bf").astype(np.float32)
    burn_scale_bar(image, image.min())
    (y0, x0, y1, x1), = find_annotations(image)
    filled = fill_annotations(image, ((y0, x0, y1, x1),))
    around = image[y0 - 4:y0, x0:x1]
    assert filled[y0:y1, x0:x1].min() >= around.min() and filled[y0:y1, x0:x1].std() > 0.5 * around.std()


def test_marks_in_a_time_stack_are_left_out_of_every_frame():
    frames = np.stack([field("bf", seed) for seed in (1, 2, 3)])
    bar = None
    for frame in frames:
        bar = burn_scale_bar(frame, frames.min())
    for _, labels in iter_segment_frames(frames, "classical"):
        assert not labels[bar].any()


@pytest.mark.parametrize("regime", ["train", "heldout"])
def test_micrographs_without_marks_have_none(regime):
    """Clipped, quantised and low-dose images (flat zero counts) are not marks."""
    for seed in range(12):
        assert find_annotations(random_image(seed=700 + seed, regime=regime).image) == ()


def test_a_saturated_particle_is_not_a_mark():
    image = np.random.default_rng(0).poisson(20, (128, 128)).astype(np.uint16)
    yy, xx = np.mgrid[:128, :128]
    image[(yy - 64) ** 2 + (xx - 64) ** 2 < 30 ** 2] = 65535  # clipped at the detector's top
    image[10:40, 10:40] = 0  # a flat square: no bar
    assert find_annotations(image) == ()


def test_particles_cut_by_a_mark_are_flagged_like_border_ones():
    """A particle half under the scale bar's box has no true size there: flagged, and left
    out of the statistics as one cut by the field's edge."""
    image = field("bf")
    burn_scale_bar(image, image.min())
    result = segment_image(image, "classical")
    (y0, x0, y1, x1), = result.annotations
    labels = result.labels.copy()
    labels[y0 - 6:y0, x0 + 20:x0 + 30] = labels.max() + 1  # a particle against the box's top edge
    table = measure(labels, None, result.hidden)
    assert table.set_index("label").loc[labels.max(), "touches_border"]
    assert not measure(labels).set_index("label").loc[labels.max(), "touches_border"]


def test_temseg_segment_says_where_the_mark_was(tmp_path):
    import subprocess
    import sys

    import tifffile

    image = field("bf")
    bar = burn_scale_bar(image, image.min())
    tifffile.imwrite(tmp_path / "bar.tif", image)
    run = subprocess.run([sys.executable, "-m", "napari_temseg.cli", "segment", str(tmp_path / "bar.tif"),
                          "--out", str(tmp_path / "out")], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert "burned-in mark (scale bar, text) left out (rows" in run.stderr
    assert not tifffile.imread(tmp_path / "out" / "bar_labels.tif")[bar].any()


def test_a_yellow_scale_bar_on_an_rgb_micrograph_is_left_out():
    """ImageJ's flattened overlays and "export as displayed" write a grey micrograph as RGB
    with a coloured bar: the colour marks it, whatever its grey level."""
    grey = field("bf")
    rgb = np.repeat(grey[..., None], 3, axis=-1)
    bar = burn_scale_bar(rgb, np.array([255, 220, 0], np.uint8))
    result = segment_image(rgb, "classical")
    assert len(result.annotations) == 1 and not result.labels[bar].any()
    h, w = grey.shape
    assert annotation_mask(grey.shape, result.annotations)[h - 22:h - 10, w - 105:w - 58].all()  # its text too


def test_tinted_or_colour_mapped_images_have_no_coloured_marks():
    grey = field("bf").astype(np.int16)
    tint = np.random.default_rng(1).integers(-4, 5, grey.shape + (3,))  # a JPEG's chroma noise
    assert coloured_pixels(np.clip(grey[..., None] + tint, 0, 255).astype(np.uint8)) is None
    mapped = np.stack([grey, 255 - grey, grey // 2], axis=-1).astype(np.uint8)  # a colour map
    assert coloured_pixels(mapped) is None
    assert coloured_pixels(grey) is None
