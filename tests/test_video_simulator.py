"""The held-out sintering videos: truth that says when particles fuse, and the conditions asked for."""

import numpy as np
import pytest

from napari_temseg import TemsegError
from napari_temseg.video_simulator import VideoConditions, simulate_video

SMALL = dict(n_frames=30, shape=(256, 256), n_single=3, n_pairs=1, n_triples=1, n_touching=1, radius=(7.0, 11.0))


@pytest.fixture(scope="module")
def video():
    return simulate_video(VideoConditions(**SMALL, blank=(5,), crossing=2), seed=3)


def test_fusion_truth_starts_at_contact(video):
    assert [len(e["parents"]) for e in video.events] == [2, 3]
    for event in video.events:
        t = event["frame"]
        before, at = set(np.unique(video.labels[t - 1])), set(np.unique(video.labels[t]))
        assert set(event["parents"]) <= before and event["child"] not in before
        assert event["child"] in at and not set(event["parents"]) & at


def test_touching_pair_keeps_both_ids_and_blank_frames_are_empty(video):
    fused = {p for e in video.events for p in e["parents"]} | {e["child"] for e in video.events}
    every = set(np.unique(video.labels[video.labels > 0]))
    assert len(every - fused) >= 4  # the touching pair and the singles keep their own IDs
    assert not video.frames[5].any() and not video.labels[5].any()
    assert video.frames[6].any() and video.frames.dtype == np.uint16


def test_crossing_particles_leave_or_enter(video):
    first, last = set(np.unique(video.labels[0])), set(np.unique(video.labels[-1]))
    fused = {p for e in video.events for p in e["parents"]} | {e["child"] for e in video.events}
    assert (first - last) - fused or (last - first) - fused  # someone left or came in


def test_regimes_and_bad_conditions():
    train = simulate_video(VideoConditions(**{**SMALL, "n_frames": 3}, regime="train"), seed=1)
    heldout = simulate_video(VideoConditions(**{**SMALL, "n_frames": 3}), seed=1)
    assert not np.array_equal(train.frames, heldout.frames)
    with pytest.raises(TemsegError, match="regime"):
        simulate_video(VideoConditions(regime="other"))
    with pytest.raises(TemsegError, match="larger frame"):
        simulate_video(VideoConditions(shape=(64, 64), n_pairs=6))


def test_cli_writes_a_heldout_video_that_evaluate_track_reads(tmp_path, capsys):
    from napari_temseg.cli import main

    args = ["--frames", "6", "--size", "192", "--singles", "2", "--pairs", "1", "--triples", "0", "--touching", "0"]
    assert main(["synth-video", "--out", str(tmp_path), *args, "--regime", "heldout"]) == 0
    assert main(["evaluate-track", str(tmp_path / "truth"), "--truth", str(tmp_path / "truth")]) == 0
    assert "consistent-ID fraction 1.0000" in capsys.readouterr().out


def test_synth_video_defaults_fit_a_smaller_frame(tmp_path, capsys):
    """The 512 px defaults (11 groups) did not fit a 256 px frame: defaults follow the area,
    a count given is kept."""
    from napari_temseg.cli import main
    from napari_temseg.cli.synth import default_groups

    assert default_groups(512, ["singles", "pairs", "triples", "touching"]) == {
        "singles": 14, "pairs": 6, "triples": 2, "touching": 3}
    assert default_groups(1024, ["pairs"]) == {"pairs": 6} and default_groups(128, ["pairs"]) == {"pairs": 1}
    assert main(["synth-video", "--out", str(tmp_path / "a"), "--frames", "4", "--size", "256"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("4 frames, ") and " particles in the first, 2 fusion events" in out
    assert main(["synth-video", "--out", str(tmp_path / "b"), "--frames", "4", "--size", "256", "--triples", "1"]) == 0
    assert " particles in the first, 3 fusion events" in capsys.readouterr().out
    assert main(["synth-video", "--out", str(tmp_path / "c"), "--frames", "150", "--size", "256"]) == 0  # fewer:
    out = capsys.readouterr().out
    assert out.startswith("150 frames, ") and ", 1 fusion events" in out  # 150 frames of drift: a wider margin
    assert main(["synth-video", "--out", str(tmp_path / "d"), "--frames", "150", "--size", "128"]) == 2
    assert "use a larger --size or fewer --frames" in capsys.readouterr().err


def test_flicker_and_dose_step_change_the_frames():
    """The detector is set on the first frame: flicker and a dose step reach the counts."""
    base = dict(**{**SMALL, "n_frames": 8})
    plain = simulate_video(VideoConditions(**base), seed=2).frames.astype(float)
    flicker = simulate_video(VideoConditions(**base, flicker=0.2), seed=2).frames.astype(float)
    dimmer = simulate_video(VideoConditions(**base, dose_step=0.3), seed=2).frames.astype(float)
    means = [f.mean(axis=(1, 2)) for f in (plain, flicker, dimmer)]
    assert np.std(means[1] / means[0]) > 0.05  # frame brightness jumps with the flicker
    assert means[2][5:].mean() < 0.5 * means[0][5:].mean() and np.allclose(means[2][:4], means[0][:4], rtol=0.05)


def test_a_fusing_group_keeps_its_darkness_at_contact():
    """A sintering child looks as its parents did on the frame before contact (its
    thickness comes from their material, not from the size of its young neck)."""
    still = dict(carbon=0.0, fresnel=0.0, fringes=0.0, gradient=0.0, blotch=0.0, psf=0.5)
    video = simulate_video(VideoConditions(n_frames=40, shape=(256, 256), n_single=0, n_pairs=1, n_triples=1,
                                           n_touching=0, radius=(9.0, 14.0), dose=(1e6, 1e6), regime="train",
                                           dtype="float32", image=still), seed=4)
    assert len(video.events) == 2
    for event in video.events:
        t, ids = event["frame"], event["parents"] + [event["child"]]
        darkness = []
        for frame in (t - 1, t):
            image, labels = video.frames[frame].astype(float), video.labels[frame]
            group = np.isin(labels, ids)
            near = np.zeros_like(group)
            ys, xs = np.nonzero(group)
            near[max(ys.min() - 4, 0):ys.max() + 5, max(xs.min() - 4, 0):xs.max() + 5] = True
            support = np.median(image[labels == 0])
            darkness.append(float(np.clip(support - image[near], 0, None).sum()))
        assert 0.85 < darkness[1] / darkness[0] < 1.15


def test_a_group_too_large_for_the_room_left_is_drawn_again():
    """A frame with room for every group, but not for the first particles drawn for one of
    them (seed 9 raised "cannot fit" before): the group is drawn again, and every group is there."""
    conditions = VideoConditions(shape=(224, 224), n_frames=4, n_single=2, n_pairs=2, n_triples=1, n_touching=1)
    video = simulate_video(conditions, seed=9)
    assert len(video.events) == 3
    assert sorted(len(event["parents"]) for event in video.events) == [2, 2, 3]
    last = set(np.unique(video.labels[-1]).tolist())
    assert all(event["child"] in last for event in video.events)
