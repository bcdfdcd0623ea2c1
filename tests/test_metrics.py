import numpy as np
import pytest
from conftest import fastest

from napari_temseg import TemsegError
from napari_temseg.metrics import dice, foreground_iou, instance_scores, tracking_scores


def test_foreground_iou_and_dice_by_hand():
    pred = np.zeros((4, 4), int)
    truth = np.zeros((4, 4), int)
    pred[0, :3] = 1  # 3 px
    truth[0, 1:] = 5  # 3 px, 2 shared
    assert foreground_iou(pred, truth) == pytest.approx(2 / 4)
    assert dice(pred, truth) == pytest.approx(2 * 2 / 6)


def test_empty_images_score_perfectly():
    z = np.zeros((3, 3), int)
    assert foreground_iou(z, z) == 1.0 and dice(z, z) == 1.0
    assert instance_scores(z, z).f1 == 1.0


def test_instance_scores_by_hand():
    truth = np.zeros((10, 10), int)
    truth[0:4, 0:4] = 1  # 16 px
    truth[6:10, 6:10] = 2  # 16 px
    pred = np.zeros_like(truth)
    pred[0:4, 0:3] = 7  # IoU 12/16 = 0.75 with 1
    pred[6:10, 6:8] = 3  # IoU 8/16 = 0.5 with 2: not a match (needs > 0.5)
    pred[5, 0] = 9  # false positive
    s = instance_scores(pred, truth)
    assert (s.tp, s.fp, s.fn) == (1, 2, 1)
    assert s.precision == pytest.approx(1 / 3)
    assert s.recall == pytest.approx(1 / 2)
    assert s.f1 == pytest.approx(2 * 1 / (3 + 2))
    assert s.mean_matched_iou == pytest.approx(0.75)
    # AP: thresholds 0.5..0.7 keep the 0.75 match (tp=1 of 4 objects), 0.75+ do not.
    expected = np.mean([1 / 4] * 5 + [0 / 5] * 5)
    assert s.ap == pytest.approx(expected)


def test_shape_mismatch_and_low_threshold_are_errors():
    with pytest.raises(TemsegError, match="shape"):
        foreground_iou(np.zeros((2, 2)), np.zeros((3, 3)))
    with pytest.raises(TemsegError, match="0.5"):
        instance_scores(np.zeros((2, 2), int), np.zeros((2, 2), int), threshold=0.3)


def test_thousands_of_objects_score_fast():
    rng = np.random.default_rng(0)
    truth = np.kron(np.arange(1, 1601).reshape(40, 40), np.ones((25, 25), int))  # 1000x1000, 1600 objects
    pred = np.roll(truth, 3, axis=1) * (rng.random(truth.shape) > 0.01)
    assert fastest(lambda: instance_scores(pred, truth), 3) < 1.0
    assert instance_scores(pred, truth).tp > 1500


def test_tracking_scores_by_hand():
    truth = np.zeros((3, 8, 8), int)
    truth[:, 1:3, 1:3] = 1
    truth[:2, 5:7, 5:7] = 2
    truth[2, 4:7, 4:7] = 3  # 2 "fuses" into 3 at frame 2 (single parent is enough here)
    pred = truth * 10
    pred[1][truth[1] == 1] = 11  # one ID switch on track 1 and back
    true_events = [{"frame": 2, "parents": [2], "child": 3}]
    pred_events = [{"frame": 3, "parents": [20], "child": 30}]
    s = tracking_scores(pred, truth, pred_events, true_events)
    assert s.id_switches == 2
    assert s.consistent_id_fraction == pytest.approx((2 + 2 + 1) / 6)
    assert s.fusion_f1 == 1.0  # frame within the +-2 tolerance, parents and child agree
    far = [{"frame": 5, "parents": [20], "child": 30}]
    assert tracking_scores(pred, truth, far, true_events).fusion_recall == 0.0
