import numpy as np
import pytest
from conftest import write_movie

from napari_temseg.annotations import BOX_MARGIN
from napari_temseg.padding import edge_padding
from napari_temseg.segmentation import segment_image
from napari_temseg.simulator import draw_params, simulate
from napari_temseg.synth import synth_video
from napari_temseg.tracking import track


def _padded(frame: np.ndarray, dy: int, dx: int, seed: int = 0, shift: bool = True) -> np.ndarray:
    """`frame` as a drift-corrected export shows it: shifted up by `dy` and left by `dx`, the
    rows and columns it left padded black, a few levels off as a lossy codec leaves them.
    Without `shift` the padding covers the frame's last rows and columns where it stands."""
    out = frame.copy() if not shift else np.zeros_like(frame)
    if shift:
        out[: frame.shape[0] - dy, : frame.shape[1] - dx] = frame[dy:, dx:]
    noise = np.random.default_rng(seed).integers(0, 11, frame.shape)
    pad = np.ones(frame.shape, bool)
    pad[: frame.shape[0] - dy, : frame.shape[1] - dx] = False
    out[pad] = (noise * (noise > 6))[pad]  # mostly 0, a few pixels up to 10 of 255
    return out


def _field(mode: str) -> np.ndarray:
    params = draw_params(np.random.default_rng(5), "train", radius_span=(10, 20), mode=mode, dtype="uint8")
    return simulate(params, seed=1)


@pytest.mark.parametrize(("dy", "dx"), [(30, 20), (1, 2)])
def test_a_codec_frayed_padding_is_found_and_segmented_as_no_data(dy, dx):
    """A drift-corrected movie frame's black border was a dark particle the width of the
    image that took the particles beside it (a user's MPEG-4: 52 tracks for 21). A line or
    two of padding lies outside the image's 0.5-99.5th percentiles, which its error is
    measured against (a movie frame's one column of black was missed)."""
    sim = _field("bf")
    image = _padded(sim.image, dy, dx)
    height, width = image.shape
    assert set(edge_padding(image)) == {(height - dy, 0, height, width), (0, width - dx, height, width)}
    alone = segment_image(sim.image[dy:, dx:], "classical").labels
    result = segment_image(image, "classical")
    inside = result.labels[height - dy + BOX_MARGIN:], result.labels[:, width - dx + BOX_MARGIN:]
    assert not inside[0].any() and not inside[1].any()  # (BOX_MARGIN: the pixels beside a mark's box)
    assert abs(int(result.labels.max()) - int(alone.max())) <= 1


def test_an_l_of_padding_with_a_wide_side_is_found_whole():
    """The first specimen line beside the narrow side runs through the wide side's padding: a
    review's frame padded 120 rows below and 10 columns right had its 10 columns drawn as one
    particle. Each side is read again without the padding found across it."""
    image = _field("bf").image
    height, width = image.shape
    for dy, dx in ((120, 10), (10, 120)):
        padded = _padded(image, dy, dx)
        assert set(edge_padding(padded)) == {(height - dy, 0, height, width), (0, width - dx, height, width)}


def test_the_specimen_beside_a_data_bar_keeps_its_particles():
    """Nothing is drawn in a box across the image along its edge, but the margin a mark's box
    is given is specimen (a review: the two rows above a data bar were cleared)."""
    sim = _field("bf")
    image, truth = sim.image.copy(), sim.labels
    height = image.shape[0]
    top = height - 80 + int(np.argmax((truth[height - 80 : height - 30] > 0).sum(axis=1)))  # particles right above it
    image[top + 2 :] = 0  # a black data bar with white text
    for x in range(20, 300, 14):
        image[top + 10 : top + 26, x : x + 8] = 255
    labels = segment_image(image, "classical").labels
    assert (labels[top : top + 2] > 0).sum() >= 0.5 * (truth[top : top + 2] > 0).sum() > 0
    assert not labels[top + 2 + BOX_MARGIN :].any()


@pytest.mark.parametrize("case", ["bright field", "dark field", "dark support clipped to 0", "noise-free support"])
def test_no_padding_where_the_specimen_reaches_the_edge(case):
    """Padding is whole lines of one level ending in a line that is hardly at that level: a
    dark-field support is nearly as flat (within 0.05 of the grey range), or as flat where
    it is clipped to 0, but the line where a particle starts is still mostly support; a
    noise-free bright support has a flat line at its edge, and so is the next one."""
    image = _field("df" if "dark" in case else "bf").image.astype(np.float32)
    if case == "dark support clipped to 0":
        image = np.clip(image - np.percentile(image, 60), 0, None)
    if case == "noise-free support":
        image = np.full_like(image, 200.0)
        image[100:140, 100:140] = 50.0
    assert edge_padding(image) == ()


def test_a_drift_corrected_mpeg4_movie_is_tracked_as_its_specimen(tmp_path):
    """Its padding grows frame by frame (no still mark) and is not one grey level (no flat
    mark): each frame's own is left out, and no track starts there. (Here it grows over the
    particles where they stand, so that it cuts some.)"""
    import pandas as pd
    import zarr

    from napari_temseg.io import open_video
    from napari_temseg.io.results import recorded_frame_marks
    from napari_temseg.video import iter_track_video, track_video

    video = synth_video(n_frames=12, shape=(256, 256), n_single=3, n_pairs=1, n_triples=0, n_touching=0, seed=3)
    frames = np.stack([_padded(frame, 6 * t, 4 * t, shift=False) for t, frame in enumerate(video.frames.astype(np.uint8))])
    movie, out = write_movie(tmp_path / "drift-corrected.mp4", frames, "mp4v"), tmp_path / "run"
    steps = iter_track_video(open_video(movie), out, chunk=4)
    next(steps)  # interrupted after the first chunk: its frames' padding is kept with the state
    steps.close()
    assert track_video(open_video(movie), out, chunk=4).resumed_from == 4
    labels = zarr.open_array(str(out / "labels.zarr"), mode="r")[:]
    for t, frame_labels in enumerate(labels):
        assert not frame_labels[256 - 6 * t + 2:].any() and not frame_labels[:, 256 - 4 * t + 2:].any()
    assert len(np.unique(labels)) - 1 <= len(np.unique(video.labels)) - 1 + 1
    # Each frame's padding is recorded with the labels, and the particles it cuts are flagged
    # in tracks.csv like those cut by the frame's edge: their sizes there are not their particles'.
    padding = recorded_frame_marks(out / "labels.zarr")
    assert sorted(padding) == list(range(1, 12))
    tracks = pd.read_csv(out / "tracks.csv")
    cut = 0
    for t, frame_labels in enumerate(labels):
        inside = np.zeros(frame_labels.shape, bool)
        inside[: 256 - 6 * t - 2, : 256 - 4 * t - 2] = True  # 2 px short of the padding: a frayed line more or less
        beside = set(np.unique(frame_labels[~inside]).tolist()) - {0}
        rows = tracks[tracks.frame == t].set_index("track_id")
        assert rows.loc[sorted(beside), "touches_border"].all()
        cut += len(beside)
    assert cut >= 3  # the padding grows over particles as the video goes on
    # Tracked in Python and saved, the same: the padding of each frame goes with the result.
    result = track(open_video(movie).data)
    assert sorted(result.frame_marks) == list(range(1, 12))
    saved = pd.read_csv(result.save(tmp_path / "saved") / "tracks.csv")
    assert saved.touches_border.sum() >= cut


def test_a_frames_padding_merged_with_a_recorded_mark_is_its_own():
    """A frame's padding merged with a mark of the video along that edge is recorded for the
    frame (the strip only it covers cuts particles); a box the video's marks hold is not."""
    from napari_temseg.video import _frame_own

    recorded = ((400, 0, 512, 512),)
    assert _frame_own(((380, 0, 512, 512),), recorded) == ((380, 0, 512, 512),)
    assert _frame_own(((400, 0, 512, 512), (0, 500, 400, 512)), recorded) == ((0, 500, 400, 512),)
