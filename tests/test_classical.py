import numpy as np
import pytest
from conftest import fastest

from napari_temseg import TemsegError, available_models, load_model, segment
from napari_temseg.evaluation import evaluate_dataset
from napari_temseg.metrics import instance_scores
from napari_temseg.models.classical import auto_sigma
from napari_temseg.preprocess import normalize
from napari_temseg.synth import synth_image


def test_registry_lists_only_working_models(tmp_path, monkeypatch):
    monkeypatch.setenv("TEMSEG_CACHE", str(tmp_path))  # no user-imported weights
    # every model has weights in the package (EfficientSAM's trained here), none imported
    assert available_models() == ["classical", "yolov8n-seg", "efficientsam-tiny", "swin-unet", "vmamba"]
    with pytest.raises(TemsegError, match="unknown model 'nope'; available: classical"):
        load_model("nope")
    with pytest.raises(TemsegError, match="no weights"):
        load_model("classical", weights="x.pt")


def test_labels_are_uint32_one_id_per_particle(touching_images):
    sample = touching_images[0]
    labels = segment(sample.image)
    assert labels.dtype == np.uint32 and labels.shape == sample.image.shape
    ids = np.unique(labels)
    assert ids[0] == 0 and np.array_equal(ids, np.arange(len(ids)))


def test_touching_particles_are_split(touching_images):
    """Instance F1@0.5 with default settings on synthetic images with touching pairs."""
    f1 = [instance_scores(segment(s.image), s.labels).f1 for s in touching_images]
    assert np.mean(f1) >= 0.9, f1


def test_bright_particles_need_bright_polarity():
    sample = synth_image(seed=3, polarity="bright")
    bright = instance_scores(segment(sample.image, polarity="bright"), sample.labels).f1
    auto = instance_scores(segment(sample.image, polarity="auto"), sample.labels).f1
    assert bright >= 0.85 and auto == pytest.approx(bright)


def test_sixteen_bit_input_gives_the_same_particles():
    eight = synth_image(seed=2, bit_depth=8)
    sixteen = synth_image(seed=2, bit_depth=16)
    f8 = instance_scores(segment(eight.image), eight.labels).f1
    f16 = instance_scores(segment(sixteen.image), sixteen.labels).f1
    assert abs(f8 - f16) < 0.05


def test_auto_sigma_follows_noise():
    clean = normalize(synth_image(seed=0, dose=200).image)
    noisy = normalize(synth_image(seed=0, dose=5).image)
    assert auto_sigma(noisy) > auto_sigma(clean)


def test_unknown_option_is_a_clear_error(touching_images):
    with pytest.raises(TemsegError, match="unknown option.*sigmaa"):
        segment(touching_images[0].image, sigmaa=2)


def test_article_data_foreground_iou(paper_data):
    summary = evaluate_dataset(str(paper_data), "classical")
    assert summary["n_images"] == 20
    assert summary["iou"] >= 0.99 and summary["dice"] >= 0.99


def test_speed_512(touching_images):
    """The fastest of five runs (`fastest`)."""
    image = touching_images[0].image
    segment(image)
    best = fastest(lambda: segment(image), 5)
    assert best < 0.25, f"{best:.3f} s per 512x512 image"


def _particles_on(support_depth: float, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Dark discs (radius 10-16 px, 30 % absorption) on a support with a dark thickness
    patch a quarter of the field wide, `support_depth` deep at its centre, and a 15 % ramp
    when the depth is not 0. At depth 0.2 the patch's centre is as dark as the particles on
    the bright side: no single threshold separates them."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:384, :384].astype(np.float32)
    support = 1 - support_depth * np.exp(-((yy - 260) ** 2 + (xx - 120) ** 2) / (2 * 60.0**2))
    support -= 0.15 * xx / 384 if support_depth else 0
    truth = np.zeros((384, 384), np.uint32)
    for label, (y, x) in enumerate([(60, 60), (70, 300), (200, 200), (300, 320), (250, 110), (330, 40), (150, 60)], 1):
        truth[(yy - y) ** 2 + (xx - x) ** 2 < rng.uniform(10, 16) ** 2] = label
    image = support * np.where(truth > 0, 0.7, 1.0) + rng.normal(0, 0.03, truth.shape)
    return image.astype(np.float32), truth


def test_uneven_support_is_flattened():
    for seed in range(3):
        image, truth = _particles_on(support_depth=0.2, seed=seed)
        assert instance_scores(segment(image), truth).f1 == 1.0, seed
    # What a single threshold gives: particles missed and support patches taken (F1 0.8 here
    # since a coarse, skewed support no longer counts as a dense field; 0.23 before).
    assert instance_scores(segment(image, flatten="never"), truth).f1 < 0.9


def test_evenly_lit_image_is_left_as_it_is():
    from napari_temseg.models.classical import flatten_illumination

    image = normalize(_particles_on(support_depth=0.0)[0])
    assert flatten_illumination(image, "auto") is image


def test_the_spec_states_the_model_defaults():
    """The option table (what CLI, widgets and docs show) and the model's own defaults agree."""
    from dataclasses import fields

    from napari_temseg.models.classical import ClassicalSegmenter
    from napari_temseg.models.specs import SPECS

    stated = {option.name: option.default for option in SPECS["classical"].options}
    own = {f.name: f.default for f in fields(ClassicalSegmenter) if f.name != "name"}
    assert stated == own


def test_touching_particles_are_split_by_their_darkness_too():
    """A particle is darkest where it is thickest and touching ones are lighter where they
    meet: the split uses that as well as the outline's necks (simulator training regime,
    touching particles; 0.89 -> 0.98 F1 here, 0.70 -> 0.77 over the development set)."""
    from napari_temseg.segmentation import segment_image
    from napari_temseg.simulator import random_image

    sample = random_image(0, "train", mode="bf", radius_span=(10.0, 20.0), touching=0.6, dose=100.0, shape=(384, 384))
    outline_only = instance_scores(segment_image(sample.image, "classical", split_darkness=0.0).labels, sample.labels)
    with_darkness = instance_scores(segment_image(sample.image, "classical").labels, sample.labels)
    assert with_darkness.f1 > outline_only.f1 + 0.05 and with_darkness.f1 > 0.95, (outline_only.f1, with_darkness.f1)


def test_shallow_pieces_of_the_foreground_are_dropped():
    """A piece kept by Otsu's level must somewhere reach `seed_depth` spreads of the
    support's own variation below it: a faint dip of the support goes, a particle stays."""
    from napari_temseg.models.classical import drop_shallow

    rng = np.random.default_rng(0)
    smooth = 1.0 + 0.02 * rng.standard_normal((64, 64))
    smooth[10:20, 10:20] = 0.7  # a particle
    smooth[40:48, 40:48] = 0.95  # a grain of the support, 2.5 spreads deep
    foreground = np.zeros(smooth.shape, bool)
    foreground[10:20, 10:20] = foreground[40:48, 40:48] = True
    kept = drop_shallow(foreground, smooth, support=1.0, depth=4.0)
    assert kept[10:20, 10:20].all() and not kept[40:48, 40:48].any()
    assert drop_shallow(foreground, smooth, support=1.0, depth=0.0).sum() == foreground.sum()


def test_grains_of_a_carbon_support_are_not_particles():
    """On a grainy carbon support (simulator training regime) the hysteresis keeps the
    support's dark grains out (0.82 -> 0.94 F1 here; development set 0.766 -> 0.785)."""
    from napari_temseg.segmentation import segment_image
    from napari_temseg.simulator import random_image

    sample = random_image(0, "train", mode="bf", radius_span=(10.0, 20.0), carbon=0.12, carbon_grain=3.0,
                          shape=(384, 384))
    every_piece = instance_scores(segment_image(sample.image, "classical", seed_depth=0.0).labels, sample.labels)
    deep_only = instance_scores(segment_image(sample.image, "classical").labels, sample.labels)
    assert deep_only.f1 > every_piece.f1 + 0.08 and deep_only.f1 > 0.9, (every_piece.f1, deep_only.f1)


class GrainDrawer:
    """A model that draws every dark-enough piece, as a network does on a grainy support."""

    name = "grain-drawer"

    def predict(self, image):
        from scipy import ndimage as ndi

        smooth = ndi.gaussian_filter(image, 1.5)
        return ndi.label(smooth < smooth.mean() - 0.8 * smooth.std())[0].astype(np.uint32)


def test_every_model_drops_pieces_no_deeper_than_the_support():
    """`min_depth` ("auto": the classical model's own `seed_depth`) applies the same rule to
    any model's particles; 0 keeps them all, prompted particles are the user's."""
    from napari_temseg.segmentation import min_depth, segment_image
    from napari_temseg.simulator import random_image

    sample = random_image(0, "train", mode="bf", radius_span=(10.0, 20.0), carbon=0.12, carbon_grain=3.0,
                          shape=(384, 384))
    every_piece = segment_image(sample.image, GrainDrawer(), min_depth=0).labels
    deep_only = segment_image(sample.image, GrainDrawer()).labels
    assert deep_only.max() < every_piece.max() and deep_only.max() == len(np.unique(deep_only)) - 1
    before, after = (instance_scores(labels, sample.labels).f1 for labels in (every_piece, deep_only))
    assert after > before + 0.05, (before, after)  # 0.62 -> 0.74 when written
    assert min_depth(GrainDrawer(), "auto", prompted=True) == 0 and min_depth(load_model("classical"), "auto", False) == 0
    assert min_depth(GrainDrawer(), 2, prompted=True) == 2.0
    with pytest.raises(TemsegError, match="min_depth"):
        segment_image(sample.image, "classical", min_depth=-1)


def test_smoothing_stays_within_a_quarter_of_the_particle_radius(monkeypatch):
    """The noise alone asks for sigma 8 on a noisy image of particles of radius ~12 px,
    which blurs touching pairs into one; the size decision caps it (0.66 -> 0.83 F1 here,
    development set 0.791 -> 0.823)."""
    import napari_temseg.models.classical as classical
    from napari_temseg.segmentation import segment_image
    from napari_temseg.simulator import random_image

    assert classical.capped_sigma(8.0, 13.0) == 3.0 and classical.capped_sigma(8.0, float("nan")) == 8.0
    assert classical.capped_sigma(2.0, 40.0) == 2.0 and classical.capped_sigma(5.0, 2.0) == 1.0
    sample = random_image(3, "train", mode="bf", radius_span=(10.0, 14.0), dose=10.0, touching=0.5, contrast=0.6,
                          shape=(320, 320))
    capped = instance_scores(segment_image(sample.image, "classical").labels, sample.labels)
    monkeypatch.setattr(classical, "SIGMA_PER_RADIUS", float("inf"))
    noise_only = instance_scores(segment_image(sample.image, "classical").labels, sample.labels)
    assert capped.f1 > noise_only.f1 + 0.1, (noise_only.f1, capped.f1)


def test_sparse_small_particles_are_cut_below_the_support(monkeypatch):
    """With particles on ~4 % of the field Otsu halves the support's own noise and texture
    (hundreds of patches); the threshold then sits below the support's most common level
    (F1 0.07 -> 0.85 here at the particles' size; development set dose 8 0.769 -> 0.824)."""
    import napari_temseg.models.classical as classical
    from napari_temseg.segmentation import segment_image
    from napari_temseg.simulator import random_image

    sample = random_image(1, "train", mode="bf", radius_span=(4.0, 7.0), coverage=0.04, shape=(256, 256))
    alone = {"diameter": 10.0, "min_significance": 0}  # this rule alone (the noise rule drops some patches too)
    sparse = instance_scores(segment_image(sample.image, "classical", **alone).labels, sample.labels)
    monkeypatch.setattr(classical, "SPARSE_DEPTH", float("inf"))
    otsu_only = instance_scores(segment_image(sample.image, "classical", **alone).labels, sample.labels)
    assert sparse.f1 > 0.8 and otsu_only.f1 < 0.3, (otsu_only.f1, sparse.f1)
    dense = np.full((64, 64), 0.8)
    dense[:, :40] = 0.2  # most of the field is particle: Otsu's threshold stays
    assert classical.particle_levels(dense, 2.0)[0] == pytest.approx(classical.otsu_levels(dense)[0])


def test_a_halved_support_is_not_taken_for_a_dense_field():
    """A support with a long bright tail (coarse grain) has its most common level just below
    Otsu's threshold, which then halves it: that is not a dense field, whose most common level
    is the particles' own. The threshold goes below the support as for sparse particles."""
    import napari_temseg.models.classical as classical

    rng = np.random.default_rng(0)
    smooth = 0.45 + 0.04 * rng.gamma(4.0, 1.0, (200, 200))
    yy, xx = np.mgrid[:200, :200]
    particles = np.zeros(smooth.shape, bool)
    for cy, cx in rng.uniform(10, 190, (12, 2)):
        particles |= (yy - cy) ** 2 + (xx - cx) ** 2 < 25
    smooth[particles] = 0.15
    otsu, _, _ = classical.otsu_levels(smooth)
    assert classical.support_mode(smooth) < otsu  # the case the former rule took for a dense field
    threshold = classical.particle_levels(smooth, 2.0)[0]
    assert (smooth < otsu).mean() > 0.3 and abs((smooth < threshold).mean() - particles.mean()) < 0.01


def test_a_grainy_support_takes_the_darkness_out_of_the_split():
    """Inside particles on a grainy carbon support the darkness is the grains' as much as
    the particles' thickness: its weight in the split falls from full (support spread up to
    a quarter of the particle contrast) to none (0.35 of it and more)."""
    from napari_temseg.models.classical import TEXTURE_FULL, TEXTURE_NONE, support_spread, textured_weight

    rng = np.random.default_rng(0)
    field = rng.standard_normal((128, 128))
    for spread, expected in ((0.5 * TEXTURE_FULL, 1.0), ((TEXTURE_FULL + TEXTURE_NONE) / 2, 0.5), (2 * TEXTURE_NONE, 0.0)):
        smooth = 1.0 + 0.4 * spread * field / support_spread(1.0 + field, 1.0)  # particles at 0.6: contrast 0.4
        assert textured_weight(1.0, smooth, particles=0.6, support=1.0) == pytest.approx(expected, abs=0.02), spread
    assert textured_weight(0.0, 1.0 + 0.01 * field, particles=0.6, support=1.0) == 0.0


def test_a_time_stack_on_a_grainy_support_decides_the_darkness_split_once():
    """The frames of a video on the heaviest carbon the training generator draws get one
    weight of the darkness split, well below full; a video on an ordinary support keeps the
    full weight; asked off, nothing is decided; a single image is left as it was."""
    from napari_temseg.segmentation import resolve_single_image_rules, stack_options
    from napari_temseg.video_simulator import VideoConditions, simulate_video

    model = load_model("classical")
    grainy = simulate_video(VideoConditions(regime="train", n_frames=4, image=dict(carbon=0.12, carbon_grain=2.0,
                                                                                   psf=1.5)), seed=8101).frames
    decided = stack_options(grainy, model, {})
    assert decided["grain_guard"] is False and decided["split_darkness"] < 0.5, decided
    ordinary = simulate_video(VideoConditions(regime="train", n_frames=4), seed=8102).frames
    assert stack_options(ordinary, model, {})["split_darkness"] == 1.0
    asked_off = stack_options(grainy, model, {"grain_guard": False})
    assert asked_off["grain_guard"] is False and "split_darkness" not in asked_off
    assert resolve_single_image_rules(model, {}, in_stack=False)["grain_guard"] is False


def test_prompt_propagation_seeds_by_the_grain_rule_unless_built_without_it(monkeypatch):
    """Propagation's seed model segments the frames of a time stack: the grain rule is on for
    it, unless the seed model was built (or asked) without it."""
    import napari_temseg.models.classical as classical
    from napari_temseg.simulator import random_image
    from napari_temseg.tracking.propagate import next_instances

    calls = []
    real = classical.textured_weight
    monkeypatch.setattr(classical, "textured_weight", lambda *args: calls.append(1) or real(*args))
    frame = random_image(0, "train", mode="bf", radius_span=(10.0, 20.0), shape=(128, 128)).image
    next_instances(frame, None, None)
    assert calls
    calls.clear()
    next_instances(frame, None, None, seed_model=load_model("classical", grain_guard=False))
    next_instances(frame, None, None, grain_guard=False)
    assert not calls


def test_thin_particles_beside_thick_ones_in_dark_field_are_found():
    """HAADF brightness grows with thickness: Otsu's level between the support and particles of
    radius 12 passed over those of 4.5 (a HAADF user: 5 of 21 found). The classical model
    sees dark-field images with a bright-field look, as YOLO does (`df_absorption`)."""
    from scipy import ndimage as ndi

    from napari_temseg.segmentation import segment_image

    yy, xx = np.mgrid[:256, :256].astype(float)
    thickness, truth = np.zeros((256, 256)), np.zeros((256, 256), int)
    discs = [(40, 40, 12), (40, 128, 12), (40, 216, 12), (128, 40, 12), (128, 216, 12),
             (216, 40, 4.5), (216, 128, 4.5), (216, 216, 4.5), (128, 128, 4.5), (90, 170, 4.5), (170, 90, 4.5)]
    for k, (y, x, r) in enumerate(discs, 1):
        inside = (yy - y) ** 2 + (xx - x) ** 2 < r * r
        thickness[inside] += 2 * np.sqrt(r * r - ((yy - y) ** 2 + (xx - x) ** 2)[inside])
        truth[inside] = k
    image = np.random.default_rng(0).poisson(4 * ndi.gaussian_filter(2 + 3 * thickness, 1.0)).astype(np.uint16)
    model = load_model("classical")
    found = segment_image(image, model)
    assert found.polarity == "bright" and instance_scores(found.labels, truth).f1 == 1.0
    linear = segment_image(image, model, df_absorption=0)  # the image as it is: the thin ones are lost
    assert instance_scores(linear.labels, truth).recall < 0.5
