"""`temseg train`: each model's trainer behind one set of flags, refusing the flags a
trainer has no use for; stopped by Ctrl-C or SIGTERM with its last epoch kept."""

from __future__ import annotations

import argparse
import importlib
import signal
import time
from pathlib import Path

from ..errors import TemsegError
from ..models.weights import EDGE_REFINER


class Terminated(KeyboardInterrupt):
    """SIGTERM (a batch system's time limit, `kill`) during training: stopped as Ctrl-C stops
    it, so the same line says what was kept, with SIGTERM's exit status."""


def _terminate(signum, frame):
    raise Terminated


def cmd_train(args: argparse.Namespace) -> int:
    from ..train import work_folder
    from ..video import signals_handled

    start = time.perf_counter()
    try:
        with signals_handled({signal.SIGTERM: _terminate}):
            out = train_model(args)
    except TemsegError:  # refused: no empty working folder left behind
        work = work_folder(Path(args.out))
        if work.is_dir() and not any(work.iterdir()):
            work.rmdir()
        raise
    print(f"trained {args.model} in {(time.perf_counter() - start) / 60:.1f} min: {out}")
    return 0


#: Images per training step where `--batch` is not given.
DEFAULT_BATCH = 8

#: Per trainer module: `temseg train` flags it has no use for, and why (refused when given,
#: rather than ignored).
TRAINING_FLAGS_UNUSED = {
    "yolo": {"--lr": "ultralytics schedules its own learning rate", "--tile": "it segments whole images",
             "--freeze-encoder": "that is EfficientSAM's", "--preset": "it comes in one size"},
    "sam": {"--tile": "it segments whole images", "--preset": "it comes in one size",
            "--batch": "it trains on one image per step"},
    "semantic": {"--freeze-encoder": "that is EfficientSAM's"},
    "edge_refiner": {flag: "it trains from scratch on its own input, degradations and scale" for flag in
                     ("--input", "--denoise", "--weights", "--radius-range", "--augment", "--tile", "--freeze-encoder",
                      "--preset")},
}


def training_state_saved(out: Path) -> bool:
    """Whether a training run into `out` has saved a state to resume from (ours, or YOLO's)."""
    from ..train import work_folder

    work = work_folder(out)
    return (work / "last.pt").is_file() or (work / "run" / "weights" / "last.pt").is_file()


def train_model(args: argparse.Namespace) -> Path:
    """Dispatch `temseg train MODEL` to the trainer its spec names (the edge refiner is trained
    the same way, though it is not a model of its own)."""
    from ..models.devices import default_device
    from ..models.specs import SPECS

    default_device(args.device)  # a device that is not there: said before any data is drawn
    if args.resume and args.weights:
        raise TemsegError("--weights starts a new run from those weights and --resume continues a stopped one "
                          "from its own state: give one of them")
    trainers = {name: spec.trainer for name, spec in SPECS.items() if spec.trainer}
    trainers[EDGE_REFINER] = "edge_refiner:train_edge_refiner"
    if args.model not in trainers:
        raise TemsegError(f"no training command for {args.model!r}; trainable: {', '.join(trainers)}")
    module, function = trainers[args.model].split(":")
    given = {"--lr": args.lr is not None, "--input": args.input is not None, "--denoise": bool(args.denoise),
             "--weights": args.weights is not None, "--radius-range": args.radius_range is not None,
             "--augment": args.augment != "full", "--tile": args.tile is not None,
             "--freeze-encoder": args.freeze_encoder, "--preset": args.preset != "article",
             "--batch": args.batch is not None}
    unused = [flag for flag in TRAINING_FLAGS_UNUSED[module] if given[flag]]
    if unused:
        reasons = "; ".join(f"{flag}: {TRAINING_FLAGS_UNUSED[module][flag]}" for flag in unused)
        raise TemsegError(f"{', '.join(unused)} {'does' if len(unused) == 1 else 'do'} not apply to {args.model} "
                          f"({reasons}): drop {'it' if len(unused) == 1 else 'them'}")
    trainer = getattr(importlib.import_module(f"napari_temseg.train.{module}"), function)
    # options not given on the command line keep each trainer's own default
    chosen = {key: value for key, value in (("lr", args.lr), ("input_mode", args.input)) if value}
    common = dict(synth=args.synth, synth_fresnel=args.synth_fresnel, seed=args.seed, repeat=args.repeat_data,
                  device=args.device, resume=args.resume)
    scaled = {"radius_range": args.radius_range}  # every model's trainer; not the edge refiner
    data = args.data or []
    batch = args.batch or DEFAULT_BATCH
    if module == "yolo":
        return trainer(data, args.out, epochs=args.epochs, imgsz=args.imgsz or 512, batch=batch,
                       weights=args.weights, augment=args.augment, denoise=args.denoise, **common, **chosen,
                       **scaled)
    if module == "sam":
        return trainer(args.model, data, args.out, epochs=args.epochs, img_size=args.imgsz or 512,
                       weights=args.weights, freeze_encoder=args.freeze_encoder, denoise=args.denoise,
                       augment=args.augment, **common, **chosen, **scaled)
    if module == "semantic":
        return trainer(args.model, data, args.out, preset=args.preset, epochs=args.epochs, imgsz=args.imgsz,
                       tile=args.tile, batch=batch, weights=args.weights, denoise=args.denoise,
                       augment=args.augment, **common, **chosen, **scaled)
    return trainer(data, args.out, epochs=args.epochs, crop=args.imgsz or 256, batch=batch, **common, **chosen)
