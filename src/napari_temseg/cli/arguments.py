"""The command line's typed arguments: numbers, lengths, times and -o options, each read
with a one-line usage error for anything else, and the flags every model command shares."""

from __future__ import annotations

import argparse
import math

from ..errors import TemsegError
from ..models.options import parse_option
from ..models.specs import DEFAULT_MODEL


def _checked(convert, test, wanted: str):
    """An argparse type: `convert`, then `test`; anything else is a one-line usage error."""
    def parse(text: str):
        try:
            value = convert(text)
        except ValueError:
            value = None
        if value is None or not test(value):
            raise argparse.ArgumentTypeError(f"must be {wanted}, not {text!r}")
        return value
    return parse


positive_int = _checked(int, lambda v: v >= 1, "an integer of 1 or more")
non_negative_int = _checked(int, lambda v: v >= 0, "an integer of 0 or more")
positive_float = _checked(float, lambda v: math.isfinite(v) and v > 0, "a positive number")
fraction = _checked(float, lambda v: 0 <= v <= 1, "a number from 0 to 1")
#: --out: Path("") is the working folder, where results went without a word.
out_path = _checked(str, lambda v: bool(v.strip()), "a file or folder name")
#: Frame intervals --frame-interval takes, in s: from 1 µs (the fastest direct detectors run
#: at tens of µs a frame) to a day (time-lapse); beyond, a typo or another unit.
FRAME_INTERVAL_RANGE = (1e-6, 86400.0)


def frame_interval(text: str) -> float:
    """--frame-interval in seconds: '0.2', '200ms', '2min', within FRAME_INTERVAL_RANGE."""
    from ..units import TYPED_TIME_UNITS, time_in_seconds

    seconds = time_in_seconds(text)
    low, high = FRAME_INTERVAL_RANGE
    if seconds is None or not low <= seconds <= high:
        raise argparse.ArgumentTypeError(f"takes the time between frames (e.g. 0.2, 0.2s, 200ms; units "
                                         f"{TYPED_TIME_UNITS}), from 1 µs to a day, not {text!r}")
    return seconds


#: Pixel sizes --pixel-size takes, in nm: from 1 pm to 10 µm (a pixel above 10 µm is no
#: micrograph's calibration; below 1 pm, none either: a typo, or metres typed as nm).
PIXEL_SIZE_RANGE = (1e-3, 1e4)


def parse_pixel_size(value: str) -> float:
    """--pixel-size in nm: '0.5', '0.5nm', '5Å' or '0.0005um', within PIXEL_SIZE_RANGE."""
    from ..units import TYPED_UNITS, length_in_nm

    nm = length_in_nm(value)
    low, high = PIXEL_SIZE_RANGE
    if nm is None or not low <= nm <= high:
        raise TemsegError(f"--pixel-size takes nm per pixel (e.g. 0.5, 0.5nm, 5A or 0.0005um; units {TYPED_UNITS}), "
                          f"from {low:g} to {high:g} nm, not {value!r}")
    return nm


def parse_scale_bar(value: str, pixel_size: float | None) -> float:
    """--scale-bar's length in nm: '50', '50nm', '0.5um' or '500Å' (refused beside --pixel-size)."""
    from ..units import TYPED_UNITS, length_in_nm

    if pixel_size:
        raise TemsegError("give the pixel size once: --pixel-size NM or --scale-bar NM (the bar's length), not both")
    nm = length_in_nm(value)
    if nm is None:
        raise TemsegError(f"--scale-bar takes the bar's length (e.g. 50, 50nm, 0.5um or 500A; units {TYPED_UNITS}), "
                          f"not {value!r}")
    return nm


def options_given(args: argparse.Namespace) -> dict:
    options = dict(parse_option(o) for o in (args.option or []))
    if {"points", "boxes"} & set(options):
        raise TemsegError("prompts are not options: give points with --points FILE.csv (image,y,x,label,object "
                          "rows), boxes through the Python API (segment(..., boxes=...))")
    if "pixel_size_nm" in options and hasattr(args, "pixel_size"):  # half of what --pixel-size does, or a clash
        raise TemsegError("give the pixel size with --pixel-size NM, not -o pixel_size_nm (sizes in nm, "
                          "the labels' calibration and a diameter in nm all take it from there)")
    return options


WEIGHTS_HELP = "weights file (or shipped variant, e.g. sharp) instead of the model's default"


def add_model_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", default=DEFAULT_MODEL, help="model name (see `temseg models`)")
    p.add_argument(
        "-o", "--option", action="append", metavar="KEY=VALUE",
        help="model or tracking option, repeatable (e.g. -o sigma=2 -o min_size=50)",
    )
