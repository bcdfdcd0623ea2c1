"""The npe2 manifest is valid, every command it names imports, and the core needs no GUI."""

import importlib
import subprocess
import sys
from pathlib import Path

import yaml

import napari_temseg

MANIFEST = Path(napari_temseg.__file__).with_name("napari.yaml")


def test_every_python_name_imports():
    manifest = yaml.safe_load(MANIFEST.read_text())
    for command in manifest["contributions"]["commands"]:
        module, attr = command["python_name"].split(":")
        assert hasattr(importlib.import_module(module), attr), command["python_name"]


def test_npe2_validates():
    run = subprocess.run([sys.executable, "-m", "npe2", "validate", "napari-temseg"], capture_output=True, text=True)
    assert run.returncode == 0, run.stdout + run.stderr


def test_core_does_not_import_napari_or_qt():
    code = (
        "import sys, numpy as np, napari_temseg as t; "
        "from napari_temseg import cli, demo, io, metrics, morphometry, datasets, evaluation; "
        "t.track(np.zeros((2, 32, 32), np.uint8)); t.segment(np.zeros((32, 32), np.uint8)); "
        "bad = [m for m in sys.modules if m.split('.')[0] in ('napari', 'qtpy', 'PyQt6', 'magicgui')]; "
        "print(bad); sys.exit(1 if bad else 0)"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert run.returncode == 0, run.stdout + run.stderr


def test_sample_data_and_reader(tmp_path):
    import tifffile

    from napari_temseg._reader import get_reader
    from napari_temseg._sample_data import sample_image, sample_video
    from napari_temseg._writer import write_labels

    (image, _, kind), (truth, _, _) = sample_image()
    assert kind == "image" and image.shape == truth.shape
    frames = sample_video()[0][0]
    assert frames.ndim == 3
    out = write_labels(str(tmp_path / "x.tif"), truth, {"scale": (0.5, 0.5)})
    layers = get_reader(out[0])(out[0])
    assert np.array_equal(layers[0][0], truth)
    assert layers[0][2] == "labels" and tuple(layers[0][1]["scale"]) == (0.5, 0.5)  # back as labels, in nm
    assert layers[0][1]["units"] == ("nm", "nm")  # napari's scale bar reads nm
    tifffile.imwrite(tmp_path / "old_labels.tif", truth.astype(np.uint16))  # named as `temseg segment` names them
    assert get_reader(str(tmp_path / "old_labels.tif"))(str(tmp_path / "old_labels.tif"))[0][2] == "labels"
    stack = write_labels(str(tmp_path / "s.tif"), np.stack([truth] * 3), {"scale": (1, 0.5, 0.5)})[0]
    data, _, kind = get_reader(stack)(stack)[0]  # three frames: not colour samples, and paintable (in memory)
    assert kind == "labels" and isinstance(data, np.ndarray) and data.shape == (3, *truth.shape)
    tifffile.imwrite(tmp_path / "micrograph.tif", image)
    assert get_reader(str(tmp_path / "micrograph.tif"))(str(tmp_path / "micrograph.tif"))[0][2] == "image"
    assert get_reader(str(tmp_path / "notes.txt")) is None


import numpy as np  # noqa: E402


def test_reader_claims_its_formats_and_result_folders_only(tmp_path):
    """No catch-all pattern: a PNG or CSV dropped on napari is not offered to this reader
    (napari would ask which reader to use for every file); folders are, and only result
    folders are read."""
    import npe2
    import tifffile

    from napari_temseg._reader import get_reader

    pm = npe2.PluginManager.instance()
    pm.discover()

    def ours(path):
        return [r.command for r in pm.iter_compatible_readers([str(path)]) if r.command.startswith("napari-temseg")]

    (tmp_path / "a.png").write_bytes(b"")
    (tmp_path / "b.csv").write_text("x")
    (tmp_path / "c.tif").write_bytes(b"")
    assert ours(tmp_path / "a.png") == [] and ours(tmp_path / "b.csv") == []
    assert ours(tmp_path / "c.tif") == ["napari-temseg.get_reader"]
    assert ours(tmp_path) == ["napari-temseg.get_reader"] and get_reader(str(tmp_path)) is None  # mixed files
    frames = tmp_path / "frames"
    frames.mkdir()
    for t in range(3):
        tifffile.imwrite(frames / f"frame_{t + 1}.tif", np.full((24, 32), 10 * t, np.uint8),
                         resolution=(2.0, 2.0), imagej=True, metadata={"unit": "nm"})
    (frames / "notes.txt").write_text("camera settings")
    data, meta, kind = get_reader(str(frames))(str(frames))[0]  # a folder of frames: one lazy stack
    assert kind == "image" and meta["name"] == "frames" and data.shape == (3, 24, 32)
    assert tuple(meta["scale"]) == (1.0, 0.5, 0.5)  # the first frame's pixel size
    assert [int(data[t, 0, 0].compute()) for t in range(3)] == [0, 10, 20]
    (frames / "frame_1.tif").write_bytes(b"II*\x00damaged")  # a damaged first frame: opened (tracking skips it)
    assert get_reader(str(frames))(str(frames))[0][0].shape == (3, 24, 32)
    stacks = tmp_path / "stacks"  # two multi-page TIFFs, or micrographs of two sizes: not one video
    stacks.mkdir()
    tifffile.imwrite(stacks / "a.tif", np.zeros((5, 16, 16), np.uint8))
    tifffile.imwrite(stacks / "b.tif", np.zeros((5, 16, 16), np.uint8))
    sizes = tmp_path / "sizes"
    sizes.mkdir()
    tifffile.imwrite(sizes / "a.tif", np.zeros((16, 16), np.uint8))
    tifffile.imwrite(sizes / "b.tif", np.zeros((16, 24), np.uint8))
    assert get_reader(str(stacks)) is None and get_reader(str(sizes)) is None
