"""Corner cuts: convex particles joined along a face become two particles, single convex
particles stay whole, and time stacks do without the cuts."""

import numpy as np
import pytest
from skimage.draw import disk

from napari_temseg import TemsegError, load_model, segment, track
from napari_temseg.cuts import cut_at_corners
from napari_temseg.instances import mask_to_instances
from napari_temseg.metrics import instance_scores
from napari_temseg.segmentation import iter_segment_frames, stack_options
from napari_temseg.tracking.propagate import next_instances


def rod_on_cube() -> np.ndarray:
    """Truth labels: a rod lying along one face of a cube (no neck between them)."""
    truth = np.zeros((100, 120), np.uint32)
    truth[30:42, 10:90] = 1
    truth[42:70, 40:68] = 2
    return truth


def test_a_rod_lying_against_a_cube_is_cut_where_they_meet():
    truth = rod_on_cube()
    assert mask_to_instances(truth > 0, corner_cuts=False).max() == 1  # no neck: the watershed keeps one
    labels = mask_to_instances(truth > 0)
    assert labels.max() == 2
    scores = instance_scores(labels, truth)
    assert scores.f1 == 1.0 and scores.mean_matched_iou > 0.95


@pytest.mark.parametrize("shape", ["disc", "rod", "square"])
def test_a_single_convex_particle_is_never_cut(shape):
    mask = np.zeros((100, 100), bool)
    if shape == "disc":
        mask[disk((50, 50), 30)] = True
    elif shape == "rod":
        mask[45:55, 5:95] = True
    else:
        mask[20:80, 20:80] = True
    labels = mask.astype(np.uint32)
    np.testing.assert_array_equal(cut_at_corners(labels), labels)


def test_a_label_in_two_pieces_has_only_its_largest_piece_cut():
    labels = np.zeros((100, 240), np.uint8)
    labels[:, :120] = rod_on_cube()
    labels[labels > 0] = 1
    labels[40:60, 150:170] = 1  # a second piece of the same label (a detector's mask can be)
    out = cut_at_corners(labels)
    assert out.dtype == np.uint32 and out.max() == 2
    assert (out[40:60, 150:170] == 1).all()


def test_propagation_hands_the_stack_decision_only_to_a_seed_model_that_has_it():
    seen = {}

    class Seed:
        name = "a user's own model"

        def predict(self, image, **options):
            seen.update(options)
            return np.zeros(image.shape, np.uint32)

    frame = np.where(rod_on_cube() > 0, 0.2, 0.8).astype(np.float32)
    next_instances(frame, None, None, seed_model=Seed(), corner_cuts=False)
    assert "corner_cuts" not in seen


def test_cut_parts_get_new_ids_and_other_particles_keep_theirs():
    labels = np.zeros((100, 240), np.uint32)
    labels[:, :120] = rod_on_cube()
    labels[labels > 0] = 7
    labels[40:60, 150:170] = 3
    out = cut_at_corners(labels)
    assert set(np.unique(out)) == {0, 3, 7, 8}
    np.testing.assert_array_equal(out == 3, labels == 3)
    np.testing.assert_array_equal(out > 0, labels > 0)  # the cut moves no foreground pixel


def test_the_classical_model_cuts_single_images_but_not_time_stacks():
    truth = rod_on_cube()
    image = np.where(truth > 0, 0.2, 0.8).astype(np.float32)
    model = load_model("classical")
    assert segment(image, model, diameter="none").max() == 2
    assert segment(image, model, diameter="none", corner_cuts=False).max() == 1
    stack = np.stack([image, image])
    assert stack_options(stack, model, {})["corner_cuts"] is False
    assert stack_options(stack, model, {"corner_cuts": True})["corner_cuts"] is True
    assert [labels.max() for _, labels in iter_segment_frames(stack, model, diameter="none")] == [1, 1]
    built_to_cut = load_model("classical", corner_cuts=True)
    assert [labels.max() for _, labels in iter_segment_frames(stack, built_to_cut, diameter="none")] == [2, 2]


def test_tracking_keeps_a_neck_whole_unless_asked_to_cut():
    image = np.where(rod_on_cube() > 0, 0.2, 0.8).astype(np.float32)
    stack = np.stack([image] * 3)
    assert [frame.max() for frame in track(stack, "classical", diameter="none").labels] == [1, 1, 1]
    cut = track(stack, "classical", diameter="none", corner_cuts=True).labels
    assert [len(np.unique(frame)) - 1 for frame in cut] == [2, 2, 2]


def test_a_wrong_corner_cuts_value_is_a_clear_error():
    with pytest.raises(TemsegError, match="corner_cuts"):
        segment(np.random.default_rng(0).random((64, 64)).astype(np.float32), "classical", corner_cuts="maybe")


def test_automatic_efficientsam_hands_the_choice_to_its_detector(monkeypatch):
    model = load_model("efficientsam-tiny")
    detector, seen = model._box_model("classical"), {}

    def predict(image, **options):
        seen.update(options)
        return np.zeros(image.shape, np.uint32)

    monkeypatch.setattr(detector, "predict", predict)
    image = np.where(rod_on_cube() > 0, 0.2, 0.8).astype(np.float32)
    segment(image, model, diameter="none")
    assert seen["corner_cuts"] is True
    segment(image, model, diameter="none", corner_cuts=False)
    assert seen["corner_cuts"] is False
    assert stack_options(np.stack([image, image]), model, {})["corner_cuts"] is False


def test_yolo_cuts_a_mask_it_drew_over_a_rod_and_a_cube(monkeypatch):
    model = load_model("yolov8n-seg")
    one_mask = (rod_on_cube() > 0).astype(np.uint32)
    monkeypatch.setattr(model, "_instances", lambda gray, *args: one_mask.copy())
    image = np.where(one_mask > 0, 0.2, 0.8).astype(np.float32)
    assert model.predict(image, refine_edges=False).max() == 2
    assert model.predict(image, refine_edges=False, corner_cuts=False).max() == 1
    assert stack_options(np.stack([image, image]), model, {})["corner_cuts"] is False
