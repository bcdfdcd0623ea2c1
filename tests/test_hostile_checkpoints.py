"""No checkpoint runs code: a pickle payload given to any model through any entry point is refused."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import tifffile
import torch

from napari_temseg import TemsegError, load_model
from napari_temseg.cli import main
from napari_temseg.models import weights
from napari_temseg.models.yolo_weights import FORMAT, architecture_path, read_checkpoint

WEIGHTED_MODELS = ["yolov8n-seg", "efficientsam-tiny", "swin-unet", "vmamba"]


class Payload:
    """Unpickling this runs `exec`: it writes `marker`, as an attacker's code would act."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return exec, (f"open({str(self.marker)!r}, 'w').write('ran')",)


@pytest.fixture
def marker(tmp_path) -> Path:
    return tmp_path / "payload-ran"


@pytest.fixture
def payload(tmp_path, marker) -> Path:
    path = tmp_path / "evil.pt"
    torch.save({"model": Payload(marker)}, path)
    return path


def ultralytics_checkpoint(path: Path, extra: dict | None = None) -> Path:
    """A real ultralytics-style checkpoint (a pickled one-class SegmentationModel), optionally with more."""
    from napari_temseg.models.ultralytics_env import ultralytics

    net = ultralytics().YOLO(str(architecture_path("yolov8n-seg.yaml")), task="segment").model
    torch.save({"model": net.half(), "train_args": {"imgsz": 320}, **(extra or {})}, path)
    return path


@pytest.fixture
def yolo_with_payload(tmp_path, marker) -> Path:
    return ultralytics_checkpoint(tmp_path / "yolo-evil.pt", {"note": Payload(marker)})


def test_payload_runs_when_unpickled(payload, marker):
    """The payload is real: plain unpickling runs it (so the tests below can fail)."""
    torch.load(payload, weights_only=False)
    assert marker.read_text() == "ran"


@pytest.mark.parametrize("model", WEIGHTED_MODELS)
def test_load_model_refuses_payload(model, payload, marker):
    with pytest.raises(TemsegError, match=str(payload.name)):
        load_model(model, weights=str(payload))
    assert not marker.exists()


def test_yolo_checkpoint_with_payload_added_is_refused(yolo_with_payload, marker):
    with pytest.raises(TemsegError, match="refused"):
        load_model("yolov8n-seg", weights=str(yolo_with_payload))
    assert not marker.exists()


def test_edge_refiner_refuses_payload(payload, marker):
    from napari_temseg.models.edge_refiner import read_refiner

    with pytest.raises(TemsegError, match="not an edge-refiner checkpoint"):
        read_refiner(payload)
    assert not marker.exists()


@pytest.fixture
def dataset(tmp_path, touching_images) -> Path:
    root = tmp_path / "data"
    for sub in ("images", "labels"):
        (root / sub).mkdir(parents=True)
    tifffile.imwrite(root / "images" / "a.tif", touching_images[0].image[:128, :128])
    tifffile.imwrite(root / "labels" / "a.tif", touching_images[0].labels[:128, :128])
    return root


@pytest.mark.parametrize("model", WEIGHTED_MODELS)
@pytest.mark.parametrize("command", ["segment", "evaluate", "track", "import"])
def test_cli_entry_points_refuse_payload(model, command, payload, marker, dataset, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("TEMSEG_CACHE", str(tmp_path / "cache"))
    image = dataset / "images" / "a.tif"
    stack = tmp_path / "stack.tif"
    tifffile.imwrite(stack, np.stack([tifffile.imread(image)] * 5), imagej=True)
    argv = {
        "segment": ["segment", str(image), "--out", str(tmp_path / "out"), "--model", model, "--weights", str(payload)],
        "evaluate": ["evaluate", "--data", str(dataset), "--model", model, "--weights", str(payload)],
        "track": ["track", str(stack), "--out", str(tmp_path / "track"), "--model", model, "--weights", str(payload)],
        "import": ["weights", "import", model, str(payload)],
    }[command]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("temseg: error:") and "evil.pt" in err and len(err.strip().splitlines()) == 1, err
    assert not marker.exists()
    assert not (tmp_path / "cache" / weights.spec(model).filename).exists()  # nothing replaced


def test_cached_payload_is_refused_on_plain_use(payload, marker, tmp_path, monkeypatch):
    """A payload put straight into the cache (where `weights import` writes) is refused on `--model`."""
    monkeypatch.setenv("TEMSEG_CACHE", str(tmp_path / "cache"))
    for model in WEIGHTED_MODELS:
        target = tmp_path / "cache" / weights.spec(model).filename
        target.parent.mkdir(exist_ok=True)
        target.write_bytes(payload.read_bytes())
        with pytest.raises(TemsegError):
            load_model(model)
    assert not marker.exists()


def test_import_converts_an_ultralytics_checkpoint_and_keeps_the_previous_file(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("TEMSEG_CACHE", str(tmp_path / "cache"))
    clean = ultralytics_checkpoint(tmp_path / "best.pt")
    assert main(["weights", "import", "yolov8n-seg", str(clean)]) == 0
    target = tmp_path / "cache" / weights.spec("yolov8n-seg").filename
    data = torch.load(target, weights_only=True)  # tensors only from now on
    assert data["format"] == FORMAT and read_checkpoint(target).imgsz == 320
    before = target.read_bytes()
    junk = tmp_path / "notorch.zip"
    junk.write_bytes(b"PK\x03\x04 not a checkpoint")
    onnx = tmp_path / "model.onnx"
    onnx.write_bytes(np.random.default_rng(0).bytes(2000))
    for bad in (junk, onnx):
        assert main(["weights", "import", "yolov8n-seg", str(bad)]) == 2
        assert bad.name in capsys.readouterr().err
        assert target.read_bytes() == before
    assert sorted(p.name for p in target.parent.iterdir() if p.is_file()) == [target.name]  # no temporary left


def test_yolo_wrong_architecture_or_classes_refused(tmp_path):
    from napari_temseg.models.yolo_weights import YoloCheckpoint, save_checkpoint

    checkpoint = read_checkpoint(ultralytics_checkpoint(tmp_path / "best.pt"))
    renamed = YoloCheckpoint("../../evil-seg.yaml", checkpoint.names, 320, checkpoint.state)
    with pytest.raises(TemsegError, match="not a YOLO segmentation model that ships with ultralytics"):
        load_model("yolov8n-seg", weights=str(save_checkpoint(renamed, tmp_path / "a.pt")))
    wider = YoloCheckpoint("yolov8s-seg.yaml", checkpoint.names, 320, checkpoint.state)
    with pytest.raises(TemsegError, match="do not fit yolov8s-seg.yaml"):
        load_model("yolov8n-seg", weights=str(save_checkpoint(wider, tmp_path / "b.pt")))


@pytest.mark.slow
def test_cli_import_of_yolo_payload_in_a_fresh_process(yolo_with_payload, marker, tmp_path):
    """As a user runs it: a fresh `temseg` process, ultralytics imported by our code alone."""
    run = subprocess.run(
        [sys.executable, "-m", "napari_temseg.cli", "weights", "import", "yolov8n-seg", str(yolo_with_payload)],
        capture_output=True, text=True, timeout=300, env={"TEMSEG_CACHE": str(tmp_path / "c"), "PATH": "/usr/bin:/bin",
                                                          "HOME": str(tmp_path)},
    )
    assert run.returncode == 2, run.stderr[-2000:]
    assert "refused" in run.stderr and not marker.exists()


@pytest.mark.gui
def test_widgets_refuse_payload_with_one_error(payload, marker, tmp_path, monkeypatch, make_napari_viewer, qtbot):
    """Segment widget (cached weights) and Track widget (a weights file): one notification, no code run."""
    import napari.utils.notifications as notifications

    from napari_temseg._widgets.segment import SegmentWidget
    from napari_temseg._widgets.track import TrackWidget

    shown = []
    monkeypatch.setattr(notifications, "show_error", shown.append)
    monkeypatch.setenv("TEMSEG_CACHE", str(tmp_path / "cache"))
    viewer = make_napari_viewer()
    viewer.add_image(np.random.default_rng(0).random((64, 64), dtype=np.float32), name="img")
    viewer.add_image(np.random.default_rng(1).random((2, 64, 64), dtype=np.float32), name="video")
    segment = SegmentWidget(viewer)
    segment.image.value = viewer.layers["img"]
    for model in WEIGHTED_MODELS:
        target = tmp_path / "cache" / weights.spec(model).filename
        target.parent.mkdir(exist_ok=True)
        target.write_bytes(payload.read_bytes())
        segment.model.value = model
        if segment.prompted:  # EfficientSAM automatic: no Points layer needed
            segment.mode.value = "auto"
        before = len(shown)
        segment.run()
        qtbot.waitUntil(lambda: segment.controls.worker is None, timeout=60_000)
        assert len(shown) == before + 1 and target.name in shown[-1], shown[before:]
        assert segment.controls.status.value.startswith("error:")
    track = TrackWidget(viewer)
    track.image.value = viewer.layers["video"]
    track.out_dir.value = str(tmp_path / "tracks")
    for model in WEIGHTED_MODELS:
        track.model.value, track.weights.value = model, str(payload)
        before = len(shown)
        track.run()
        qtbot.waitUntil(lambda: track.controls.worker is None, timeout=60_000)
        assert len(shown) == before + 1 and "evil.pt" in shown[-1], shown[before:]
    assert not marker.exists() and not (tmp_path / "tracks").exists()  # refused before the folder is made
    assert not [layer for layer in viewer.layers if layer.name not in ("img", "video")]


def _edited_vmamba(path: Path, edit) -> Path:
    data = torch.load(weights.find("vmamba"), weights_only=True)
    edit(data)
    torch.save(data, path)
    return path


def test_damaged_or_edited_weights_are_one_line_errors(tmp_path):
    """A training run's file with a tensor missing, a preset or model name it does not have,
    or NaN weights: a clear error naming the file, not a traceback from torch or a model that
    segments nothing without a word."""
    first = next(iter(torch.load(weights.find("vmamba"), weights_only=True)["model"]))
    cases = {
        "its settings or tensors do not fit a vmamba network .*Missing key": lambda d: d["model"].pop(first),
        "vmamba has no preset 'tiny'": lambda d: d["temseg"].update(preset="tiny"),
        "holds weights of a model it does not name": lambda d: d["temseg"].pop("architecture"),
        "hold NaN or infinite values": lambda d: d["model"][first].view(-1).__setitem__(0, float("nan")),
    }
    for k, (message, edit) in enumerate(cases.items()):
        path = _edited_vmamba(tmp_path / f"vm{k}.pt", edit)
        with pytest.raises(TemsegError, match=message):
            load_model("vmamba", weights=path)
