import time

import numpy as np
import pytest

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
    image = touching_images[0].image
    segment(image)
    start = time.perf_counter()
    for _ in range(5):
        segment(image)
    per_image = (time.perf_counter() - start) / 5
    assert per_image < 0.25, f"{per_image:.3f} s per 512x512 image"
