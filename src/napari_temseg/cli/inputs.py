"""What `temseg segment` reads and where its results go: input files and folders, distinct
output names, and the prompts of a points CSV."""

from __future__ import annotations

import os
import sys
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from ..errors import TemsegError

#: Files `temseg segment` writes, skipped when a folder is read as input (an --out that is
#: also an input folder must not feed a run its own results).
OUTPUT_SUFFIX = "_labels"
SIZE_PLOT = "size_distribution.png"


def _is_own_output(path: Path) -> bool:
    return path.stem.endswith(OUTPUT_SUFFIX) or path.name == SIZE_PLOT


#: Image formats a micrograph may come in that are not read (said where a folder holds them).
UNREAD_IMAGE_SUFFIXES = (".gif", ".webp", ".jp2", ".heic", ".svg")


def input_files(inputs: Sequence[str], out: str | None = None) -> list[Path]:
    from ..io import IMAGE_SUFFIXES, TEM_FORMATS
    from ..io.images import natural_key

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


def relative(path: Path) -> str:
    """`path` relative to the working folder where it can be (not across Windows drives)."""
    try:
        return os.path.relpath(path)
    except ValueError:
        return str(path)


def output_folder(path: str) -> Path:
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
    """A distinct output stem per input: its own stem, or where stems repeat the folders
    that tell them apart before it (dup1/x.tif and dup2/x.tif give dup1_x and dup2_x;
    a/images/x.tif and b/images/x.tif give a_images_x and b_images_x, where the parent
    alone gave images_x and images_x_2) or, in one folder, stem_extension (a.emd and
    a.hspy give a_emd and a_hspy), numbered if that still repeats."""
    stems = [image_stem(f) for f in files]
    groups: dict[str, list[Path]] = {}
    for f, stem in zip(files, stems, strict=True):
        groups.setdefault(stem, []).append(f)
    folder_names = {stem: _telling_folders([g.parent for g in same]) for stem, same in groups.items()
                    if len(same) > 1 and len({g.parent for g in same}) == len(same)}
    names: dict[Path, str] = {}
    taken: set[str] = set()
    for f, stem in zip(files, stems, strict=True):
        if len(groups[stem]) == 1:
            name = stem
        elif stem in folder_names:
            name = "_".join(part for part in (folder_names[stem][f.parent], stem) if part)
        else:
            name = f"{stem}_{f.suffix.lstrip('.').lower()}"
        base, k = name, 2
        while name in taken:
            name, k = f"{base}_{k}", k + 1
        taken.add(name)
        names[f] = name
    return names


def _telling_folders(folders: list[Path]) -> dict[Path, str]:
    """For distinct folders (as given: `input_files` resolved them), the last names of each
    one's path, as few as tell it from all the others, joined by "_". A drive or share is
    no folder name (C: would make the name a path outside --out): where only it tells two
    apart, their names repeat and `output_names` numbers them."""
    names = {folder: [p.name for p in reversed([folder, *folder.parents]) if p.name] for folder in folders}
    told: dict[Path, str] = {}
    for k in range(1, max(map(len, names.values()), default=0) + 1):
        tails = Counter(tuple(parts[-k:]) for parts in names.values())
        for folder, parts in names.items():
            if folder not in told and (tails[tuple(parts[-k:])] == 1 or k >= len(parts)):
                told[folder] = "_".join(parts[-k:])
    return {folder: told.get(folder, "") for folder in folders}


def label_codes(values, source: str):
    """1/0 point labels from 1/0, true/false or positive/negative, with the row of a bad one."""
    from ..prompts import label_code

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
