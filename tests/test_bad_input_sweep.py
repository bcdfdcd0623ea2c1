"""What a bad-input sweep of the CLI and the API found: each case one clear line (or the
right result), no traceback, no lost file (2026-12-06)."""

import os
import pickle

import numpy as np
import pytest
import tifffile
import torch
from conftest import write_emd

import napari_temseg as ts
from napari_temseg.cli import main
from napari_temseg.datasets import to_instances
from napari_temseg.io import open_video, read_micrograph, write_stack_tiff
from napari_temseg.io.stacks import tiff_calibration, to_nm
from napari_temseg.models.devices import default_device
from napari_temseg.preprocess import normalize
from napari_temseg.synth import synth_image


def test_segment_never_overwrites_an_input(tmp_path, capsys):
    tifffile.imwrite(tmp_path / "a.tif", synth_image(seed=1).image)
    tifffile.imwrite(tmp_path / "a_labels.tif", synth_image(seed=2).image)  # the user's own image
    before = (tmp_path / "a_labels.tif").read_bytes()
    assert main(["segment", str(tmp_path / "a.tif"), str(tmp_path / "a_labels.tif"), "--out", str(tmp_path)]) == 2
    assert "would be overwritten" in capsys.readouterr().err
    assert (tmp_path / "a_labels.tif").read_bytes() == before


def test_segment_says_when_its_tables_replace_another_runs(tmp_path, capsys):
    for seed in (1, 2):
        tifffile.imwrite(tmp_path / f"i{seed}.tif", synth_image(seed=seed).image)
    assert main(["segment", str(tmp_path / "i1.tif"), "--out", str(tmp_path / "out")]) == 0
    assert main(["segment", str(tmp_path / "i1.tif"), "--out", str(tmp_path / "out")]) == 0
    assert "earlier run" not in capsys.readouterr().err  # the same images again: nothing to say
    assert main(["segment", str(tmp_path / "i2.tif"), "--out", str(tmp_path / "out")]) == 0
    assert "earlier run on other images (1)" in capsys.readouterr().err


def test_a_print_resolution_is_no_pixel_size_and_the_size_used_is_printed(tmp_path, capsys):
    image = synth_image(seed=1).image
    tifffile.imwrite(tmp_path / "dpi.tif", image, resolution=(72, 72), resolutionunit=2)
    tifffile.imwrite(tmp_path / "cm.tif", image, resolution=(2e7, 2e7), resolutionunit=3)  # 0.5 nm
    assert tiff_calibration(tmp_path / "dpi.tif").nm is None
    assert tiff_calibration(tmp_path / "cm.tif").nm == pytest.approx(0.5)
    assert main(["segment", str(tmp_path / "dpi.tif"), str(tmp_path / "cm.tif"), "--out", str(tmp_path / "o")]) == 0
    err = capsys.readouterr().err
    assert "dpi.tif" in err and "pixel size unknown: sizes in px" in err and "pixel size 0.5 nm (from the file)" in err
    assert main(["segment", str(tmp_path / "cm.tif"), "--pixel-size", "2", "--out", str(tmp_path / "o2")]) == 0
    assert "pixel size 2 nm (--pixel-size; the file says 0.5 nm)" in capsys.readouterr().err


def test_imagej_units_written_escaped_are_read(tmp_path):
    """From a numbers pass: Fiji writes non-ASCII units escaped in its header; an Å
    calibration (`unit=\\u00C5`) gave sizes in px and a µs frame interval none."""
    from napari_temseg.io.stacks import open_video

    image = synth_image(seed=1).image
    tifffile.imwrite(tmp_path / "a.tif", image, imagej=True, resolution=(1 / 5, 1 / 5), metadata={"unit": "\\u00C5"})
    tifffile.imwrite(tmp_path / "um.tif", image, imagej=True, resolution=(2000, 2000), metadata={"unit": "\\u00B5m"})
    tifffile.imwrite(tmp_path / "v.tif", np.stack([image] * 3), imagej=True, resolution=(2, 2),
                     metadata={"axes": "TYX", "unit": "nm", "finterval": 500, "tunit": "\\u00B5s"})
    assert tiff_calibration(tmp_path / "a.tif").nm == pytest.approx(0.5)
    assert tiff_calibration(tmp_path / "um.tif").nm == pytest.approx(0.5)
    assert open_video(tmp_path / "v.tif").frame_interval_s == pytest.approx(5e-4)


def test_an_unknown_unit_is_named_and_a_typed_pixel_size_is_kept_as_typed(tmp_path, capsys):
    """From a magnification-series pass: an ImageJ unit temseg does not know ('furlong') gave
    "pixel size unknown" without naming it, and `--pixel-size 3.5A` was written to summary.csv
    as 0.35000000000000003 nm."""
    from napari_temseg.units import length_in_nm

    image = synth_image(seed=1).image
    tifffile.imwrite(tmp_path / "f.tif", image, imagej=True, resolution=(2, 2), metadata={"unit": "furlong"})
    tifffile.imwrite(tmp_path / "p.tif", image, imagej=True, resolution=(2, 2), metadata={"unit": "pixel"})
    assert "'furlong' is no length" in tiff_calibration(tmp_path / "f.tif").note
    assert tiff_calibration(tmp_path / "p.tif") == tiff_calibration(tmp_path / "none.tif")  # uncalibrated: no note
    tifffile.imwrite(tmp_path / "dpi.tif", image, imagej=True, resolution=(72, 72), metadata={"unit": "inch"})
    assert tiff_calibration(tmp_path / "dpi.tif") == tiff_calibration(tmp_path / "none.tif")  # a print resolution
    assert length_in_nm("3.5A") == 0.35 and length_in_nm("0.00035um") == 0.35
    assert main(["segment", str(tmp_path / "f.tif"), "--out", str(tmp_path / "o")]) == 0
    assert "the file's unit 'furlong' is no length temseg knows" in capsys.readouterr().err
    assert main(["segment", str(tmp_path / "p.tif"), "--pixel-size", "3.5A", "--out", str(tmp_path / "o2")]) == 0
    assert ",0.35," in (tmp_path / "o2" / "summary.csv").read_text().splitlines()[1]


def test_pixels_that_are_not_square_are_said_so_and_ome_and_greek_mu_calibrations_are_read(tmp_path, capsys):
    """From a numbers pass: an .emd of 0.6 x 0.5 nm pixels was measured at 0.5 nm (areas 17 %
    low), a TIFF of the same was "pixel size unknown", and OME-TIFF's PhysicalSizeX and
    "μm" (Greek mu) were not read."""
    from napari_temseg._reader import read_track_results, read_video
    from napari_temseg.io import Video
    from napari_temseg.synth import synth_video
    from napari_temseg.video import track_video

    image = synth_image((96, 96), 4, radius=(8, 12), seed=0).image
    emd = write_emd(tmp_path / "a.emd", image[None], 0.5, "nm", y_scale=0.6)
    found = read_micrograph(emd).calibration
    assert found.nm is None and found.yx_nm == pytest.approx((0.6, 0.5)) and "not square" in found.note
    with pytest.warns(UserWarning, match="a.emd: the file's pixels are not square"):  # napari shows it
        assert read_video(str(emd))[0][1]["scale"] == pytest.approx((0.6, 0.5))  # napari: the true scale
    assert main(["segment", str(emd), "--out", str(tmp_path / "o")]) == 0
    assert "pixels are not square (0.6 nm tall, 0.5 nm wide): sizes in px" in capsys.readouterr().err
    with pytest.warns(UserWarning, match="not square"):
        assert read_video(str(tmp_path / "o" / "a_labels.tif"))[0][1]["scale"] == pytest.approx((0.6, 0.5))  # overlays
    assert main(["segment", str(emd), "--pixel-size", "2", "--out", str(tmp_path / "o2")]) == 0
    assert "(--pixel-size; the file's pixels are 0.6 nm tall, 0.5 nm wide)" in capsys.readouterr().err
    frames = synth_video(n_frames=3, shape=(96, 96), n_single=2, n_pairs=0, n_triples=0, n_touching=0, seed=1).frames
    track_video(Video(frames, pixel_yx_nm=(0.6, 0.5)), tmp_path / "run")
    assert read_track_results(str(tmp_path / "run"))[0][1]["scale"] == pytest.approx((1.0, 0.6, 0.5))
    tifffile.imwrite(tmp_path / "o.ome.tif", image, ome=True, metadata={"PhysicalSizeX": 0.25, "PhysicalSizeY": 0.25,
                                                                       "PhysicalSizeXUnit": "nm", "PhysicalSizeYUnit": "nm"})
    assert read_micrograph(tmp_path / "o.ome.tif").pixel_size_nm == pytest.approx(0.25)
    tifffile.imwrite(tmp_path / "u.ome.tif", image, ome=True, metadata={"PhysicalSizeX": 0.002, "PhysicalSizeY": 0.002})
    assert read_micrograph(tmp_path / "u.ome.tif").pixel_size_nm == pytest.approx(2.0)  # OME's default unit: µm
    assert to_nm(1.0, "μm") == to_nm(1.0, "µm") == to_nm(1.0, "micrometre") == 1000.0  # Greek mu, micro sign
    # the same pixel size read three ways is one (0.37000000000000005 and 0.3699999999593 "differed")
    assert to_nm(3.7, "Å") == to_nm(np.float32(3.7e-10), "m") == to_nm(0.37, "nm") == 0.37
    tifffile.imwrite(tmp_path / "cm.tif", image, resolution=(1 / 0.137e-7, 1 / 0.137e-7), resolutionunit="CENTIMETER")
    assert read_micrograph(tmp_path / "cm.tif").pixel_size_nm == 0.137  # read 0.13700000000037027
    tifffile.imwrite(tmp_path / "mm.tif", image, resolution=(1 / 0.137e-6, 1 / 0.137e-6), resolutionunit="MILLIMETER")
    assert read_micrograph(tmp_path / "mm.tif").pixel_size_nm == 0.137  # tifffile's non-standard unit: unknown


@pytest.mark.parametrize("factor", [1e-300, 1e300])
def test_float64_images_beyond_float32_keep_their_contrast(factor):
    base = synth_image(seed=3).image.astype(np.float64)
    assert np.allclose(normalize(base * factor), normalize(base), atol=1e-5)


def test_a_stack_declaring_giant_frames_is_refused_before_reading(tmp_path):
    with tifffile.TiffWriter(tmp_path / "giant.tif") as tif:  # a header only: no pixel is written
        tif.write(shape=(2, 20000, 20000), dtype=np.uint8)
    with pytest.raises(ts.TemsegError, match="not read"):
        open_video(tmp_path / "giant.tif")
    with tifffile.TiffWriter(tmp_path / "giant8.tif") as tif:  # 1.5 GiB of uint8 passed the 4-GiB rule: 17 GB used
        tif.write(shape=(40192, 40192), dtype=np.uint8)
    with pytest.raises(ts.TemsegError, match="above 256 Mpx .* it is not read"):
        read_micrograph(tmp_path / "giant8.tif")


def test_a_given_min_size_holds_for_added_particles_too():
    sample = synth_image((256, 256), 40, radius=(3, 5), touching=0.0, seed=2)
    labels = ts.segment(sample.image, min_size=60)
    assert labels.max() == 0 or np.bincount(labels.ravel())[1:].min() >= 60


@pytest.mark.parametrize("labels, message", [
    (np.full((16, 16), -1, np.int32), "negative"),
    (np.where(np.eye(16) > 0, np.nan, 0.0), "NaN"),
])
def test_label_images_that_name_no_particle_are_refused(labels, message):
    with pytest.raises(ts.TemsegError, match=message):
        to_instances(labels)


@pytest.mark.parametrize("background", [(0, 0, 0), (255, 255, 255)])
def test_colour_coded_labels_give_one_particle_per_colour(background):
    rgb = np.zeros((24, 24, 3), np.uint8) + np.uint8(background)
    for i, colour in enumerate([(255, 0, 0), (0, 255, 0), (0, 0, 255)]):
        rgb[2 + 7 * i: 6 + 7 * i, 3:9] = colour  # same grey level for all three
    out = to_instances(rgb)
    assert out.max() == 3 and sorted(np.bincount(out.ravel())[1:]) == [24, 24, 24]


def test_file_system_errors_are_one_line(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("")
    assert main(["synth-images", "--out", str(blocker / "x"), "--count", "1"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("temseg: error:") and "Traceback" not in err and err.count("\n") == 1


@pytest.mark.parametrize("args", [
    ["bench", "--repeats", "0"], ["synth-images", "--out", "x", "--dose", "nan"],
    ["synth-images", "--out", "x", "--touching", "2"], ["synth-video", "--out", "x", "--seed", "-1"],
    ["train", "swin-unet", "--out", "x.pt", "--epochs", "0"], ["train", "swin-unet", "--out", "x.pt", "--lr", "-1"],
    ["track", "v.tif", "--out", "o", "--workers", "0"],
])
def test_argument_ranges_are_checked_up_front(args, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(args)
    assert exit_.value.code == 2 and f"argument {args[-2]}" in capsys.readouterr().err


@pytest.mark.parametrize("option, message", [
    ("=3", "has no name"), ("mode=banana", "must be auto or grid or prompt or refine"),
    ("points=abc", "--points FILE.csv"), ("boxes=abc", "Python API"),
])
def test_cli_option_messages_speak_the_command_line(option, message, tmp_path, capsys):
    """They said "must be None, or an array" (None is no value anyone types) or "unknown option(s): ;"."""
    image = tmp_path / "c.tif"
    tifffile.imwrite(image, np.full((64, 64), 100, np.uint8))
    assert main(["segment", str(image), "--out", str(tmp_path / "o"), "--model", "efficientsam-tiny",
                 "-o", option]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err and "None" not in err, err


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_devices_are_checked_before_torch():
    for device, message in (("cuda", "no CUDA device"), ("cuda:1", "no CUDA device"), ("banana", "cpu, cuda")):
        with pytest.raises(ts.TemsegError, match=message):
            default_device(device)
    with pytest.raises(ts.TemsegError, match="no CUDA device"):
        ts.load_model("swin-unet", device="cuda")
    with pytest.raises(ts.TemsegError, match="no CUDA device"):
        default_device("0")  # ultralytics' way of naming GPU 0
    assert default_device(None) == "cpu" and default_device("cpu") == "cpu" and default_device("") == "cpu"


def test_train_checks_its_device_before_drawing_data(tmp_path, capsys):
    assert main(["train", "swin-unet", "--out", str(tmp_path / "x.pt"), "--device", "banana"]) == 2
    assert "device must be cpu, cuda, cuda:N or mps" in capsys.readouterr().err
    assert not any(tmp_path.iterdir())


def test_a_resume_file_that_is_not_ours_is_refused_without_running_it(tmp_path, capsys):
    from napari_temseg.train.run_state import start_or_resume

    marker = tmp_path / "ran"

    class Payload:
        def __reduce__(self):
            return os.system, (f"touch {marker}",)

    last = tmp_path / "last.pt"
    last.write_bytes(pickle.dumps({"settings": Payload()}))
    net = torch.nn.Linear(2, 2)
    with pytest.raises(ts.TemsegError, match="not a checkpoint this training wrote"):
        start_or_resume(last, tmp_path / "log.csv", True, {}, net, torch.optim.SGD(net.parameters(), lr=0.1),
                        np.random.default_rng(0))
    assert not marker.exists()


def test_a_cut_resume_file_is_called_damaged_and_saving_never_leaves_one(tmp_path):
    from napari_temseg.train.run_state import save_state, start_or_resume

    net = torch.nn.Linear(2, 2)
    optimizer, rng = torch.optim.SGD(net.parameters(), lr=0.1), np.random.default_rng(0)
    last = tmp_path / "last.pt"
    save_state(last, net, optimizer, 3, 0.5, rng, {"lr": 0.1})
    assert [p.name for p in tmp_path.iterdir()] == ["last.pt"]  # written under another name, then renamed
    assert start_or_resume(last, tmp_path / "log.csv", True, {"lr": 0.1}, net, optimizer, rng) == (3, 0.5)
    last.write_bytes(last.read_bytes()[:300])  # a copy cut short
    with pytest.raises(ts.TemsegError, match="last.pt is damaged or truncated"):
        start_or_resume(last, tmp_path / "log.csv", True, {"lr": 0.1}, net, optimizer, rng)


def test_api_takes_numpy_scalars_and_names_bad_models_and_sizes():
    image = synth_image(seed=1).image
    assert ts.segment(image, model="classical", sigma=np.float32(2.0), min_size=np.int32(30)).max() > 0
    with pytest.raises(ts.TemsegError, match="model must be a model name"):
        ts.segment(image, model=None)
    with pytest.raises(ts.TemsegError, match="diameter must be auto"):
        ts.segment(image, diameter=True)
    labels = synth_image(seed=1).labels
    with pytest.raises(ts.TemsegError, match="pixel_size_nm must be a positive number"):
        ts.measure(labels, pixel_size_nm=-1)
    with pytest.raises(ts.TemsegError, match="integer labels"):
        ts.measure(image.astype(np.float32) / 255)


def test_points_csv_objects_must_be_numbers_and_need_a_prompted_model(tmp_path, capsys):
    tifffile.imwrite(tmp_path / "a.tif", synth_image(seed=1).image)
    points = tmp_path / "p.csv"
    points.write_text("y,x,label,object\n10,10,1,abc\n")
    assert main(["segment", str(tmp_path / "a.tif"), "--out", str(tmp_path / "o"), "--points", str(points)]) == 2
    assert "takes none" in capsys.readouterr().err
    from napari_temseg.cli.inputs import read_points_csv

    with pytest.raises(ts.TemsegError, match="row 2: object must be a number"):
        read_points_csv(str(points), ["a"])
    points.write_text("image,y,x,label\nb.ome,10,10,1\n")  # an OME-TIFF named with its .ome: the same image
    assert list(read_points_csv(str(points), ["b"])) == ["b"]


def test_an_unfinished_run_folder_says_so(tmp_path):
    from napari_temseg.io import open_track_dir

    (tmp_path / "run.json").write_text("{}")
    (tmp_path / "labels.zarr").mkdir()
    with pytest.raises(ts.TemsegError, match="has not finished"):
        open_track_dir(tmp_path)
    (tmp_path / "events.csv").write_text("frame,child,parents\n")  # stopped while its tables were written
    with pytest.raises(ts.TemsegError, match="has not finished"):
        open_track_dir(tmp_path)
    (tmp_path / "run.json").write_text('{"complete": true, "rescale": true}')  # stopped measuring them again
    with pytest.raises(ts.TemsegError, match="has not finished"):
        open_track_dir(tmp_path)
    with pytest.raises(ts.TemsegError, match="no such folder"):
        open_track_dir(tmp_path / "missing")


def test_a_video_without_one_usable_frame_fails(tmp_path, capsys):
    frames = np.zeros((3, 64, 64), np.uint8)
    write_stack_tiff(tmp_path / "blank.tif", frames)
    for _ in range(2):  # the finished run asked again: the same answer
        assert main(["track", str(tmp_path / "blank.tif"), "--out", str(tmp_path / "out")]) == 1
        said = capsys.readouterr()
        assert "no frame could be used" in said.err and "tracks" not in said.out  # no summary of nothing


def test_a_diameter_wider_than_the_image_is_refused():
    with pytest.raises(ts.TemsegError, match="wider than the image"):
        ts.segment(synth_image(seed=1).image, diameter=1e9)


def test_evaluate_track_names_a_truth_of_another_video(tmp_path, small_video, capsys):
    from napari_temseg.io import write_track_dir

    write_track_dir(tmp_path / "pred", small_video.labels, small_video.events)
    write_track_dir(tmp_path / "truth", small_video.labels[:-1], small_video.events)
    assert main(["evaluate-track", str(tmp_path / "pred"), "--truth", str(tmp_path / "truth")]) == 2
    assert "results of another video" in capsys.readouterr().err


def test_negative_labels_non_square_pixels_and_a_changed_pixel_size_are_named(tmp_path):
    """From an analysis pass: negative labels were dropped by measure(), a non-square ImageJ pixel
    was read as its X size, and a new --pixel-size for a finished run was refused without saying so
    (now only where the segmentation used it: a diameter in nm)."""
    from napari_temseg.io import Video
    from napari_temseg.synth import synth_video
    from napari_temseg.video import track_video

    with pytest.raises(ts.TemsegError, match="negative values"):
        ts.measure(np.array([[0, -1], [1, 1]]))
    frames = np.zeros((3, 48, 48), np.uint8) + np.arange(48, dtype=np.uint8)
    tifffile.imwrite(tmp_path / "ns.tif", frames, imagej=True, resolution=(2.0, 1.0), metadata={"unit": "nm", "axes": "TYX"})
    assert open_video(tmp_path / "ns.tif").pixel_size_nm is None  # sizes stay in px
    frames = synth_video(n_frames=3, shape=(96, 96), n_single=2, n_pairs=0, n_triples=0, n_touching=0, seed=1).frames
    track_video(Video(frames, 0.5), tmp_path / "run", options={"diameter": "10nm"})
    with pytest.raises(ts.TemsegError, match="differs in: pixel_size_nm"):  # the labels depend on it here
        track_video(Video(frames, 0.8), tmp_path / "run", options={"diameter": "10nm"})


def test_a_resume_file_missing_part_of_the_state_is_named(tmp_path):
    from napari_temseg.train.run_state import start_or_resume

    net = torch.nn.Linear(2, 2)
    torch.save({"settings": {}, "epoch": 1}, tmp_path / "last.pt")  # tensors only, but not all of the state
    with pytest.raises(ts.TemsegError, match="not a checkpoint this training wrote .no best_iou, model"):
        start_or_resume(tmp_path / "last.pt", tmp_path / "log.csv", True, {}, net,
                        torch.optim.SGD(net.parameters(), lr=0.1), np.random.default_rng(0))


@pytest.mark.parametrize(("attr", "value"), [("frame_marks", "garbage"), ("frame_marks", {"1": [[1, 2, 3]]}),
                                             ("burned_in_marks", [["a", 0, 4, 64]])])
def test_a_damaged_marks_attribute_is_named(tmp_path, attr, value):
    """The boxes recorded with a results folder's labels, edited by hand into something else:
    one clear error naming the attribute, not a traceback from reading it."""
    import zarr

    from napari_temseg.errors import TemsegError
    from napari_temseg.io import write_track_dir

    labels = np.zeros((2, 32, 32), np.uint32)
    labels[:, 4:12, 4:12] = 1
    write_track_dir(tmp_path / "run", labels, [])
    zarr.open_array(str(tmp_path / "run" / "labels.zarr"), mode="r+").attrs[attr] = value
    with pytest.raises(TemsegError, match=f"attribute '{attr}' is damaged .*track the video again"):
        write_track_dir(tmp_path / "run", labels, [])
