"""Polarity and particle size decided from the image, and models run at the size they know."""

import subprocess
import sys

import numpy as np
import pytest
import tifffile

from napari_temseg import TemsegError, segment
from napari_temseg.appearance import measure_appearance
from napari_temseg.cli import main
from napari_temseg.metrics import instance_scores
from napari_temseg.preprocess import normalize
from napari_temseg.rescale import labels_back, resample, scale_factor
from napari_temseg.rims import EDGE_LEVELS
from napari_temseg.segmentation import segment_image, stack_options
from napari_temseg.simulator import draw_params, simulate
from napari_temseg.synth import synth_image


def simulated(seed: int, radius_span=(3.0, 100.0), **fixed):
    """A training-regime micrograph with radii in `radius_span`."""
    rng = np.random.default_rng([seed, 42])
    params = draw_params(rng, "train", radius_span=radius_span, **{"shape": (512, 512), **fixed})
    return simulate(params, seed=seed)


def true_radius(labels: np.ndarray) -> float:
    _, counts = np.unique(labels[labels > 0], return_counts=True)
    return float(np.median(np.sqrt(counts / np.pi)))


@pytest.mark.parametrize("mode, polarity", [("bf", "dark"), ("df", "bright")])
def test_polarity_is_decided_from_the_image(mode, polarity):
    decided = [measure_appearance(normalize(simulated(seed, mode=mode).image)).polarity for seed in range(6)]
    assert decided == [polarity] * 6


@pytest.mark.parametrize("radius, needed", [((3.0, 6.0), 2), ((10.0, 20.0), 3), ((40.0, 70.0), 3)])
def test_size_is_measured_within_a_factor_of_2(radius, needed):
    """Within 2x in `needed` images of 4 (the scale decision needs no more: models take a
    range of sizes). Small particles in grainy images are the weak case (docs/robustness.md)."""
    ratios = []
    for seed in range(4):
        sample = simulated(seed, radius, shape=(1024, 1024) if radius[0] > 30 else (512, 512), coverage=0.15)
        measured = measure_appearance(normalize(sample.image)).radius
        ratios.append(measured / true_radius(sample.labels) if np.isfinite(measured) else np.nan)
    ratios = np.array(ratios)
    assert np.sum((ratios > 0.5) & (ratios < 2)) >= needed, ratios


@pytest.mark.parametrize("seed", [7, 9])
def test_the_grain_of_a_carbon_support_is_not_the_particle_size(seed, monkeypatch):
    """A grainy support separates well at its grain size, but as a symmetric texture; the
    particles' look is asymmetric (pieces without holes on a support with holes)."""
    import napari_temseg.appearance as appearance
    from napari_temseg.simulator import random_image

    sample = random_image(seed, "train", mode="bf", radius_span=(9.0, 14.0), carbon=0.12, carbon_grain=3.0,
                          dose=20.0, contrast=0.3, shape=(384, 384), coverage=0.08)
    areas = np.bincount(sample.labels.ravel())[1:]
    true_radius = np.sqrt(np.median(areas[areas > 0]) / np.pi)
    image = normalize(sample.image)
    assert 0.75 < measure_appearance(image).radius / true_radius < 1.33
    monkeypatch.setattr(appearance, "ASYMMETRY_SHARE", 0.0)  # every look may give the size, as before
    assert measure_appearance(image).radius / true_radius < 0.6  # the grain


def small_noisy_particles():
    """Small particles at low dose (training-regime simulator): (sample, true radius)."""
    rng = np.random.default_rng(6)
    params = draw_params(rng, "train", radius_span=(4.0, 6.0), shape=(256, 256), mode="bf", coverage=0.06,
                         touching=0.2, dtype="uint16", contrast=0.6, dose=15.0)
    sample = simulate(params, seed=6)
    return sample, true_radius(sample.labels)


def test_small_particles_in_noise_are_sized_as_blobs():
    """Pixel noise hides small particles from the autocorrelation; their scale-space blob
    response (`blob_radius`) still gives their size, and the image is segmented at it."""
    sample, true_radius = small_noisy_particles()
    measured = measure_appearance(normalize(sample.image))
    assert 1 / 1.4 < measured.radius / true_radius < 1.4
    result = segment_image(sample.image, "classical")
    unsized = segment_image(sample.image, "classical", diameter="none")
    assert result.scale > 1.0 and instance_scores(result.labels, sample.labels).f1 > 0.4
    assert instance_scores(unsized.labels, sample.labels).f1 < 0.1


@pytest.mark.parametrize("seed", [5, 11])
def test_sparse_small_particles_read_far_too_large_are_sized_as_blobs(seed, monkeypatch):
    """Sparse small particles, many touching, on a grainy support: the first two looks read
    them 3.5-5.5x too large (beyond the small range the blob look used to be taken in); the
    blob look, now taken up to BLOB_REACH x SMALL_RADIUS, gives their size."""
    import napari_temseg.appearance as appearance

    sample = simulated(seed, (3.0, 7.0), coverage=0.05, touching=0.45, mode="bf")
    image, radius = normalize(sample.image), true_radius(sample.labels)
    assert 1 / 1.3 < measure_appearance(image).radius / radius < 1.3
    monkeypatch.setattr(appearance, "BLOB_REACH", appearance.AGREEMENT)
    monkeypatch.setattr(appearance, "BLOB_AGREEMENT", appearance.AGREEMENT)
    assert measure_appearance(image).radius / radius > 3


@pytest.mark.parametrize("radius", [2.5, 4.0, 6.0])
def test_blob_radius_finds_small_discs_in_shot_noise(radius):
    """Sparse discs at a per-pixel contrast of 1.6 noise levels: the scale-space response at
    their centres peaks at their size; a large disc gives no size."""
    from napari_temseg.appearance import blob_radius

    rng = np.random.default_rng(1)
    yy, xx = np.mgrid[:256, :256]
    image = np.full((256, 256), 1.0)
    for y, x in rng.uniform(12, 244, size=(40, 2)):
        image[(yy - y) ** 2 + (xx - x) ** 2 <= radius**2] = 0.6
    noisy = (image + rng.normal(0, 0.25, image.shape)).astype(np.float32)
    assert 0.8 < blob_radius(noisy, "dark") / radius < 1.3
    assert 0.8 < blob_radius(1 - noisy, "bright") / radius < 1.3
    big = np.ones((256, 256), np.float32)
    big[(yy - 128) ** 2 + (xx - 128) ** 2 <= 100**2] = 0.5  # its edge is a ridge of the response, not blobs
    assert np.isnan(blob_radius(big + rng.normal(0, 0.05, big.shape).astype(np.float32), "dark"))
    for y, x in rng.uniform(20, 236, size=(12, 2)):  # overlapping large discs: edges and their crossings
        big[(yy - y) ** 2 + (xx - x) ** 2 <= 40**2] = 0.5
    assert np.isnan(blob_radius(big + rng.normal(0, 0.05, big.shape).astype(np.float32), "dark"))


def test_small_discs_in_a_large_image_are_sized_at_full_resolution():
    """Discs of radius 3 in a 1024² image are under one pixel in the 256² work copy; the blob
    look then measures the full-resolution centre."""
    rng = np.random.default_rng(1)
    yy, xx = np.mgrid[:1024, :1024]
    image = np.ones((1024, 1024), np.float32)
    for y, x in rng.uniform(12, 1012, size=(400, 2)):
        image[(yy - y) ** 2 + (xx - x) ** 2 <= 9] = 0.6
    image += rng.normal(0, 0.25, image.shape).astype(np.float32)
    assert 0.75 < measure_appearance(image).radius / 3.0 < 1.33


def test_a_rough_size_keeps_the_smoothing_below_particles_too_noisy_to_size(monkeypatch):
    """Where no size can be trusted (here: the blobs ignored), the rough size still sizes
    the image and keeps the classical model's smoothing below the particles, which the
    noise alone would blur away."""
    import napari_temseg.appearance as appearance

    monkeypatch.setattr(appearance, "BLOB_COUNT", 10**9)
    sample, true_radius = small_noisy_particles()
    measured = measure_appearance(normalize(sample.image))
    assert np.isnan(measured.radius) and 1 / 1.5 < measured.rough_radius / true_radius < 1.5
    rough = segment_image(sample.image, "classical")
    unsized = segment_image(sample.image, "classical", diameter="none")
    assert rough.scale > 1.0 and np.isnan(rough.radius) and "rough size only" in rough.describe()
    assert instance_scores(rough.labels, sample.labels).f1 > 0.6 > 0.1 > instance_scores(unsized.labels, sample.labels).f1


def test_flat_or_tiny_images_give_no_size():
    assert np.isnan(measure_appearance(np.zeros((64, 64), np.float32)).radius)
    assert np.isnan(measure_appearance(np.ones((8, 8), np.float32)).radius)


@pytest.mark.parametrize("shape", [(17, 1000), (3000, 40)])
def test_long_strips_are_measured(shape):
    """A strip of a few dozen rows (a line profile, a cropped edge) used to be averaged down
    to under 16 px across, where the autocorrelation has no lags left (an IndexError)."""
    image = np.random.default_rng(0).random(shape).astype(np.float32)
    assert measure_appearance(image).polarity in ("dark", "bright")
    assert segment_image(image, "classical").labels.shape == shape


def test_dark_field_is_segmented_as_the_inverted_image():
    sample = synth_image(seed=3, polarity="bright")
    result = segment_image(sample.image, "classical")
    assert result.polarity == "bright" and "polarity" in result.decided
    # a bright particle's edge is drawn further out (rims.EDGE_LEVELS)
    edge_level = EDGE_LEVELS["bright"]
    inverted = segment(normalize(sample.image).max() - normalize(sample.image), "classical", polarity="dark",
                       diameter=2 * result.radius if np.isfinite(result.radius) else "none", edge_level=edge_level)
    as_it_is = segment_image(sample.image, "classical", df_absorption=0)  # without the bright-field look
    assert np.array_equal(as_it_is.labels, inverted)
    assert instance_scores(result.labels, sample.labels).f1 > 0.8


def test_small_particles_are_enlarged_for_the_model_and_mapped_back():
    sample = synth_image((256, 256), n_particles=60, radius=(3.0, 5.0), touching=0.2, dose=200, seed=1)
    as_is = segment_image(sample.image, "classical", diameter="none")
    rescaled = segment_image(sample.image, "classical", diameter=8)
    assert as_is.scale == 1 and rescaled.scale > 2
    assert rescaled.labels.shape == sample.labels.shape and rescaled.labels.dtype == np.uint32
    f1_as_is = instance_scores(as_is.labels, sample.labels).f1
    f1_rescaled = instance_scores(rescaled.labels, sample.labels).f1
    assert f1_rescaled > 0.8 and f1_rescaled > f1_as_is + 0.1, (f1_as_is, f1_rescaled)


def test_scale_factor_and_label_mapping():
    assert scale_factor(20.0, (12, 90)) == 1.0
    assert scale_factor(float("nan"), (12, 90)) == 1.0
    assert scale_factor(4.0, (12, 90)) == pytest.approx(4.0)  # 18 px wanted, capped at x4
    assert scale_factor(150.0, (12, 90)) == pytest.approx(60 / 150)
    labels = np.zeros((40, 40), np.uint32)
    labels[4:16, 4:16], labels[20:36, 20:36] = 1, 2
    up = resample(labels.astype(np.float32), 2.5)
    assert up.shape == (100, 100)
    small = labels[::4, ::4]  # a segmentation made on a 4x smaller copy
    back = labels_back(small, (40, 40))
    assert back.shape == (40, 40) and set(np.unique(back)) == {0, 1, 2}
    assert instance_scores(back, labels).f1 == 1.0


def test_a_time_stack_decides_once():
    frames = np.stack([synth_image(seed=s, polarity="bright").image for s in range(3)])
    from napari_temseg import load_model

    options = stack_options(frames, load_model("classical"), {})
    assert options["polarity"] == "bright" and isinstance(options["diameter"], float)
    given = stack_options(frames, load_model("classical"), {"polarity": "dark", "diameter": "none"})
    assert given["polarity"] == "dark" and given["diameter"] == "none"


@pytest.mark.parametrize("option, message, code", [
    ("polarity=purple", "option polarity='purple': must be auto or dark or bright", 2),
    ("diameter=-3", "diameter must be a positive number", 2),
    ("diameter=abc", "diameter must be auto, none, a number of pixels", 2),
    ("df_absorption=-1", "option df_absorption=-1", 2),
    # the pixel size may come from each file, so a missing one fails that image (exit 1)
    ("diameter=12nm", "pixel size is unknown", 1),
])
def test_bad_appearance_options_are_one_line_errors(option, message, code, tmp_path, capsys):
    import tifffile

    image = tmp_path / "a.tif"
    tifffile.imwrite(image, synth_image((128, 128), 6, seed=0).image)
    assert main(["segment", str(image), "--out", str(tmp_path / "out"), "-o", option]) == code
    err = [line for line in capsys.readouterr().err.splitlines() if message in line]
    assert len(err) == 1 and "Traceback" not in err[0], err
    with pytest.raises(TemsegError, match=message.split()[0].split("=")[0]):
        segment(synth_image((128, 128), 6, seed=0).image, "classical", **dict([option.split("=")]))


def test_cli_reports_the_decision_and_takes_nm(tmp_path):
    import tifffile

    image = tmp_path / "haadf.tif"
    tifffile.imwrite(image, synth_image(seed=2, polarity="bright").image)
    run = subprocess.run(
        [sys.executable, "-m", "napari_temseg.cli", "segment", str(image), "--out", str(tmp_path / "out"),
         "--pixel-size", "0.5", "-o", "diameter=15nm"], capture_output=True, text=True, timeout=300,
    )
    assert run.returncode == 0, run.stderr
    assert "bright particles (auto)" in run.stderr and "diameter 30.0 px (given)" in run.stderr
    bad = subprocess.run(
        [sys.executable, "-m", "napari_temseg.cli", "segment", str(image), "--out", str(tmp_path / "o2"),
         "--pixel-size", "-1"], capture_output=True, text=True, timeout=300,
    )
    assert bad.returncode == 2 and "--pixel-size takes nm per pixel" in bad.stderr


@pytest.mark.parametrize("typed", ["0.5", "0.5nm", "5A", "5 Å", "0.0005um", "0.0005µm"])
def test_one_reading_of_lengths_for_the_pixel_size_scale_bar_and_diameter(typed):
    """--pixel-size took no unit, --scale-bar no Å, the diameter no µm or Å (and echoed them
    lower-cased); a pixel size of 1e-9 nm went through to a message about an option."""
    from napari_temseg.cli.arguments import parse_pixel_size, parse_scale_bar
    from napari_temseg.segmentation import parse_diameter

    assert parse_pixel_size(typed) == pytest.approx(0.5)
    assert parse_scale_bar(typed, None) == pytest.approx(0.5)
    if typed != "0.5":  # no unit: px, and half a pixel is no particle
        assert parse_diameter(typed, 0.05) == pytest.approx(10.0)


def test_a_sub_nm_diameter_on_a_calibrated_file_is_taken(tmp_path, capsys):
    """The 1-px least diameter was checked against a stand-in pixel size of 1 nm before the
    files were read: 0.8 nm on a 0.05-nm/px image was refused (a review)."""
    image = synth_image((128, 128), 6, radius=(7, 9), seed=0).image
    tifffile.imwrite(tmp_path / "hr.tif", image, imagej=True, resolution=(20.0, 20.0), metadata={"unit": "nm"})
    assert main(["segment", str(tmp_path / "hr.tif"), "--out", str(tmp_path / "o"), "-o", "diameter=0.8nm"]) == 0
    assert "diameter 16.0 px (given)" in capsys.readouterr().err


@pytest.mark.parametrize("typed", ["1e-9", "0", "-1", "nan", "abc", "5 furlongs", "20000"])
def test_a_pixel_size_that_is_none_is_refused_naming_the_flag(typed):
    from napari_temseg.cli.arguments import parse_pixel_size

    with pytest.raises(TemsegError, match=f"--pixel-size takes nm per pixel .* not '{typed}'"):
        parse_pixel_size(typed)


def fringe_stress_image(fresnel: float, width: float):
    """benchmarks/defocus_stress.py's first image (training regime, radius 8-30 px, a sparse
    field on a coarse carbon grain) with its Fresnel fringe fixed."""
    rng = np.random.default_rng([7300, 1, 0])
    contrast = float(np.exp(rng.uniform(np.log(0.4), np.log(1.2))))
    params = draw_params(rng, "train", radius_span=(8.0, 30.0), shape=(512, 512), mode="bf", coverage=0.1,
                         touching=0.45, dtype=str(rng.choice(["uint8", "uint16"])), contrast=contrast, fresnel=fresnel,
                         fresnel_width=width)
    params.dose = float(np.clip(params.dose, 8.0, 120.0))
    return simulate(params, seed=int(rng.integers(1 << 31)))


@pytest.mark.parametrize(("fresnel", "f1"), [(0.0, 0.9), (-0.15, 0.85)])
def test_blobs_found_give_the_size_where_the_looks_measure_the_support_or_a_fringe(fresnel, f1):
    """Sparse particles of radius ~26 px on a coarse carbon grain: without a fringe the
    autocorrelation measured the grain (7 px), the size was untrusted and that rough size
    enlarged the image x3 (classical F1 0.22); with a dark fringe the looks agreed on 6 px.
    The blob look found the particles (26 px) both times, but gave sizes of at most 10 px only."""
    sample = fringe_stress_image(fresnel, 1.5)
    measured = measure_appearance(normalize(sample.image))
    assert 1 / 1.3 < measured.radius / true_radius(sample.labels) < 1.3
    result = segment_image(sample.image, "classical")
    assert result.scale == 1.0 and instance_scores(result.labels, sample.labels).f1 > f1


@pytest.mark.parametrize("shape", [(1, 1), (2, 3), (64, 64), (37, 91)])
def test_blob_statistics_are_numpys_percentiles_and_spread(shape):
    """The blob search's one-partition statistics give what np.percentile and robust_spread
    gave (odd and even counts, one value, a strided view)."""
    from napari_temseg.appearance import BLOB_PERCENTILE, _median_top_spread
    from napari_temseg.preprocess import robust_spread

    sample = np.random.default_rng(5).standard_normal((2 * shape[0], shape[1])).astype(np.float32)[::2]
    middle, top = np.percentile(sample, [50, BLOB_PERCENTILE])
    expected = (middle, top, robust_spread(sample, float(middle)))
    assert _median_top_spread(sample) == pytest.approx(expected, rel=1e-6, abs=1e-9)
