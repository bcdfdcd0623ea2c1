import dask.array as da
import numpy as np
import pytest

from napari_temseg import TemsegError, track
from napari_temseg.metrics import tracking_scores
from napari_temseg.tracking import Linker, LinkOptions


def _disc(shape, cy, cx, r):
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    return (yy - cy) ** 2 + (xx - cx) ** 2 < r**2


def _link(frames, images=None):
    linker = Linker(LinkOptions(fusion_min_frames=3))
    out = {}
    for t, f in enumerate(frames):
        out.update(linker.push(f, None if images is None else images[t]))
    out.update(linker.flush())
    return np.stack([out[t] for t in range(len(frames))]), linker.events


def test_ids_are_stable_under_drift_and_reordering():
    frames = []
    for t in range(12):
        lab = np.zeros((80, 80), np.uint32)
        # IDs shuffle every frame, particles drift 2 px/frame
        order = [1, 2] if t % 2 else [2, 1]
        lab[_disc(lab.shape, 20 + 2 * t, 20, 6)] = order[0]
        lab[_disc(lab.shape, 20, 60 - 2 * t, 6)] = order[1]
        frames.append(lab)
    tracked, events = _link(frames)
    first = tracked[0][20, 20], tracked[0][20, 60]
    for t in range(12):
        assert tracked[t][20 + 2 * t, 20] == first[0]
        assert tracked[t][20, 60 - 2 * t] == first[1]
    assert events == []


def test_fusion_of_three_records_one_event_and_a_new_child():
    frames = []
    for t in range(14):
        lab = np.zeros((80, 80), np.uint32)
        if t < 6:
            for i, (cy, cx) in enumerate([(24, 24), (24, 36), (35, 30)], 1):  # apart until frame 6
                lab[_disc(lab.shape, cy, cx, 6)] = i
        else:
            lab[_disc(lab.shape, 27, 30, 10.4)] = 1
        frames.append(lab)
    tracked, events = _link(frames)
    assert len(events) == 1
    ev = events[0]
    assert ev["frame"] == 6 and len(ev["parents"]) == 3
    assert set(ev["parents"]) == set(np.unique(tracked[5])) - {0}
    assert np.unique(tracked[6:]).tolist() == [0, ev["child"]]
    assert ev["child"] not in ev["parents"]


def _pair_frames(neck_frames, merged_from, n=18, rounding=True, round_from=None):
    """Two discs apart, then joined by a neck the segmentation splits (frames in
    `neck_frames`: contact length per frame), then one object from `merged_from` on, whose
    neck widens from `round_from` (default: at once) as sintering particles round up (stays
    as it is: `rounding` False)."""
    frames = []
    for t in range(n):
        lab = np.zeros((80, 80), np.uint32)
        left, right = _disc(lab.shape, 40, 30, 9), _disc(lab.shape, 40, 50, 9)
        if t >= merged_from:
            lab[left | right] = 1
            widening = max(t - (merged_from if round_from is None else round_from), 0)
            half = min(5 + 2 * widening, 9) if rounding else 5
            lab[40 - half : 41 + half, 36:45] = 1
        else:
            lab[left] = 1
            lab[right] = 2
            width = neck_frames.get(t, 0)
            if width:  # a neck `width` px tall, split down its middle
                rows = slice(40 - width // 2, 40 - width // 2 + width)
                lab[rows, 36:40] = 1
                lab[rows, 40:45] = 2
        frames.append(lab)
    return frames


def test_a_neck_split_by_the_segmentation_dates_the_fusion():
    """Sintering particles keep two dark lobes, so the segmentation splits a young neck for
    frames after contact and sees the merge late: a neck held for ONSET_MIN_RUN frames or
    more before the merge dates the fusion; parents closing in (a growing contact) do not."""
    tracked, events = _link(_pair_frames({t: 9 for t in range(4, 10)}, merged_from=10))
    assert [e["frame"] for e in events] == [4]
    assert np.unique(tracked[4:]).tolist() == [0, events[0]["child"]]
    assert events[0]["onset_latest"] == 10  # where the merge itself began
    _, closing_in = _link(_pair_frames({8: 3, 9: 9}, merged_from=10))
    assert [e["frame"] for e in closing_in] == [10]
    _, brief = _link(_pair_frames({t: 9 for t in range(7, 10)}, merged_from=10))
    assert [e["frame"] for e in brief] == [10]
    prompted = Linker(LinkOptions(fusion_min_frames=3), date_by_neck=False)  # as prompt propagation links
    for frame in _pair_frames({t: 9 for t in range(4, 10)}, merged_from=10):
        prompted.push(frame)
    prompted.flush()
    assert [e["frame"] for e in prompted.events] == [10]
    assert Linker.restore(*prompted.state()).date_by_neck is False


def test_a_neck_the_image_shows_pale_is_a_gap_not_a_neck():
    """In a noisy video the outline can join particles still a blurred gap apart, for as many
    frames as a split young neck: where the image shows that contact pale (less than
    ONSET_MATERIAL_DEPTH as dark as the particles) the outline's run ends there, and the
    merge's first frame stays the onset; the same run shown dark dates the fusion to it."""
    frames = _pair_frames({t: 9 for t in range(4, 10)}, merged_from=10)
    pale, dark = _pair_images(frames, 0.65), _pair_images(frames, 0.35)  # contact depth 0.5 and 0.93
    assert [e["frame"] for e in _link(frames, pale)[1]] == [10]
    assert [e["frame"] for e in _link(frames, dark)[1]] == [4]
    late_pale = [pale[t] if t in (4, 5) else dark[t] for t in range(len(frames))]  # the run's first two pale
    assert [e["frame"] for e in _link(frames, late_pale)[1]] == [6]


def test_particles_that_touch_without_rounding_up_are_not_a_fusion():
    """A pair seen as one object for 20 frames that keeps the outline of two touching particles
    keeps both IDs; the same pair rounding up is a fusion dated to its first merged frame,
    also when the run is interrupted and resumed while the merge is unconfirmed."""
    frames = _pair_frames({}, merged_from=4, n=24, rounding=False)
    tracked, events = _link(frames)
    assert events == []
    assert all(tracked[t][40, 30] == tracked[0][40, 30] and tracked[t][40, 50] == tracked[0][40, 50] for t in range(24))
    rounding = _pair_frames({}, merged_from=4, n=24)
    assert [e["frame"] for e in _link(rounding)[1]] == [4]
    linker = Linker(LinkOptions(fusion_min_frames=3))
    for frame in rounding[:6]:
        linker.push(frame)
    resumed = Linker.restore(*linker.state())
    assert [p.solidity for p in resumed._pending.values()] == [p.solidity for p in linker._pending.values()] != [()]
    for frame in rounding[6:]:
        resumed.push(frame)
    resumed.flush()
    assert [e["frame"] for e in resumed.events] == [4]


def test_a_merge_that_rounds_up_late_is_still_dated_to_its_first_merged_frame():
    """Sintering may show its rounding well after the merge (a slow neck): the tracker holds
    frames back long enough (ROUNDING_WAIT + ONSET_LOOKBACK) to relabel them from the merge on."""
    frames = _pair_frames({}, merged_from=4, n=36, round_from=26)
    tracked, events = _link(frames)
    assert [e["frame"] for e in events] == [4]
    assert np.unique(tracked[4:]).tolist() == [0, events[0]["child"]]


def test_a_fusion_the_video_ends_before_confirming_is_still_found():
    """A merge still on in the last frame that has rounded up is a fusion, though it lasted
    fewer than `fusion_min_frames` (6): the video ended, not the merge. Three merged frames
    cannot show a rounding, and a pair that only touches stays two."""
    def run(frames):
        linker = Linker(LinkOptions())
        out = dict(pair for frame in frames for pair in linker.push(frame))
        out.update(linker.flush())
        return np.stack([out[t] for t in range(len(frames))]), linker.events

    tracked, events = run(_pair_frames({}, merged_from=13, n=18))
    assert [e["frame"] for e in events] == [13]
    assert np.unique(tracked[13:]).tolist() == [0, events[0]["child"]]
    assert run(_pair_frames({}, merged_from=15, n=18))[1] == []
    touching, events = run(_pair_frames({}, merged_from=10, n=18, rounding=False))
    assert events == [] and len(np.unique(touching[-1])) == 3


def _pair_images(frames, neck_level, support=1.0, particle=0.3):
    """Grey frames of `_pair_frames`' labels: particles at `particle` on `support`, the
    pixels of the neck rows at `neck_level` (dark: material; near the support: a blurred gap)."""
    images = []
    for lab in frames:
        image = np.where(lab > 0, particle, support).astype(np.float32)
        neck = np.zeros(lab.shape, bool)
        neck[:, 36:45] = lab[:, 36:45] > 0
        neck &= ~(_disc(lab.shape, 40, 30, 9) | _disc(lab.shape, 40, 50, 9))
        image[neck] = neck_level
        images.append(image)
    return images


def test_a_wide_dark_neck_the_segmentation_keeps_split_is_a_fusion():
    """Early-stage sintering: a neck grows between parents that stay put, and the segmentation
    splits it for the whole clip (a user's video: no event, the two IDs on to the end, no
    sintering rows). A contact as wide as 0.75 of the smaller particle and as dark as the
    particles for `fusion_min_frames` frames is a fusion, dated to the first of them; the
    same contact pale (a blurred gap), a narrower one (particles that overlap a little in
    projection, 0.55-0.7 on that user's video), a parent cut by the frame's border (its size
    unknown: two particles entering side by side), or no image to read it from: no fusion."""
    wide, narrow = (_pair_frames({t: width for t in range(4, 18)}, merged_from=100) for width in (17, 11))
    tracked, events = _link(wide, _pair_images(wide, 0.35))
    assert [(e["frame"], e["parents"]) for e in events] == [(4, [1, 2])]
    assert np.unique(tracked[4:]).tolist() == [0, events[0]["child"]]
    assert _link(wide, _pair_images(wide, 0.65))[1] == []
    assert _link(narrow, _pair_images(narrow, 0.35))[1] == []
    assert _link(wide)[1] == []
    assert _link([f[:, 22:] for f in wide], [i[:, 22:] for i in _pair_images(wide, 0.35)])[1] == []
    prompted = Linker(LinkOptions(fusion_min_frames=3), date_by_neck=False)  # propagation's masks: no neck rule
    for frame, image in zip(wide, _pair_images(wide, 0.35), strict=True):
        prompted.push(frame, image)
    prompted.flush()
    assert prompted.events == []


def test_a_neck_is_measured_alike_at_any_angle_and_a_fused_pair_keeps_its_id_beside_a_neighbour():
    """A contact counted in pixel edges reads 1.41x longer at 45 degrees: a pair overlapping a
    little (0.57 of a diameter) passed for a neck there and not upright. And a child fused
    by its neck, still drawn as its two parents, one of them then joined to a neighbour by
    the segmentation, had its other half take a new ID that 'fused' with it, and the
    neighbour was absorbed and fused too."""
    yy, xx = np.mgrid[:120, :120].astype(float)

    def overlapping(angle):
        th = np.deg2rad(angle)
        a, b = (60 - 10 * np.sin(th), 60 - 10 * np.cos(th)), (60 + 10 * np.sin(th), 60 + 10 * np.cos(th))
        in_a, in_b = ((yy - a[0]) ** 2 + (xx - a[1]) ** 2 <= 144), ((yy - b[0]) ** 2 + (xx - b[1]) ** 2 <= 144)
        labels = np.zeros((120, 120), np.uint32)
        labels[in_a | in_b] = 1
        labels[(in_a | in_b) & ((yy - 60) * np.sin(th) + (xx - 60) * np.cos(th) > 0)] = 2
        image = np.where(in_a | in_b, 0.3, 1.0).astype(np.float32)
        image[in_a & in_b] = 0.15  # thicker where they overlap in projection
        return labels, image

    for angle in (0, 45):
        labels, image = overlapping(angle)
        assert _link([labels] * 10, [image] * 10)[1] == []
    frames, images = [], []
    for t in range(16):
        labels = np.zeros((80, 100), np.uint32)
        for k, cx in enumerate((30, 50, 70), 1):
            labels[_disc(labels.shape, 40, cx, 9)] = k
        image = np.where(labels > 0, 0.3, 1.0).astype(np.float32)
        if t >= 2:  # a and b: a wide dark neck, split down its middle
            for cols, k in ((slice(36, 40), 1), (slice(40, 45), 2)):
                labels[32:49, cols] = np.where(labels[32:49, cols] == 0, k, labels[32:49, cols])
            image[32:49, 36:45] = 0.35
        if t >= 10:  # b and c drawn as one object through a narrow bridge
            labels[38:43, 57:64] = 2
            labels[labels == 3] = 2
            image[38:43, 57:64] = 0.35
        frames.append(labels)
        images.append(image)
    linker = Linker(LinkOptions())
    out = dict(pair for frame, image in zip(frames, images, strict=True) for pair in linker.push(frame, image))
    out.update(linker.flush())
    assert [(e["frame"], e["parents"]) for e in linker.events] == [(2, [1, 2])]
    child = linker.events[0]["child"]
    assert all(out[t][40, 30] == out[t][40, 50] == child for t in range(2, 16))


def test_a_dark_contact_dates_the_fusion_where_the_outline_cannot():
    """Two frames of contact are too short a run for the outline's rule, but when the image
    shows the contact as dark as the particles (material, not a blurred gap), the fusion
    is dated to it, in bright and dark field alike; a pale contact, or no image, keeps the merge."""
    frames = _pair_frames({8: 9, 9: 9}, merged_from=10)
    assert [e["frame"] for e in _link(frames, _pair_images(frames, 0.35))[1]] == [8]
    assert [e["frame"] for e in _link(frames, _pair_images(frames, 0.75, support=0.1, particle=0.8))[1]] == [8]
    assert [e["frame"] for e in _link(frames, _pair_images(frames, 0.8))[1]] == [10]
    assert [e["frame"] for e in _link(frames)[1]] == [10]
    colour = [np.dstack([image, image, image, np.ones_like(image)]) for image in _pair_images(frames, 0.8)]
    assert [e["frame"] for e in _link(frames, colour)[1]] == [10]  # grey as the models see it, alpha aside
    faint = _pair_images(frames, 0.99, particle=0.999)  # particles within the noise of nothing: no depth
    assert [e["frame"] for e in _link(frames, [f + np.random.default_rng(0).normal(0, 0.01, f.shape) for f in faint])[1]] == [10]
    with pytest.raises(TemsegError, match="pass the image the labels were segmented from"):
        Linker().push(frames[0], np.zeros((40, 40)))
    linker = Linker(LinkOptions(fusion_min_frames=3))
    images = _pair_images(frames, 0.35)
    for t in range(9):
        linker.push(frames[t], images[t])
    resumed = Linker.restore(*linker.state())  # the contacts' depths survive an interruption
    for t in range(9, len(frames)):
        resumed.push(frames[t], images[t])
    resumed.flush()
    assert [e["frame"] for e in resumed.events] == [8]


def test_a_fusion_in_the_first_frames_of_a_short_clip_is_found():
    """The first frame's particles were there before the video began: they may fuse at once
    (two fusions at frame 5 of 12 were absorbed, one parent taking the other's place)."""
    from napari_temseg.synth import synth_video

    video = synth_video(n_frames=12, shape=(256, 256), n_single=3, n_pairs=2, n_triples=0, n_touching=0, seed=3)
    result = track(video.frames, "classical")
    scores = tracking_scores(result.labels, video.labels, result.events, video.events)
    assert scores.n_true_events == 2 and len(scores.onset_errors) == 2 and scores.n_pred_events == 2


def test_a_particle_cut_in_two_in_the_first_frame_only_is_no_fusion():
    """The first frame's head start stops short of one frame: a particle the segmentation cut
    in two there and whole from frame 1 on is absorbed, as the same cut later in the video is."""
    for cut_at in (0, 5):
        frames = []
        for t in range(16):
            lab = np.zeros((120, 120), np.uint32)
            lab[_disc(lab.shape, 20, 20, 8)], lab[_disc(lab.shape, 95, 30, 8)] = 10, 12
            particle = _disc(lab.shape, 60, 60, 12)
            if t == cut_at:
                columns = np.arange(120)[None, :]
                lab[particle & (columns < 59)], lab[particle & (columns > 60)] = 1, 2
            else:
                lab[particle] = 3
            frames.append(lab)
        _, events = _link(frames)
        assert events == [], cut_at


def test_touching_briefly_is_not_a_fusion():
    """Two particles approach, are segmented as one blob for two frames, and part again."""
    frames, left_x = [], []
    for t in range(16):
        lab = np.zeros((60, 90), np.uint32)
        lx = 26 + 2 * min(t, 6) - 2 * max(t - 7, 0)
        left, right = _disc(lab.shape, 30, lx, 8), _disc(lab.shape, 30, 90 - lx, 8)
        if t in (6, 7):
            lab[left | right] = 1
        else:
            lab[left] = 1
            lab[right] = 2
        frames.append(lab)
        left_x.append(lx)
    tracked, events = _link(frames)
    assert events == []
    first_left, first_right = tracked[0][30, 26], tracked[0][30, 64]
    for t in (6, 7, 15):
        assert tracked[t][30, left_x[t]] == first_left
        assert tracked[t][30, 90 - left_x[t]] == first_right


def test_gap_of_two_frames_keeps_the_id():
    frames = []
    for t in range(10):
        lab = np.zeros((50, 50), np.uint32)
        if t not in (4, 5):
            lab[_disc(lab.shape, 25, 25, 6)] = 1
        frames.append(lab)
    tracked, _ = _link(frames)
    assert tracked[3][25, 25] == tracked[6][25, 25]


def test_empty_frames_and_single_frame():
    empty = np.zeros((5, 32, 32), np.uint8)
    result = track(empty)
    assert result.labels.shape == (5, 32, 32) and result.labels.max() == 0 and result.events == []
    one = track(np.random.default_rng(0).integers(0, 255, (1, 64, 64), dtype=np.uint8))
    assert one.labels.shape == (1, 64, 64)


def test_bad_method_and_propagate_say_so():
    frames = np.zeros((2, 16, 16), np.uint8)
    with pytest.raises(TemsegError, match="propagate.*needs a prompted model.*classical"):
        track(frames, method="propagate")
    with pytest.raises(TemsegError, match="unknown tracking method"):
        track(frames, method="magic")
    with pytest.raises(TemsegError, match="time stack"):
        track(np.zeros((16, 16)))


def test_synthetic_sintering_video_scores(small_video):
    """The headline numbers on a short video (the closing note has the long run)."""
    v = small_video
    result = track(v.frames)
    s = tracking_scores(result.labels, v.labels, result.events, v.events)
    assert s.fusion_f1 >= 0.95, s
    assert s.consistent_id_fraction >= 0.95, s
    assert s.id_switches == 0, s


def test_dask_input_gives_the_same_result(small_video):
    frames = small_video.frames[:12]
    eager = track(frames)
    lazy = track(da.from_array(frames, chunks=(1, *frames.shape[1:])))
    assert np.array_equal(eager.labels, lazy.labels)


def test_result_tables_and_graph(small_video):
    result = track(small_video.frames)
    assert {"frame", "track_id", "y", "x", "area"} <= set(result.tracks.columns)
    assert result.graph == {e["child"]: e["parents"] for e in result.events}
    data = result.napari_tracks()
    assert data.shape[1] == 4 and np.all(np.diff(data[:, 0]) >= 0)
    table = result.events_table
    assert list(table.columns) == ["frame", "child", "parents", "onset_earliest", "onset_latest"]
    assert len(table) and (table.onset_earliest <= table.frame).all() and (table.frame <= table.onset_latest).all()


def test_each_fusion_says_how_sure_its_onset_is():
    """The onset window of a fusion runs from the frame after its parents were last seen apart
    to the first frame of the merge that lasted: a blank frame just before contact widens it
    on the early side, a merge that flickers apart once on the late side."""
    shape = (60, 90)
    frames = []
    for t in range(14):
        gap = 30 - 2 * t if t < 8 else 12  # from t = 8 the two discs (radius 7) are one object
        lab = np.zeros(shape, np.uint32)
        lab[_disc(shape, 30, 45 - gap / 2 - 7, 7)] = 1
        lab[_disc(shape, 30, 45 + gap / 2 + 7, 7)] = 2
        if t >= 8:  # one object whose neck widens (rounds up) as it sinters
            neck = (np.abs(np.arange(90) - 45)[None, :] < 7) & (np.abs(np.arange(60) - 30)[:, None] < t - 5)
            lab[(lab > 0) | neck] = 1
        frames.append(lab)
    frames[10] = np.where(_disc(shape, 30, 45 - 13, 7), 1, np.where(_disc(shape, 30, 45 + 13, 7), 2, 0)).astype(np.uint32)

    def run(skip=()):
        linker = Linker(LinkOptions(fusion_min_frames=3))
        for t, frame in enumerate(frames):
            linker.skip(shape, "blank") if t in skip else linker.push(frame)
        linker.flush()
        return linker.events

    (event,) = run()
    assert (event["onset_earliest"], event["frame"], event["onset_latest"]) == (8, 8, 11)  # apart again at 10
    (event,) = run(skip={7})
    assert (event["onset_earliest"], event["frame"], event["onset_latest"]) == (7, 8, 11)  # not seen at 7


def test_propagation_records_what_each_frame_left_out(esam_fixture):
    """A burned-in bar is left out of every propagated frame, and the result says so per frame
    (its saved tracks.csv then flags the particles such boxes cut)."""
    from napari_temseg import load_model
    from napari_temseg.synth import synth_video

    model = load_model("efficientsam-tiny", weights=esam_fixture / "efficient_sam_vitt_random_fp16.pt")
    video = synth_video(n_frames=3, shape=(160, 160), n_single=3, n_pairs=0, n_triples=0, n_touching=0, seed=2)
    frames = video.frames.copy()
    frames[:, 148:154, 10:90] = frames.max()  # a scale bar
    result = track(frames, model, method="propagate")
    assert sorted(result.frame_marks) == [0, 1, 2]
    for boxes in result.frame_marks.values():
        assert any(y0 <= 148 and x0 <= 10 and y1 >= 154 and x1 >= 90 for y0, x0, y1, x1 in boxes)


def test_propagate_prompts_each_frame_with_the_last_masks(esam_fixture, monkeypatch):
    """Mechanics of prompt propagation (the fixture's random weights say nothing about accuracy)."""
    from napari_temseg import load_model
    from napari_temseg.prompts import prompts_from_labels
    from napari_temseg.synth import synth_video

    model = load_model("efficientsam-tiny", weights=esam_fixture / "efficient_sam_vitt_random_fp16.pt")
    video = synth_video(n_frames=3, shape=(160, 160), n_single=3, n_pairs=0, n_triples=0, n_touching=0, seed=2)
    seen = []
    decode = model.decode
    monkeypatch.setattr(model, "decode", lambda image, queries: seen.append(len(queries)) or decode(image, queries))
    keyframe = video.labels[2]
    result = track(video.frames, model, method="propagate", keyframes={2: keyframe})
    first = result.labels[0]
    assert seen == [len(prompts_from_labels(first))]  # frame 1: one batched call, one query per particle
    assert len(np.unique(first)) - 1 == 3  # frame 0 seeded by the classical model
    kept = result.labels[2]
    assert len(np.unique(kept)) == len(np.unique(keyframe))  # the keyframe's particles, as corrected
    q = prompts_from_labels(first)[0]
    assert q[:, 2].tolist() == [2, 3, 1] and q[0, 0] <= q[2, 0] <= q[1, 0]


def test_propagation_hands_over_to_the_seed_model():
    """The seed model has the last word on what propagation cannot know: a propagated mask
    over two particles that it sees apart is split between them, and a particle no prompt
    carried (it entered the field, or its prompt came back empty) joins the frame."""
    from napari_temseg.instances import add_unclaimed, split_where_detected

    shape = (60, 100)
    a, b, c = _disc(shape, 30, 20, 8), _disc(shape, 30, 37, 8), _disc(shape, 30, 75, 8)
    detected = np.zeros(shape, np.uint32)
    detected[a], detected[b], detected[c] = 1, 2, 3
    propagated = np.zeros(shape, np.uint32)
    propagated[a | b] = 5  # the prompts of two touching particles came back as one mask
    split = split_where_detected(propagated, detected)
    assert np.all(split[a] == 5) and np.all(split[b] == 6) and not split[c].any()
    whole = np.where(a, 4, 0).astype(np.uint32)
    assert np.array_equal(split_where_detected(whole, detected), whole)  # one particle: kept as it is
    handed = add_unclaimed(split, detected)
    assert np.all(handed[c] == 7) and np.array_equal(handed[a | b], split[a | b])  # only c is new


def test_propagation_finds_a_particle_its_prompts_did_not_carry():
    """A particle missing from the previous frame's labels (say, it just entered the field) is
    found on the next frame by the seed model and tracked from there."""
    from napari_temseg import load_model
    from napari_temseg.synth import synth_video
    from napari_temseg.tracking.propagate import next_instances

    model = load_model("efficientsam-tiny")
    video = synth_video(n_frames=2, shape=(160, 160), n_single=3, n_pairs=0, n_triples=0, n_touching=0, seed=2)
    previous = video.labels[0].copy()
    previous[previous == previous.max()] = 0  # one particle not carried
    found, _ = next_instances(video.frames[1], model, previous, refine_edges=False)
    assert len(np.unique(found)) - 1 == 3


def test_propagated_masks_do_not_spread_over_the_support(small_video):
    """EfficientSAM's masks grew frame by frame over the support (a user's clip: one
    particle 530 -> 4876 px² in five frames, the particles' share of the frame doubled);
    the spread ones are dropped and the seed model's particle taken instead."""
    from napari_temseg.metrics import foreground_iou

    frames, truth = small_video.frames[:12], small_video.labels[:12]
    result = track(frames, model="efficientsam-tiny", method="propagate")
    ious = [foreground_iou(result.labels[t], truth[t]) for t in range(1, 12)]
    assert np.mean(ious) > 0.8  # 0.74 before


def test_propagation_skips_a_blank_frame_and_prompts_from_the_frame_before():
    """A blank frame in a propagated video is skipped and listed, as in linking; the next frame
    is prompted by the frame before it, so every particle keeps its ID across the gap."""
    from napari_temseg import load_model
    from napari_temseg.synth import synth_video

    model = load_model("efficientsam-tiny")
    video = synth_video(n_frames=5, shape=(160, 160), n_single=3, n_pairs=0, n_triples=0, n_touching=0, seed=2)
    frames = video.frames.copy()
    frames[2] = 0
    result = track(frames, model, method="propagate")
    assert result.skipped == [{"frame": 2, "reason": "blank (every pixel the same)"}]
    assert result.labels[2].max() == 0
    ids = [set(np.unique(result.labels[t])) - {0} for t in (0, 1, 3, 4)]
    assert len(ids[0]) == 3 and all(i == ids[0] for i in ids)


def test_propagated_masks_keep_their_edges_unless_the_refiner_is_asked_for():
    """Propagation leaves the edge refiner off by default (`propagation_options`): on these
    small noisy frames, which lie in the shipped refiner's range (noise-to-contrast 0.15),
    linking a deep model's frames would refine them. Asked for, the refiner follows the
    stack rule: decided once, every frame refined (as many particles, other edges)."""
    from napari_temseg import load_model
    from napari_temseg.models.edge_refiner import refine_edges_for_stack
    from napari_temseg.synth import synth_video

    model = load_model("efficientsam-tiny")
    video = synth_video(n_frames=2, shape=(160, 160), n_single=3, n_pairs=0, n_triples=0, n_touching=0, seed=2)
    assert refine_edges_for_stack(video.frames) == "always"
    default = track(video.frames, model, method="propagate").labels
    drawn = track(video.frames, model, method="propagate", refine_edges=False).labels
    refined = track(video.frames, model, method="propagate", refine_edges=True).labels
    assert np.array_equal(default, drawn)
    assert len(np.unique(refined[1])) == len(np.unique(drawn[1])) == 4
    assert ((refined[1] > 0) != (drawn[1] > 0)).any()
    assert np.array_equal(refined[0], drawn[0])  # frame 0 is the classical model's seed


def test_propagated_dark_field_masks_get_the_rim_rule_of_single_images():
    """Bright (dark-field) particles are grown to their outer rim (`rims`) on propagated
    frames as `segment_image` does for every model, the same prompts giving the same
    particles, only larger."""
    from napari_temseg import load_model
    from napari_temseg.synth import synth_video
    from napari_temseg.tracking.propagate import next_instances

    model = load_model("efficientsam-tiny")
    video = synth_video(n_frames=2, shape=(160, 160), n_single=3, n_pairs=0, n_triples=0, n_touching=0, seed=2)
    frame = video.frames.max() - video.frames[1]  # bright particles on a dark support
    previous = video.labels[0]
    grown, _ = next_instances(frame, model, previous, polarity="bright", refine_edges=False)
    midpoint, _ = next_instances(frame, model, previous, polarity="bright", refine_edges=False, edge_level=0.5)
    assert len(np.unique(grown)) == len(np.unique(midpoint)) == 4
    for particle in np.unique(midpoint[midpoint > 0]):  # each lies within one grown particle (IDs may
        under = np.unique(grown[midpoint == particle])  # differ: a mask the midpoint seed showed spread
        assert len(under) == 1 and under[0] > 0  # was taken from the seed model, `spread_masks`)
    assert (grown > 0).sum() > (midpoint > 0).sum()


def test_a_blank_or_unreadable_frame_is_skipped_and_later_fusions_still_found(small_video, tmp_path, capsys):
    """One all-zero frame in the middle of a video used to end every track and erase the fusion
    events after it; now it is reported, given empty labels, and tracking goes on across it."""
    from napari_temseg.cli import main

    reference = track(small_video.frames)
    blank = reference.events[0]["frame"] - 3  # before the first fusion: every event comes after it
    frames = small_video.frames.copy()
    frames[blank] = 0
    result = track(frames)
    assert result.skipped == [{"frame": blank, "reason": "blank (every pixel the same)"}]
    assert result.labels[blank].max() == 0
    assert [(e["frame"], len(e["parents"])) for e in result.events] == [
        (e["frame"], len(e["parents"])) for e in reference.events]
    import tifffile

    tifffile.imwrite(tmp_path / "v.tif", frames, imagej=True)
    assert main(["track", str(tmp_path / "v.tif"), "--out", str(tmp_path / "out")]) == 0
    assert f"1 frame(s) skipped, blank, unreadable or corrupt: {blank}" in capsys.readouterr().err
    assert (tmp_path / "out" / "skipped_frames.csv").read_text().startswith(f"frame,reason\n{blank},")


def test_a_frame_of_random_bytes_is_skipped_and_later_fusions_still_found(small_video):
    """A frame a damaged transfer filled with garbage was tracked: one-frame gaps in every
    track and a spurious track of noise specks. It is skipped and listed, as a blank one;
    a histogram-equalised frame (its range filled evenly too) is kept."""
    from skimage import exposure

    reference = track(small_video.frames)
    corrupt = reference.events[0]["frame"] - 2
    frames = small_video.frames.copy()
    frames[corrupt] = np.random.default_rng(0).integers(0, 256, frames.shape[1:], dtype=np.uint8)
    frames[corrupt + 4] = (exposure.equalize_hist(frames[corrupt + 4]) * 255).astype(np.uint8)
    result = track(frames)
    assert [s["frame"] for s in result.skipped] == [corrupt] and "corrupt" in result.skipped[0]["reason"]
    assert [(e["frame"], len(e["parents"])) for e in result.events] == [
        (e["frame"], len(e["parents"])) for e in reference.events]


def test_an_unreadable_frame_of_a_folder_is_skipped(small_video, tmp_path):
    import tifffile

    from napari_temseg.io import open_video
    from napari_temseg.video import track_video

    folder = tmp_path / "frames"
    folder.mkdir()
    for t, frame in enumerate(small_video.frames[:20]):
        tifffile.imwrite(folder / f"f{t}.tif", frame)
    (folder / "f7.tif").write_bytes((folder / "f7.tif").read_bytes()[:300])  # truncated
    (folder / "f3.tif").write_bytes((folder / "f3.tif").read_bytes()[:100])  # a damaged header: the whole
    (folder / "f0.tif").write_bytes(b"")  # video was refused, where a damaged PNG was skipped
    summary = track_video(open_video(folder), tmp_path / "out", chunk=8)
    assert [s["frame"] for s in summary.skipped] == [0, 3, 7]
    assert all("unreadable" in s["reason"] for s in summary.skipped)


def test_ids_hold_across_a_jump_that_only_the_small_particles_lose():
    """A 10 px jump: the large particles (radius 14) still overlap their old place, the small
    ones (radius 5) do not, and one small particle is missing in the jump frame. Every ID
    holds, the one missing comes back with its own ID, and the drift is not the jump."""
    from napari_temseg.synth import Disc, render_labels

    rng = np.random.default_rng(1)
    centres = []
    while len(centres) < 10:
        c = rng.uniform(40, 280, 2)
        if all(np.hypot(*(c - o)) > 45 for o in centres):
            centres.append(c)
    radii = [14.0 if i % 3 == 0 else 5.0 for i in range(10)]
    frames, truth = [], []
    for t in range(12):
        offset = np.array([0.3 * t, 0.2 * t]) + (np.array([-3.0, 10.0]) if t >= 6 else 0)
        discs = [Disc(i + 1, *(c + offset), r) for i, (c, r) in enumerate(zip(centres, radii, strict=True))]
        labels = render_labels(discs, (320, 320))[0]
        truth.append(labels.copy())
        if t == 6:
            labels[labels == 2] = 0  # not segmented in the jump frame
        frames.append(labels)
    linker = Linker(LinkOptions())
    tracked = dict(item for frame in frames for item in linker.push(frame))
    tracked.update(linker.flush())
    for t in range(12):
        expected = frames[t] if t == 6 else truth[t]
        assert np.array_equal(tracked[t], expected), f"frame {t}: IDs changed"
    assert linker.events == []


def test_ids_hold_across_a_stage_jump_larger_than_the_particles():
    """Every particle moves 25 px at once (radius 8): found by cross-correlating the masks."""
    from napari_temseg.synth import Disc, render_labels

    rng = np.random.default_rng(0)
    centres = rng.uniform(60, 200, (8, 2))
    centres = centres[[all(np.hypot(*(c - o)) > 30 for o in centres[:i]) for i, c in enumerate(centres)]]
    frames = []
    for t in range(12):
        offset = np.array([0.3 * t, 0.2 * t]) + (np.array([25.0, -18.0]) if t >= 6 else 0)
        discs = [Disc(i + 1, *(c + offset), 8.0) for i, c in enumerate(centres)]
        frames.append(render_labels(discs, (260, 260))[0])
    linker = Linker(LinkOptions())
    tracked = dict(item for frame in frames for item in linker.push(frame))
    tracked.update(linker.flush())
    for t in range(12):
        assert np.array_equal(tracked[t], frames[t]), f"frame {t}: IDs changed"
    assert linker.events == []


def test_a_faint_particle_lost_for_five_frames_and_drawn_at_half_its_size_keeps_its_id():
    """A faint particle drops out of the segmentation for a few frames and comes back drawn
    smaller (max_gap 6, area within 3x of the last seen)."""
    frames = []
    for t in range(14):
        lab = np.zeros((60, 80), np.uint32)
        lab[_disc(lab.shape, 15, 15, 6)] = 1  # a steady neighbour
        if t < 4:
            lab[_disc(lab.shape, 35, 50, 8)] = 2
        elif t >= 9:
            lab[_disc(lab.shape, 35, 50, 5.5)] = 2  # back after 5 frames, at 0.47 of the area
        frames.append(lab)
    tracked, _ = _link(frames)
    assert tracked[3][35, 50] == tracked[9][35, 50] == tracked[13][35, 50]


def test_a_particle_lost_too_long_or_back_far_smaller_gets_a_new_id():
    """Gap closing has bounds: more than max_gap (6) frames missing, or back at under a third
    of its area, is another particle."""
    frames = []
    for t in range(20):
        lab = np.zeros((60, 120), np.uint32)
        lab[_disc(lab.shape, 15, 15, 6)] = 1  # a steady neighbour
        if t < 4 or t >= 11:  # missing for 7 frames
            lab[_disc(lab.shape, 35, 40, 7)] = 2
        if t < 4 or t >= 6:  # missing for 2 frames, back at a quarter of its area
            lab[_disc(lab.shape, 35, 90, 8 if t < 4 else 4)] = 3
        frames.append(lab)
    tracked, _ = _link(frames)
    assert tracked[3][35, 40] != tracked[11][35, 40]
    assert tracked[3][35, 90] != tracked[6][35, 90]


def test_a_merge_seen_before_the_particles_meet_is_dated_to_the_first_dark_contact():
    """A blurred gap between particles closing in can be segmented as one object before they
    meet: the fusion is dated to the first merged frame whose contact is as dark as material
    (ONSET_MATERIAL_DEPTH, two frames running), the frames before it keep both IDs; a contact
    that stays pale (here 0.5 of the particles' darkness), a single dark frame, a frame that
    cannot be measured before the dark ones, or no image keep the merge's first frame."""
    frames = _pair_frames({}, merged_from=6, n=30, round_from=14)
    pale, dark = _pair_images(frames, 0.65), _pair_images(frames, 0.5)  # contact depth 0.5 and 0.71
    tracked, events = _link(frames, [pale[t] if t < 10 else dark[t] for t in range(len(frames))])
    assert [(e["onset_earliest"], e["frame"], e["onset_latest"]) for e in events] == [(6, 10, 10)]
    assert all(np.unique(tracked[t]).tolist() == [0, 1, 2] for t in range(6, 10))  # touching: both IDs
    assert np.unique(tracked[10:]).tolist() == [0, events[0]["child"]]
    assert [e["frame"] for e in _link(frames, pale)[1]] == [6]
    assert [e["frame"] for e in _link(frames, [dark[t] if t == 8 else pale[t] for t in range(len(frames))])[1]] == [6]
    unmeasured = [np.ones_like(pale[t]) if t == 7 else pale[t] if t < 10 else dark[t] for t in range(len(frames))]
    assert [e["frame"] for e in _link(frames, unmeasured)[1]] == [6]
    assert [e["frame"] for e in _link(frames)[1]] == [6]
