"""`temseg`: the command line over the same core API the widgets use.

Errors caused by input print one line and exit with status 2; nothing here
does work of its own beyond reading arguments and writing files.
"""

from __future__ import annotations

import argparse
import csv
import importlib
import json
import logging
import math
import os
import shutil
import signal
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import TemsegError
from .models.specs import DEFAULT_MODEL, prompted_models
from .models.weights import EDGE_REFINER
from .simulator import TRAIN_FRESNEL

if TYPE_CHECKING:
    from .io.stacks import Calibration

EXIT_USAGE = 2


def parse_option(text: str) -> tuple[str, Any]:
    """'key=value' -> (key, value) with numbers and booleans converted."""
    if "=" not in text:
        raise TemsegError(f"option {text!r} must look like key=value (e.g. sigma=2)")
    key, raw = text.split("=", 1)
    if not key.strip():
        raise TemsegError(f"option {text!r} has no name: it must look like key=value (e.g. sigma=2)")
    lowered = raw.lower()
    if lowered in ("true", "false"):
        return key, lowered == "true"
    for kind in (int, float):
        try:
            return key, kind(raw)
        except ValueError:
            pass
    return key, raw


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
    from .units import TYPED_TIME_UNITS, time_in_seconds

    seconds = time_in_seconds(text)
    low, high = FRAME_INTERVAL_RANGE
    if seconds is None or not low <= seconds <= high:
        raise argparse.ArgumentTypeError(f"takes the time between frames (e.g. 0.2, 0.2s, 200ms; units "
                                         f"{TYPED_TIME_UNITS}), from 1 µs to a day, not {text!r}")
    return seconds




def _options(args: argparse.Namespace) -> dict:
    options = dict(parse_option(o) for o in (args.option or []))
    if {"points", "boxes"} & set(options):
        raise TemsegError("prompts are not options: give points with --points FILE.csv (image,y,x,label,object "
                          "rows), boxes through the Python API (segment(..., boxes=...))")
    if "pixel_size_nm" in options and hasattr(args, "pixel_size"):  # half of what --pixel-size does, or a clash
        raise TemsegError("give the pixel size with --pixel-size NM, not -o pixel_size_nm (sizes in nm, "
                          "the labels' calibration and a diameter in nm all take it from there)")
    return options


WEIGHTS_HELP = "weights file (or shipped variant, e.g. sharp) instead of the model's default"


def _add_model_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", default=DEFAULT_MODEL, help="model name (see `temseg models`)")
    p.add_argument(
        "-o", "--option", action="append", metavar="KEY=VALUE",
        help="model or tracking option, repeatable (e.g. -o sigma=2 -o min_size=50)",
    )


#: Files `temseg segment` writes, skipped when a folder is read as input (an --out that is
#: also an input folder must not feed a run its own results).
OUTPUT_SUFFIX = "_labels"
SIZE_PLOT = "size_distribution.png"


def _is_own_output(path: Path) -> bool:
    return path.stem.endswith(OUTPUT_SUFFIX) or path.name == SIZE_PLOT


#: Image formats a micrograph may come in that are not read (said where a folder holds them).
UNREAD_IMAGE_SUFFIXES = (".gif", ".webp", ".jp2", ".heic", ".svg")


def _input_files(inputs: Sequence[str], out: str | None = None) -> list[Path]:
    from .io import IMAGE_SUFFIXES, TEM_FORMATS
    from .io.images import natural_key

    suffixes = (*IMAGE_SUFFIXES, *TEM_FORMATS)
    files: list[Path] = []
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            entries = list(path.iterdir())
            found = sorted(
                (p for p in entries if p.suffix.lower() in suffixes and p.is_file() and not _is_own_output(p)),
                key=natural_key,
            )
            if not found:
                raise TemsegError(f"{path}: no image files in this folder")
            ours = Path(out).resolve() if out else None  # the results folder: not an input left out
            folders = sorted(p.name for p in entries
                             if p.is_dir() and not p.name.startswith(".") and p.resolve() != ours)
            if folders:  # not searched: said, so that no image is missed without a word
                print(f"temseg: {path}: its sub-folder(s) {', '.join(folders[:5])}{' ...' if len(folders) > 5 else ''} "
                      "are not searched; give them as inputs too", file=sys.stderr)
            others = sorted({p.suffix.lower() for p in entries if p.is_file() and not p.name.startswith(".")
                             and p.suffix.lower() in UNREAD_IMAGE_SUFFIXES})
            if others:  # images of a format not read: said, as sub-folders are
                print(f"temseg: {path}: its {', '.join(others)} files are not read (convert them to TIFF or PNG)",
                      file=sys.stderr)
            files += found
        elif path.exists():
            files.append(path)
        else:
            raise TemsegError(f"{path}: no such file or folder")
    return list(dict.fromkeys(p.resolve() for p in files))


def _relative(path: Path) -> str:
    """`path` relative to the working folder where it can be (not across Windows drives)."""
    try:
        return os.path.relpath(path)
    except ValueError:
        return str(path)


def _output_folder(path: str) -> Path:
    out = Path(path)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise TemsegError(f"{out}: cannot create the output folder ({err.strerror or err})") from None
    return out


def _named_stem(name: str, stems: list[str]) -> str:
    """The input a points CSV's image column names, by stem or file name: "a", "a.tif" or
    "a.ome.tif" alike (a file name was refused as "not among the inputs", naming the input
    given); a stem that itself ends like a file name ("scan.dm4" of scan.dm4.tif) stays."""
    as_stem = image_stem(Path(f"{name}.tif"))  # "a.ome" is a.ome.tif's stem
    return as_stem if as_stem in stems else image_stem(Path(name))


def image_stem(path: Path) -> str:
    """A file's name without its extension, an OME-TIFF's ".ome" included (a.ome.tif: a)."""
    stem = path.stem
    return stem[: -len(".ome")] if stem.lower().endswith(".ome") else stem


def output_names(files: list[Path]) -> dict[Path, str]:
    """A distinct output stem per input: its own stem, or where stems repeat parent_stem
    (dup1/x.tif and dup2/x.tif give dup1_x and dup2_x) or, in one folder, stem_extension
    (a.emd and a.hspy give a_emd and a_hspy), numbered if that still repeats."""
    stems = [image_stem(f) for f in files]
    names: dict[Path, str] = {}
    taken: set[str] = set()
    for f, stem in zip(files, stems, strict=True):
        same = [g for g, other in zip(files, stems, strict=True) if other == stem]
        if len(same) == 1:
            name = stem
        elif len({g.parent for g in same}) == len(same):
            name = f"{f.parent.name}_{stem}"
        else:
            name = f"{stem}_{f.suffix.lstrip('.').lower()}"
        base, k = name, 2
        while name in taken:
            name, k = f"{base}_{k}", k + 1
        taken.add(name)
        names[f] = name
    return names


def label_codes(values, source: str):
    """1/0 point labels from 1/0, true/false or positive/negative, with the row of a bad one."""
    from .prompts import label_code

    codes = []
    for row, value in enumerate(values, start=2):
        try:
            codes.append(label_code(value))
        except TemsegError:
            raise TemsegError(f"{source}, row {row}: label must be 1/positive or 0/negative, not {value!r}") from None
    return codes


def read_points_csv(path: str, stems: list[str]) -> dict:
    """Prompts per image stem from a CSV with columns image,y,x,label,object.

    `image` may be omitted when there is a single input; `object` groups points
    into one particle (default: every positive point is its own particle).
    """
    import numpy as np
    import pandas as pd

    try:
        table = pd.read_csv(path)
    except (OSError, ValueError) as err:
        raise TemsegError(f"{path}: cannot read points CSV ({err})") from None
    missing = {"y", "x", "label"} - set(table.columns)
    if missing:
        raise TemsegError(f"{path}: points CSV needs columns image,y,x,label,object; missing {', '.join(sorted(missing))}")
    if table.empty:
        raise TemsegError(f"{path}: holds no points (only a header); add rows, or leave out --points for "
                          "automatic mode")
    for column in ("y", "x"):
        values = pd.to_numeric(table[column], errors="coerce")
        bad = np.flatnonzero(~np.isfinite(values.to_numpy(dtype=float)))
        if len(bad):
            raise TemsegError(f"{path}, row {bad[0] + 2}: {column} must be a pixel coordinate, "
                              f"not {table[column].iloc[bad[0]]!r}")
        table[column] = values
    table["label"] = label_codes(table["label"], str(path))
    if "image" not in table.columns:
        if len(stems) != 1:
            raise TemsegError(f"{path}: several inputs, so the points CSV needs an 'image' column (file stem)")
        table["image"] = stems[0]
    if "object" not in table.columns:
        table["object"] = np.nan
    objects = pd.to_numeric(table["object"], errors="coerce")
    bad = np.flatnonzero(objects.isna() & table["object"].notna())
    if len(bad):
        raise TemsegError(f"{path}, row {bad[0] + 2}: object must be a number naming the particle (or empty), "
                          f"not {table['object'].iloc[bad[0]]!r}")
    table["object"] = objects
    table["image"] = [_named_stem(name, stems) for name in table["image"].astype(str)]
    unknown = set(table["image"]) - set(stems)
    if unknown:
        raise TemsegError(f"{path}: points name images not among the inputs: {', '.join(sorted(unknown)[:5])}; the "
                          f"image column holds each input's file name or stem ({', '.join(stems[:3])})")
    return {
        stem: group[["y", "x", "label", "object"]].to_numpy(dtype=float)
        for stem, group in table.groupby("image")
    }


def _earlier_inputs(summary: Path) -> dict[str, str]:
    """The input files an earlier `temseg segment` listed in this summary.csv, each with the
    name of its labels file (none if unreadable)."""
    try:
        with open(summary, newline="") as fh:
            return {row["file"]: row.get("labels") or "" for row in csv.DictReader(fh)
                    if row.get("file") not in (None, "ALL")}
    except (OSError, KeyError, csv.Error, UnicodeDecodeError):
        return {}


#: The first columns of the tables `temseg segment` writes: how a table it wrote is told
#: from a user's file of the same name, which it must not replace.
TABLE_HEADS = {"summary.csv": ("file,labels,objects,pixel_size_nm,", "file,labels,objects,polarity,"),
               "particles.csv": ("image,pixel_size_nm,label,", "image,label,area,")}  # the second: older temseg


def _refuse_foreign_tables(out: Path) -> None:
    """Refuse a folder whose particles.csv, summary.csv or size distribution figure this
    command did not write (a user's own tables were replaced without a word). The figure
    counts as an earlier run's where that run's summary.csv is beside it."""
    def ours(name: str) -> bool:
        try:
            with open(out / name, newline="") as fh:
                return fh.readline().startswith(TABLE_HEADS[name])  # str.startswith takes a tuple
        except (OSError, UnicodeDecodeError):
            return False

    foreign = [name for name in TABLE_HEADS if (out / name).exists() and not ours(name)]
    if (out / SIZE_PLOT).exists() and not ((out / "summary.csv").exists() and ours("summary.csv")):
        foreign.append(SIZE_PLOT)
    if foreign:
        raise TemsegError(f"{out} holds {' and '.join(foreign)} that temseg did not write, which this run would "
                          "replace; choose another --out, or move them away")


def cmd_segment(args: argparse.Namespace) -> int:
    """Every input in turn; a file that fails is reported and the batch goes on (exit 1 at the
    end, with a count); results are written under distinct names. Writes <name>_labels.tif,
    particles.csv (one row per particle), summary.csv (per image and for the batch) and
    size_distribution.png; sizes in nm where the file or --pixel-size gives the pixel size."""
    from .analysis import measure
    from .annotations import pixel_size_from_scale_bar
    from .io import read_micrograph, write_labels_tiff
    from .models import load_model
    from .plots import size_distribution_png
    from .preprocess import as_2d_gray, non_finite_count
    from .segmentation import check_model_options, parse_diameter, segment_image

    files = _input_files(args.inputs, args.out)
    names = output_names(files)
    twice = {p.name for p in files if [q.name for q in files].count(p.name) > 1}
    shown = {p: _relative(p) if p.name in twice else p.name for p in files}  # x.tif of two folders
    model = load_model(args.model, weights=args.weights)
    options = _options(args)
    given_pixel = parse_pixel_size(args.pixel_size) if args.pixel_size is not None else None
    bar_nm = parse_scale_bar(args.scale_bar, given_pixel) if args.scale_bar is not None else None
    options = check_model_options(model, options)  # the same for every file: checked once, up front
    parse_diameter(options.get("diameter", "auto"), given_pixel or 1.0, least=0.0)  # its form: each file's size later
    if args.points and args.model not in prompted_models():
        raise TemsegError(f"--points prompts a prompted model ({', '.join(prompted_models())}); "
                          f"{args.model} takes none")
    prompts = read_points_csv(args.points, [image_stem(f) for f in files]) if args.points else {}
    out = _output_folder(args.out)
    written = {(out / f"{names[f]}{OUTPUT_SUFFIX}.tif").resolve() for f in files}
    clobbered = [f for f in files if f in written]
    if clobbered:
        raise TemsegError(f"{clobbered[0]}: this input would be overwritten by the labels written to {out}; "
                          "choose another --out or rename the input")
    _refuse_foreign_tables(out)
    listed = _earlier_inputs(out / "summary.csv")
    made_by = {labels: file for file, labels in listed.items() if labels}
    for f in files:  # a labels file not listed as this input's is another image's (or one summary.csv forgot)
        target = f"{names[f]}{OUTPUT_SUFFIX}.tif"
        if (out / target).is_file() and made_by.get(target) != str(f):
            source = f"the labels of an earlier run on {made_by[target]}" if target in made_by else \
                "labels that summary.csv does not trace to this image (an earlier run's)"
            raise TemsegError(f"{out / target} holds {source}, which this run would overwrite (an input of the "
                              "same name); choose another --out, or move that file away")
    earlier = {file for file in listed if file not in {str(f) for f in files}}
    if earlier:
        print(f"temseg: {out} holds tables of an earlier run on other images ({len(earlier)}): particles.csv and "
              "summary.csv will describe this run's images only (their label files stay)", file=sys.stderr)
    rows, tables, failed = [], [], []
    start = time.perf_counter()
    for i, path in enumerate(files, 1):
        stem = image_stem(path)
        extra = {"points": prompts[stem], "mode": "prompt"} if stem in prompts else {}
        try:
            image, found = read_micrograph(path)
            bar = pixel_size_from_scale_bar(image, bar_nm) if bar_nm else None
            pixel = (bar or given_pixel) or found.nm
            check_nm_diameter(options, pixel, found)
            result = segment_image(image, model, **options, **extra, **({"pixel_size_nm": pixel} if pixel else {}))
        except TemsegError as err:
            failed.append(path)
            print(f"[{i}/{len(files)}] {shown[path]}: error: {err}", file=sys.stderr)
            rows.append({"file": str(path), "error": str(err)})
            continue
        write_labels_tiff(out / f"{names[path]}{OUTPUT_SUFFIX}.tif", result.labels, pixel or found.yx_nm)
        particles = measure(result.labels, pixel, result.annotations)
        particles.insert(0, "image", names[path])
        particles.insert(1, "pixel_size_nm", pixel)  # sizes in px stay convertible when nm columns cannot be kept
        tables.append(particles)
        rows.append({"file": str(path), "labels": f"{names[path]}{OUTPUT_SUFFIX}.tif", "objects": result.count,
                     "pixel_size_nm": pixel, **_statistics(particles), "polarity": result.polarity,
                     "radius_px": round(result.radius, 2), "scale": round(result.scale, 4)})
        source = bar_source(bar, bar_nm, found) if bar else pixel_source(given_pixel, found)
        empty = non_finite_count(as_2d_gray(image))  # pixels, not an RGB image's samples
        filled = f"; {empty} NaN or infinite pixels read as the others' median (no data)" if empty else ""
        print(f"[{i}/{len(files)}] {shown[path]}: {result.describe()}; {source}{filled}", file=sys.stderr)
    elapsed = time.perf_counter() - start
    batch = _batch_particles(tables)
    pixels = {r.get("pixel_size_nm") for r in rows if "error" not in r}
    if len(pixels) > 1 and "equivalent_diameter_nm" not in batch.columns:
        sizes = ", ".join(sorted(f"{p:.4g} nm" if p else "unknown" for p in pixels))
        print(f"temseg: the images' pixel sizes differ ({sizes}): the ALL row and {SIZE_PLOT} pool sizes in px "
              "across them; give every image a pixel size (--pixel-size, or calibrated files) for sizes in nm, or "
              "segment images of one magnification together (particles.csv keeps each row's pixel_size_nm)",
              file=sys.stderr)
    if tables:
        rows.append({"file": "ALL", "objects": int(sum(r.get("objects", 0) for r in rows)), **_statistics(batch)})
        batch.to_csv(out / "particles.csv", index=False)
        size_distribution_png(batch, out / SIZE_PLOT)
    fields = ["file", "labels", "objects", "pixel_size_nm", *STATISTICS, "polarity", "radius_px", "scale", "error"]
    with open(out / "summary.csv", "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)
    done = len(files) - len(failed)
    print(f"{done} image(s) in {elapsed:.2f} s ({done / elapsed:.1f} images/s); results in {out}")
    if failed:
        print(f"temseg: {len(failed)} of {len(files)} image(s) failed: {', '.join(shown[p] for p in failed[:5])}"
              f"{' ...' if len(failed) > 5 else ''} (see summary.csv)", file=sys.stderr)
        return 1
    return 0


#: Size statistics columns of summary.csv (`analysis.size_statistics`; border particles left out).
STATISTICS = ["count", "unit", "mean", "sd", "d10", "d50", "d90", "mean_circularity", "border_excluded"]


def _statistics(particles) -> dict:
    from .analysis import size_statistics

    stats = size_statistics(particles)
    return {k: (round(v, 4) if isinstance(v, float) else v) for k, v in stats.items()}


def _batch_particles(tables: list):
    """All images' particles in one table; nm columns only when every image has them
    (otherwise sizes of images with and without a pixel size would be mixed)."""
    import pandas as pd

    if not tables:
        return pd.DataFrame()
    if not all("equivalent_diameter_nm" in t.columns for t in tables):
        tables = [t.drop(columns=[c for c in t.columns if c.endswith(("_nm", "_nm2")) and c != "pixel_size_nm"])
                  for t in tables]
    return pd.concat(tables, ignore_index=True)


def cmd_evaluate(args: argparse.Namespace) -> int:
    from .evaluation import evaluate_dataset
    from .models import load_model

    model = load_model(args.model, weights=args.weights)
    given = parse_pixel_size(args.pixel_size) if args.pixel_size is not None else None
    summary = evaluate_dataset(args.data, model, point_per_particle=args.point_per_particle, pixel_size_nm=given,
                               **_options(args))
    if args.json:
        print(json.dumps(summary))
    else:
        print(
            f"{summary['model']} on {summary['n_images']} images: IoU {summary['iou']:.5f}  "
            f"Dice {summary['dice']:.5f}  F1@0.5 {summary['f1']:.4f}  AP {summary['ap']:.4f}  "
            f"{summary['images_per_s']:.1f} images/s"
        )
    return 0


#: Pixel sizes --pixel-size takes, in nm: from 1 pm to 10 µm (a pixel above 10 µm is no
#: micrograph's calibration; below 1 pm, none either: a typo, or metres typed as nm).
PIXEL_SIZE_RANGE = (1e-3, 1e4)


def parse_pixel_size(value: str) -> float:
    """--pixel-size in nm: '0.5', '0.5nm', '5Å' or '0.0005um', within PIXEL_SIZE_RANGE."""
    from .units import TYPED_UNITS, length_in_nm

    nm = length_in_nm(value)
    low, high = PIXEL_SIZE_RANGE
    if nm is None or not low <= nm <= high:
        raise TemsegError(f"--pixel-size takes nm per pixel (e.g. 0.5, 0.5nm, 5A or 0.0005um; units {TYPED_UNITS}), "
                          f"from {low:g} to {high:g} nm, not {value!r}")
    return nm


def parse_scale_bar(value: str, pixel_size: float | None) -> float:
    """--scale-bar's length in nm: '50', '50nm', '0.5um' or '500Å' (refused beside --pixel-size)."""
    from .units import TYPED_UNITS, length_in_nm

    if pixel_size:
        raise TemsegError("give the pixel size once: --pixel-size NM or --scale-bar NM (the bar's length), not both")
    nm = length_in_nm(value)
    if nm is None:
        raise TemsegError(f"--scale-bar takes the bar's length (e.g. 50, 50nm, 0.5um or 500A; units {TYPED_UNITS}), "
                          f"not {value!r}")
    return nm


def bar_source(bar: float, bar_nm: float, found: Calibration) -> str:
    """Where a pixel size measured on a burned-in scale bar came from, and what the file said
    where that differs (the bar wins, but not without a word)."""
    said = f"; the file says {found.nm:.4g} nm" if found.nm and not math.isclose(found.nm, bar, rel_tol=1e-3) else ""
    return f"pixel size {bar:.4g} nm (its {bar_nm:g} nm scale bar{said})"


def pixel_source(given: float | None, found: Calibration) -> str:
    """Which pixel size the sizes are in, and where it came from: --pixel-size (and what the
    file said, where that differs), the file, or none (and why, where the file has one that
    cannot be used)."""
    if given:
        said = ""
        if found.nm is not None and not math.isclose(found.nm, given, rel_tol=1e-3):
            said = f"; the file says {found.nm:.4g} nm"
        elif found.nm is None and found.yx_nm is not None:
            said = f"; the file's pixels are {found.yx_nm[0]:.4g} nm tall, {found.yx_nm[1]:.4g} nm wide"
        return f"pixel size {given:.4g} nm (--pixel-size{said})"
    if found.nm:
        return f"pixel size {found.nm:.4g} nm (from the file)"
    return found.note or "pixel size unknown: sizes in px"


def interval_source(given: float | None, recorded: float | None, used: float | None) -> str:
    """Which frame interval the time columns use (`used`: as the results folder records it),
    and where it came from (as `pixel_source`): --frame-interval, the file, or an earlier
    run into the folder."""
    if given:
        said = f"; the file says {recorded:.4g} s" if recorded and not math.isclose(recorded, given, rel_tol=1e-3) else ""
        return f"frame interval {given:.4g} s (--frame-interval{said})"
    if recorded:
        return f"frame interval {recorded:.4g} s (from the file)"
    if used:
        return f"frame interval {used:.4g} s (given to an earlier run into the folder)"
    return "frame interval unknown: times in frames"


def check_nm_diameter(options: dict, pixel_size_nm: float | None, found: Calibration) -> None:
    """A diameter in nm on a file whose pixel size cannot be used (non-square pixels: its
    calibration's note) says why, not only that the pixel size is unknown."""
    from .segmentation import in_nm

    if in_nm(options.get("diameter")) and not pixel_size_nm and found.note:
        raise TemsegError(f"diameter {options['diameter']!r} is in nm, but {found.note} (or give the diameter "
                          "in px)")


def cmd_track(args: argparse.Namespace) -> int:
    from .annotations import pixel_size_from_scale_bar
    from .io import open_video
    from .io.results import results_calibration
    from .preprocess import first_readable_frame
    from .video import track_video

    video = open_video(args.input)
    given = parse_pixel_size(args.pixel_size) if args.pixel_size is not None else None
    scale = pixel_source(given, video.calibration)
    if args.scale_bar is not None:
        bar_nm = parse_scale_bar(args.scale_bar, given)
        frame = first_readable_frame(video.data)
        if frame is None:
            raise TemsegError("no frame of the video can be read: nothing to measure the scale bar on")
        given = pixel_size_from_scale_bar(frame, bar_nm)
        scale = bar_source(given, bar_nm, video.calibration)
    if given:
        video.pixel_size_nm = given
    recorded = video.frame_interval_s
    if args.frame_interval is not None:
        video.frame_interval_s = args.frame_interval
    options = _options(args)
    check_nm_diameter(options, video.pixel_size_nm, video.calibration)

    committed = [0]

    def progress(done: int, total: int) -> None:
        committed[0] = done
        print(f"\rtracking {done}/{total} frames", end="", file=sys.stderr, flush=True)

    try:
        with _said_on_stop(lambda: _interrupted_line(args, committed[0])):
            summary = track_video(
                video, args.out, model=args.model, options=options, chunk=args.chunk, overwrite=args.overwrite,
                workers=args.workers, scheduler=args.scheduler, progress=progress, method=args.method,
                weights=args.weights,
            )
    except KeyboardInterrupt:
        print(_interrupted_line(args, committed[0]), file=sys.stderr)
        return 130
    print(file=sys.stderr)
    import pandas as pd

    n_tracks = pd.read_csv(Path(args.out) / "tracks.csv", usecols=["track_id"])["track_id"].nunique()
    resumed = summary.resumed_note()
    if summary.skipped:
        frames = ", ".join(str(s["frame"]) for s in summary.skipped[:10])
        print(f"temseg: {len(summary.skipped)} frame(s) skipped, blank or unreadable: {frames}"
              f"{' ...' if len(summary.skipped) > 10 else ''} (skipped_frames.csv)", file=sys.stderr)
    if summary.skipped and len(summary.skipped) == summary.frames:  # no summary line: there is nothing to sum up
        print("temseg: error: no frame could be used (every one blank or unreadable)", file=sys.stderr)
        return 1
    decided = f"; {summary.decided}" if summary.decided else ""
    timing = interval_source(args.frame_interval, recorded, results_calibration(args.out)[1])
    print(
        f"{summary.frames} frame{'s' if summary.frames != 1 else ''}, {n_tracks} tracks, {len(summary.events)} "
        f"fusion events{resumed}{decided}; {scale}; {timing}; results in {args.out}"
    )
    return 0


def _interrupted_line(args: argparse.Namespace, committed: int) -> str:
    """What an interrupted `temseg track` kept, and how to go on."""
    if not (Path(args.out) / "run.json").is_file():  # stopped while starting: no folder to speak of
        return "\ntemseg: interrupted before the run began; nothing was written"
    again = "the same command without --overwrite" if args.overwrite else "the same command again"
    kept = f"the first {committed} frames are" if committed else "the folder is"
    return f"\ntemseg: interrupted; {kept} kept in {args.out}: run {again} to resume"


def _said_on_stop(line: Callable[[], str]):
    """On Ctrl-C (SIGINT) or SIGTERM (a batch system's time limit, `kill`) print `line()` and
    exit at once (status 130 or 143); every chunk is committed atomically, so nothing is
    lost. Not by raising an interrupt: with worker processes one raised in a callback was
    swallowed and the run went on (a review: 2 of 3 SIGTERMs, 1 Ctrl-C); SIGTERM ended the
    run without a word."""
    from .video import signals_handled

    def stop(signum, frame):
        print(line(), file=sys.stderr, flush=True)
        os._exit(128 + signum)

    return signals_handled({signal.SIGINT: stop, signal.SIGTERM: stop})


def cmd_evaluate_track(args: argparse.Namespace) -> int:
    from .io import read_track_dir
    from .metrics import tracking_scores

    pred, pred_events = read_track_dir(args.pred)
    truth, true_events = read_track_dir(args.truth)
    if pred.shape != truth.shape:
        raise TemsegError(f"{args.pred} holds {pred.shape[0]} frames of {pred.shape[1]}x{pred.shape[2]} px, "
                          f"--truth {args.truth} {truth.shape[0]} of {truth.shape[1]}x{truth.shape[2]}: results "
                          "of another video (or cut short); give the truth of the video that was tracked")
    scores = tracking_scores(pred, truth, pred_events, true_events)
    if args.json:
        print(json.dumps(scores.as_dict()))
    else:
        print(
            f"consistent-ID fraction {scores.consistent_id_fraction:.4f}  ID switches {scores.id_switches}  "
            f"fusion P/R/F1 {scores.fusion_precision:.3f}/{scores.fusion_recall:.3f}/{scores.fusion_f1:.3f} "
            f"({scores.n_pred_events} predicted, {scores.n_true_events} true events; "
            f"onset error of matched events at most {scores.worst_onset_error} frame(s))"
        )
    return 0


#: `temseg synth-video`'s particles and groups in a 512 px frame.
VIDEO_GROUPS = {"singles": 14, "pairs": 6, "triples": 2, "touching": 3}


def default_groups(size: int, names: list[str], share: float = 1.0) -> dict[str, int]:
    """Default counts of `names` for a `size` px frame: `share` of VIDEO_GROUPS, in proportion
    to the area below 512 px (a 256 px frame cannot hold 11 groups), at least one fusing pair."""
    share *= min(1.0, (size / 512) ** 2)
    counts = {name: int(round(VIDEO_GROUPS[name] * share)) for name in names}
    if "pairs" in counts:
        counts["pairs"] = max(counts["pairs"], 1)
    return counts


#: Shares of the default counts tried in turn when they do not fit (the frames' drift takes a
#: margin that grows with their number).
FITTING_SHARES = (1.0, 0.5, 0.25, 0.0)


def cmd_synth_video(args: argparse.Namespace) -> int:
    from .io import write_stack_tiff, write_track_dir
    from .synth import synth_video
    from .video_simulator import VideoConditions, simulate_video

    given = {name: getattr(args, name) for name in VIDEO_GROUPS if getattr(args, name) is not None}
    missing = [name for name in VIDEO_GROUPS if name not in given]
    for share in FITTING_SHARES if missing else (1.0,):
        groups = {**given, **default_groups(args.size, missing, share)}
        counts = dict(n_frames=args.frames, shape=(args.size, args.size), n_single=groups["singles"],
                      n_pairs=groups["pairs"], n_triples=groups["triples"], n_touching=groups["touching"])
        try:
            if args.regime == "simple":
                video = synth_video(**counts, seed=args.seed)
            else:
                video = simulate_video(VideoConditions(**counts, regime=args.regime), seed=args.seed)
            break
        except TemsegError:
            if not missing:
                raise
    else:
        raise TemsegError(f"a {args.size} px frame cannot hold one fusing pair that drifts for {args.frames} frames"
                          f"{' beside the groups given' if given else ''}: use a larger --size or fewer --frames")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    write_stack_tiff(out / "frames.tif", video.frames, video.pixel_size_nm)
    write_track_dir(out / "truth", video.labels, video.events, video.pixel_size_nm)
    print(f"{args.frames} frames, {len(video.events)} fusion events: {out / 'frames.tif'}, truth in {out / 'truth'}")
    return 0


def cmd_synth_images(args: argparse.Namespace) -> int:
    import tifffile

    from .simulator import random_image
    from .synth import synth_image

    out = Path(args.out)
    (out / "images").mkdir(parents=True, exist_ok=True)
    (out / "labels").mkdir(parents=True, exist_ok=True)
    for i in range(args.count):
        if args.regime == "simple":
            sample = synth_image(seed=args.seed + i, dose=args.dose, touching=args.touching)
        else:
            sample = random_image(args.seed + i, args.regime)
        tifffile.imwrite(out / "images" / f"synth_{i:03d}.tif", sample.image)
        tifffile.imwrite(out / "labels" / f"synth_{i:03d}.tif", sample.labels)
    print(f"{args.count} synthetic image/label pairs ({args.regime}) in {out} (images/, labels/)")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from .demo import run_demo

    out = run_demo(args.out)
    print(f"demo results in {out.resolve()} (overview: {out.resolve() / 'overview.png'})")
    return 0


class Terminated(KeyboardInterrupt):
    """SIGTERM (a batch system's time limit, `kill`) during training: stopped as Ctrl-C stops
    it, so the same line says what was kept, with SIGTERM's exit status."""


def _terminate(signum, frame):
    raise Terminated


def cmd_train(args: argparse.Namespace) -> int:
    from .train import work_folder
    from .video import signals_handled

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


def _training_state_saved(out: Path) -> bool:
    """Whether a training run into `out` has saved a state to resume from (ours, or YOLO's)."""
    from .train import work_folder

    work = work_folder(out)
    return (work / "last.pt").is_file() or (work / "run" / "weights" / "last.pt").is_file()


def train_model(args: argparse.Namespace) -> Path:
    """Dispatch `temseg train MODEL` to the trainer its spec names (the edge refiner is trained
    the same way, though it is not a model of its own)."""
    from .models.devices import default_device
    from .models.specs import SPECS

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


def cmd_weights(args: argparse.Namespace) -> int:
    from .models import weights

    if args.action == "list":
        for name, spec in weights.registered().items():
            found = weights.find(name)
            print(f"{name}: {found if found else 'not on this machine'} (official: {spec.url})")
            for variant, file in spec.variants.items():
                print(f"  --weights {variant}: {weights.PACKAGE_WEIGHTS / file}")
        return 0
    if not args.model:
        raise TemsegError(f"`temseg weights {args.action}` needs a model name (see `temseg weights list`)")
    if args.action == "fetch":
        present = weights.cached(args.model)
        if present is not None:  # without a checksum it cannot be told from an imported file
            print(f"kept {present}: already in the cache (fetched or imported before, not checked against the "
                  "official file); delete it to download again")
        else:
            print(f"saved {weights.fetch(args.model)}")
        return 0
    if not args.file:
        raise TemsegError("`temseg weights import MODEL FILE` needs the downloaded file")
    from .models import load_model
    from .models.edge_refiner import read_refiner
    from .models.specs import SPECS
    from .models.yolo_weights import convert

    check = read_refiner if args.model == EDGE_REFINER else (lambda p: load_model(args.model, weights=p))
    # YOLO files are rewritten as tensors only, so that no later run unpickles an object
    write = convert if SPECS.get(args.model) and SPECS[args.model].builder.startswith("yolo:") else shutil.copyfile
    target = weights.import_file(args.model, args.file, check, write)
    user = "every deep model's edge refinement" if args.model == EDGE_REFINER else f"`load_model({args.model!r})`"
    print(f"imported {args.file} as {target}; {user} now uses it")
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    from .bench import markdown_table, run_bench, write_rows

    models = [m for item in args.models.split(",") for m in [item.strip()] if m]
    rows = run_bench(models, args.data, args.device, args.repeats)
    print(markdown_table(rows))
    if args.out:
        print(f"written {write_rows(rows, args.out)}")
    return 0


def cmd_bench_video(args: argparse.Namespace) -> int:
    from .bench_video import bench_video

    rows = bench_video(args.frames, args.size, args.model)
    if args.out:
        import pandas as pd

        pd.DataFrame(rows).to_csv(args.out, index=False)
        print(f"written {args.out}")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from .io import open_track_dir
    from .io.export import write_ctc

    labels, events = open_track_dir(args.result)
    import pandas as pd

    tracks_file = Path(args.result) / "tracks.csv"
    if not tracks_file.is_file():
        raise TemsegError(f"{args.result}: no tracks.csv (as written by `temseg track`)")
    write_ctc(labels, pd.read_csv(tracks_file), events, args.out)
    print(f"Cell Tracking Challenge layout ({labels.shape[0]} masks, res_track.txt) in {args.out}")
    return 0


def cmd_models(args: argparse.Namespace) -> int:
    """The models available here; with a name, its options (-o KEY=VALUE) with defaults."""
    from .models import available_models
    from .segmentation import model_options

    if not args.model:
        print("\n".join(available_models()))
        return 0
    for name, (default, meaning) in model_options(args.model).items():
        flag = " (on the command line: --pixel-size)" if name == "pixel_size_nm" else ""
        print(f"{name}={default}: {meaning}{flag}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="temseg", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

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
    _add_model_args(p)
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
    _add_model_args(p)
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
    _add_model_args(p)
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
    p.add_argument("--seed", type=non_negative_int, default=0)
    p.add_argument(
        "--regime", default="simple", choices=["simple", "train", "heldout"],
        help="simple: the sample-data generator; train/heldout: particles and image formation of the "
             "simulator's regimes, with drift, Brownian motion and slow or fast sintering (video_simulator)",
    )
    p.set_defaults(func=cmd_synth_video)

    p = sub.add_parser("synth-images", help="write a synthetic dataset (images/, labels/) with touching particles")
    p.add_argument("--out", type=out_path, required=True)
    p.add_argument("--count", type=positive_int, default=8)
    p.add_argument("--dose", type=positive_float, default=40.0, help="electrons per pixel (lower = noisier)")
    p.add_argument("--touching", type=fraction, default=0.4, help="share of particles in touching pairs")
    p.add_argument("--seed", type=non_negative_int, default=0)
    p.add_argument(
        "--regime", default="simple", choices=["simple", "train", "heldout"],
        help="simple: the sample-data generator (--dose, --touching apply); train/heldout: the "
             "domain-randomised simulator's regimes (docs/simulator.md)",
    )
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


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    # tifffile's own warnings and errors about a damaged file come before, and say less than, our line on it
    logging.getLogger("tifffile").setLevel(logging.CRITICAL)
    try:
        return args.func(args)
    except TemsegError as err:
        print(f"temseg: error: {err}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt as err:
        resume = ("; the last finished epoch is kept: go on with the same command and --resume (without --weights)"
                  if args.func is cmd_train and _training_state_saved(Path(args.out)) else "")
        print(f"\ntemseg: {'terminated' if isinstance(err, Terminated) else 'interrupted'}{resume}", file=sys.stderr)
        return 143 if isinstance(err, Terminated) else 130
    except BrokenPipeError:  # `temseg models classical | head`: no traceback; the shell's status for it
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 128 + signal.SIGPIPE
    except OSError as err:  # the file system's answer (read-only, full, a file where a folder goes): no bug
        where = f"{err.filename}: " if err.filename else ""
        print(f"temseg: error: {where}{err.strerror or err}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
