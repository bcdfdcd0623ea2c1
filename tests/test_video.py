"""Long videos: lazy input with nm scale, chunked zarr output, resume after SIGKILL, bad input."""

import json
import os
import signal
import subprocess
import sys
import time

import dask.array as da
import numpy as np
import pytest
import tifffile
import zarr
from conftest import write_emd, write_movie

from napari_temseg import TemsegError
from napari_temseg.io import open_video
from napari_temseg.synth import synth_video
from napari_temseg.video import track_video


@pytest.fixture(scope="module")
def video_file(tmp_path_factory):
    """A 96-frame synthetic sintering video as an ImageJ TIFF with 0.4 nm pixels."""
    path = tmp_path_factory.mktemp("video") / "movie.tif"
    v = synth_video(n_frames=96, shape=(256, 256), n_single=5, n_pairs=2, n_triples=0, n_touching=1, seed=4)
    tifffile.imwrite(path, v.frames, imagej=True, resolution=(1 / 0.4, 1 / 0.4), metadata={"unit": "nm", "axes": "TYX"})
    return path


def test_tiff_opens_lazily_with_nm_pixels(video_file):
    video = open_video(video_file)
    assert isinstance(video.data, da.Array) and video.data.shape == (96, 256, 256)
    assert video.pixel_size_nm == pytest.approx(0.4)
    assert video.scale == pytest.approx((1.0, 0.4, 0.4))
    assert np.array_equal(video.data[5].compute(), tifffile.imread(video_file, key=5))


def test_emd_written_by_rosettasciio_opens_lazily_with_nm_scale(tmp_path):
    data = (np.random.default_rng(0).random((4, 32, 40)) * 255).astype(np.uint8)
    video = open_video(write_emd(tmp_path / "heating.emd", data, 2.5, "Å"))
    assert isinstance(video.data, da.Array)
    assert video.pixel_size_nm == pytest.approx(0.25)
    assert np.array_equal(video.data.compute(), data)


def test_a_movie_opens_lazily_as_its_grey_frames_and_is_tracked(tmp_path):
    """In-situ videos are often exported as .avi/.mp4: refused before ('unknown video format')."""
    import pickle

    from napari_temseg._reader import get_reader, read_video
    from napari_temseg.io.movies import MovieFrames

    frames = synth_video(n_frames=12, shape=(128, 160), n_single=3, n_pairs=1, n_triples=0, n_touching=0,
                         bit_depth=8, seed=2).frames
    lossless = open_video(write_movie(tmp_path / "heating.avi", frames, "FFV1"))
    assert isinstance(lossless.data, da.Array) and lossless.data.shape == (12, 128, 160)
    assert lossless.data.dtype == np.uint8 and lossless.pixel_size_nm is None and lossless.frame_interval_s is None
    assert lossless.metadata["movie_fps"] == pytest.approx(12.5)  # its playback rate: kept, not used as the interval
    assert np.array_equal(lossless.data[7].compute(), frames[7])  # a frame alone (a seek) ...
    assert np.array_equal(lossless.data.compute(), frames)  # ... and all in order
    assert np.array_equal(pickle.loads(pickle.dumps(MovieFrames(tmp_path / "heating.avi")))(3), frames[3])  # workers
    compressed = open_video(write_movie(tmp_path / "heating.mp4", frames, "mp4v"))
    assert compressed.data.shape == (12, 128, 160) and np.abs(compressed.data[5].compute() - frames[5].astype(float)).mean() < 8
    assert "note" not in lossless.metadata and "is lossy" in compressed.metadata["note"]  # marks: found if still
    assert get_reader(str(tmp_path / "heating.mp4")) is read_video
    with pytest.warns(UserWarning, match="heating.mp4: its codec .* is lossy"):  # said in napari too
        (data, meta, kind), = read_video(str(tmp_path / "heating.mp4"))  # napari: a lazy image layer
    assert kind == "image" and isinstance(data, da.Array) and data.shape == (12, 128, 160)
    run = subprocess.run([sys.executable, "-m", "napari_temseg.cli", "track", str(tmp_path / "heating.avi"), "--out",
                          str(tmp_path / "t")], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert "the movie plays at 12.5 frames/s" in run.stdout and "give --frame-interval" in run.stdout
    assert _zarr(tmp_path / "t").shape == (12, 128, 160)


@pytest.mark.parametrize("codec", ["ULRG", "MAGY"])
def test_lossless_codecs_beyond_ffv1_are_not_called_lossy(tmp_path, codec):
    """Ut Video and MagicYUV code every pixel exactly (OpenCV's colour conversion on the way
    may shift a grey level or two, and merge neighbours): warned as lossy before, and
    searched for still marks, which in a lossless stack can be still, dark particles (a
    review). A flat mark stays flat: each level written reads as one level."""
    frames = synth_video(n_frames=3, shape=(64, 80), n_single=2, n_pairs=0, n_triples=0, n_touching=0,
                         bit_depth=8, seed=2).frames
    video = open_video(write_movie(tmp_path / "heating.avi", frames, codec))
    assert "lossy_codec" not in video.metadata and "note" not in video.metadata
    written_and_read = np.unique(np.stack([frames.ravel(), video.data.compute().ravel()]), axis=1)
    assert written_and_read.shape[1] == len(np.unique(frames))  # one level read for each written


def test_a_16_bit_movie_keeps_its_16_bits(tmp_path):
    """OpenCV converts every frame to 8-bit colour: a 16-bit FFV1 movie (a lossless export)
    opened as uint8, its low 8 bits lost without a word (a review)."""
    from napari_temseg.opencv import opencv

    cv2 = opencv()
    frames = (np.random.default_rng(0).random((3, 64, 80)) * 60000).astype(np.uint16)
    writer = cv2.VideoWriter(str(tmp_path / "deep.mkv"), cv2.CAP_FFMPEG, cv2.VideoWriter_fourcc(*"FFV1"), 10.0,
                             (80, 64), [cv2.VIDEOWRITER_PROP_DEPTH, cv2.CV_16U, cv2.VIDEOWRITER_PROP_IS_COLOR, 0])
    for frame in frames:
        writer.write(frame)
    writer.release()
    video = open_video(tmp_path / "deep.mkv")
    assert video.data.dtype == np.uint16 and np.array_equal(video.data[2].compute(), frames[2])
    assert np.array_equal(video.data.compute(), frames)


def test_a_cut_or_damaged_movie_is_said_so(tmp_path):
    frames = synth_video(n_frames=12, shape=(128, 160), n_single=3, n_pairs=1, n_triples=0, n_touching=0,
                         bit_depth=8, seed=2).frames
    whole = write_movie(tmp_path / "whole.avi", frames, "MJPG").read_bytes()
    (tmp_path / "cut.avi").write_bytes(whole[: len(whole) // 2])
    cut = open_video(tmp_path / "cut.avi")
    assert 0 < cut.data.shape[0] < 12 and "declares 12 frames but only its first" in cut.metadata["note"]
    one = open_video(write_movie(tmp_path / "one.avi", frames[:1], "FFV1")).data  # cannot seek back to its start
    assert np.array_equal(one[0].compute(), frames[0]) and np.array_equal(one[0].compute(), frames[0])  # read twice
    (tmp_path / "junk.mp4").write_bytes(np.random.default_rng(0).bytes(4000))
    with pytest.raises(TemsegError, match="no frame of this movie can be decoded"):
        open_video(tmp_path / "junk.mp4")
    from napari_temseg.io import read_micrograph

    with pytest.raises(TemsegError, match="a movie; track it"):
        read_micrograph(tmp_path / "cut.avi")


def _zarr(path):
    return np.asarray(zarr.open_array(str(path / "labels.zarr"), mode="r")[:])


def test_killed_run_resumes_to_the_same_result(video_file, tmp_path):
    reference = track_video(open_video(video_file), tmp_path / "straight", chunk=8)
    out = tmp_path / "killed"
    cmd = [sys.executable, "-m", "napari_temseg.cli", "track", str(video_file), "--out", str(out), "--chunk", "8"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    state = out / "state.json"
    deadline = time.time() + 120
    while time.time() < deadline:
        if state.exists() and json.loads(state.read_text())["pushed"] >= 24:
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    pushed = json.loads(state.read_text())["pushed"]
    assert 24 <= pushed < 96, "the run finished before it could be killed"
    rerun = subprocess.run(cmd, capture_output=True, text=True)
    assert rerun.returncode == 0, rerun.stderr
    assert f"resumed at frame {pushed}" in rerun.stdout
    resumed, straight = _zarr(out), _zarr(tmp_path / "straight")
    for t in range(96):
        assert np.array_equal(resumed[t], straight[t]), f"frame {t} differs"
    assert (out / "events.csv").read_text() == (tmp_path / "straight" / "events.csv").read_text()
    assert len(reference.events) == 2


@pytest.mark.parametrize(("stop", "status"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_a_stopped_run_says_what_it_kept(video_file, tmp_path, stop, status):
    """SIGTERM (a batch system's time limit) ended a run silently, and with worker processes
    a Ctrl-C could be swallowed; both now say what was kept and stop at once."""
    out = tmp_path / "terminated"
    cmd = [sys.executable, "-m", "napari_temseg.cli", "track", str(video_file), "--out", str(out), "--chunk", "8"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while time.time() < deadline and not (out / "state.json").exists():
        time.sleep(0.05)
    proc.send_signal(stop)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == status and "interrupted" in err and "to resume" in err


def test_other_run_in_the_folder_is_refused_unless_overwrite(video_file, tmp_path):
    video = open_video(video_file)
    video.data = video.data[:10]
    track_video(video, tmp_path / "out", chunk=5)
    with pytest.raises(TemsegError, match="another input, model or settings.*--overwrite"):
        track_video(video, tmp_path / "out", chunk=5, options={"sigma": 3})
    summary = track_video(video, tmp_path / "out", chunk=5, options={"sigma": 3}, overwrite=True)
    assert summary.frames == 10 and summary.resumed_from == 0
    (tmp_path / "stranger").mkdir()
    (tmp_path / "stranger" / "notes.txt").write_text("mine")
    with pytest.raises(TemsegError, match="not empty"):
        track_video(video, tmp_path / "stranger")
    assert (tmp_path / "stranger" / "notes.txt").read_text() == "mine"


def test_a_run_is_resumed_only_by_the_build_that_began_it(video_file, tmp_path, monkeypatch):
    import napari_temseg.video as video_module

    video = open_video(video_file)
    video.data = video.data[:6]
    track_video(video, tmp_path / "out", chunk=3)
    monkeypatch.setattr(video_module, "_build_digest", lambda model, weights: "another build")
    with pytest.raises(TemsegError, match="another version of napari-temseg.*--overwrite"):
        track_video(video, tmp_path / "out", chunk=3)
    assert track_video(video, tmp_path / "out", chunk=3, overwrite=True).frames == 6


def test_retrained_weights_of_the_same_size_are_another_build(tmp_path):
    from napari_temseg.video import _build_digest

    first, second = tmp_path / "first.pt", tmp_path / "second.pt"
    first.write_bytes(b"\x00" * 64)
    second.write_bytes(b"\x00" * 63 + b"\x01")
    assert _build_digest("yolov8n-seg", str(first)) != _build_digest("yolov8n-seg", str(second))
    assert _build_digest("yolov8n-seg", str(first)) == _build_digest("yolov8n-seg", str(first))


def test_a_weights_variant_reaches_the_video_pipeline(video_file, tmp_path):
    """`temseg track --weights sharp` segments with the shipped variant, and a folder of a run
    with other weights is not resumed as if it were the same run."""
    from napari_temseg.cli import main

    clip = tmp_path / "clip.tif"
    tifffile.imwrite(clip, tifffile.imread(video_file)[:3], imagej=True, metadata={"axes": "TYX"})
    args = ["track", str(clip), "--model", "efficientsam-tiny", "--method", "propagate"]
    assert main([*args, "--out", str(tmp_path / "sharp"), "--weights", "sharp"]) == 0
    assert main([*args, "--out", str(tmp_path / "sharp")]) == 2  # default weights: another run
    assert main([*args, "--out", str(tmp_path / "default")]) == 0
    sharp = zarr.open_array(str(tmp_path / "sharp" / "labels.zarr"), mode="r")[:]
    default = zarr.open_array(str(tmp_path / "default" / "labels.zarr"), mode="r")[:]
    assert np.array_equal(sharp[0], default[0])  # frame 0: the classical seed
    assert not np.array_equal(sharp[1:], default[1:])
    state = json.loads((tmp_path / "default" / "state.json").read_text())
    assert state["linker"]["date_by_neck"] is False  # propagation links as `track` does: no neck dating


def test_concurrent_writer_is_refused(video_file, tmp_path):
    out = tmp_path / "busy"
    out.mkdir()
    (out / ".lock").write_text(str(os.getppid()))  # a live process holds the folder
    with pytest.raises(TemsegError, match="another temseg run"):
        track_video(open_video(video_file), out)
    (out / ".lock").write_text("999999999")  # a dead writer's stale lock is taken over
    video = open_video(video_file)
    video.data = video.data[:3]
    assert track_video(video, out).frames == 3
    import psutil

    killed = subprocess.Popen([sys.executable, "-c", "pass"])  # ends, not yet collected: a zombie
    while psutil.Process(killed.pid).status() != psutil.STATUS_ZOMBIE:
        time.sleep(0.01)
    (out / ".lock").write_text(f"{killed.pid} {psutil.Process(killed.pid).create_time()}")
    assert track_video(video, out).frames == 3  # its lock taken over, not "another run is writing"
    killed.wait()


def test_bad_inputs_are_clear(tmp_path, video_file):
    truncated = tmp_path / "cut.tif"
    truncated.write_bytes(video_file.read_bytes()[:200_000])
    with pytest.raises(TemsegError, match="cut.tif"):
        open_video(truncated)
    with pytest.raises(TemsegError, match="unknown video format"):
        open_video(tmp_path / "x.gif") if (tmp_path / "x.gif").write_bytes(b"GIF89a") else None
    with pytest.raises(TemsegError, match="no frame of this movie can be decoded"):  # a movie now, but damaged
        open_video(tmp_path / "x.avi") if (tmp_path / "x.avi").write_bytes(b"RIFF") else None
    three = tmp_path / "three.tif"
    tifffile.imwrite(three, np.zeros((3, 32, 32), np.uint8), photometric="rgb", planarconfig="separate")  # one page of 3 colour samples
    with pytest.raises(TemsegError, match="colour samples.*imagej=True"):
        open_video(three)
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    with pytest.raises(TemsegError, match="cannot write results"):
        track_video(open_video(video_file), blocker / "out")


@pytest.mark.slow
def test_workers_give_the_same_result(video_file, tmp_path):
    video = open_video(video_file)
    video.data = video.data[:24]
    single = track_video(video, tmp_path / "one", chunk=8)
    multi = track_video(video, tmp_path / "two", chunk=8, workers=2)
    assert np.array_equal(_zarr(tmp_path / "one"), _zarr(tmp_path / "two"))
    assert single.events == multi.events
    # its worker processes are stopped with the run (each run in napari left two running)
    import psutil

    def workers_left() -> int:
        return sum("spawn_main" in " ".join(p.cmdline()) for p in psutil.Process().children(recursive=True)
                   if p.is_running())

    deadline = time.monotonic() + 10
    while workers_left() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert workers_left() == 0


def test_tracking_with_the_classical_model_never_loads_torch(video_file, tmp_path):
    """torch (about 650 MB resident, 3 s to import) is for the deep models: a classical run,
    and every dask worker it starts, stays without it."""
    code = ("import sys\n"
            "from napari_temseg import cli\n"
            f"status = cli.main(['track', {str(video_file)!r}, '--out', {str(tmp_path / 'run')!r}, '--chunk', '8'])\n"
            "assert 'torch' not in sys.modules, 'torch was imported'\n"
            "sys.exit(status)\n")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]


def test_full_disk_keeps_finished_chunks_and_resumes(video_file, tmp_path, monkeypatch):
    import errno

    import napari_temseg.video as video_module

    video = open_video(video_file)
    video.data = video.data[:24]
    straight = tmp_path / "straight"
    track_video(video, straight, chunk=8)
    real_commit = video_module._commit
    calls = []

    def commit_then_fill_disk(*args):
        calls.append(1)
        if len(calls) == 2:
            raise OSError(errno.ENOSPC, "No space left on device")
        real_commit(*args)

    monkeypatch.setattr(video_module, "_commit", commit_then_fill_disk)
    out = tmp_path / "full"
    with pytest.raises(TemsegError, match="No space left on device.*rerun to resume"):
        track_video(video, out, chunk=8)
    monkeypatch.setattr(video_module, "_commit", real_commit)
    summary = track_video(video, out, chunk=5)  # another chunk size resumes (it was refused): the same result
    assert summary.resumed_from == 8
    assert np.array_equal(_zarr(out), _zarr(straight))


def test_an_rgb_stack_is_tracked_as_its_grey_frames(tmp_path):
    """napari offers RGB time stacks (T, Y, X, 3) to the Track widget: one label per pixel."""
    from napari_temseg.io import Video

    v = synth_video(n_frames=5, shape=(160, 160), n_single=3, n_pairs=1, n_triples=0, n_touching=0, seed=2)
    track_video(Video(v.frames), tmp_path / "grey")
    track_video(Video(np.repeat(v.frames[..., None], 3, axis=-1)), tmp_path / "rgb")
    assert _zarr(tmp_path / "rgb").shape == v.frames.shape
    assert np.array_equal(_zarr(tmp_path / "grey"), _zarr(tmp_path / "rgb"))


def test_rgb_tiff_stacks_and_images_open_as_colour_frames(tmp_path):
    """An RGB stack saved by ImageJ (its series reads as C, Y, X, S) or by tifffile, and a
    single RGB micrograph, open as (T, Y, X, S) frames (they were called truncated or not a stack)."""
    v = synth_video(n_frames=4, shape=(96, 96), n_single=3, n_pairs=1, n_triples=0, n_touching=0, seed=2)
    rgb = np.repeat((v.frames * 255).astype(np.uint8)[..., None], 3, axis=-1)
    tifffile.imwrite(tmp_path / "imagej.tif", rgb, imagej=True, photometric="rgb")
    tifffile.imwrite(tmp_path / "plain.tif", rgb, photometric="rgb")
    tifffile.imwrite(tmp_path / "one.tif", rgb[0], photometric="rgb")
    for name, frames in (("imagej", 4), ("plain", 4), ("one", 1)):
        video = open_video(tmp_path / f"{name}.tif")
        assert video.data.shape == (frames, 96, 96, 3)
        assert np.array_equal(video.data[-1].compute(), rgb[frames - 1])


def test_a_written_stack_keeps_its_pixel_size(tmp_path):
    from napari_temseg.io import write_stack_tiff

    frames = np.random.default_rng(0).random((3, 40, 50))  # float64: stored as float32
    video = open_video(write_stack_tiff(tmp_path / "frames.tif", frames, 0.5))
    assert video.data.shape == (3, 40, 50) and video.pixel_size_nm == pytest.approx(0.5)
    assert np.allclose(video.data.compute(), frames.astype(np.float32))
    assert open_video(write_stack_tiff(tmp_path / "plain.tif", frames[:, :, :8].astype(np.uint16))).pixel_size_nm is None


def test_track_reports_its_stack_decision_and_takes_a_diameter_in_nm(video_file, tmp_path, capsys):
    from napari_temseg.cli import main

    clip = tmp_path / "clip.tif"
    tifffile.imwrite(clip, tifffile.imread(video_file)[:4], imagej=True, resolution=(1 / 0.4, 1 / 0.4),
                     metadata={"unit": "nm", "axes": "TYX"})
    assert main(["track", str(clip), "--out", str(tmp_path / "bad"), "-o", "diameter=abc"]) == 2
    assert "diameter must be" in capsys.readouterr().err and not (tmp_path / "bad" / "run.json").exists()
    assert main(["track", str(clip), "--out", str(tmp_path / "nm"), "-o", "diameter=8nm"]) == 0
    assert "dark particles (auto), diameter 20.0 px (given as 8nm)" in capsys.readouterr().out  # 8 nm at the file's 0.4 nm/px
    assert main(["track", str(clip), "--out", str(tmp_path / "auto")]) == 0
    assert "dark particles (auto), diameter" in capsys.readouterr().out
