"""The CLI as a user runs it: a real `temseg` process, real files."""

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import tifffile

from napari_temseg.models import weights
from napari_temseg.synth import synth_image


def temseg(*args, cwd=None):
    return subprocess.run(
        [sys.executable, "-m", "napari_temseg.cli", *map(str, args)],
        capture_output=True, text=True, cwd=cwd, env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )


@pytest.fixture(scope="module")
def image_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("imgs")
    for i in range(3):
        tifffile.imwrite(folder / f"img{i}.tif", synth_image(seed=i).image)
    return folder


def test_segment_writes_labels_and_summary(image_folder, tmp_path):
    from napari_temseg.io import open_video

    run = temseg("segment", image_folder, "--out", tmp_path, "-o", "min_size=40", "--pixel-size", "0.8")
    assert run.returncode == 0, run.stderr
    labels = tifffile.imread(tmp_path / "img0_labels.tif")
    assert labels.dtype == np.uint32 and labels.max() > 10
    assert open_video(tmp_path / "img0_labels.tif").pixel_size_nm == pytest.approx(0.8)  # the labels keep it
    summary = (tmp_path / "summary.csv").read_text().splitlines()
    header = summary[0].split(",")
    assert header[:3] == ["file", "labels", "objects"] and header[-4:] == ["polarity", "radius_px", "scale", "error"]
    assert {"pixel_size_nm", "count", "d50", "lognormal_median", "lognormal_gsd"} <= set(header)
    assert len(summary) == 5  # 3 images + ALL
    assert "images/s" in run.stdout


def test_segment_notes_particles_too_few_px_across_to_size(tmp_path):
    """Particles 6-8 px across: the line, summary.csv and the figure say that the size
    distribution's small end is cut off (it was reported as any other, silently)."""
    tifffile.imwrite(tmp_path / "small.tif", synth_image((160, 160), 30, radius=(3, 4), seed=0).image)
    tifffile.imwrite(tmp_path / "large.tif", synth_image((160, 160), 8, radius=(10, 14), seed=0).image)
    run = temseg("segment", tmp_path / "small.tif", tmp_path / "large.tif", "--out", tmp_path / "o",
                 "--pixel-size", "0.5")
    assert run.returncode == 0, run.stderr
    assert "small.tif: note: " in run.stderr and "under 8 px (4 nm) across" in run.stderr
    assert "large.tif: note" not in run.stderr
    with open(tmp_path / "o" / "summary.csv", newline="") as fh:
        notes = {Path(row["file"]).name: row["note"] for row in csv.DictReader(fh)}
    assert "small end is cut off" in notes["small.tif"] and notes["large.tif"] == ""


def test_evaluate_json(paper_data):
    run = temseg("evaluate", "--data", paper_data, "--model", "classical", "--json")
    assert run.returncode == 0, run.stderr
    result = json.loads(run.stdout)
    assert {"iou", "dice", "f1", "n_images", "images_per_s"} <= set(result)
    assert result["iou"] >= 0.99 and result["n_images"] == 20


@pytest.mark.slow
def test_track_and_evaluate_track(tmp_path):
    run = temseg("synth-video", "--out", tmp_path / "video", "--frames", 30, "--size", 320,
                 "--singles", 5, "--pairs", 2, "--triples", 1, "--touching", 1)
    assert run.returncode == 0, run.stderr
    run = temseg("track", tmp_path / "video" / "frames.tif", "--out", tmp_path / "out", "--pixel-size", 0.4)
    assert run.returncode == 0, run.stderr
    assert "30 frames" in run.stdout and "fusion events" in run.stdout
    assert "frame interval unknown: times in frames" in run.stdout
    for name in ("labels.zarr", "tracks.csv", "events.csv", "sintering.csv"):
        assert (tmp_path / "out" / name).exists()
    assert (tmp_path / "out" / "events.csv").read_text().startswith("frame,child,parents")
    run = temseg("evaluate-track", tmp_path / "out", "--truth", tmp_path / "video" / "truth", "--json")
    assert run.returncode == 0, run.stderr
    scores = json.loads(run.stdout)
    assert scores["fusion_f1"] >= 0.9 and scores["id_switches"] == 0


@pytest.mark.parametrize(
    "args, message",
    [
        (["segment", "/nonexistent.tif", "--out", "x"], "no such file"),
        (["evaluate", "--data", "/nonexistent"], "images/ and labels/"),
        (["segment", "IMG", "--out", "x", "--model", "nope"], "unknown model"),
        (["segment", "IMG", "--out", "x", "-o", "sigma"], "key=value"),
        (["track", "IMG", "--out", "x", "--method", "propagate"], "prompted model"),
        (["synth-video", "--out", "x", "--size", "64"], "a 64 px frame cannot hold one fusing pair"),
    ],
)
def test_errors_are_one_line_without_traceback(args, message, image_folder, tmp_path):
    args = [str(image_folder / "img0.tif") if a == "IMG" else a for a in args]
    run = temseg(*args, cwd=tmp_path)
    assert run.returncode == 2
    assert message in run.stderr and "Traceback" not in run.stderr
    assert len(run.stderr.strip().splitlines()) == 1


def test_an_empty_out_is_refused_and_unread_image_files_are_named(image_folder, tmp_path, capsys):
    """--out "" wrote the results into the working folder, and a folder's .gif and .webp
    micrographs were skipped without a word."""
    from napari_temseg.cli import main

    with pytest.raises(SystemExit) as stop:
        main(["segment", str(image_folder / "img0.tif"), "--out", ""])
    assert stop.value.code == 2 and "--out: must be a file or folder name" in capsys.readouterr().err
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "a.tif").write_bytes((image_folder / "img0.tif").read_bytes())
    (folder / "b.gif").write_bytes(b"GIF89a")
    assert main(["segment", str(folder), "--out", str(tmp_path / "out")]) == 0
    assert "its .gif files are not read" in capsys.readouterr().err


def test_demo_writes_overview(tmp_path):
    run = temseg("demo", "--out", tmp_path / "demo")
    assert run.returncode == 0, run.stderr
    assert (tmp_path / "demo" / "overview.png").stat().st_size > 10_000
    assert (tmp_path / "demo" / "video" / "events.csv").exists()
    assert str(tmp_path / "demo") in run.stdout


def test_weights_commands_and_point_prompts(tmp_path, image_folder, esam_fixture):
    checkpoint = esam_fixture / "efficient_sam_vitt_random_fp16.pt"
    env_cache = tmp_path / "cache"

    def run(*args):
        return subprocess.run(
            [sys.executable, "-m", "napari_temseg.cli", *map(str, args)],
            capture_output=True, text=True, env={**os.environ, "TEMSEG_CACHE": str(env_cache)},
        )

    assert "efficientsam-tiny: " + str(weights.PACKAGE_WEIGHTS / "efficientsam_tiny_temseg.pt") in run("weights", "list").stdout
    bad = run("weights", "import", "efficientsam-tiny", image_folder / "img0.tif")
    assert bad.returncode == 2 and "is not a checkpoint of efficientsam-tiny" in bad.stderr
    ok = run("weights", "import", "efficientsam-tiny", checkpoint)
    assert ok.returncode == 0, ok.stderr
    assert "efficientsam-tiny: " + str(env_cache / "efficient_sam_vitt.pt") in run("weights", "list").stdout  # cache first
    assert "efficientsam-tiny" in run("models").stdout.split()
    points = tmp_path / "points.csv"
    points.write_text("image,y,x,label,object\nimg0,100,100,1,1\nimg0.tif,300,300,1,2\nimg0,310,305,1,2\n")  # name or stem
    seg = run("segment", image_folder / "img0.tif", "--model", "efficientsam-tiny", "--points", points,
              "--out", tmp_path / "out", "-o", "min_size=0")
    assert seg.returncode == 0, seg.stderr
    assert tifffile.imread(tmp_path / "out" / "img0_labels.tif").max() <= 2
    wrong = tmp_path / "wrong.csv"
    wrong.write_text("image,y,x,label\nnope,1,1,1\n")
    err = run("segment", image_folder / "img0.tif", "--model", "efficientsam-tiny", "--points", wrong, "--out", tmp_path)
    assert err.returncode == 2 and "not among the inputs: nope; the image column holds each input's file name or stem (img0)" in err.stderr


def test_train_leaves_unset_options_to_each_trainer(monkeypatch, tmp_path):
    """`--input`/`--lr` not given: each trainer keeps its own default (so the model cards'
    commands stay reproducible); given, they reach the trainer; --lr is refused for YOLO."""
    from napari_temseg import cli
    from napari_temseg.train import sam, yolo

    calls = {}
    monkeypatch.setattr(yolo, "train_yolo", lambda *a, **k: calls.setdefault("yolo", k) and "y.pt")
    monkeypatch.setattr(sam, "train_efficientsam", lambda *a, **k: calls.setdefault("sam", k) and "s.pt")
    assert cli.main(["train", "yolov8n-seg", "--out", str(tmp_path / "y.pt"), "--denoise", "2"]) == 0
    assert "input_mode" not in calls["yolo"] and calls["yolo"]["denoise"] == 2.0 and calls["yolo"]["batch"] == 8
    assert cli.main(["train", "efficientsam-tiny", "--out", str(tmp_path / "s.pt"), "--input", "anchored"]) == 0
    assert calls["sam"]["input_mode"] == "anchored" and "lr" not in calls["sam"]
    assert cli.main(["train", "yolov8n-seg", "--out", str(tmp_path / "y.pt"), "--lr", "0.01"]) == 2
    assert calls["yolo"]["synth_fresnel"] == 0.15  # the training regime's own span unless asked
    assert calls["yolo"]["radius_range"] is None  # the trainer records its default range
    calls.clear()
    assert cli.main(["train", "efficientsam-tiny", "--out", str(tmp_path / "s.pt"), "--radius-range", "12", "90"]) == 0
    assert calls["sam"]["radius_range"] == [12.0, 90.0]


@pytest.mark.parametrize("model", ["vmamba", "yolov8n-seg", "efficientsam-tiny", "edge-refiner"])
def test_train_refuses_a_bad_fresnel_span_before_writing_anything(tmp_path, capsys, model):
    from napari_temseg import cli

    assert cli.main(["train", model, "--synth", "2", "--synth-fresnel", "2", "--out", str(tmp_path / "w.pt")]) == 2
    assert "Fresnel fringe span must lie in 0-1" in capsys.readouterr().err and not list(tmp_path.iterdir())


@pytest.mark.parametrize("model", ["vmamba", "yolov8n-seg", "efficientsam-tiny"])
def test_train_refuses_a_bad_radius_range_before_writing_anything(tmp_path, capsys, model):
    from napari_temseg import cli

    assert cli.main(["train", model, "--synth", "2", "--radius-range", "9", "3", "--out", str(tmp_path / "w.pt")]) == 2
    assert "two increasing positive radii" in capsys.readouterr().err and not list(tmp_path.iterdir())
    assert cli.main(["train", "edge-refiner", "--radius-range", "9", "30", "--out", str(tmp_path / "w.pt")]) == 2
    assert "--radius-range does not apply to edge-refiner" in capsys.readouterr().err and not list(tmp_path.iterdir())


@pytest.mark.parametrize(("model", "flags"), [("yolov8n-seg", ["--lr", "0.1"]), ("swin-unet", ["--freeze-encoder"]),
                                              ("efficientsam-tiny", ["--tile", "256"]),
                                              ("efficientsam-tiny", ["--batch", "4"]),
                                              ("edge-refiner", ["--augment", "light", "--preset", "tiny"])])
def test_train_refuses_flags_the_model_has_no_use_for(tmp_path, capsys, model, flags):
    """They were ignored without a word (the edge refiner's --augment, Swin-UNet's --freeze-encoder,
    EfficientSAM's --batch)."""
    from napari_temseg import cli

    assert cli.main(["train", model, "--synth", "2", *flags, "--out", str(tmp_path / "w.pt")]) == 2
    err = capsys.readouterr().err
    assert f"not apply to {model}" in err and flags[0] in err and not list(tmp_path.iterdir())


def test_output_names_trace_back_to_their_files():
    """a.ome.tif gave a.ome_labels.tif, and a.emd beside a.hspy gave folder_a and folder_a_2."""
    from napari_temseg.cli.inputs import output_names

    names = output_names([Path("d/a.emd"), Path("d/a.hspy"), Path("d/b.ome.tif"), Path("d/c.tif"), Path("x/c.tif")])
    assert list(names.values()) == ["a_emd", "a_hspy", "b", "d_c", "x_c"]
    # folders of one name: as many folders as tell them apart (they gave images_s and images_s_2)
    names = output_names([Path("a/images/s.tif"), Path("b/images/s.tif"), Path("c/x/images/s.tif"), Path("t.tif")])
    assert list(names.values()) == ["a_images_s", "b_images_s", "x_images_s", "t"]
    # a drive tells them apart, and is no folder name (C:_images_s was a path outside --out)
    from pathlib import PureWindowsPath

    names = output_names([PureWindowsPath(r"C:\images\s.tif"), PureWindowsPath(r"D:\images\s.tif"),
                          PureWindowsPath(r"\\server\share\images\s.tif")])
    assert list(names.values()) == ["images_s", "images_s_2", "images_s_3"]


def test_a_stopped_training_says_how_to_go_on(tmp_path, capsys, monkeypatch):
    from napari_temseg import cli

    def stopped(args):
        raise KeyboardInterrupt

    monkeypatch.setattr(cli.train, "train_model", stopped)
    command = ["train", "vmamba", "--synth", "2", "--out", str(tmp_path / "w.pt")]
    assert cli.main(command) == 130
    assert capsys.readouterr().err.strip() == "temseg: interrupted"  # stopped before an epoch was saved
    (tmp_path / "w-work").mkdir()
    (tmp_path / "w-work" / "last.pt").write_bytes(b"")
    assert cli.main(command) == 130
    assert "the last finished epoch is kept: go on with the same command and --resume" in capsys.readouterr().err


def test_a_terminated_training_says_so_and_how_to_go_on(tmp_path, capsys, monkeypatch):
    """SIGTERM (a batch system's time limit) ended a training run without a word."""
    import os
    import signal
    import time

    from napari_temseg import cli

    def killed(args):
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(5)  # the signal arrives first
        raise AssertionError("SIGTERM did not stop the run")

    monkeypatch.setattr(cli.train, "train_model", killed)
    before = signal.getsignal(signal.SIGTERM)
    (tmp_path / "w-work").mkdir()
    (tmp_path / "w-work" / "last.pt").write_bytes(b"")
    assert cli.main(["train", "vmamba", "--synth", "2", "--out", str(tmp_path / "w.pt")]) == 143
    assert "temseg: terminated; the last finished epoch is kept" in capsys.readouterr().err
    assert signal.getsignal(signal.SIGTERM) is before  # handed back after the run


@pytest.mark.parametrize(("typed", "seconds"), [("0.2", 0.2), ("200ms", 0.2), ("2 min", 120.0), ("50us", 5e-5),
                                               ("1e9", None), ("2e-7", None), ("0", None), ("200 px", None)])
def test_the_frame_interval_takes_units_and_a_sane_range(typed, seconds):
    """'200ms' was refused while --pixel-size took units; 1e9 s and 2e-7 s were taken."""
    import argparse

    from napari_temseg.cli.arguments import frame_interval

    if seconds is None:
        with pytest.raises(argparse.ArgumentTypeError, match="time between frames"):
            frame_interval(typed)
    else:
        assert frame_interval(typed) == pytest.approx(seconds)


def test_the_frame_interval_is_read_in_hours_and_reported(tmp_path, capsys):
    """A file's interval in hours (or ns) was dropped without a word, and the interval used
    was never reported."""
    from napari_temseg.cli import main
    from napari_temseg.io import open_video

    frame = synth_image((64, 64), 3, radius=(6, 8), seed=0).image
    tifffile.imwrite(tmp_path / "v.tif", np.stack([frame] * 3), imagej=True,
                     metadata={"axes": "TYX", "finterval": 0.001, "tunit": "hour"})
    assert open_video(tmp_path / "v.tif").frame_interval_s == pytest.approx(3.6)
    tifffile.imwrite(tmp_path / "o.ome.tif", np.stack([frame] * 3), ome=True,  # OME's TimeIncrement was not read
                     metadata={"axes": "TYX", "TimeIncrement": 250, "TimeIncrementUnit": "ms"})
    assert open_video(tmp_path / "o.ome.tif").frame_interval_s == pytest.approx(0.25)
    assert main(["track", str(tmp_path / "v.tif"), "--out", str(tmp_path / "o")]) == 0
    assert "frame interval 3.6 s (from the file)" in capsys.readouterr().out
    assert main(["track", str(tmp_path / "v.tif"), "--out", str(tmp_path / "o"), "--frame-interval", "2000ms"]) == 0
    assert "frame interval 2 s (--frame-interval; the file says 3.6 s)" in capsys.readouterr().out
    tifffile.imwrite(tmp_path / "u.tif", np.stack([frame] * 3), imagej=True, metadata={"axes": "TYX"})
    assert main(["track", str(tmp_path / "u.tif"), "--out", str(tmp_path / "p"), "--frame-interval", "0.5"]) == 0
    capsys.readouterr()
    assert main(["track", str(tmp_path / "u.tif"), "--out", str(tmp_path / "p")]) == 0  # its tables keep 0.5 s
    assert "frame interval 0.5 s (given to an earlier run into the folder)" in capsys.readouterr().out


def test_a_models_options_are_listed_for_python_and_the_command_line(capsys):
    """A Python user had no way to list a model's options but to misspell one."""
    import napari_temseg as ts
    from napari_temseg.cli import main

    options = ts.model_options("classical")
    assert options["sigma"][0] == "auto" and "diameter" in options and "polarity" in options
    assert main(["models", "classical"]) == 0
    assert "split_depth=0.3: " in capsys.readouterr().out
    assert main(["models", "nope"]) == 2


def test_a_refused_training_leaves_no_working_folder(tmp_path, capsys):
    """A refused run (no such data folder) left an empty <out>-work behind."""
    from napari_temseg.cli import main

    assert main(["train", "vmamba", "--data", str(tmp_path / "nodir"), "--synth", "0", "--out",
                 str(tmp_path / "w.pt")]) == 2
    assert "expected sub-folders images/ and labels/" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("command", [
    ["segment", "x.tif", "--out", "o", "--pixel-size", "0.3", "--pixel-size", "0.25"],
    ["track", "v.tif", "--out", "a", "--chunk", "16", "--chunk", "8"],  # the default's value given first
    ["segment", "x.tif", "--out", "a", "--out", "b"],
])
def test_a_flag_given_twice_is_refused(command, capsys):
    """argparse keeps the last value silently: sizes were measured in 0.25 nm without a word."""
    from napari_temseg.cli import main

    with pytest.raises(SystemExit) as stop:
        main(command)
    assert stop.value.code == 2
    assert "given twice" in capsys.readouterr().err
