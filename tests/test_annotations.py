"""Burned-in scale bars, their text and data bars are left out, never measured as particles."""

import numpy as np
import pytest
from conftest import write_movie
from scipy import ndimage as ndi

from napari_temseg.analysis import measure
from napari_temseg.annotations import (
    annotation_mask,
    coloured_pixels,
    fill_annotations,
    find_annotations,
    near_marks,
    scale_bar_length,
    still_marks,
)
from napari_temseg.segmentation import iter_segment_frames, segment_image, stack_marks
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
    painted = fill_annotations(image, ((y0, x0, y1, x1),))[y0:y1, x0:x1]
    around = image[y0 - 4:y0, x0:x1]
    assert abs(painted.mean() - np.median(around)) < around.std() and painted.std() > 0.5 * around.std()
    assert (painted != image.min()).all()


def test_a_thin_bar_across_a_particle_leaves_it_one_particle():
    """The box is painted across its short side, so the particle runs on through it, and
    is kept whole (clearing the box cut it in two pieces of one ID)."""
    yy, xx = np.mgrid[:160, :160]
    rng = np.random.default_rng(2)
    image = 200 - 120 * ((yy - 80) ** 2 + (xx - 80) ** 2 < 30 ** 2) + rng.normal(0, 6, (160, 160))
    image = np.clip(image, 1, 254).astype(np.uint8)
    image[78:82, 20:140] = 0  # a 4-px bar across the particle
    result = segment_image(image, "classical", diameter=60)
    assert result.annotations and result.count == 1
    labels = result.labels
    assert labels[60, 80] == labels[100, 80] == labels[80, 80] == 1  # both sides of the bar, one particle


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
    for seed in range(6):
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
    table = measure(labels, None, result.annotations)
    assert table.set_index("label").loc[labels.max(), "touches_border"]
    assert not measure(labels).set_index("label").loc[labels.max(), "touches_border"]


@pytest.mark.parametrize("hidden_rows", [4, 8])
def test_a_particle_partly_hidden_by_a_backing_box_is_kept_and_flagged(hidden_rows):
    """From a numbers pass: a particle of radius 10 px with its lower 4-8 rows under a 60-row
    backing box vanished (the box's fill drew it to the far side, so it lay mostly inside)."""
    rng = np.random.default_rng(3)
    yy, xx = np.mgrid[:512, :512]
    centres = [(100 + 80 * (k // 5), 60 + 90 * (k % 5)) for k in range(15)]
    cy = 440 - 10 + hidden_rows  # the box starts at row 440
    disc = np.zeros((512, 512), bool)
    for y, x in [*centres, (cy, 420)]:
        disc |= (yy - y) ** 2 + (xx - x) ** 2 <= 100
    image = np.where(disc, 90.0, 200.0) + rng.normal(0, 8, disc.shape)
    image[440:500, 360:500] = 0  # a black backing box with a white bar on it
    image[470:478, 380:480] = 255
    result = segment_image(np.clip(image, 0, 255).astype(np.uint8), "classical")
    assert result.count == 16
    table = measure(result.labels, None, result.annotations).set_index("label")
    assert table.loc[int(result.labels[cy - 8, 420]), "touches_border"]


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
    assert "burned-in mark or flat region (scale bar, text, padding) left out (rows" in run.stderr
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


def auto_contrast(image: np.ndarray, clipped: float = 0.35) -> np.ndarray:
    """An 8-bit export as viewers write it: `clipped` % of the pixels at each end clipped."""
    low, high = np.percentile(image, [clipped, 100 - clipped])
    return np.clip((image.astype(np.float32) - low) / (high - low) * 255, 0, 255).round().astype(np.uint8)


def test_padding_after_drift_correction_is_left_out_strip_by_strip():
    """An L of zero rows and columns: two strips (their joint box was the whole image)."""
    image = auto_contrast(field("bf"))
    h, w = image.shape
    padded = np.zeros_like(image)
    padded[12:, 9:] = image[:h - 12, :w - 9]
    marks = find_annotations(padded)
    assert sorted(marks) == [(0, 0, 14, w), (0, 0, h, 11)]
    clean = segment_image(image[:h - 12, :w - 9], "classical").count
    assert abs(segment_image(padded, "classical").count - clean) <= 0.1 * clean


def test_a_data_bar_on_an_auto_contrast_export_covers_the_strip_only():
    """Clipped specks of the support at the text's level are no text: the box stays the strip."""
    image = auto_contrast(field("bf"))
    h, w = image.shape
    image[h - 36:] = 0
    image[h - 24:h - 20, w - 110:w - 10] = 255
    assert find_annotations(image) == ((h - 38, 0, h, w),)


@pytest.mark.parametrize("grey", [60, 128, 200])
def test_a_grey_backing_box_is_left_out_with_its_bar(grey):
    image = field("bf")
    h, w = image.shape
    image[h - 60:h - 8, w - 190:w - 8] = grey
    image[h - 40:h - 34, w - 160:w - 40] = 255
    assert find_annotations(image) == ((h - 62, w - 192, h - 6, w - 6),)


def test_a_tracked_video_flags_the_particles_its_scale_bar_cuts(tmp_path):
    """tracks.csv flags them like particles at the border, as particles.csv does; the
    video's marks are recorded with its labels (a re-scaling measures them again)."""
    import pandas as pd
    import tifffile
    import zarr

    from napari_temseg.io import open_video
    from napari_temseg.video import track_video

    yy, xx = np.mgrid[:128, :160]
    rng = np.random.default_rng(4)
    disc = ((yy - 64) ** 2 + (xx - 80) ** 2 < 20 ** 2) | ((yy - 30) ** 2 + (xx - 30) ** 2 < 10 ** 2)
    frames = np.stack([np.clip(200 - 110 * disc + rng.normal(0, 5, disc.shape), 1, 254) for _ in range(4)])
    frames = frames.astype(np.uint8)
    frames[:, 62:66, 20:140] = 0  # a bar across the large particle
    tifffile.imwrite(tmp_path / "v.tif", frames, imagej=True, metadata={"axes": "TYX"})
    track_video(open_video(tmp_path / "v.tif"), tmp_path / "out", model="classical")
    tracks = pd.read_csv(tmp_path / "out" / "tracks.csv")
    cut = tracks[(tracks.y - 64).abs() < 5]
    whole = tracks[(tracks.y - 30).abs() < 5]
    assert len(cut) == 4 and cut.touches_border.all()
    assert len(whole) == 4 and not whole.touches_border.any()
    assert zarr.open_array(str(tmp_path / "out" / "labels.zarr"), mode="r").attrs["burned_in_marks"] == [[60, 18, 68, 142]]
    from napari_temseg.io.results import open_track_dir, write_review

    labels, events = open_track_dir(tmp_path / "out")
    write_review(tmp_path / "out", np.asarray(labels), events, set(), [])  # a review's save keeps them
    tracks = pd.read_csv(tmp_path / "out" / "tracks.csv")
    assert tracks[(tracks.y - 64).abs() < 5].touches_border.all()


@pytest.mark.parametrize("colour", ["black", "white", "yellow"])
def test_the_scale_bar_is_measured_in_pixels(colour):
    grey = field("bf")
    image = np.repeat(grey[..., None], 3, axis=-1) if colour == "yellow" else grey
    value = {"black": image.min(), "white": image.max(), "yellow": np.array([255, 220, 0], np.uint8)}[colour]
    burn_scale_bar(image, value, ticks=colour == "black")
    assert scale_bar_length(image) == 100
    assert scale_bar_length(field("bf")) is None


def test_temseg_segment_takes_the_pixel_size_from_the_scale_bar(tmp_path):
    import subprocess
    import sys

    import pandas as pd
    import tifffile

    image = field("bf")
    burn_scale_bar(image, image.min())
    tifffile.imwrite(tmp_path / "bar.tif", image)
    tifffile.imwrite(tmp_path / "plain.tif", field("bf"))
    tifffile.imwrite(tmp_path / "calibrated.tif", image, imagej=True, resolution=(1.0, 1.0), metadata={"unit": "nm"})

    def segment(*args):
        return subprocess.run([sys.executable, "-m", "napari_temseg.cli", "segment", *map(str, args)],
                              capture_output=True, text=True)

    run = segment(tmp_path / "bar.tif", tmp_path / "plain.tif", "--out", tmp_path / "out", "--scale-bar", "50nm")
    assert run.returncode == 1  # the image without a bar fails, the batch goes on
    assert "pixel size 0.5 nm (its 50 nm scale bar)" in run.stderr
    assert "plain.tif: error: no burned-in scale bar found" in run.stderr
    summary = pd.read_csv(tmp_path / "out" / "summary.csv")
    assert summary.set_index("labels").loc["bar_labels.tif", "pixel_size_nm"] == 0.5
    run = segment(tmp_path / "calibrated.tif", "--out", tmp_path / "o3", "--scale-bar", "500Å")
    assert "pixel size 0.5 nm (its 50 nm scale bar; the file says 1 nm)" in run.stderr  # said, not silently
    for bad in (["--scale-bar", "fifty"], ["--scale-bar", "-5"], ["--scale-bar", "50", "--pixel-size", "1"]):
        run = segment(tmp_path / "bar.tif", "--out", tmp_path / "o2", *bad)
        assert run.returncode == 2 and len(run.stderr.strip().splitlines()) == 1, run.stderr


def test_temseg_track_takes_the_pixel_size_from_the_scale_bar(tmp_path):
    import subprocess
    import sys

    import pandas as pd
    import tifffile

    yy, xx = np.mgrid[:128, :160]
    disc = (yy - 64) ** 2 + (xx - 80) ** 2 < 20 ** 2
    rng = np.random.default_rng(4)
    frames = np.stack([np.clip(200 - 110 * disc + rng.normal(0, 5, disc.shape), 1, 254) for _ in range(3)])
    frames = frames.astype(np.uint8)
    frames[:, 100:104, 20:120] = 0  # a 100-px bar
    tifffile.imwrite(tmp_path / "v.tif", frames, imagej=True, metadata={"axes": "TYX"})
    run = subprocess.run([sys.executable, "-m", "napari_temseg.cli", "track", str(tmp_path / "v.tif"), "--out",
                          str(tmp_path / "out"), "--scale-bar", "0.05um"], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert "pixel size 0.5 nm (its 50 nm scale bar)" in run.stdout
    tracks = pd.read_csv(tmp_path / "out" / "tracks.csv")
    assert np.allclose(tracks.equivalent_diameter_nm, tracks.equivalent_diameter * 0.5)


@pytest.mark.parametrize(("regime", "seed", "clipped"), [("heldout", 61, 0.35), ("heldout", 79, 0.35)])
def test_clipped_particles_and_support_are_no_marks(regime, seed, clipped):
    """Clipped rims, cores and support pixels of an auto-contrast export made 2 x 17 "bars"
    whose text chained over a particle, and short strips at the edge. (Training seed 112
    with 5 % clipped, whose box chained over 40 particles, is as clean: too slow to draw here.)"""
    assert find_annotations(auto_contrast(random_image(seed=seed, regime=regime).image, clipped)) == ()


def test_plateaus_of_a_smoothed_8_bit_image_are_no_marks():
    from scipy import ndimage as ndi

    for seed in range(4):
        image = random_image(seed=seed, regime="train").image.astype(np.float32)
        smooth = ndi.gaussian_filter(image, 4)
        low, high = smooth.min(), smooth.max()
        assert find_annotations(np.round((smooth - low) / (high - low) * 255).astype(np.uint8)) == ()


def test_a_coloured_bar_at_the_image_edge_keeps_its_pixels():
    rgb = np.repeat(field("bf")[..., None], 3, axis=-1)
    h, w = rgb.shape[:2]
    rgb[h - 6:, w - 120:] = (255, 220, 0)  # flush with the bottom right corner
    (y0, x0, y1, x1), = find_annotations(rgb[..., 0], coloured_pixels(rgb))
    assert (y0, x1, y1) == (h - 8, w, h) and x0 <= w - 120


def test_a_drawing_without_noise_has_no_marks():
    """Every object of a noise-free drawing or mask is as flat as a mark: none is taken for one
    (a rod drawn on a cube was left out as a scale bar)."""
    drawing = np.full((100, 120), 0.8, np.float32)
    drawing[40:50, 10:110] = 0.2  # a rod
    assert find_annotations(drawing) == ()


def test_padding_is_not_taken_for_the_scale_bar():
    image = field("bf")
    image[-4:, :] = 0  # a strip of padding, the image's width long
    image[170:174, 20:80] = 255  # the bar
    assert scale_bar_length(image) == 60


@pytest.mark.parametrize("tight", [False, True])
@pytest.mark.parametrize("jpeg", [False, True])
def test_a_bar_in_its_backing_box_is_measured_not_the_box(tight, jpeg):
    """The box's margin beside the bar is a strip as thin as a bar and longer: a 135-px bar
    was measured 143-156 px (sizes 5-16 % off). A JPEG's compressed ends are not the bar's
    level: there it reads a few px short, never the box."""
    import io

    from PIL import Image

    image = np.stack([field("bf")] * 3, axis=-1)
    y1 = 501 if tight else 505
    image[470:y1 + 1, 26 if tight else 20:(168 if tight else 175) + 1] = 0  # the box
    image[490:498, 30:165] = 255  # the bar, 135 px
    image[474:484, 70:110] = 255  # a stand-in for its text
    if jpeg:
        buffer = io.BytesIO()
        Image.fromarray(image).save(buffer, "JPEG", quality=90)
        image = np.asarray(Image.open(buffer))
    assert scale_bar_length(image) in (range(126, 136) if jpeg else (135,))


def test_marks_are_found_beside_a_nan_border():
    """A NaN border (no data) left the scale bar unfound: segmented as a particle, and
    --scale-bar said there was none."""
    from napari_temseg.annotations import pixel_size_from_scale_bar
    from napari_temseg.segmentation import segment_image

    image = field("bf")
    burn_scale_bar(image, image.min())
    padded = image.astype(np.float32)
    padded[:, :4] = np.nan
    found = segment_image(padded)
    assert (476, 380, 504, 484) in found.annotations and not found.labels[476:504, 380:484].any()
    assert pixel_size_from_scale_bar(padded, 50) == pytest.approx(0.5)


def _mostly_on(labels: np.ndarray, mask: np.ndarray) -> list[int]:
    """The particles of `labels` with half their pixels or more in `mask`."""
    sizes, inside = np.bincount(labels.ravel()), np.bincount(labels[mask], minlength=labels.max() + 1)
    return [i for i in range(1, len(sizes)) if sizes[i] and inside[i] >= 0.5 * sizes[i]]


def _codec_frayed(frames: np.ndarray, seed: int = 0) -> np.ndarray:
    """`frames` as a lossy codec leaves them: every pixel off by up to 2 grey levels, the
    same in every frame where nothing changes (a static block is coded once), so a mark
    is no longer one grey level but still stays still."""
    error = np.random.default_rng(seed).integers(-2, 3, frames.shape[1:])
    return np.clip(frames.astype(int) + error, 0, 255).astype(np.uint8)


def _frames(n: int) -> np.ndarray:
    """`n` noisy 8-bit micrographs within grey levels 20-230, as an export stretches them."""
    images = np.stack([field("bf", seed).astype(np.float32) for seed in range(1, n + 1)])
    return (20 + 210 * (images - images.min()) / np.ptp(images)).astype(np.uint8)


def _video_with_marks(n: int = 8) -> tuple[np.ndarray, tuple[slice, slice], tuple[slice, slice]]:
    """Noisy 8-bit frames with a white scale bar and its text, and a black timestamp box
    whose digits change; the bar's and the box's places."""
    frames = _frames(n)
    for t, frame in enumerate(frames):
        bar = burn_scale_bar(frame, 255)
        box = (slice(4, 24), slice(4, 80))
        frame[box] = 0
        burn_glyphs(frame, 255, 8, 8 + 2 * (t % 3))
    return _codec_frayed(frames), bar, box


def test_marks_a_lossy_codec_frayed_are_found_by_staying_still():
    """A movie's marks are no longer flat (the helper's mp4: ~150 short tracks and false
    fusions from its timestamp and scale bar), but they stay still while the shot noise changes."""
    frames, bar, box = _video_with_marks()
    assert all(find_annotations(frame) == () for frame in frames)  # each frame alone: frayed, not flat
    found = still_marks(list(frames))
    mask = annotation_mask(frames.shape[1:], found)
    assert mask[bar].all() and mask[box].all()
    assert mask[-22:-10, -105:-58].all()  # the bar's text
    assert mask.mean() < 0.06  # the marks, not the field
    assert set(found) <= set(stack_marks(frames, still=True)) and stack_marks(frames) != stack_marks(frames, still=True)
    for _, labels in iter_segment_frames(frames, "classical", marks=found):  # the black box was a particle
        assert not _mostly_on(labels, mask)  # none drawn mostly on a mark


def test_nothing_still_is_no_mark():
    """A stack without noise has nothing to tell marks by; a particle clipped to one grey level
    in every frame stays still but is round, and a vacuum clipped along the image's edge has
    a wavy side: neither is a mark's rectangle."""
    frames = _frames(6)
    assert still_marks(list(frames)) == ()
    assert still_marks([frames[0]] * 6) == ()
    yy, xx = np.mgrid[: frames.shape[1], : frames.shape[2]]
    frames[:, (yy - 80) ** 2 + (xx - 90) ** 2 < 25**2] = 0
    frames[:, yy < 60 + 10 * np.sin(xx / 15)] = 255  # a saturated vacuum along the top edge
    assert still_marks(list(frames)) == ()
    assert still_marks(list(frames[:2])) == ()  # too few frames to tell


def test_the_marks_of_an_mpeg4_movie_are_left_out_of_its_tracking(tmp_path):
    """As a movie export writes them (OpenCV's MPEG-4): each frame's marks frayed by the codec.
    Only a movie in a lossy codec is searched for still marks: elsewhere a dark particle's
    shot noise can be as still (a review: cubes of 5 % transmission taken for marks)."""
    import zarr

    from napari_temseg.io import open_video
    from napari_temseg.video import track_video

    frames, bar, box = _video_with_marks(10)
    video = open_video(write_movie(tmp_path / "heating.mp4", frames, "mp4v", 10.0))
    assert video.metadata["lossy_codec"] == "FMP4"  # how FFmpeg names MPEG-4 part 2
    assert not annotation_mask(frames.shape[1:], find_annotations(np.asarray(video.data[0])))[bar].all()  # frayed
    track_video(video, tmp_path / "run")
    store = zarr.open_array(str(tmp_path / "run" / "labels.zarr"), mode="r")
    mask = annotation_mask(frames.shape[1:], tuple(tuple(box) for box in store.attrs["burned_in_marks"]))
    assert mask[bar].all() and mask[box].all() and mask.mean() < 0.06
    for labels in store[:]:  # the black box was a particle in every frame
        assert not _mostly_on(labels, mask)


def test_marks_a_user_names_are_left_out_and_typed_boxes_are_read():
    """`-o marks=y0,x0,y1,x1;...` on the command line and in the widgets' options (a review:
    no text was accepted); a box that rounds to nothing is refused, not dropped."""
    from napari_temseg import TemsegError

    image = field("bf")
    black = image.copy()
    black[20:40, 30:110] = image.min()  # a box the search does not call a mark (no bar, no text)
    result = segment_image(black, "classical", marks="18,28,42,112")
    assert result.annotations == ((18, 28, 42, 112),) and not result.labels[20:40, 30:110].any()
    with pytest.raises(TemsegError, match="marks"):
        segment_image(image, "classical", marks=[[0, 0, 0.4, 5]])


def test_stillness_is_measured_band_by_band_as_over_the_whole_stack():
    """(Memory: a float copy of 8 frames of 2048² and its sorted copy peaked at 752 MiB.)"""
    from napari_temseg.annotations import STILL_BAND, _spread_and_level

    frames = [np.random.default_rng(t).integers(0, 4096, (STILL_BAND + 44, 70)).astype(np.uint16) for t in range(5)]
    stack = np.stack(frames).astype(np.float32)
    spread, level = _spread_and_level(frames)
    assert np.array_equal(spread, stack.std(axis=0)) and np.array_equal(level, np.median(stack, axis=0))


def test_the_pixels_near_marks_are_the_boxes_8_connected_neighbourhood():
    """Grown boxes, not a dilated frame: the same pixels, at the image's edge and for empty boxes too."""
    rng = np.random.default_rng(0)
    for _ in range(300):
        shape = tuple(int(n) for n in rng.integers(3, 30, 2))
        boxes = []
        for _ in range(int(rng.integers(0, 4))):
            (y0, y1), (x0, x1) = sorted(rng.integers(0, shape[0] + 1, 2)), sorted(rng.integers(0, shape[1] + 1, 2))
            boxes.append((int(y0), int(x0), int(y1), int(x1)))
        mask = annotation_mask(shape, tuple(boxes))
        np.testing.assert_array_equal(near_marks(shape, tuple(boxes)), ndi.binary_dilation(mask, np.ones((3, 3), bool)))
