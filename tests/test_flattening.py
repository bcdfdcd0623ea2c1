"""Every model is given an image with the support's uneven brightness taken off (`flattening`):
the networks learnt evenly lit images, and took a ramp's dark side for particles."""

import numpy as np
import pytest
from test_classical import _particles_on

from napari_temseg import TemsegError, load_model, segment
from napari_temseg.flattening import FLATTEN_MODES
from napari_temseg.metrics import instance_scores
from napari_temseg.segmentation import (
    check_model_options,
    describe_stack_options,
    flattens_for,
    segment_image,
    stack_options,
)


def _seen_by(model, image, **options) -> np.ndarray:
    """The image `model.predict` is handed when `image` is segmented with `options`."""
    seen = []
    predict = model.predict

    def spy(img, **kwargs):
        seen.append(np.array(img))
        return predict(img, **kwargs)

    model.predict = spy
    try:
        segment_image(image, model, **options)
    finally:
        model.predict = predict
    return seen[0]


def _ramp(image: np.ndarray) -> float:
    """The support's rise from the left quarter to the right quarter of an image, over its
    range (column medians: the particles are a minority of every column)."""
    columns = np.median(image, axis=0)
    quarter = len(columns) // 4
    return float((columns[:quarter].mean() - columns[-quarter:].mean()) / np.ptp(image))


def test_swin_unet_finds_the_particles_on_an_uneven_support():
    """A thickness patch as dark as the particles and a 15 % ramp: Swin-UNet found a third of
    the particles and drew the patch before it was given the flattened image."""
    image, truth = _particles_on(support_depth=0.2, seed=0)
    model = load_model("swin-unet")
    assert instance_scores(segment(image, model), truth).f1 == 1.0
    assert instance_scores(segment(image, model, flatten="never"), truth).f1 < 0.5


def test_a_network_sees_the_flattened_image_and_the_classical_model_flattens_its_own():
    image = _particles_on(support_depth=0.2, seed=1)[0]
    yolo = load_model("yolov8n-seg")
    assert flattens_for(yolo) and not flattens_for(load_model("classical"))
    assert _ramp(_seen_by(yolo, image, flatten="never")) > 0.05  # the ramp as it is
    assert abs(_ramp(_seen_by(yolo, image))) < 0.02
    # the classical model is handed the image as it is and flattens what it smooths
    assert _ramp(_seen_by(load_model("classical"), image)) > 0.05


def test_what_was_taken_off_is_said():
    yolo = load_model("yolov8n-seg")
    uneven, even = _particles_on(support_depth=0.2)[0], _particles_on(support_depth=0.0)[0]
    result = segment_image(uneven, yolo)
    assert result.flattened == "always" and "illumination ramp and uneven support taken off" in result.describe()
    assert segment_image(uneven, yolo, flatten="plane").describe().count("an illumination ramp taken off") == 1
    assert segment_image(even, yolo).flattened == "never" and "taken off" not in segment_image(even, yolo).describe()
    frames = np.stack([uneven] * 3)
    assert "uneven support taken off; the same for every frame" in describe_stack_options(stack_options(frames, yolo, {}), {})


def test_an_evenly_lit_image_reaches_a_network_untouched():
    image = _particles_on(support_depth=0.0)[0]
    yolo = load_model("yolov8n-seg")
    np.testing.assert_array_equal(_seen_by(yolo, image), _seen_by(yolo, image, flatten="never"))


@pytest.mark.parametrize("name", ["classical", "yolov8n-seg"])
def test_a_time_stack_flattens_every_frame_alike(name):
    """Frame by frame, a video near a threshold would be flattened and not in turn (outlines
    jumping between frames); a stack takes the most common mode of its sampled frames."""
    uneven, even = _particles_on(support_depth=0.2)[0], _particles_on(support_depth=0.0)[0]
    frames = np.stack([uneven, even, uneven, uneven, even, uneven])
    model = load_model(name)
    assert stack_options(frames, model, {})["flatten"] == "always"
    assert stack_options(frames[[1, 4, 0]], model, {})["flatten"] == "never"
    assert stack_options(frames, model, {"flatten": "plane"})["flatten"] == "plane"  # given: kept


def test_efficientsam_keeps_its_image():
    """Its prompted masks spread over a flattened support (the shipped weights' one-point IoU
    and propagation's fell); its automatic boxes come from a model that flattens."""
    assert not flattens_for(load_model("efficientsam-tiny"))


@pytest.mark.parametrize("model", ["classical", "yolov8n-seg", "swin-unet", "vmamba"])
def test_every_network_takes_flatten_and_refuses_a_wrong_one(model):
    segmenter = load_model(model)
    for mode in FLATTEN_MODES:
        assert check_model_options(segmenter, {"flatten": mode})["flatten"] == mode
    with pytest.raises(TemsegError, match="flatten"):
        check_model_options(segmenter, {"flatten": "banana"})


def test_a_stack_given_flatten_true_says_what_was_taken_off():
    """True stands for "always" (a review: the line said nothing was taken off)."""
    line = describe_stack_options({"polarity": "dark", "diameter": 20.0, "flatten": True}, {"flatten": True})
    assert "an illumination ramp and uneven support taken off" in line
