"""The `temseg` argument parser: every subcommand, its flags and their help."""

from __future__ import annotations

import argparse

from ..models.specs import DEFAULT_MODEL
from ..simulator import TRAIN_FRESNEL
from .arguments import (
    WEIGHTS_HELP,
    add_model_args,
    fraction,
    frame_interval,
    non_negative_int,
    out_path,
    positive_float,
    positive_int,
)
from .segment import cmd_evaluate, cmd_segment
from .synth import VIDEO_GROUPS, cmd_demo, cmd_synth_images, cmd_synth_video
from .tools import cmd_bench, cmd_bench_video, cmd_models, cmd_weights
from .track import cmd_evaluate_track, cmd_export, cmd_track
from .train import DEFAULT_BATCH, cmd_train


class StoreOnce(argparse.Action):
    """A flag that takes one value, refused when given twice: argparse keeps the last
    silently, so `--pixel-size 0.3 --pixel-size 0.25` measured in 0.25 without a word."""

    def __call__(self, parser, namespace, values, option_string=None):
        given = namespace.__dict__.setdefault("_flags_given", set())  # not the default's value: 16 may be given
        if self.dest in given:
            raise argparse.ArgumentError(self, f"given twice (read as {getattr(namespace, self.dest)} and {values}): "
                                               "give it once")
        given.add(self.dest)
        setattr(namespace, self.dest, values)


class SubcommandParser(argparse.ArgumentParser):
    """A subcommand's parser, whose single-value flags are `StoreOnce`."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.register("action", "store", StoreOnce)
        self.register("action", None, StoreOnce)


def _add_seed_and_regime(p: argparse.ArgumentParser, regimes: str) -> None:
    """The simulators' --seed and --regime (simple, train, heldout; `regimes` says what each is)."""
    p.add_argument("--seed", type=non_negative_int, default=0)
    p.add_argument("--regime", default="simple", choices=["simple", "train", "heldout"], help=regimes)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="temseg", description="`temseg`: the command line over the same core API the widgets use.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=SubcommandParser)

    p = sub.add_parser("segment", help="segment images into one label per particle")
    p.add_argument("inputs", nargs="+", help="image files or folders")
    p.add_argument("--out", type=out_path, required=True, help="folder for <stem>_labels.tif per image, particles.csv (one row per "
                   "particle), summary.csv (per image and ALL) and size_distribution.png")
    p.add_argument("--points", help="prompts CSV (image,y,x,label,object) for prompted models")
    p.add_argument("--pixel-size", default=None, metavar="NM",
                   help="nm per pixel, or with a unit: 5A, 0.0005um (default: from the file); sizes in nm, and "
                        "-o diameter may be e.g. 12nm")
    p.add_argument("--scale-bar", metavar="NM", default=None,
                   help="the length of the scale bar burned into each image (e.g. 50nm): the pixel size is its "
                        "length over the bar's in px (for exports without calibration)")
    p.add_argument("--weights", help=WEIGHTS_HELP)
    add_model_args(p)
    p.set_defaults(func=cmd_segment)

    p = sub.add_parser("evaluate", help="score a model on an images/ + labels/ folder")
    p.add_argument("--data", required=True, help="dataset folder (images/, labels/)")
    p.add_argument("--pixel-size", default=None, metavar="NM",
                   help="nm per pixel of every image, or with a unit: 5A, 0.0005um (default: from each file); "
                        "-o diameter may then be e.g. 12nm")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--weights", help=WEIGHTS_HELP)
    p.add_argument(
        "--point-per-particle", action="store_true",
        help="prompted models: one positive point inside each true particle (otherwise automatic mode)",
    )
    add_model_args(p)
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("track", help="track particles through a time stack, detecting fusions (resumable)")
    p.add_argument("input", help="TIFF stack, folder of frames, or TEM file (.dm3/.dm4/.ser/.emd/.mrc)")
    p.add_argument("--out", type=out_path, required=True, help="output folder (labels.zarr, tracks.csv, events.csv, sintering.csv)")
    p.add_argument("--method", default="link", choices=["link", "propagate"])
    p.add_argument("--pixel-size", default=None, metavar="NM",
                   help="nm per pixel, or with a unit: 5A, 0.0005um (default: from the file)")
    p.add_argument("--scale-bar", metavar="NM", default=None,
                   help="the length of the scale bar burned into the frames (e.g. 50nm): the pixel size is its "
                        "length over the bar's in px, measured on the first readable frame")
    p.add_argument("--frame-interval", type=frame_interval, default=None, metavar="S",
                   help="time between frames, in s or with a unit: 200ms, 2min; for diffusion in nm²/s and times in tracks.geff (default: from "
                        "the file; given to a finished run, only its tables are written again)")
    p.add_argument("--chunk", type=positive_int, default=16, help="frames per committed chunk")
    p.add_argument("--overwrite", action="store_true", help="replace results of another run in --out")
    p.add_argument("--workers", type=positive_int, default=None, help="segment on N local dask worker processes")
    p.add_argument("--scheduler", default=None, help="address of an existing dask scheduler")
    p.add_argument("--weights", help=WEIGHTS_HELP)
    add_model_args(p)
    p.set_defaults(func=cmd_track)

    p = sub.add_parser("evaluate-track", help="score tracking results against ground truth")
    p.add_argument("pred", help="folder written by `temseg track`")
    p.add_argument("--truth", required=True, help="folder with labels.zarr and events.csv")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_evaluate_track)

    p = sub.add_parser("synth-video", help="write a synthetic sintering video with ground truth")
    p.add_argument("--out", type=out_path, required=True)
    p.add_argument("--frames", type=positive_int, default=80)
    p.add_argument("--size", type=positive_int, default=512)
    for name, default in VIDEO_GROUPS.items():
        p.add_argument(f"--{name}", type=non_negative_int,
                       help=f"default {default} at 512 px, fewer in smaller frames (in proportion to the area)")
    _add_seed_and_regime(p, "simple: the sample-data generator; train/heldout: particles and image formation of the "
                            "simulator's regimes, with drift, Brownian motion and slow or fast sintering "
                            "(video_simulator)")
    p.set_defaults(func=cmd_synth_video)

    p = sub.add_parser("synth-images", help="write a synthetic dataset (images/, labels/) with touching particles")
    p.add_argument("--out", type=out_path, required=True)
    p.add_argument("--count", type=positive_int, default=8)
    p.add_argument("--dose", type=positive_float, default=40.0, help="electrons per pixel (lower = noisier)")
    p.add_argument("--touching", type=fraction, default=0.4, help="share of particles in touching pairs")
    _add_seed_and_regime(p, "simple: the sample-data generator (--dose, --touching apply); train/heldout: the "
                            "domain-randomised simulator's regimes (docs/simulator.md)")
    p.set_defaults(func=cmd_synth_images)

    p = sub.add_parser("demo", help="segment and track built-in synthetic data; write results and a PNG")
    p.add_argument("--out", type=out_path, default="temseg-demo")
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("train", help="train a model on labelled folders and/or synthetic images")
    p.add_argument("model", help="model to train (see `temseg models`), or edge-refiner")
    p.add_argument("--data", action="append", help="dataset folder (images/, labels/); repeatable")
    p.add_argument("--out", type=out_path, required=True, help="weights file to write (a .csv log goes beside it)")
    p.add_argument("--epochs", type=positive_int, default=100)
    p.add_argument("--imgsz", type=positive_int, default=None, help="training image size (model default)")
    p.add_argument("--batch", type=positive_int, default=None,
                   help=f"images per step (default {DEFAULT_BATCH}; EfficientSAM trains on one)")
    p.add_argument("--lr", type=positive_float, default=None, help="peak learning rate (Swin-UNet, VMamba, EfficientSAM)")
    p.add_argument("--synth", type=non_negative_int, default=40, help="simulated images (training regime) added to the data")
    p.add_argument("--synth-fresnel", type=float, default=TRAIN_FRESNEL, metavar="AMP",
                   help="largest Fresnel fringe amplitude of the simulated images, either sign "
                   f"(default {TRAIN_FRESNEL}; wider trains for stronger defocus)")
    p.add_argument("--radius-range", type=float, nargs=2, default=None, metavar=("LO", "HI"),
                   help="particle radii (px) the weights are recorded as made for: images are resampled so "
                   "their particles fall inside (default 6 40, the simulated radii less margins)")
    p.add_argument("--repeat-data", type=positive_int, default=1, metavar="N",
                   help="each --data training image appears N times (weighs real images against many simulated ones)")
    p.add_argument("--seed", type=non_negative_int, default=0)
    p.add_argument("--device", default=None, help="cpu, cuda or cuda:N (default: cuda when present)")
    p.add_argument("--weights", default=None, help="start from these weights")
    p.add_argument("--resume", action="store_true", help="continue the interrupted run")
    p.add_argument("--freeze-encoder", action="store_true", help="EfficientSAM: train prompt encoder and decoder only")
    p.add_argument("--tile", type=positive_int, default=None, help="VMamba: segment at this size (default: --imgsz)")
    p.add_argument("--preset", default="article",
                   help="Swin-UNet/VMamba size preset: article (both), tiny (Swin-UNet), small (VMamba)")
    p.add_argument(
        "--input", default=None, choices=["anchored", "stretch"],
        help="input of the model trained: percentile stretch, then Otsu-anchored levels or not "
        "(default: anchored for Swin-UNet/VMamba, stretch for YOLO/EfficientSAM, as their model cards)",
    )
    p.add_argument(
        "--denoise", type=float, default=0.0, metavar="SIGMA",
        help="Gaussian sigma (px) applied to the input after its levels are set; "
        "0 = off. Helps with labels drawn on a smoothed image, such as the article's",
    )
    p.add_argument(
        "--augment", default="full", choices=["full", "light"],
        help="full TEM augmentation, or light (symmetries, intensity) for labels "
        "drawn by smoothing and thresholding, whose edges follow the image's own noise",
    )
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("weights", help="list, download or import model weights")
    p.add_argument("action", choices=["list", "fetch", "import"])
    p.add_argument("model", nargs="?", help="a model with weights (see `temseg weights list`)")
    p.add_argument("file", nargs="?", help="with import: the downloaded checkpoint")
    p.set_defaults(func=cmd_weights)

    p = sub.add_parser("bench", help="the article's table for the models available here")
    p.add_argument("--models", default="all", help="all, or names separated by commas")
    p.add_argument("--data", default=None, help="dataset folder (default: built-in synthetic set)")
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    p.add_argument("--repeats", type=positive_int, default=3)
    p.add_argument("--out", type=out_path, help=".csv, .json or .md file for the table")
    p.set_defaults(func=cmd_bench)

    p = sub.add_parser("bench-video", help="frames/s and peak RSS of `temseg track` for several video lengths")
    p.add_argument("--frames", type=positive_int, nargs="+", default=[100, 1000])
    p.add_argument("--size", type=positive_int, default=512)
    p.add_argument("--out", type=out_path, help="CSV file for the results")
    p.add_argument("--model", default=DEFAULT_MODEL, help="model name (see `temseg models`)")
    p.set_defaults(func=cmd_bench_video)

    p = sub.add_parser("export", help="write tracking results in another tool's format")
    p.add_argument("format", choices=["ctc"], help="ctc: the Cell Tracking Challenge layout")
    p.add_argument("result", help="folder written by `temseg track`")
    p.add_argument("--out", type=out_path, required=True, help="folder for the exported files")
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("models", help="list available models; with a name, its options and their defaults")
    p.add_argument("model", nargs="?", help="a model whose options (-o KEY=VALUE) to list")
    p.set_defaults(func=cmd_models)
    return parser
