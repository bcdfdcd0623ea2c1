"""Replacing a folder of results (a zarr store, an export) so that a run stopped halfway never
leaves a mix of old and new files, or neither."""

from __future__ import annotations

import os
import shutil
from pathlib import Path


def writing_name(final: Path) -> Path:
    """Where the new contents of folder `final` are written before `replace_folder` moves them."""
    return final.with_name(final.name + ".writing")


def old_name(final: Path) -> Path:
    """Where `replace_folder` keeps the folder it replaces until the new one is in place."""
    return final.with_name(final.name + ".old")


def recover_folder(final: Path) -> None:
    """Put back the whole previous folder where `replace_folder` stopped between its renames."""
    old = old_name(final)
    if old.exists() and not final.exists():
        os.replace(old, final)


def replace_folder(written: Path, final: Path) -> None:
    """Put folder `written` in the place of `final` by renames: the old folder stays whole
    until the new one is complete, and is removed after."""
    recover_folder(final)
    old = old_name(final)
    if old.exists():
        shutil.rmtree(old)
    if final.exists():
        os.replace(final, old)
    os.replace(written, final)
    shutil.rmtree(old, ignore_errors=True)
