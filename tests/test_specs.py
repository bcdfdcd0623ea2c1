"""One place knows each model: options checked everywhere, a toy fifth model reaches every front end."""

import subprocess
import sys

import numpy as np
import pytest
import tifffile

from napari_temseg import TemsegError, available_models, load_model, segment
from napari_temseg.cli import main
from napari_temseg.models import specs
from napari_temseg.models.options import Option, number
from napari_temseg.synth import synth_image


@pytest.fixture(scope="module")
def image_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("img") / "a.tif"
    tifffile.imwrite(path, synth_image((128, 128), 6, radius=(8, 12), seed=0).image)
    return path


@pytest.mark.parametrize("model", available_models())
def test_unknown_option_is_a_one_line_error_for_every_model(model, image_file, tmp_path, capsys):
    assert main(["segment", str(image_file), "--out", str(tmp_path), "--model", model, "-o", "nonexistent_option=1"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "unknown option(s)" in err and "nonexistent_option" in err, err
    assert "known:" in err
    with pytest.raises(TemsegError, match="unknown option.*nonexistent_option"):
        segment(tifffile.imread(image_file), model, nonexistent_option=1)


@pytest.mark.parametrize("option, message", [
    ("sigma=abc", "sigma='abc': must be auto"), ("sigma=-5", "sigma=-5"), ("sigma=nan", "sigma=nan"),
    ("split=maybe", "split='maybe': must be true or false"), ("flatten=banana", "flatten='banana'"),
    ("threshold_offset=nan", "threshold_offset=nan"), ("min_size=2.5", "min_size=2.5: must be an integer"),
])
def test_bad_classical_values_are_one_line_errors(option, message, image_file, tmp_path, capsys):
    assert main(["segment", str(image_file), "--out", str(tmp_path), "-o", option]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and message in err, err


def test_yolo_value_ranges_and_point_prompts_for_unprompted_models(image_file, tmp_path, capsys):
    assert main(["segment", str(image_file), "--out", str(tmp_path), "--model", "yolov8n-seg", "-o", "conff=0.3"]) == 2
    assert "conff" in capsys.readouterr().err
    assert main(["segment", str(image_file), "--out", str(tmp_path), "--model", "yolov8n-seg", "-o", "conf=3"]) == 2
    assert "conf=3: must be a number from 0 to 1" in capsys.readouterr().err
    data = tmp_path / "data"
    for sub in ("images", "labels"):
        (data / sub).mkdir(parents=True)
        tifffile.imwrite(data / sub / "a.tif", tifffile.imread(image_file) if sub == "images" else
                         synth_image((128, 128), 6, radius=(8, 12), seed=0).labels)
    assert main(["evaluate", "--data", str(data), "--model", "yolov8n-seg", "--point-per-particle"]) == 2
    assert "prompted model" in capsys.readouterr().err


def test_track_options_misspelt_or_out_of_range_are_one_line_errors(tmp_path, capsys):
    """A misspelt max_gap was answered with the model's options alone; parent_fraction=0 made
    every neighbour a parent (89 fusion events where there were 2, most of children that no
    table holds)."""
    frames = np.stack([synth_image((64, 64), 3, radius=(6, 8), seed=0).image] * 3)
    tifffile.imwrite(tmp_path / "v.tif", frames, imagej=True, metadata={"axes": "TYX"})
    for option, message in (("max_gapp=3", "tracking: min_iou, parent_fraction, fusion_min_frames, max_gap"),
                            ("parent_fraction=0", "parent_fraction=0: must be a number from 0.1 to 1")):
        assert main(["track", str(tmp_path / "v.tif"), "--out", str(tmp_path / "o"), "-o", option]) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and message in err, err


def test_load_model_checks_its_own_options():
    with pytest.raises(TemsegError, match="unknown option.*sigmaa.*known: corner_cuts, flatten"):
        load_model("classical", sigmaa=2)
    with pytest.raises(TemsegError, match=r"pixel_size_nm \(--pixel-size on the command line\)"):
        segment(np.zeros((8, 8)), "classical", sigmaa=2)  # -o pixel_size_nm is refused there: said which flag
    with pytest.raises(TemsegError, match="takes no options"):
        load_model("yolov8n-seg", conf=0.5)


class Toy:
    """A fifth model: every pixel brighter than `level` is one particle."""

    name = "toy"

    def __init__(self, level: float = 0.5):
        self.level = level

    def predict(self, image, level=None):
        return (image < (self.level if level is None else level)).astype(np.uint32)


def build(name, weights, device, **options):
    return Toy(**options)


@pytest.fixture
def toy_registered(monkeypatch):
    spec = specs.ModelSpec("toy", build, (Option("level", 0.5, number(0, 1), "threshold"),))
    monkeypatch.setitem(specs.SPECS, "toy", spec)  # what specs.register does, undone after the test
    return spec


def test_a_fifth_model_through_its_spec_alone(toy_registered, image_file, tmp_path, capsys, make_napari_viewer):
    assert "toy" in available_models()
    assert main(["models"]) == 0 and "toy" in capsys.readouterr().out
    labels = segment(tifffile.imread(image_file), "toy", level=0.4, diameter="none")
    assert labels.max() == 1
    with pytest.raises(TemsegError, match="level=2"):
        segment(tifffile.imread(image_file), "toy", level=2)
    data = tmp_path / "data"
    for sub in ("images", "labels"):
        (data / sub).mkdir(parents=True)
        tifffile.imwrite(data / sub / "a.tif", tifffile.imread(image_file) if sub == "images" else
                         synth_image((128, 128), 6, radius=(8, 12), seed=0).labels)
    assert main(["evaluate", "--data", str(data), "--model", "toy", "--json"]) == 0
    from napari_temseg.bench import run_bench

    rows = run_bench(["toy"], str(data), repeats=1, progress=lambda s: None)
    assert rows[0].model == "toy" and rows[0].mode == "default"
    from napari_temseg._widgets.segment import SegmentWidget

    widget = SegmentWidget(make_napari_viewer())
    assert "toy" in widget.model.choices
    widget.model.value = "toy"
    widget.option("level").value = 0.3
    assert widget.options()["level"] == pytest.approx(0.3)


def test_inference_imports_no_training_code():
    script = (
        "import sys\n"
        "from napari_temseg import load_model, available_models, segment\n"
        "import numpy as np\n"
        "for name in available_models():\n"
        "    load_model(name)\n"
        "print('TRAIN', sorted(m for m in sys.modules if m.startswith('napari_temseg.train')))\n"
    )
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    assert "TRAIN []" in run.stdout, run.stdout


def test_no_model_name_is_spelt_outside_the_specs():
    """Code asks the registry: a string constant equal to a model's name only in models/specs.py."""
    import ast
    from pathlib import Path

    import napari_temseg

    names = set(specs.SPECS)
    package = Path(napari_temseg.__file__).parent
    found = []
    for path in package.rglob("*.py"):
        if path == package / "models" / "specs.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Constant) and node.value in names:
                found.append(f"{path.relative_to(package)}:{node.lineno} {node.value!r}")
    assert not found, found
