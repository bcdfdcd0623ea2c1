import numpy as np
import pytest

from napari_temseg.morphometry import (
    ROUND_SPREAD,
    is_round,
    neck_width,
    outline_spread,
    particle_table,
    sintering_table,
)


def _discs(centres, r, shape=(60, 80)):
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    return np.any([(yy - cy) ** 2 + (xx - cx) ** 2 < r**2 for cy, cx in centres], axis=0)


def test_neck_of_two_overlapping_discs_matches_geometry():
    mask = _discs([(30, 30), (30, 46)], 10)  # centres 16 apart: half-chord sqrt(100 - 64) = 6
    assert neck_width(mask, np.array([30.0, 30.0]), np.array([30.0, 46.0])) == pytest.approx(12, abs=1.5)


@pytest.mark.parametrize(("big", "small"), [(24, 4), (36, 4), (12, 12)])
def test_the_neck_of_unequal_parents_is_read_where_they_touch(big, small):
    """A 24:4 pair touches at 0.86 of the way between the centres: a band in the middle read
    chords through the large parent (19 px for a neck of 3, whatever the neck)."""
    yy, xx = np.mgrid[:120, :140].astype(float)
    cx = 40 + big + small
    labels = np.zeros((2, 120, 140), np.uint32)
    labels[0][(yy - 60) ** 2 + (xx - 40) ** 2 <= big**2] = 1
    labels[0][(yy - 60) ** 2 + (xx - cx - 1) ** 2 <= small**2] = 2
    neck = (np.abs(yy - 60) <= 1.5) & (xx >= 40) & (xx <= cx)  # 3 px tall, along the axis
    labels[1][((yy - 60) ** 2 + (xx - 40) ** 2 <= big**2) | ((yy - 60) ** 2 + (xx - cx) ** 2 <= small**2) | neck] = 3
    table = sintering_table(labels, [{"frame": 1, "child": 3, "parents": [1, 2]}])
    assert table.neck_width.iloc[0] == 3


def test_a_small_particle_sintering_onto_a_large_one_is_round_once_its_lobe_is_gone():
    """A 24:4 px pair's axis ratio is 1.08 at contact: its coalescence read 0 frames while the
    small lobe stayed for 15 (a kinetics user's check)."""
    yy, xx = np.mgrid[:120, :140].astype(float)
    labels = np.zeros((9, 120, 140), np.uint32)
    labels[0][(yy - 60) ** 2 + (xx - 60) ** 2 <= 24**2] = 1
    labels[0][(yy - 60) ** 2 + (xx - 89) ** 2 <= 4**2] = 2
    for t in range(1, 9):  # the small one sinks into the large one, gone from frame 6 on
        lobe = (yy - 60) ** 2 + (xx - 88 + 1.5 * (t - 1)) ** 2 <= 4**2
        labels[t][((yy - 60) ** 2 + (xx - 60) ** 2 <= 24**2) | lobe] = 3
    table = sintering_table(labels, [{"frame": 1, "child": 3, "parents": [1, 2]}])
    assert table.axis_ratio.iloc[0] < 1.1 and table.outline_spread.iloc[0] > 0.12
    assert table.coalescence_frames.iloc[0] >= 2  # 0 before: round by its axis ratio at contact


def test_particle_table_sizes_in_nm():
    labels = np.zeros((1, 60, 80), np.uint32)
    labels[0][_discs([(30, 40)], 10)] = 7
    table = particle_table(labels, pixel_size_nm=2.0)
    row = table.iloc[0]
    assert row.track_id == 7 and row.equivalent_diameter == pytest.approx(20, abs=0.5)
    assert row.equivalent_diameter_nm == pytest.approx(2 * row.equivalent_diameter)
    assert row.eccentricity < 0.2 and not row.touches_border
    labels[0, :, :3] = 8  # a sliver at the field's edge
    assert particle_table(labels).set_index("track_id").touches_border.to_dict() == {7: False, 8: True}


@pytest.mark.parametrize(("side", "neck"), [(20.0, 13.3), (24.0, 6.0)])
def test_a_neck_of_three_fused_particles_is_between_two_of_them(side, neck):
    """Each chord also crossed the third lobe: a just-touching trefoil read necks of 24-29 px.
    (Discs that only touch read ~6 px: a 1 px slab along their common tangent holds both
    outlines for ~sqrt(2 r) px each way, as for a pair.)"""
    h = side * np.sqrt(3) / 2
    centres = [(50 - h / 3, 50 - side / 2), (50 - h / 3, 50 + side / 2), (50 + 2 * h / 3, 50.0)]
    labels = np.zeros((2, 100, 100), np.uint32)
    for k, c in enumerate(centres, start=1):
        labels[0][_discs([c], 10, shape=(100, 100))] = k
    labels[1][_discs(centres, 12, shape=(100, 100))] = 4  # grown: two discs of 12 px, 20 px apart, meet in a 13.3 px chord
    table = sintering_table(labels, [{"frame": 1, "parents": [1, 2, 3], "child": 4}])
    assert table.neck_width.iloc[0] == pytest.approx(neck, abs=2.5)
    labels[0] = 0  # the frame before was skipped (blank): no parent to measure a neck from
    assert np.isnan(sintering_table(labels, [{"frame": 1, "parents": [1, 2, 3], "child": 4}]).neck_width.iloc[0])


def test_sintering_table_neck_grows_and_particle_rounds():
    frames = []
    for t in range(8):
        lab = np.zeros((60, 80), np.uint32)
        if t < 2:
            lab[_discs([(30, 30)], 8)] = 1
            lab[_discs([(30, 46)], 8)] = 2
        else:
            half = max(8 - 2 * (t - 2), 0)  # lobes converge on (30, 38)
            lab[_discs([(30, 38 - half), (30, 38 + half)], 9 + (8 - half) * 0.3)] = 3
        frames.append(lab)
    table = sintering_table(np.stack(frames), [{"frame": 2, "parents": [1, 2], "child": 3}], pixel_size_nm=1.0)
    assert table.frame.tolist() == list(range(2, 8))
    assert table.neck_width.iloc[-1] > table.neck_width.iloc[0]
    assert table.axis_ratio.iloc[-1] < 1.1 < table.axis_ratio.iloc[0]
    assert table.coalescence_frames.iloc[0] == 4
    assert "neck_width_nm" in table.columns


def test_parents_missing_from_the_frame_before_are_taken_where_last_seen():
    """A skipped frame before the fusion left the whole event without a neck and an area
    ratio; a parent the segmentation missed for that frame halved the parents' area (area
    ratio 1.96 for 1.0)."""
    labels = np.zeros((4, 60, 80), np.uint32)
    for t in (0, 1):
        labels[t][_discs([(30, 30)], 8)] = 1
        labels[t][_discs([(30, 46)], 8)] = 2
    labels[3][_discs([(30, 30), (30, 46)], 8.5)] = 3
    whole = sintering_table(labels, [{"frame": 3, "parents": [1, 2], "child": 3}])
    assert whole.area_ratio.iloc[0] == pytest.approx(1.1, abs=0.1) and whole.neck_width.iloc[0] > 0
    labels[2][_discs([(30, 30)], 8)] = 1  # parent 2 missed in the frame before the fusion
    one_missed = sintering_table(labels, [{"frame": 3, "parents": [1, 2], "child": 3}])
    assert one_missed.area_ratio.iloc[0] == pytest.approx(whole.area_ratio.iloc[0])
    assert one_missed.neck_width.iloc[0] == pytest.approx(whole.neck_width.iloc[0])


@pytest.mark.parametrize("distance", [20.0, 21.0, 22.0, 23.0, 23.6, 24.0, 25.0])
def test_a_particle_without_a_neck_measures_its_full_width_whatever_the_anchors(distance):
    """A part-filled last slab of the searched band was read as the neck (7 px for a 40 px disc)."""
    mask = _discs([(50, 50)], 20, shape=(100, 100))
    half = np.array([np.sin(0.6), np.cos(0.6)]) * distance / 2
    assert neck_width(mask, 50 - half, 50 + half) == pytest.approx(38, abs=2)


def test_three_fused_particles_are_round_only_when_their_lobes_are_gone():
    """A trefoil has an axis ratio near 1 from its first contact; its outline's spread tells."""
    frames = []
    for t in range(10):
        lab = np.zeros((100, 100), np.uint32)
        d = 17.3 * max(1 - t / 6, 0)  # three discs of radius 15 converge on the centre
        centres = [(50 + d * np.sin(a), 50 + d * np.cos(a)) for a in (0, 2 * np.pi / 3, 4 * np.pi / 3)]
        lab[_discs(centres, 15 + (17.3 - d) * 0.5, shape=(100, 100))] = 4 if t else 0
        if t == 0:
            for k, c in enumerate(centres, start=1):
                lab[_discs([c], 15, shape=(100, 100))] = k
        frames.append(lab)
    table = sintering_table(np.stack(frames), [{"frame": 1, "parents": [1, 2, 3], "child": 4}])
    assert (table.axis_ratio < 1.1).all()
    assert table.outline_spread.iloc[0] > 0.3 and table.coalescence_frames.iloc[0] == 4  # lobes 3 px deep: a disc


def test_three_small_particles_fused_into_a_disc_are_round():
    """Pixelation alone puts small digital discs 0.14-0.21 out of round."""
    lab = np.zeros((3, 40, 40), np.uint32)
    for k, c in enumerate([(16, 16), (16, 22), (21, 19)], start=1):
        lab[0][_discs([c], 3, shape=(40, 40))] = k
    lab[1:][:, _discs([(18, 19)], 5.2, shape=(40, 40))] = 4
    table = sintering_table(lab, [{"frame": 1, "parents": [1, 2, 3], "child": 4}])
    assert table.coalescence_frames.iloc[0] == 0


def test_a_round_particle_with_a_ragged_outline_is_round():
    """A segmentation's outline is a pixel or two off here and there: that is no lobe. (The
    largest minus the smallest distance from the centroid read 0.15-0.2 for this disc, and
    7 of 19 segmented triples never rounded up.)"""
    rng = np.random.default_rng(3)
    yy, xx = np.mgrid[:100, :100]
    angle = np.arctan2(yy - 50, xx - 50)
    bumps = np.interp(angle, np.linspace(-np.pi, np.pi, 90), rng.uniform(-1.5, 1.5, 90))
    ragged = np.hypot(yy - 50, xx - 50) <= 18 + bumps
    assert outline_spread(ragged) < ROUND_SPREAD
    assert is_round(1.05, outline_spread(ragged), ragged.sum(), lobed=True)
    trefoil = _discs([(50 + 17 * np.sin(a), 50 + 17 * np.cos(a)) for a in (0, 2.1, 4.2)], 15, shape=(100, 100))
    assert outline_spread(trefoil) > 3 * ROUND_SPREAD
