"""`temseg weights`, `temseg models`, `temseg bench` and `temseg bench-video`: what is
installed, what each model takes, and how fast it runs."""

from __future__ import annotations

import argparse
import shutil

from ..errors import TemsegError
from ..models.weights import EDGE_REFINER


def cmd_weights(args: argparse.Namespace) -> int:
    from ..models import weights

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
    from ..models import load_model
    from ..models.edge_refiner import read_refiner
    from ..models.specs import SPECS
    from ..models.yolo_weights import convert

    check = read_refiner if args.model == EDGE_REFINER else (lambda p: load_model(args.model, weights=p))
    # YOLO files are rewritten as tensors only, so that no later run unpickles an object
    write = convert if SPECS.get(args.model) and SPECS[args.model].builder.startswith("yolo:") else shutil.copyfile
    target = weights.import_file(args.model, args.file, check, write)
    user = "every deep model's edge refinement" if args.model == EDGE_REFINER else f"`load_model({args.model!r})`"
    print(f"imported {args.file} as {target}; {user} now uses it")
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    from ..bench import markdown_table, run_bench, write_rows

    models = [m for item in args.models.split(",") for m in [item.strip()] if m]
    rows = run_bench(models, args.data, args.device, args.repeats)
    print(markdown_table(rows))
    if args.out:
        print(f"written {write_rows(rows, args.out)}")
    return 0


def cmd_bench_video(args: argparse.Namespace) -> int:
    from ..bench_video import bench_video

    rows = bench_video(args.frames, args.size, args.model)
    if args.out:
        import pandas as pd

        pd.DataFrame(rows).to_csv(args.out, index=False)
        print(f"written {args.out}")
    return 0


def cmd_models(args: argparse.Namespace) -> int:
    """The models available here; with a name, its options (-o KEY=VALUE) with defaults."""
    from ..models import available_models
    from ..segmentation import model_options

    if not args.model:
        print("\n".join(available_models()))
        return 0
    for name, (default, meaning) in model_options(args.model).items():
        flag = " (on the command line: --pixel-size)" if name == "pixel_size_nm" else ""
        print(f"{name}={default}: {meaning}{flag}")
    return 0
