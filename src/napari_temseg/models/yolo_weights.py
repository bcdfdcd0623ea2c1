"""YOLO segmentation checkpoints read without running any code stored in them.

ultralytics saves whole pickled model objects and loads them with
`weights_only=False`, so a checkpoint can carry a payload that runs on load.
Here a YOLO checkpoint is only ever a set of tensors plus a few plain values:

- this project's format (`save_checkpoint`): a dict of tensors, strings and numbers,
  read with `torch.load(weights_only=True)`;
- an ultralytics `.pt` (the official `yolov8n-seg.pt`, a user's `best.pt`): read with
  ultralytics' restricted loader (`torch_safe_load(safe_only=True)`: torch's
  weights-only unpickler with an allow-list of model classes), then reduced to its
  tensors and architecture name.

Either way the network is built anew from the architecture's YAML inside the
installed ultralytics package, never from a YAML or object found in the file (a
model YAML's `act` entry is passed to `eval` by ultralytics), and the tensors are
loaded into it by name and shape.
"""

from __future__ import annotations

import inspect
import os
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import TemsegError
from .weights import check_finite

#: The `format` entry of this project's YOLO checkpoints.
FORMAT = "temseg-yolo-seg/1"
#: Where our trainer recorded, in its checkpoints, how images were prepared (`preprocess.stored_input`).
INPUT_KEY = "temseg"
#: Names of segmentation architectures as ultralytics writes them ("yolov8n-seg.yaml", "yolo11s-seg.yaml").
ARCHITECTURE_NAME = re.compile(r"^(yolo(?:v\d+|\d+))([nslmx])(-seg(?:-p\d)?)\.yaml$")


@dataclass
class YoloCheckpoint:
    """architecture: an ultralytics model YAML name (its scale letter included);
    names: class names by index; imgsz: the square input size it was trained at;
    state: the network's tensors by name; settings: how its images were prepared."""

    architecture: str
    names: dict[int, str]
    imgsz: int
    state: dict
    settings: dict = field(default_factory=dict)


def read_checkpoint(path: str | os.PathLike) -> YoloCheckpoint:
    """The tensors and settings of a YOLO segmentation checkpoint in either format (module docstring)."""
    import torch

    path = Path(path)
    if not path.is_file():
        raise TemsegError(f"{path}: no such YOLO weights file (nothing is downloaded)")
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - torch raises several types for files that are not tensors-only checkpoints
        if "Unsupported global" not in str(err) and "weights_only" not in str(err):
            raise TemsegError(f"{path}: is not a YOLO checkpoint (not a PyTorch file this project can read)") from None
        return from_ultralytics(path)
    if isinstance(data, dict) and data.get("format") != FORMAT and "model" in data:
        # an ultralytics checkpoint whose classes an earlier restricted load put on torch's allow-list
        return from_ultralytics(path)
    if not (isinstance(data, dict) and data.get("format") == FORMAT):
        raise TemsegError(
            f"{path}: is not a YOLO segmentation checkpoint (neither napari-temseg's format nor ultralytics')"
        )
    try:
        checkpoint = YoloCheckpoint(
            architecture=str(data["architecture"]), names={int(k): str(v) for k, v in data["names"].items()},
            imgsz=int(data["imgsz"]), state=dict(data["model"]), settings=dict(data.get(INPUT_KEY) or {}),
        )
    except (KeyError, TypeError, ValueError, AttributeError) as err:
        raise TemsegError(f"{path}: a damaged napari-temseg YOLO checkpoint ({type(err).__name__}: {err})") from None
    check_architecture(checkpoint.architecture, path)
    return checkpoint


def from_ultralytics(path: Path) -> YoloCheckpoint:
    """Tensors and architecture of an ultralytics checkpoint, through its restricted loader."""
    from torch import nn

    from .ultralytics_env import ultralytics

    ultralytics()
    from ultralytics.nn import tasks

    if "safe_only" not in inspect.signature(tasks.torch_safe_load).parameters or not getattr(
        getattr(tasks, "_SafeLoad", None), "SUPPORTED", False
    ):
        raise TemsegError(
            f"{path}: this ultralytics version cannot read checkpoints without running code in them; "
            "`pip install -U ultralytics` (and torch >= 2.6), or convert the file where you trust it"
        )
    if path.suffix != ".pt":
        raise TemsegError(f"{path}: ultralytics checkpoints end in .pt; this is not one")
    try:
        with warnings.catch_warnings():  # torch warns about a foreign pickle protocol before refusing it
            warnings.simplefilter("ignore")
            data, _ = tasks.torch_safe_load(str(path), safe_only=True)
    except Exception as err:  # noqa: BLE001 - ultralytics raises TypeError, UnpicklingError, RuntimeError, ... for refused files
        reason = (str(err).strip().splitlines() or [type(err).__name__])[0].split(". ")[0][:200]  # not its advice
        raise TemsegError(
            f"{path}: refused: not an ultralytics checkpoint made of known model classes only ({reason})"
        ) from None
    model = (data.get("ema") or data.get("model")) if isinstance(data, dict) else None
    if not isinstance(model, nn.Module) or not isinstance(getattr(model, "yaml", None), dict):
        raise TemsegError(f"{path}: holds no YOLO model")
    architecture = Path(str(model.yaml.get("yaml_file", ""))).name
    check_architecture(architecture, path)
    if model.yaml.get("scale") and ARCHITECTURE_NAME.match(architecture).group(2) != model.yaml["scale"]:
        raise TemsegError(f"{path}: its model scale {model.yaml['scale']!r} does not match {architecture}")
    names = getattr(model, "names", None) or {i: str(i) for i in range(int(model.yaml.get("nc", 1)))}
    if isinstance(names, list | tuple):
        names = dict(enumerate(names))
    train_args = data.get("train_args") or {}
    imgsz = train_args.get("imgsz", 640) if isinstance(train_args, dict) else 640
    settings = data.get(INPUT_KEY) or {}
    return YoloCheckpoint(
        architecture=architecture, names={int(k): str(v) for k, v in names.items()},
        imgsz=int(imgsz if isinstance(imgsz, int) else 640),
        state={k: v.detach().float() for k, v in model.state_dict().items()},
        settings=dict(settings) if isinstance(settings, dict) else {},
    )


def check_architecture(name: str, path: Path | str) -> None:
    """Only segmentation architectures whose YAML ships with ultralytics are built."""
    if not ARCHITECTURE_NAME.match(name) or package_yaml(name) is None:
        raise TemsegError(
            f"{path}: architecture {name!r} is not a YOLO segmentation model that ships with ultralytics "
            "(e.g. yolov8n-seg.yaml)"
        )


def package_yaml(name: str) -> Path | None:
    """The YAML of architecture `name` inside the installed ultralytics (scale letter removed, as
    ultralytics names its files), or None."""
    import ultralytics as ul

    match = ARCHITECTURE_NAME.match(name)
    if match is None:
        return None
    unified = f"{match.group(1)}{match.group(3)}.yaml"
    found = sorted((Path(ul.__file__).parent / "cfg" / "models").rglob(unified))
    return found[0] if found else None


def architecture_path(name: str) -> Path:
    """What to give `ultralytics.YOLO` to build architecture `name` (e.g. yolov8n-seg.yaml): a
    path in the package's config folder, so that no YAML of the same name elsewhere (the
    working directory comes first in ultralytics' search) is read; the scale letter in the
    name is how ultralytics picks the scale, and the file without it is the one it reads."""
    return package_yaml(name).with_name(name)


def build_network(checkpoint: YoloCheckpoint, path: Path | str = "checkpoint"):
    """A float32 ultralytics SegmentationModel of the checkpoint's architecture, its tensors loaded."""
    from .ultralytics_env import ultralytics

    ultralytics()
    from ultralytics.nn.tasks import SegmentationModel
    from ultralytics.utils import YAML

    config = YAML.load(package_yaml(checkpoint.architecture))
    config.update(scale=ARCHITECTURE_NAME.match(checkpoint.architecture).group(2),
                  yaml_file=checkpoint.architecture, nc=len(checkpoint.names))
    net = SegmentationModel(config, nc=len(checkpoint.names), verbose=False)
    expected = net.state_dict()
    state = checkpoint.state
    wrong = [k for k in expected if k not in state or tuple(state[k].shape) != tuple(expected[k].shape)]
    if wrong or set(state) - set(expected):
        raise TemsegError(
            f"{path}: its tensors do not fit {checkpoint.architecture} with {len(checkpoint.names)} class(es) "
            f"({len(wrong)} missing or of another shape, {len(set(state) - set(expected))} unexpected)"
        )
    check_finite(state, path)
    net.load_state_dict({k: v.to(expected[k].dtype) for k, v in state.items()})
    net.names = dict(checkpoint.names)
    return net.float().eval()


def save_checkpoint(checkpoint: YoloCheckpoint, path: str | os.PathLike) -> Path:
    """Write `checkpoint` in this project's format (floating tensors as float16, as ultralytics does)."""
    import torch

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {k: (v.half() if v.is_floating_point() else v).contiguous() for k, v in checkpoint.state.items()}
    torch.save(
        {"format": FORMAT, "architecture": checkpoint.architecture, "names": dict(checkpoint.names),
         "imgsz": int(checkpoint.imgsz), "model": state, INPUT_KEY: dict(checkpoint.settings)},
        path,
    )
    return path


def convert(source: str | os.PathLike, target: str | os.PathLike) -> Path:
    """Rewrite any readable YOLO checkpoint in this project's tensors-only format."""
    checkpoint = read_checkpoint(source)
    build_network(checkpoint, source)  # refuse tensors that do not fit before anything is written
    return save_checkpoint(checkpoint, target)
