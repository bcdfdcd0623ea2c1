"""Particle analysis: sizes in nm from the file or --pixel-size, statistics, figures, GEFF and CTC export."""

import numpy as np
import pandas as pd
import pytest
import tifffile
from conftest import write_emd

from napari_temseg import measure
from napari_temseg.analysis import size_statistics, track_motion
from napari_temseg.cli import main
from napari_temseg.io import read_micrograph
from napari_temseg.synth import synth_image


def test_measure_a_disc_and_a_border_particle():
    yy, xx = np.mgrid[:100, :100]
    labels = np.zeros((100, 100), np.uint32)
    labels[(yy - 50) ** 2 + (xx - 50) ** 2 < 20**2] = 1
    labels[:10, :10] = 2
    table = measure(labels, pixel_size_nm=0.5)
    disc = table[table.label == 1].iloc[0]
    assert disc.equivalent_diameter == pytest.approx(40, rel=0.02)
    assert disc.equivalent_diameter_nm == pytest.approx(20, rel=0.02)
    assert disc.circularity > 0.9 and disc.aspect_ratio == pytest.approx(1, abs=0.02) and not disc.touches_border
    assert table[table.label == 2].iloc[0].touches_border
    stats = size_statistics(table)
    assert stats["count"] == 1 and stats["unit"] == "nm" and stats["border_excluded"] == 1
    assert size_statistics(measure(np.zeros((8, 8), np.uint32)))["count"] == 0


def test_segment_writes_particles_in_nm_close_to_the_truth(tmp_path):
    samples = [synth_image(n_particles=20, touching=0.0, seed=s) for s in range(3)]
    for k, s in enumerate(samples):
        tifffile.imwrite(tmp_path / f"m{k}.tif", s.image)
    assert main(["segment", *(str(tmp_path / f"m{k}.tif") for k in range(3)), "--out", str(tmp_path / "out"),
                 "--pixel-size", "0.5"]) == 0
    particles = pd.read_csv(tmp_path / "out" / "particles.csv")
    truth = pd.concat([measure(s.labels, 0.5) for s in samples])
    found = particles[~particles.touches_border].equivalent_diameter_nm.median()
    expected = truth[~truth.touches_border].equivalent_diameter_nm.median()
    assert found == pytest.approx(expected, rel=0.05)
    summary = pd.read_csv(tmp_path / "out" / "summary.csv")
    assert list(summary.file)[-1] == "ALL" and (summary.unit == "nm").all()
    assert summary.iloc[-1]["count"] == (~particles.touches_border).sum()
    assert (tmp_path / "out" / "size_distribution.png").stat().st_size > 10_000


def test_pixel_size_read_from_imagej_tiff_and_emd(tmp_path):
    image = synth_image((128, 128), 6, radius=(8, 12), seed=0).image
    tifffile.imwrite(tmp_path / "a.tif", image, imagej=True, resolution=(1 / 0.25, 1 / 0.25), metadata={"unit": "nm"})
    assert read_micrograph(tmp_path / "a.tif").pixel_size_nm == pytest.approx(0.25)
    emd = write_emd(tmp_path / "b.emd", image[None], 3.0, "Å")
    data, found = read_micrograph(emd)
    assert found.nm == pytest.approx(0.3) and data.shape == (128, 128)
    assert main(["segment", str(tmp_path / "a.tif"), str(emd), "--out", str(tmp_path / "out")]) == 0
    summary = pd.read_csv(tmp_path / "out" / "summary.csv")
    assert summary.pixel_size_nm.tolist()[:2] == pytest.approx([0.25, 0.3])


def test_evaluate_reads_tem_files_and_their_calibration(tmp_path):
    """`temseg evaluate` saw no image in a .emd ("no image for label file(s) b"), and a
    diameter in nm was refused as if the images had no pixel size."""
    sample = synth_image((128, 128), 6, radius=(8, 12), seed=0)
    (tmp_path / "images").mkdir()
    (tmp_path / "labels").mkdir()
    write_emd(tmp_path / "images" / "b.emd", sample.image[None], 0.5, "nm")
    tifffile.imwrite(tmp_path / "images" / "a.tif", sample.image, imagej=True, resolution=(2.0, 2.0),
                     metadata={"unit": "nm"})
    for name in ("a", "b"):
        tifffile.imwrite(tmp_path / "labels" / f"{name}.tif", sample.labels)
    assert main(["evaluate", "--data", str(tmp_path), "-o", "diameter=10nm"]) == 0
    assert main(["evaluate", "--data", str(tmp_path), "--pixel-size", "5A", "-o", "diameter=10nm"]) == 0


@pytest.fixture(scope="module")
def tracked(small_video, tmp_path_factory):
    import tifffile

    folder = tmp_path_factory.mktemp("tracked")
    tifffile.imwrite(folder / "v.tif", small_video.frames, imagej=True, resolution=(2.0, 2.0),
                     metadata={"unit": "nm", "finterval": 0.25})  # 0.5 nm pixels, 4 frames/s
    assert main(["track", str(folder / "v.tif"), "--out", str(folder / "out")]) == 0
    return folder / "out"


def test_geff_holds_the_tracks_and_fusions_are_nodes_with_two_parents(tracked):
    import geff

    graph, metadata = geff.read(str(tracked / "tracks.geff"))
    events = pd.read_csv(tracked / "events.csv", dtype={"parents": str})
    merges = {(graph.nodes[n]["t"], graph.nodes[n]["seg_id"]) for n in graph if graph.in_degree(n) >= 2}
    assert merges == {(int(r.frame), int(r.child)) for r in events.itertuples()}
    tracks = pd.read_csv(tracked / "tracks.csv")
    assert graph.number_of_nodes() == len(tracks)
    t, y, _ = metadata.axes
    assert [a.name for a in metadata.axes] == ["t", "y", "x"]
    assert (y.unit, y.scale, y.scaled_unit) == (None, 0.5, "nanometer")  # values in px, the scale makes nm
    assert (t.scale, t.scaled_unit) == (0.25, "second")  # the ImageJ frame interval


def test_tables_in_frames_carry_seconds_where_the_frame_interval_is_known(tracked):
    """tracks.csv, events.csv and sintering.csv were in frames only (a kinetics user
    multiplied by hand), though the run knew the frame interval."""
    tracks = pd.read_csv(tracked / "tracks.csv")
    assert list(tracks.columns[:2]) == ["frame", "time_s"] and np.allclose(tracks.time_s, tracks.frame * 0.25)
    events = pd.read_csv(tracked / "events.csv", dtype={"parents": str})
    assert len(events) and np.allclose(events.time_s, events.frame * 0.25)
    sintering = pd.read_csv(tracked / "sintering.csv")
    assert np.allclose(sintering.time_since_contact_s, sintering.frames_since_contact * 0.25)
    assert np.allclose(sintering.coalescence_s, sintering.coalescence_frames * 0.25, equal_nan=True)
    from napari_temseg.io.results import timed

    assert "time_s" not in timed(tracks, None).columns  # no interval: frames only


def test_a_frame_interval_given_to_a_finished_run_retimes_its_tables(tracked, tmp_path):
    import shutil

    import geff

    shutil.copytree(tracked, tmp_path / "out")
    reviewed = pd.read_csv(tmp_path / "out" / "events.csv", dtype={"parents": str}).assign(status="accepted")
    reviewed = reviewed.astype({"onset_earliest": "Int64", "onset_latest": "Int64"})
    reviewed.loc[0, ["onset_earliest", "onset_latest"]] = pd.NA  # a hand-made event has no onset
    reviewed.to_csv(tmp_path / "out" / "events.csv", index=False)  # a review saved there
    reviewed.to_csv(tmp_path / "out" / "review.csv", index=False)
    video = tracked.parent / "v.tif"
    assert main(["track", str(video), "--out", str(tmp_path / "out"), "--frame-interval", "2"]) == 0
    _, metadata = geff.read(str(tmp_path / "out" / "tracks.geff"))
    assert metadata.axes[0].scale == 2.0
    before = pd.read_csv(tracked / "tracks_summary.csv")
    after = pd.read_csv(tmp_path / "out" / "tracks_summary.csv")
    assert np.allclose(after.diffusion_nm2_per_s * 8, before.diffusion_nm2_per_s, equal_nan=True)
    events = pd.read_csv(tmp_path / "out" / "events.csv")
    assert "status" in events and np.allclose(events.time_s, events.frame * 2)  # a review's statuses kept
    onsets = (tmp_path / "out" / "events.csv").read_text().splitlines()[2].split(",")[3:5]
    assert all("." not in v for v in onsets)  # whole frames, not 12.0, where another event has none
    review = pd.read_csv(tmp_path / "out" / "review.csv")
    assert np.allclose(review.time_s, review.frame * 2)  # the review's record re-timed alike
    tracks, sintering = (pd.read_csv(tmp_path / "out" / name) for name in ("tracks.csv", "sintering.csv"))
    assert np.allclose(tracks.time_s, tracks.frame * 2)  # the 0.25 s columns replaced
    assert np.allclose(sintering.time_since_contact_s, sintering.frames_since_contact * 2)


def test_ctc_export_passes_traccuracys_checks(tracked, tmp_path):
    from traccuracy.loaders import load_ctc_data

    assert main(["export", "ctc", str(tracked), "--out", str(tmp_path / "ctc")]) == 0
    data = load_ctc_data(str(tmp_path / "ctc"), run_checks=True)
    assert data.graph.number_of_nodes() == len(pd.read_csv(tracked / "tracks.csv"))
    stale = tmp_path / "ctc" / "mask999.tif"
    stale.write_bytes(b"")  # an earlier, longer export's mask
    assert main(["export", "ctc", str(tracked), "--out", str(tmp_path / "ctc")]) == 0 and not stale.exists()
    assert main(["export", "ctc", str(tracked), "--out", str(tracked)]) == 2  # not scattered into the results
    assert not list(tracked.glob("mask*.tif"))


def test_ctc_parents_are_found_across_a_skipped_frame():
    """A fusion after a skipped (blank) frame lost its parent in res_track.txt: parents were
    looked for in the frame just before the event only."""
    from napari_temseg.io.export import ctc_tracklets

    rows = [(t, tid, area) for t in range(4) for tid, area in ((1, 50), (2, 80))]  # frame 4 skipped
    rows += [(t, 3, 130) for t in range(5, 8)]
    tracks = pd.DataFrame(rows, columns=["frame", "track_id", "area"])
    table, ids = ctc_tracklets(tracks, [{"frame": 5, "child": 3, "parents": [1, 2]}])
    assert table.set_index("id").loc[ids[3, 5], "parent"] == ids[2, 3]  # the larger parent, at its last frame


def test_track_motion_and_size_over_time(tracked):
    summary = pd.read_csv(tracked / "tracks_summary.csv")
    assert {"track_id", "msd_lag1_px2", "diffusion_px2_per_frame"} <= set(summary.columns)
    assert (tracked / "size_over_time.png").stat().st_size > 10_000
    walk = pd.DataFrame({"frame": np.arange(20), "track_id": 1, "y": np.arange(20) * 1.0, "x": 0.0, "area": 5})
    motion = track_motion(walk, pixel_size_nm=2.0, frame_interval_s=0.5)
    assert motion.msd_lag1_px2[0] == pytest.approx(1.0)  # 1 px per frame
    assert motion.diffusion_nm2_per_s[0] > 0


def test_circularity_of_a_disc_depends_neither_on_its_size_nor_on_how_it_was_drawn():
    """The boundary-pixel perimeter made a 90 px disc 0.91 and a 12 px one 1.00; Crofton's
    read skimage's discs 1.00-1.04 (clipped to 1) and discs drawn with <= r^2 0.91-0.99."""
    from skimage.draw import disk

    values = []
    for r in (3, 8, 25, 90):
        n = 2 * r + 10
        drawn = np.zeros((n, n), np.uint8)
        drawn[disk((r + 5, r + 5), r)] = 1
        yy, xx = np.mgrid[:n, :n]
        values += [measure(drawn)["circularity"].iloc[0],
                   measure(((yy - r - 5.3) ** 2 + (xx - r - 4.6) ** 2 <= r * r).astype(np.uint8))["circularity"].iloc[0]]
    assert min(values) > 0.96 and max(values) < 1.0
    square = np.zeros((60, 60), np.uint8)
    square[10:50, 10:50] = 1
    assert measure(square)["circularity"].iloc[0] == pytest.approx(np.pi / 4, abs=0.05)


def test_the_stage_drift_is_no_diffusion():
    """tracks_summary.csv read the stage's drift as diffusion (0.39 px^2/frame for 0.08)."""
    rng = np.random.default_rng(0)
    frames = np.arange(80)
    drift = np.cumsum(rng.normal(0, 0.2, (80, 2)), axis=0) + frames[:, None] * [0.3, 0.2]
    rows = []
    for k in range(12):  # D = 0.4^2 / 2 = 0.08 px^2/frame
        walk = rng.uniform(50, 400, 2) + np.cumsum(rng.normal(0, 0.4, (80, 2)), axis=0) + drift
        rows.append(pd.DataFrame({"frame": frames, "track_id": k + 1, "y": walk[:, 0], "x": walk[:, 1]}))
    still = 100 + drift + rng.normal(0, 0.05, (80, 2))  # fixed to the support
    mover = 200 + drift + frames[:, None] * [2.0, 0.0]  # 2 px/frame across it
    for k, path in ((13, still), (14, mover)):
        rows.append(pd.DataFrame({"frame": frames, "track_id": k, "y": path[:, 0], "x": path[:, 1]}))
    motion = track_motion(pd.concat(rows)).set_index("track_id")
    assert motion.loc[1:12, "diffusion_px2_per_frame"].median() == pytest.approx(0.08, rel=0.3)
    assert motion.loc[13, "diffusion_px2_per_frame"] < 0.01 and motion.drift_removed.all()
    assert motion.loc[14, "net_speed_px_per_frame"] == pytest.approx(2.0, rel=0.05)
    table = pd.concat(rows)
    skipped = track_motion(table[table.frame != 40]).set_index("track_id")  # a blank frame is bridged
    assert skipped.drift_removed.all() and skipped.loc[13, "diffusion_px2_per_frame"] < 0.01
    alone = track_motion(pd.concat(rows[:2]))  # two particles cannot tell drift from their own motion
    assert not alone.drift_removed.any()
    once = pd.concat([table, pd.DataFrame({"frame": [5], "track_id": [99], "y": [10.0], "x": [10.0]})])
    assert not track_motion(once).set_index("track_id").loc[99, "drift_removed"]  # no step: nothing removed


def test_one_particle_has_no_spread():
    labels = np.zeros((40, 40), np.uint8)
    labels[10:20, 10:20] = 1
    assert np.isnan(size_statistics(measure(labels))["sd"])


def test_analysis_functions_take_what_they_say_and_refuse_the_rest():
    """From a Python user's pass: a boolean mask was measured as one particle; marks=None, labels
    given to size_statistics or track_motion, and negative calibrations gave tracebacks or
    negative sizes and speeds."""
    from napari_temseg import TemsegError
    from napari_temseg.analysis import measure, size_statistics

    mask = np.zeros((40, 40), bool)
    mask[5:12, 5:12] = mask[20:30, 20:30] = True
    assert len(measure(mask)) == 2 and len(measure(mask.astype(np.uint8), marks=None)) == 1
    with pytest.raises(TemsegError, match="marks must be boxes"):
        measure(mask, marks=[(1, 2)])
    from napari_temseg.synth import synth_image

    with pytest.raises(TemsegError, match="look like an image's grey levels"):  # was one "particle" per level
        measure(synth_image((128, 128), 6, radius=(8, 12), seed=0).image)
    packed = np.arange(1, 32 * 32 + 1).reshape(32, 32).repeat(4, 0).repeat(4, 1)  # small particles all touching
    assert len(measure(packed)) == 32 * 32
    with pytest.raises(TemsegError, match="takes measure\\(\\)'s table"):
        size_statistics(mask)
    tracks = pd.DataFrame({"frame": [0, 1], "track_id": [1, 1], "y": [0.0, 1.0], "x": [0.0, 1.0]})
    with pytest.raises(TemsegError, match="takes a tracks table"):
        track_motion(np.zeros((2, 8, 8), np.uint32))
    with pytest.raises(TemsegError, match="frame_interval_s must be a positive number"):
        track_motion(tracks, pixel_size_nm=0.8, frame_interval_s=-2)
    from napari_temseg.io.images import write_labels_tiff
    from napari_temseg.tracking import track

    with pytest.raises(TemsegError, match="labels must be whole numbers"):  # an image: written as all 0
        write_labels_tiff("unused.tif", np.random.default_rng(0).random((8, 8)))
    with pytest.raises(TemsegError, match="progress must be a function"):  # a traceback after the first frame
        track(np.zeros((2, 8, 8)), progress=5)


def test_the_log_normal_fit_is_the_maximum_likelihood_one():
    """The plot's legend says maximum likelihood; the geometric sd was the sample one (n - 1)."""
    from scipy import stats

    from napari_temseg.analysis import lognormal_fit

    diameters = np.random.default_rng(4).lognormal(np.log(4.0), 0.3, 40)
    shape, _, scale = stats.lognorm.fit(diameters, floc=0)
    assert lognormal_fit(diameters) == pytest.approx((scale, np.exp(shape)), rel=1e-4)
    table = pd.DataFrame({"equivalent_diameter": diameters, "touches_border": False, "circularity": 1.0})
    stats_of_table = size_statistics(table)  # the figure's legend had them, summary.csv and the API did not
    assert (stats_of_table["lognormal_median"], stats_of_table["lognormal_gsd"]) == pytest.approx((scale, np.exp(shape)),
                                                                                                    rel=1e-4)


def test_a_distribution_of_particles_a_few_px_across_says_its_small_end_is_cut_off():
    """From a magnification-series pass: at 1 nm/px (particles 2-8 px) the summary read a tight
    5.6 nm log-normal for a 3.5 nm specimen, without a word; the share under 8 px and a note
    now say so (summary.csv, the figure, the Measurements dock)."""
    from napari_temseg.analysis import SMALL_DIAMETER_PX

    def discs(diameter: float) -> pd.DataFrame:
        d = np.full(20, diameter)
        return pd.DataFrame({"equivalent_diameter": d, "equivalent_diameter_nm": d * 0.5, "touches_border": False,
                             "circularity": 1.0})

    small = size_statistics(discs(SMALL_DIAMETER_PX - 2))
    assert small["small_share"] == 1.0 and "under 8 px (4 nm) across" in small["note"]
    assert "higher magnification" in small["note"]
    sized = size_statistics(discs(SMALL_DIAMETER_PX + 2))
    assert sized["small_share"] == 0.0 and sized["note"] == ""
    mixed = pd.concat([discs(20), discs(4).assign(equivalent_diameter_nm=4.0)])  # two pixel sizes: px only
    assert "under 8 px across" in size_statistics(mixed)["note"]


def test_sizes_of_two_populations_are_said_to_be_two():
    """A log-normal was fitted over two populations (sintered and unsintered particles) without a
    word: a wide fit that describes neither. One population, however wide or small, is not."""
    from napari_temseg.analysis import two_populations

    rng = np.random.default_rng(0)
    two = np.concatenate([rng.lognormal(np.log(3), np.log(1.2), 150), rng.lognormal(np.log(9), np.log(1.2), 60)])
    (small, large), share = two_populations(two)
    assert small == pytest.approx(3, rel=0.1) and large == pytest.approx(9, rel=0.1) and share == pytest.approx(60 / 210, abs=0.05)
    table = pd.DataFrame({"equivalent_diameter": two * 4, "equivalent_diameter_nm": two, "touches_border": False,
                          "circularity": 1.0})
    assert "two populations (around 3" in size_statistics(table)["note"] and " nm, 2" in size_statistics(table)["note"]
    from napari_temseg.plots import note_lines

    assert note_lines(size_statistics(table), two) == ["two populations: one log-normal fits neither"]  # the figure
    for seed in range(50):  # one log-normal, 30-600 particles, geometric sd 1.05-1.6: never two
        r = np.random.default_rng(seed)
        assert two_populations(r.lognormal(np.log(5), np.log(r.uniform(1.05, 1.6)), int(r.integers(30, 600)))) is None
    assert two_populations(two[:20]) is None  # too few to tell
    areas = np.repeat([21, 29, 37, 45], [40, 30, 25, 5])  # particles a few px across: a few whole areas (a review)
    coarse = pd.DataFrame({"equivalent_diameter": 2 * np.sqrt(areas / np.pi), "touches_border": False,
                           "circularity": 1.0})
    assert "two populations" not in size_statistics(coarse)["note"] and "under 8 px" in size_statistics(coarse)["note"]
