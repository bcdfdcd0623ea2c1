"""`temseg train yolov8n-seg`: ultralytics training from our data, offline, resumable, CSV log."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

from ..errors import TemsegError
from ..models.devices import default_device
from ..models.ultralytics_env import ultralytics
from ..models.yolo_weights import architecture_path, build_network, from_ultralytics, read_checkpoint, save_checkpoint
from ..preprocess import check_input_mode
from ..simulator import TRAIN_FRESNEL
from . import work_folder
from .data import recorded_radius_range, synth_settings, training_samples
from .run_state import check_same_run, refuse_overwriting, training_options
from .yolo_data import write_dataset

ARCHITECTURE = "yolov8n-seg.yaml"

#: ultralytics augmentation per `--augment` choice. "light": flips only (and its gain
#: changes), no mosaic, scaling, translation or free rotation, which resample the image
#: and so move its noise-drawn edges away from labels drawn by smoothing and thresholding
#: (see `train.augment.augment_light`).
AUGMENTATIONS = {
    "full": dict(flipud=0.5, degrees=90.0),
    "light": dict(flipud=0.5, fliplr=0.5, degrees=0.0, mosaic=0.0, scale=0.0, translate=0.0),
}


def train_yolo(
    data_dirs: list[str],
    out: str | Path,
    epochs: int = 100,
    imgsz: int = 512,
    batch: int = 8,
    synth: int = 40,
    synth_fresnel: float = TRAIN_FRESNEL,
    val_fraction: float = 0.2,
    seed: int = 0,
    repeat: int = 1,
    device: str | None = None,
    weights: str | None = None,
    resume: bool = False,
    workdir: str | Path | None = None,
    augment: str = "full",
    input_mode: str = "stretch",
    denoise: float = 0.0,
    radius_range: tuple[float, float] | None = None,
) -> Path:
    """Train a one-class YOLOv8n-seg; writes `out` (best weights) and `out`.csv (per-epoch log).

    weights: start from this .pt instead of the random-init architecture.
    resume: continue the run in `workdir` from its last checkpoint.
    augment: "full" or "light" (see AUGMENTATIONS).
    input_mode, denoise: how images are prepared (`preprocess.prepare_input`); recorded in
    `out`, so inference prepares them the same way.
    radius_range: recorded for inference (`recorded_radius_range`).
    """
    if augment not in AUGMENTATIONS:
        raise TemsegError(f"augment must be one of {', '.join(AUGMENTATIONS)}, not {augment!r}")
    check_input_mode(input_mode, denoise)
    synthesis = synth_settings(synth_fresnel)  # checked before the work folder is made
    radii = recorded_radius_range(radius_range)
    out = Path(out).resolve()  # ultralytics puts a relative project under its own runs folder
    work = Path(workdir).resolve() if workdir else work_folder(out)
    run_dir = work / "run"
    input_file, run_file = work / "input.json", work / "run.json"
    last = run_dir / "weights" / "last.pt"
    options = training_options(data_dirs, epochs=epochs, imgsz=imgsz, batch=batch, synth=synth, repeat=repeat,
                               seed=seed, val_fraction=val_fraction, augment=augment, input=input_mode,
                               denoise=denoise, radius_range=radii, **synthesis)
    ul = ultralytics()
    if resume:
        if not last.is_file():
            raise TemsegError(f"nothing to resume: {last} does not exist (start without --resume)")
        run = json.loads(run_file.read_text()) if run_file.is_file() else {}  # runs before run.json: not compared
        if run.get("finished"):
            epochs = run["options"]["epochs"]
            raise TemsegError(f"nothing to resume: the run in {work} has finished ({epochs} of {epochs} epochs); "
                              "to train further, start a new run from its weights (--weights) with another --out")
        check_same_run(run.get("options", options), options, work)
        prepared_as = json.loads(input_file.read_text()) if input_file.is_file() else {"input": "stretch"}
        from_ultralytics(last)  # through ultralytics' restricted loader first: a foreign file is refused
        model = ul.YOLO(str(last))
        model.add_callback("on_fit_epoch_end", _say_epoch)
        model.train(resume=True)
    else:
        refuse_overwriting(last)
        train, val = training_samples(data_dirs, synth, val_fraction, seed, repeat, synth_fresnel)
        if not train:
            raise TemsegError("no training images: give --data folders and/or --synth N")
        if not val:  # ultralytics cannot train without one (it failed deep in its data loader)
            raise TemsegError("YOLO training needs a validation image: give a --data folder of two or more labelled "
                              "images, or --synth 2 or more")
        prepared_as = {"input": input_mode, "denoise": denoise, "radius_range": radii,
                       "dark_field": synth > 0, **synthesis}
        data_yaml = write_dataset(train, val, work / "dataset", input_mode, denoise)
        input_file.write_text(json.dumps(prepared_as))
        run_file.write_text(json.dumps({"options": options, "finished": False}))
        model = ul.YOLO(str(architecture_path(ARCHITECTURE)), task="segment")
        if weights is not None:  # tensors only (yolo_weights), handed over as a module
            model.load(build_network(read_checkpoint(weights), weights))
        model.add_callback("on_fit_epoch_end", _say_epoch)
        model.train(
            data=str(data_yaml), epochs=epochs, imgsz=imgsz, batch=batch, seed=seed, deterministic=True,
            device=ultralytics_device(default_device(device)), workers=0, project=str(work), name="run",
            exist_ok=True, plots=False, amp=False, single_cls=True, patience=max(epochs, 50), verbose=False,
            **AUGMENTATIONS[augment],
        )
    best = run_dir / "weights" / "best.pt"
    if not best.is_file():
        raise TemsegError(f"training finished without {best}")
    checkpoint = from_ultralytics(best)
    checkpoint.settings = prepared_as
    save_checkpoint(checkpoint, out)
    if (run_dir / "results.csv").is_file():
        shutil.copyfile(run_dir / "results.csv", out.with_suffix(".csv"))
    if run_file.is_file():
        run_file.write_text(json.dumps({**json.loads(run_file.read_text()), "finished": True}))
    return out


def _say_epoch(trainer) -> None:
    """One line per epoch, as the other trainers print (ultralytics' own output is off: a
    200-epoch run said nothing for hours)."""
    if trainer.epoch + 1 > trainer.epochs:  # the final validation of the best weights, not an epoch
        return
    metrics = getattr(trainer, "metrics", None) or {}
    losses = [float(v) for k, v in metrics.items() if str(k).startswith("val/") and str(k).endswith("_loss")]
    score = metrics.get("metrics/mAP50-95(M)")
    shown = ", ".join([*([f"val loss {sum(losses):.4f}"] if losses else []),
                       *([f"val mask mAP50-95 {float(score):.4f}"] if score is not None else [])])
    print(f"epoch {trainer.epoch + 1}/{trainer.epochs}{': ' + shown if shown else ''}", file=sys.stderr, flush=True)


def ultralytics_device(device: str) -> str:
    """A torch device name as ultralytics' trainer takes it (GPU indices: "cuda" is "0")."""
    return device if device == "cpu" else device.partition(":")[2] or "0"
