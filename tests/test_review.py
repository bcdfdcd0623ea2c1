import numpy as np
import pytest

from napari_temseg import TemsegError, track
from napari_temseg.tracking.review import event_centre, reject_fusion, retrack_from


@pytest.fixture(scope="module")
def tracked(small_video):
    return track(small_video.frames)


def test_reject_restores_parent_ids(tracked):
    labels = tracked.labels.copy()
    events = list(tracked.events)
    ev = next(e for e in events if len(e["parents"]) == 2)
    remaining = reject_fusion(labels, events, events.index(ev))
    assert ev not in remaining and len(remaining) == len(events) - 1
    assert not (labels == ev["child"]).any()
    for parent in ev["parents"]:
        assert (labels[-1] == parent).any()  # both parents live on to the end
    untouched = tracked.labels != ev["child"]
    assert np.array_equal(labels[untouched], tracked.labels[untouched])


def test_reject_refuses_a_child_that_fuses_again():
    labels = np.zeros((3, 8, 8), np.uint32)
    labels[1:, 2:4, 2:4] = 3
    events = [{"frame": 1, "parents": [1, 2], "child": 3}, {"frame": 2, "parents": [3, 4], "child": 5}]
    with pytest.raises(TemsegError, match="reject that event first"):
        reject_fusion(labels, events, 0)


def test_retrack_keeps_earlier_events_and_finds_later_ones(tracked, small_video):
    """Re-tracking the tracker's own labels with the video they came from gives its events back."""
    labels = tracked.labels.copy()
    events = retrack_from(labels, list(tracked.events), 3, frames=small_video.frames)
    assert len(events) == len(tracked.events)
    assert [e["frame"] for e in events] == [e["frame"] for e in tracked.events]
    assert np.array_equal(labels[:4], tracked.labels[:4])
    again = tracked.labels.copy()  # labels of a propagation run are linked again as it linked them
    assert len(retrack_from(again, list(tracked.events), 3, frames=small_video.frames, method="propagate")) >= 1


def test_event_centre_is_inside_the_child(tracked):
    ev = tracked.events[0]
    y, x = event_centre(tracked.labels, ev)
    assert tracked.labels[ev["frame"], int(round(y)), int(round(x))] == ev["child"]


def test_reject_refuses_a_child_painted_over_in_its_first_frame(tracked):
    """Rejecting it stopped at once, relabelled nothing, and still dropped the event."""
    labels = tracked.labels.copy()
    ev = tracked.events[0]
    labels[ev["frame"]][labels[ev["frame"]] == ev["child"]] = 0  # erased there by the user
    with pytest.raises(TemsegError, match="is not in frame .*re-track from that frame"):
        reject_fusion(labels, list(tracked.events), 0)


def test_a_review_saved_elsewhere_keeps_the_runs_link_settings(tmp_path, small_video):
    """A re-track from the saved folder links as the run did: without the run's record it took
    the defaults (fusion after 6 frames, where the run had 4)."""
    import tifffile

    from napari_temseg.io import open_track_dir, write_review
    from napari_temseg.io.results import results_method, results_options, results_run_id
    from napari_temseg.io.stacks import open_video
    from napari_temseg.video import track_video

    movie = tmp_path / "movie.tif"
    tifffile.imwrite(movie, small_video.frames[:12])
    track_video(open_video(movie), tmp_path / "run", options={"fusion_min_frames": 4})
    labels, events = open_track_dir(tmp_path / "run")
    run = results_run_id(tmp_path / "run")
    write_review(tmp_path / "reviewed", np.asarray(labels), events, set(), [], run_from=tmp_path / "run", run=run)
    assert results_options(tmp_path / "reviewed")["fusion_min_frames"] == 4
    assert results_method(tmp_path / "reviewed") == "link"
    track_video(open_video(movie), tmp_path / "other", options={"fusion_min_frames": 9})
    other = results_run_id(tmp_path / "other")
    write_review(tmp_path / "reviewed", np.asarray(labels), events, set(), [], run_from=tmp_path / "other", run=other)
    assert results_options(tmp_path / "reviewed")["fusion_min_frames"] == 9  # the record of the labels' run
    write_review(tmp_path / "reviewed", np.asarray(labels), events, set(), [], run_from=tmp_path / "run", run="gone")
    assert results_options(tmp_path / "reviewed") == {}  # the folder holds another run now: no record


def test_a_review_saved_anywhere_keeps_what_the_runs_frames_left_out(tmp_path):
    """The boxes a run's frames left out (a mark, a frame's padding) go with its labels into
    any folder a review is saved to, and the particles they cut stay flagged in tracks.csv;
    the folder's own earlier record does not stay."""
    import pandas as pd

    from napari_temseg.io import write_review, write_track_dir
    from napari_temseg.io.results import recorded_frame_marks, recorded_marks

    labels = np.zeros((3, 64, 64), np.uint32)
    labels[:, 20:30, 20:30] = 1
    labels[:, 40:50, 5:15] = 2  # cut by frame 1's padding (rows 50-63)
    write_track_dir(tmp_path / "run", labels, [], marks=((0, 50, 4, 64),), frame_marks={1: ((50, 0, 64, 64),)})
    write_track_dir(tmp_path / "other", labels, [], marks=(), frame_marks={0: ((0, 0, 32, 64),), 2: ((0, 0, 32, 64),)})

    def flagged(folder):
        tracks = pd.read_csv(folder / "tracks.csv")
        return tracks[tracks.track_id == 2].touches_border.tolist()

    assert flagged(tmp_path / "run") == [False, True, False]
    for target in ("reviewed", "other", "run"):
        write_review(tmp_path / target, labels, [], set(), [], run_from=tmp_path / "run")
        assert flagged(tmp_path / target) == [False, True, False], target
        assert recorded_frame_marks(tmp_path / target / "labels.zarr") == {1: ((50, 0, 64, 64),)}
        assert recorded_marks(tmp_path / target / "labels.zarr") == ((0, 50, 4, 64),)
