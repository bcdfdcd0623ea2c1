"""Bad and careless input (docs/reliability.md): a one-line error naming the problem and the fix,
or correct handling, never a traceback, a silently wrong answer or a lost result."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import tifffile
import zarr

from napari_temseg import TemsegError, available_models, segment, track
from napari_temseg.cli import main
from napari_temseg.io import Video, open_video
from napari_temseg.synth import synth_image, synth_video
from napari_temseg.video import iter_track_video, track_video


def one_line_error(capsys, *fragments):
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("temseg: error:"), err
    for fragment in fragments:
        assert fragment in err, err
    return err


# -- 3. blank images ------------------------------------------------------------------------------------


@pytest.mark.parametrize("model", available_models())
def test_a_blank_image_has_no_particles(model):
    assert segment(np.full((96, 96), 117, np.uint8), model).max() == 0


# -- 4. damaged results of an interrupted run ------------------------------------------------------------


@pytest.fixture(scope="module")
def movie(tmp_path_factory):
    path = tmp_path_factory.mktemp("movie") / "movie.tif"
    v = synth_video(n_frames=56, shape=(160, 160), n_single=3, n_pairs=1, n_triples=0, n_touching=0, seed=2)
    tifffile.imwrite(path, v.frames, imagej=True)
    return path


@pytest.fixture(scope="module")
def straight(movie, tmp_path_factory):
    out = tmp_path_factory.mktemp("straight") / "run"
    track_video(open_video(movie), out, chunk=8)
    return np.asarray(zarr.open_array(str(out / "labels.zarr"), mode="r")[:]), (out / "events.csv").read_text()


def interrupted(movie, out: Path, chunks: int = 6) -> Path:
    """A run stopped after `chunks` committed chunks, as after a kill between chunks (six:
    the tracker holds 33 frames back, so some are written by then)."""
    steps = iter_track_video(open_video(movie), out, chunk=8)
    for _ in range(chunks):
        next(steps)
    steps.close()
    return out


def chunk_files(out: Path) -> list[Path]:
    return sorted(p for p in (out / "labels.zarr").rglob("*") if p.is_file() and not p.name.startswith("zarr"))


@pytest.mark.parametrize("damage", ["random bytes", "deleted", "state.json", "state.npz"])
def test_damaged_results_are_recomputed(movie, straight, tmp_path, damage, capsys):
    out = interrupted(movie, tmp_path / "run")
    if damage == "random bytes":
        chunk_files(out)[3].write_bytes(os.urandom(300))
    elif damage == "deleted":
        chunk_files(out)[3].unlink()
    else:
        (out / damage).write_bytes(b"\x00garbage{")
    summary = track_video(open_video(movie), out, chunk=8)
    assert summary.resumed_from == 0  # started again: the damage was found
    assert "starting again from the first frame" in capsys.readouterr().err
    labels = np.asarray(zarr.open_array(str(out / "labels.zarr"), mode="r")[:])
    assert np.array_equal(labels, straight[0]) and (out / "events.csv").read_text() == straight[1]


def test_a_damaged_run_file_needs_overwrite(movie, tmp_path, capsys):
    out = interrupted(movie, tmp_path / "run", chunks=1)
    (out / "run.json").write_text("{not json")
    assert main(["track", str(movie), "--out", str(out), "--chunk", "8"]) == 2
    one_line_error(capsys, "run.json: damaged", "--overwrite")
    assert main(["track", str(movie), "--out", str(out), "--chunk", "8", "--overwrite"]) == 0


def test_a_lock_whose_pid_was_reused_is_stale(movie, tmp_path):
    out = interrupted(movie, tmp_path / "run", chunks=1)
    (out / ".lock").write_text(f"{os.getppid()} 12345.0")  # a live process, but not the one that locked
    assert track_video(open_video(movie), out, chunk=8).frames == 56


def test_progress_counts_committed_frames_and_a_resumed_run_starts_there(movie, tmp_path, monkeypatch, capsys):
    """What the progress shows is what an interruption keeps (frames the tracker still holds
    back are committed too), so Ctrl-C names it and a resume starts from it."""
    out = interrupted(movie, tmp_path / "run", chunks=2)
    assert json.loads((out / "state.json").read_text())["pushed"] == 16
    steps = iter_track_video(open_video(movie), out, chunk=8)
    assert next(steps) == (16, 56)  # the resume point, before any new frame
    assert next(steps) == (24, 56)
    steps.close()

    def interrupt_at_frame_32(video, out, progress, **kwargs):
        for done, total in iter_track_video(video, out, **kwargs):
            progress(done, total)
            if done == 32:
                raise KeyboardInterrupt

    monkeypatch.setattr("napari_temseg.video.track_video", interrupt_at_frame_32)
    assert main(["track", str(movie), "--out", str(out), "--chunk", "8"]) == 130
    assert "interrupted; the first 32 frames are kept in" in capsys.readouterr().err

    def interrupt_at_start(video, out, progress, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr("napari_temseg.video.track_video", interrupt_at_start)
    assert main(["track", str(movie), "--out", str(tmp_path / "never"), "--chunk", "8"]) == 130
    assert "interrupted before the run began; nothing was written" in capsys.readouterr().err  # not "kept in"


def test_a_cluster_run_cut_short_prints_no_task_tracebacks():
    """Ctrl-C during a gather leaves tasks that fail with AllExit on the client's loop: their
    tracebacks are dropped, any other error on that loop is still reported."""
    import asyncio
    import logging

    from distributed.client import AllExit

    from napari_temseg.video import _quiet_when_cut_short

    class Client:  # what _quiet_when_cut_short uses of a distributed.Client
        class loop:
            asyncio_loop = asyncio.new_event_loop()

    loop = _quiet_when_cut_short(Client()).loop.asyncio_loop
    records = []
    handler = logging.Handler()
    handler.emit = records.append
    logging.getLogger("asyncio").addHandler(handler)
    try:
        loop.call_exception_handler({"message": "Task exception was never retrieved", "exception": AllExit()})
        assert records == []
        loop.call_exception_handler({"message": "something else", "exception": ValueError("real")})
        assert len(records) == 1 and "something else" in records[0].getMessage()
    finally:
        logging.getLogger("asyncio").removeHandler(handler)
        loop.close()


# -- 5. frame folders -----------------------------------------------------------------------------------


def test_frame_folders_in_numeric_order_one_type_and_changes_noticed(tmp_path, capsys):
    folder = tmp_path / "frames"
    folder.mkdir()
    for t in range(12):
        tifffile.imwrite(folder / f"f{t}.tif", np.full((32, 32), t * 10, np.uint8))
    video = open_video(folder)
    assert [int(video.data[t].compute()[0, 0]) for t in range(12)] == [t * 10 for t in range(12)]
    out = tmp_path / "out"
    steps = iter_track_video(video, out, chunk=4)
    next(steps)
    steps.close()
    tifffile.imwrite(folder / "f5.tif", np.full((32, 32), 99, np.uint8))  # changed after the interruption
    os.utime(folder / "f5.tif", (1e9, 2e9))
    with pytest.raises(TemsegError, match="another input"):
        track_video(open_video(folder), out, chunk=4)
    tifffile.imwrite(folder / "f7.tif", np.full((32, 32), 700, np.uint16))
    with pytest.raises(TemsegError, match="f7.tif: its pixels are uint16.*one pixel type"):
        open_video(folder)


def _interrupted(video, out, chunk=4):
    steps = iter_track_video(video, out, chunk=chunk)
    next(steps)
    steps.close()


def test_a_video_swapped_for_another_of_the_same_size_and_time_is_not_resumed(tmp_path):
    """From a long-video pass: `cp -p` of another video of the same size over the input after
    an interruption resumed, mixing two videos in one result (the input was known by its
    size and time in seconds)."""
    path = tmp_path / "in.tif"
    tifffile.imwrite(path, np.full((12, 32, 32), 10, np.uint8))
    os.utime(path, (1e9, 1e9))
    _interrupted(open_video(path), tmp_path / "out")
    tifffile.imwrite(path, np.full((12, 32, 32), 20, np.uint8))
    os.utime(path, (1e9, 1e9))
    with pytest.raises(TemsegError, match="differs in: the input's frames"):
        track_video(open_video(path), tmp_path / "out", chunk=4)


def test_a_video_moved_after_an_interruption_is_resumed(tmp_path, capsys):
    """The same file in another folder (mv keeps its name, size and time) was refused as
    "another input": the interrupted work could only be thrown away."""
    frames = synth_video(n_frames=8, shape=(64, 64), n_single=2, n_pairs=0, n_triples=0, n_touching=0, seed=1).frames
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    tifffile.imwrite(tmp_path / "a" / "v.tif", frames, imagej=True, metadata={"axes": "TYX"})
    _interrupted(open_video(tmp_path / "a" / "v.tif"), tmp_path / "out", chunk=4)
    os.replace(tmp_path / "a" / "v.tif", tmp_path / "b" / "v.tif")
    summary = track_video(open_video(tmp_path / "b" / "v.tif"), tmp_path / "out", chunk=4)
    assert summary.resumed_from == 4 and "the input moved since the run" in capsys.readouterr().err


def test_frames_renamed_in_a_folder_are_noticed_and_other_files_and_hidden_ones_ignored(tmp_path):
    folder = tmp_path / "frames"
    folder.mkdir()
    for t in range(12):
        tifffile.imwrite(folder / f"frame_{t}.tif", np.full((96, 96), t * 10, np.uint8))
    (folder / "._frame_0.tif").write_bytes(b"\x00\x05\x16\x07 AppleDouble")  # macOS metadata, no frame
    assert open_video(folder).data.shape == (12, 96, 96)
    _interrupted(open_video(folder), tmp_path / "out")
    (folder / "notes.txt").write_text("dose 40 e/px")  # not a frame: the run resumes
    assert track_video(open_video(folder), tmp_path / "out", chunk=4).resumed_from > 0
    _interrupted(open_video(folder), tmp_path / "out2")
    frame = np.full((96, 96), 50, np.uint8)
    frame[-48:] = 255  # a data bar along the bottom (the file's last 4 KB), as every frame has
    tifffile.imwrite(folder / "frame_3.tif", frame)
    _interrupted(open_video(folder), tmp_path / "out3")
    written = (folder / "frame_3.tif").stat().st_mtime_ns
    frame[:8] = 60  # re-exported: other pixels, the same bottom rows, size and time
    tifffile.imwrite(folder / "frame_3.tif", frame)
    os.utime(folder / "frame_3.tif", ns=(written, written))
    with pytest.raises(TemsegError, match="differs in: the input's frames"):
        track_video(open_video(folder), tmp_path / "out3", chunk=4)
    os.replace(folder / "frame_5.tif", folder / "tmp.tif")  # two frames swapped by renaming
    os.replace(folder / "frame_9.tif", folder / "frame_5.tif")
    os.replace(folder / "tmp.tif", folder / "frame_9.tif")
    with pytest.raises(TemsegError, match="differs in: the input's frames"):
        track_video(open_video(folder), tmp_path / "out2", chunk=4)


def test_a_tiff_written_page_by_page_is_every_page_a_frame(tmp_path):
    """From a long-video pass: `TiffWriter.write` once per frame stores each page as its own
    series; read as the first series, 40 frames were one (exit 0, nothing said). A page of
    another shape is skipped and listed, as a bad frame of a folder is."""
    frames = synth_video(n_frames=8, shape=(96, 96), n_single=3, n_pairs=1, n_triples=0, n_touching=0, seed=2).frames
    with tifffile.TiffWriter(tmp_path / "pages.tif") as writer:
        for t, frame in enumerate(frames):
            writer.write(frame[:64, :64] if t == 5 else frame)
    video = open_video(tmp_path / "pages.tif")
    assert video.data.shape == (8, 96, 96)
    np.testing.assert_array_equal(np.asarray(video.data[3]), frames[3])
    summary = track_video(video, tmp_path / "out", chunk=4)
    assert summary.frames == 8 and [s["frame"] for s in summary.skipped] == [5]
    with tifffile.TiffWriter(tmp_path / "thumb.tif") as writer:  # a micrograph and its thumbnail: no video
        writer.write(frames[0])
        writer.write(frames[0][::4, ::4])
    assert open_video(tmp_path / "thumb.tif").data.shape == (1, 96, 96)
    with tifffile.TiffWriter(tmp_path / "first_odd.tif") as writer:  # the first page the odd one: was a 1-frame video
        writer.write(frames[0][:64, :64])
        for frame in frames[1:]:
            writer.write(frame)
    assert open_video(tmp_path / "first_odd.tif").data.shape == (8, 96, 96)
    with tifffile.TiffWriter(tmp_path / "preview.tif") as writer:  # a preview page, then the stack
        writer.write(frames[0][::4, ::4])
        writer.write(frames)
    with pytest.raises(TemsegError, match="holds 2 image series .* not one video"):
        open_video(tmp_path / "preview.tif")
    tifffile.imwrite(tmp_path / "after.tif", frames)  # a thumbnail after the stack: the stack, as before (a review)
    tifffile.imwrite(tmp_path / "after.tif", frames[0][::4, ::4], append=True)
    assert open_video(tmp_path / "after.tif").data.shape == (8, 96, 96)
    tifffile.imwrite(tmp_path / "two.tif", frames)  # two stacks alike: which is the video? (a review)
    tifffile.imwrite(tmp_path / "two.tif", frames, append=True)
    with pytest.raises(TemsegError, match="holds 2 image series"):
        open_video(tmp_path / "two.tif")


def test_folders_that_are_no_video_of_frames_are_refused(tmp_path):
    """A results folder given as the video was tracked as one frame (its plot); results written
    into the folder of frames became a frame of the next run; a folder holding the stack file
    got a hint to run `temseg track`, which the user had."""
    frames = synth_video(n_frames=6, shape=(64, 64), n_single=2, n_pairs=0, n_triples=0, n_touching=0, seed=2).frames
    (tmp_path / "stack").mkdir()
    tifffile.imwrite(tmp_path / "stack" / "v.tif", frames, imagej=True, metadata={"axes": "TYX"})
    with pytest.raises(TemsegError, match="holds one image file; give the file itself"):
        open_video(tmp_path / "stack")
    track_video(open_video(tmp_path / "stack" / "v.tif"), tmp_path / "results")
    with pytest.raises(TemsegError, match="is a `temseg track` results folder, not a video"):
        open_video(tmp_path / "results")
    (tmp_path / "frames").mkdir()
    for t, frame in enumerate(frames):
        tifffile.imwrite(tmp_path / "frames" / f"f{t}.tif", frame)
    with pytest.raises(TemsegError, match="is the folder of the video's frames"):
        track_video(open_video(tmp_path / "frames"), tmp_path / "frames", overwrite=True)
    assert len(list((tmp_path / "frames").iterdir())) == 6


def test_reading_a_frame_does_not_cost_more_in_a_longer_video(tmp_path):
    """A stack of one delayed read per frame made dask optimise the whole graph at every
    read (1.5 s per frame at 10,000 frames): frames are one blockwise layer now."""
    tifffile.imwrite(tmp_path / "long.tif", np.zeros((3000, 8, 8), np.uint8), imagej=True, metadata={"axes": "TYX"})
    video = open_video(tmp_path / "long.tif")
    assert len(video.data.dask.layers) == 1
    assert np.asarray(video.data[2999]).shape == (8, 8)


# -- 6. batches -----------------------------------------------------------------------------------------


def test_a_batch_says_what_it_does_not_read_and_which_file_each_line_is(tmp_path, capsys):
    """Sub-folders were skipped without a word (a folder named d.tif failed as an image); two
    x.tif of two folders gave two "x.tif" lines; an unknown suffix was told the image formats
    only (TEM files work too); tifffile's own error lines came before ours."""
    image = synth_image((96, 96), 4, radius=(8, 12), seed=1).image
    for folder in ("a", "b", "a/sub", "a/d.tif"):
        (tmp_path / folder).mkdir()
    for folder in ("a", "b"):
        tifffile.imwrite(tmp_path / folder / "x.tif", image)
    tifffile.imwrite(tmp_path / "a" / "nm.tif", image, imagej=True, resolution=(2.0, 2.0), metadata={"unit": "nm"})
    tifffile.imwrite(tmp_path / "a" / "broken.tif", image, imagej=True, metadata={"unit": "nm"})
    data = (tmp_path / "a" / "broken.tif").read_bytes()
    (tmp_path / "a" / "broken.tif").write_bytes(data[:3000])  # a cut-off copy: tifffile logs errors of its own
    (tmp_path / "c.rpl").write_text("")
    assert main(["segment", str(tmp_path / "a"), str(tmp_path / "b" / "x.tif"), str(tmp_path / "c.rpl"),
                 "--out", str(tmp_path / "out")]) == 1
    err = capsys.readouterr().err
    assert "its sub-folder(s) d.tif, sub are not searched" in err and "d.tif: error" not in err
    assert os.path.join("a", "x.tif") + ":" in err and os.path.join("b", "x.tif") + ":" in err
    assert "use one of .tif" in err and ".dm4" in err
    assert "pixel sizes differ" in err and "failed: broken.tif, c.rpl" in err  # a mixed batch's end: was a traceback
    run = subprocess.run([sys.executable, "-m", "napari_temseg.cli", "segment", str(tmp_path / "a" / "broken.tif"),
                          "--out", str(tmp_path / "out2")], capture_output=True, text=True)  # pytest takes log records
    assert run.returncode == 1 and all(line.startswith(("[", "temseg:")) for line in run.stderr.splitlines()), \
        run.stderr


def test_batches_keep_every_result_and_go_past_a_bad_file(tmp_path, capsys):
    for folder in ("dup1", "dup2"):
        (tmp_path / folder).mkdir()
        tifffile.imwrite(tmp_path / folder / "x.tif", synth_image((96, 96), 4, radius=(8, 12), seed=1).image)
    (tmp_path / "dup2" / "broken.tif").write_bytes(b"II*\x00 not really a tiff")
    tifffile.imwrite(tmp_path / "dup2" / "z.tif", synth_image((96, 96), 4, radius=(8, 12), seed=2).image)
    out = tmp_path / "dup2"  # results into an input folder
    code = main(["segment", str(tmp_path / "dup1"), str(tmp_path / "dup2"), "--out", str(out)])
    assert code == 1
    err = capsys.readouterr().err
    assert "broken.tif: error:" in err and "1 of 4 image(s) failed" in err
    assert {p.name for p in out.glob("*_labels.tif")} == {"dup1_x_labels.tif", "dup2_x_labels.tif", "z_labels.tif"}
    assert main(["segment", str(tmp_path / "dup2"), "--out", str(out)]) == 1  # again: its own results are not inputs
    assert "[1/3]" in capsys.readouterr().err  # broken, x, z: no *_labels.tif among them


def test_labels_of_an_earlier_run_on_another_file_of_the_same_name_are_not_overwritten(tmp_path, capsys):
    """Said to stay, they were replaced: an image of the same name from another folder is
    refused (one line, exit 2); the same image again is rewritten as before."""
    for folder, seed in (("a", 1), ("b", 2)):
        (tmp_path / folder).mkdir()
        tifffile.imwrite(tmp_path / folder / "c.tif", synth_image((96, 96), 4, radius=(8, 12), seed=seed).image)
    out = tmp_path / "out"
    assert main(["segment", str(tmp_path / "a" / "c.tif"), "--out", str(out)]) == 0
    first = (out / "c_labels.tif").read_bytes()
    capsys.readouterr()
    assert main(["segment", str(tmp_path / "b" / "c.tif"), "--out", str(out)]) == 2
    one_line_error(capsys, "c_labels.tif holds the labels of an earlier run on", "choose another --out")
    assert (out / "c_labels.tif").read_bytes() == first
    assert main(["segment", str(tmp_path / "a" / "c.tif"), "--out", str(out)]) == 0
    (tmp_path / "d").mkdir()  # a run on another image in between: summary.csv forgets c
    tifffile.imwrite(tmp_path / "d" / "d.tif", synth_image((96, 96), 4, radius=(8, 12), seed=3).image)
    assert main(["segment", str(tmp_path / "d" / "d.tif"), "--out", str(out)]) == 0
    capsys.readouterr()
    assert main(["segment", str(tmp_path / "b" / "c.tif"), "--out", str(out)]) == 2
    one_line_error(capsys, "c_labels.tif holds labels that summary.csv does not trace to this image")
    assert (out / "c_labels.tif").read_bytes() == first


def test_a_users_own_tables_in_the_output_folder_are_not_replaced(tmp_path, capsys):
    """particles.csv, summary.csv and size_distribution.png that temseg did not write were
    replaced without a word (--out pointed at a folder of the user's own analysis)."""
    tifffile.imwrite(tmp_path / "c.tif", synth_image((96, 96), 4, radius=(8, 12), seed=1).image)
    for name, content in (("particles.csv", b"sample,diameter_nm\nA,12.3\n"), ("summary.csv", b"x\n"),
                          ("size_distribution.png", b"\x89PNG mine")):
        out = tmp_path / name.split(".")[0]
        out.mkdir()
        (out / name).write_bytes(content)
        assert main(["segment", str(tmp_path / "c.tif"), "--out", str(out)]) == 2
        one_line_error(capsys, f"holds {name} that temseg did not write")
        assert (out / name).read_bytes() == content and not (out / "c_labels.tif").exists()
    out = tmp_path / "ours"
    assert main(["segment", str(tmp_path / "c.tif"), "--out", str(out)]) == 0
    assert main(["segment", str(tmp_path / "c.tif"), "--out", str(out)]) == 0  # its own tables: rewritten


def test_a_diameter_in_nm_on_non_square_pixels_says_why_it_cannot_be_used(tmp_path, capsys):
    image = synth_image((96, 96), 4, radius=(8, 12), seed=1).image
    tifffile.imwrite(tmp_path / "ns.tif", image, imagej=True, resolution=(2.0, 2.7), metadata={"unit": "nm"})
    assert main(["segment", str(tmp_path / "ns.tif"), "--out", str(tmp_path / "o"), "-o", "diameter=11nm"]) == 1
    assert "is in nm, but the file's pixels are not square" in capsys.readouterr().err


def test_the_pixel_size_is_given_with_its_own_flag(tmp_path, capsys):
    """-o pixel_size_nm crashed (given twice with a calibrated file) or was half applied."""
    tifffile.imwrite(tmp_path / "c.tif", synth_image((96, 96), 4, radius=(8, 12), seed=1).image)
    assert main(["segment", str(tmp_path / "c.tif"), "--out", str(tmp_path / "o"), "-o", "pixel_size_nm=0.5"]) == 2
    one_line_error(capsys, "--pixel-size")
    assert not (tmp_path / "o").exists()


def test_a_batch_of_different_pixel_sizes_says_it_pools_px_and_keeps_each_rows_pixel_size(tmp_path, capsys):
    image = synth_image((96, 96), 4, radius=(8, 12), seed=1).image
    tifffile.imwrite(tmp_path / "a.tif", image, imagej=True, resolution=(2.0, 2.0), metadata={"unit": "nm"})
    tifffile.imwrite(tmp_path / "b.tif", image)  # no pixel size
    assert main(["segment", str(tmp_path / "a.tif"), str(tmp_path / "b.tif"), "--out", str(tmp_path / "out")]) == 0
    assert "pixel sizes differ (0.5 nm, unknown)" in capsys.readouterr().err
    particles = pd.read_csv(tmp_path / "out" / "particles.csv")
    assert "equivalent_diameter_nm" not in particles and set(particles.pixel_size_nm.dropna()) == {0.5}


def test_a_full_disk_leaves_no_truncated_labels(tmp_path, monkeypatch):
    import errno

    from napari_temseg.io import write_labels_tiff

    def full(path, *args, **kwargs):
        Path(path).write_bytes(b"")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(tifffile, "imwrite", full)
    with pytest.raises(TemsegError, match="No space left"):
        write_labels_tiff(tmp_path / "a_labels.tif", np.ones((4, 4)))
    assert list(tmp_path.iterdir()) == []


# -- 7. option values -----------------------------------------------------------------------------------


def test_tracking_options_and_scheduler_are_checked_before_any_frame(movie, tmp_path, capsys):
    assert main(["track", str(movie), "--out", str(tmp_path / "a"), "-o", "max_gap=abc"]) == 2
    one_line_error(capsys, "max_gap='abc'", "integer")
    assert not (tmp_path / "a" / "labels.zarr").exists()
    assert main(["track", str(movie), "--out", str(tmp_path / "b"), "--scheduler", "not-an-address"]) == 2
    one_line_error(capsys, "dask scheduler", "tcp://")
    assert main(["track", str(movie), "--out", str(tmp_path / "c"), "-o", "split_depth=0"]) == 2  # h-maxima needs h > 0
    one_line_error(capsys, "split_depth=0", "from 0.01 to 5")


@pytest.mark.parametrize("rows, message", [
    ("y,x,label\nten,5,1\n", "row 2: y must be a pixel coordinate"),
    ("y,x,label\n5,5,maybe\n", "row 2: label must be 1/positive or 0/negative"),
    ("y,x,label\n", "holds no points"),
    ("y,x,label\n,,1\n", "row 2: y must be a pixel coordinate"),
])
def test_bad_points_csv(rows, message, tmp_path, capsys):
    image = tmp_path / "a.tif"
    tifffile.imwrite(image, synth_image((96, 96), 4, seed=0).image)
    (tmp_path / "p.csv").write_text(rows)
    code = main(["segment", str(image), "--out", str(tmp_path / "o"), "--model", "efficientsam-tiny",
                 "--points", str(tmp_path / "p.csv")])
    assert code == 2
    one_line_error(capsys, message)


# -- 8. the rest ----------------------------------------------------------------------------------------


def test_a_tiff_declaring_a_huge_image_is_refused_before_allocation(tmp_path, capsys):
    path = tmp_path / "huge.tif"
    tifffile.imwrite(path, np.zeros((8, 8), np.uint32))
    with tifffile.TiffFile(path, mode="r+b") as tif:
        tif.pages[0].tags["ImageWidth"].overwrite(40192)
        tif.pages[0].tags["ImageLength"].overwrite(40192)
    assert main(["segment", str(path), "--out", str(tmp_path / "o")]) == 1
    assert "40192 x 40192" in capsys.readouterr().err


def test_evaluate_float_labels_and_named_mismatches(tmp_path, capsys):
    sample = synth_image((128, 128), 6, radius=(8, 12), seed=3)
    for sub in ("images", "labels"):
        (tmp_path / "d" / sub).mkdir(parents=True)
    tifffile.imwrite(tmp_path / "d" / "images" / "a.tif", sample.image)
    tifffile.imwrite(tmp_path / "d" / "labels" / "a.tif", sample.labels.astype(np.float32) / 255)
    assert main(["evaluate", "--data", str(tmp_path / "d"), "--json"]) == 0
    as_float = json.loads(capsys.readouterr().out)
    tifffile.imwrite(tmp_path / "d" / "labels" / "a.tif", sample.labels)
    assert main(["evaluate", "--data", str(tmp_path / "d"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["f1"] == as_float["f1"]
    tifffile.imwrite(tmp_path / "d" / "labels" / "a.tif", sample.labels[:100])
    assert main(["evaluate", "--data", str(tmp_path / "d")]) == 2
    one_line_error(capsys, "images/a.tif has shape (128, 128) but its labels labels/a.tif have (100, 128)")


def test_evaluate_track_with_words_in_the_truth_events(tmp_path, small_video, capsys):
    from napari_temseg.io import write_track_dir

    write_track_dir(tmp_path / "truth", small_video.labels, small_video.events)
    write_track_dir(tmp_path / "pred", small_video.labels, small_video.events)
    (tmp_path / "truth" / "events.csv").write_text("frame,parents,child\nlate,1;2,9\n")
    assert main(["evaluate-track", str(tmp_path / "pred"), "--truth", str(tmp_path / "truth")]) == 2
    one_line_error(capsys, "events.csv, row 2", "whole numbers")


def test_api_messages_say_what_was_given():
    with pytest.raises(TemsegError, match="got the file name 'micrograph.tif', not an image"):
        segment("micrograph.tif")
    with pytest.raises(TemsegError, match=r"frames differ in shape \(\(32, 32\), \(40, 40\)\)"):
        track([np.zeros((32, 32)), np.zeros((40, 40))])


def test_swin_unet_training_size_that_its_windows_cannot_take(tmp_path, capsys):
    assert main(["train", "swin-unet", "--synth", "1", "--imgsz", "256", "--out", str(tmp_path / "s.pt")]) == 2
    one_line_error(capsys, "multiples of 224", "224, 448, 672, 896", "not 256")


def test_cli_as_a_user_runs_it(tmp_path):
    """One of the above through a real `temseg` process: one line, exit 2, nothing written."""
    run = subprocess.run([sys.executable, "-m", "napari_temseg.cli", "segment", str(tmp_path / "none.tif"),
                          "--out", str(tmp_path / "o")], capture_output=True, text=True, timeout=120)
    assert run.returncode == 2 and run.stderr.strip().count("\n") == 0 and "no such file" in run.stderr
    (tmp_path / "cut.tif").write_bytes(b"II*\x00\x08\x00\x00\x00")  # a header and nothing else
    run = subprocess.run([sys.executable, "-m", "napari_temseg.cli", "segment", str(tmp_path / "cut.tif"),
                          "--out", str(tmp_path / "o")], capture_output=True, text=True, timeout=120)
    assert run.returncode == 1 and "tifffile" not in run.stderr  # its warnings came before our line, twice
    assert run.stderr.startswith("[1/1] cut.tif: error:") and "truncated or corrupt" in run.stderr


def test_a_layer_is_not_resumed_by_another_of_the_same_shape_and_its_run_options_are_read_back(tmp_path):
    """The Track dock's default folder is named after the layer: a second video of the same
    name and shape resumed the first one's finished results. A re-track from a frame must
    link with the run's options (`results_options`); it used the defaults."""
    from napari_temseg.io.results import results_method, results_options
    from napari_temseg.tracking import split_options

    a = synth_video(n_frames=6, shape=(96, 96), n_single=2, n_pairs=0, n_triples=0, n_touching=0, seed=1).frames
    b = synth_video(n_frames=6, shape=(96, 96), n_single=2, n_pairs=0, n_triples=0, n_touching=0, seed=2).frames
    track_video(Video(a), tmp_path / "run", options={"fusion_min_frames": 4})
    assert split_options(results_options(tmp_path / "run"))[0].fusion_min_frames == 4
    assert results_method(tmp_path / "run") == "link" and results_method(tmp_path / "none") == "link"
    with pytest.raises(TemsegError, match="differs in: data_digest"):
        track_video(Video(b), tmp_path / "run", options={"fusion_min_frames": 4})


def test_a_frame_interval_given_before_an_interruption_is_kept_by_the_resumed_run(movie, tmp_path):
    steps = iter_track_video(Video(open_video(movie).data, 0.5, str(movie), frame_interval_s=2.0), tmp_path / "run",
                             chunk=8)
    for _ in range(6):
        next(steps)
    steps.close()
    track_video(Video(open_video(movie).data, 0.5, str(movie)), tmp_path / "run", chunk=8)  # resumed without it
    assert "diffusion_nm2_per_s" in (tmp_path / "run" / "tracks_summary.csv").read_text()


def test_a_pixel_size_given_after_a_run_remeasures_its_sizes_without_retracking(movie, straight, tmp_path):
    """The labels do not depend on the pixel size (unless a diameter is given in nm): a run
    finished, or interrupted, without one (or with a wrong one) takes it without --overwrite;
    its tables are in the new nm, its labels and review-able events.csv the same."""
    from napari_temseg.io.results import results_calibration

    out = tmp_path / "finished"
    track_video(Video(open_video(movie).data, None, str(movie)), out, chunk=8)
    assert "equivalent_diameter_nm" not in pd.read_csv(out / "tracks.csv")
    summary = track_video(Video(open_video(movie).data, 0.25, str(movie)), out, chunk=8)
    assert "its sizes measured again at the new pixel size" in summary.resumed_note()
    tracks = pd.read_csv(out / "tracks.csv")
    assert np.allclose(tracks.equivalent_diameter_nm, 0.25 * tracks.equivalent_diameter)
    assert results_calibration(out)[0] == 0.25 and (out / "events.csv").read_text() == straight[1]
    assert np.array_equal(zarr.open_array(str(out / "labels.zarr"), mode="r")[:], straight[0])
    assert "neck_width_nm" in pd.read_csv(out / "sintering.csv") or not len(pd.read_csv(out / "sintering.csv"))

    out = tmp_path / "interrupted"
    steps = iter_track_video(Video(open_video(movie).data, 0.5, str(movie)), out, chunk=8)
    for _ in range(6):
        next(steps)
    steps.close()
    assert track_video(Video(open_video(movie).data, 0.25, str(movie)), out, chunk=8).resumed_from == 48
    assert np.array_equal(zarr.open_array(str(out / "labels.zarr"), mode="r")[:], straight[0])
    assert results_calibration(out)[0] == 0.25
    with pytest.raises(TemsegError, match="differs in: options"):  # a diameter in nm used it: not the same labels
        track_video(Video(open_video(movie).data, 0.25, str(movie)), out, chunk=8, options={"diameter": "10nm"})


def test_a_video_without_particles_gives_tables_with_headers_and_opens_in_napari(tmp_path):
    """tracks_summary.csv was one byte, and napari refused the results folder (an empty Tracks layer)."""
    from napari_temseg._reader import read_track_results

    track_video(Video(np.full((4, 64, 64), 100, np.uint8)), tmp_path / "run")
    assert (tmp_path / "run" / "tracks_summary.csv").read_text().startswith("track_id,frames,")
    assert [kind for *_, kind in read_track_results(str(tmp_path / "run"))] == ["labels"]
