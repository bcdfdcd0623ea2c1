"""`temseg segment` and `temseg evaluate`: a batch of images into label files and size
tables, and a model's scores on a labelled folder."""

from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from pathlib import Path

from ..errors import TemsegError
from ..models.specs import prompted_models
from .arguments import options_given, parse_pixel_size, parse_scale_bar
from .calibration import bar_source, check_nm_diameter, pixel_source
from .inputs import (
    OUTPUT_SUFFIX,
    SIZE_PLOT,
    image_stem,
    input_files,
    output_folder,
    output_names,
    read_points_csv,
    relative,
)


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
    from ..analysis import measure
    from ..annotations import pixel_size_from_scale_bar
    from ..io import read_micrograph, write_labels_tiff
    from ..models import load_model
    from ..plots import size_distribution_png
    from ..segmentation import check_model_options, parse_diameter, segment_image

    files = input_files(args.inputs, args.out)
    names = output_names(files)
    twice = {p.name for p in files if [q.name for q in files].count(p.name) > 1}
    shown = {p: relative(p) if p.name in twice else p.name for p in files}  # x.tif of two folders
    model = load_model(args.model, weights=args.weights)
    options = options_given(args)
    given_pixel = parse_pixel_size(args.pixel_size) if args.pixel_size is not None else None
    bar_nm = parse_scale_bar(args.scale_bar, given_pixel) if args.scale_bar is not None else None
    options = check_model_options(model, options)  # the same for every file: checked once, up front
    parse_diameter(options.get("diameter", "auto"), given_pixel or 1.0, least=0.0)  # its form: each file's size later
    if args.points and args.model not in prompted_models():
        raise TemsegError(f"--points prompts a prompted model ({', '.join(prompted_models())}); "
                          f"{args.model} takes none")
    prompts = read_points_csv(args.points, [image_stem(f) for f in files]) if args.points else {}
    out = output_folder(args.out)
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
        print(f"[{i}/{len(files)}] {shown[path]}: {result.describe()}; {source}", file=sys.stderr)
        if rows[-1]["note"]:
            print(f"[{i}/{len(files)}] {shown[path]}: note: {rows[-1]['note']}", file=sys.stderr)
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
        if len(tables) > 1 and rows[-1]["note"]:
            print(f"temseg: all images together: {rows[-1]['note']}", file=sys.stderr)
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
STATISTICS = ["count", "unit", "mean", "sd", "d10", "d50", "d90", "lognormal_median", "lognormal_gsd",
              "mean_circularity", "border_excluded", "small_share", "note"]


def _statistics(particles) -> dict:
    from ..analysis import size_statistics

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
    from ..evaluation import evaluate_dataset
    from ..models import load_model

    model = load_model(args.model, weights=args.weights)
    given = parse_pixel_size(args.pixel_size) if args.pixel_size is not None else None
    summary = evaluate_dataset(args.data, model, point_per_particle=args.point_per_particle, pixel_size_nm=given,
                               **options_given(args))
    if args.json:
        print(json.dumps(summary))
    else:
        print(
            f"{summary['model']} on {summary['n_images']} images: IoU {summary['iou']:.5f}  "
            f"Dice {summary['dice']:.5f}  F1@0.5 {summary['f1']:.4f}  AP {summary['ap']:.4f}  "
            f"{summary['images_per_s']:.1f} images/s"
        )
    return 0
