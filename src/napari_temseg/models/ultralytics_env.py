"""Make ultralytics work offline and keep its files out of the user's home.

ultralytics reaches for the network on import and on train(): an update check,
usage analytics and crash reports (settings `sync`), a font download (Arial.ttf
into its config dir unless a file is already there) and downloads of named
weights. `ultralytics()` sets the environment before the first import, points
the config dir into the project's cache, supplies the font from matplotlib's
bundled DejaVu Sans, and turns `sync` off. It also switches ultralytics' own
checkpoint loading to its restricted, weights-only mode (`ULTRALYTICS_SAFE_LOAD`),
so that the files ultralytics opens itself during training cannot run code either
(inference never hands it a file: `yolo_weights`). Every use of ultralytics in this
package goes through it.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from ..opencv import opencv

FONT_NAMES = ("Arial.ttf", "Arial.Unicode.ttf")


def config_dir() -> Path:
    """Where ultralytics keeps settings and fonts for napari-temseg (inside our weights cache)."""
    from .weights import cache_dir

    return cache_dir() / "ultralytics"


def _install_fonts(folder: Path) -> None:
    import matplotlib

    source = Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf"
    folder.mkdir(parents=True, exist_ok=True)
    for name in FONT_NAMES:
        target = folder / name
        if not target.exists():
            shutil.copyfile(source, target)


def ultralytics():
    """Import ultralytics with offline-safe settings; returns the module."""
    os.environ.setdefault("YOLO_OFFLINE", "1")
    os.environ.setdefault("YOLO_AUTOINSTALL", "false")
    os.environ.setdefault("YOLO_VERBOSE", "false")
    os.environ.setdefault("YOLO_CONFIG_DIR", str(config_dir()))
    os.environ["ULTRALYTICS_SAFE_LOAD"] = "1"
    _install_fonts(Path(os.environ["YOLO_CONFIG_DIR"]) / "Ultralytics")
    opencv()  # ultralytics imports cv2: first here, where the Qt environment is kept
    import ultralytics as ul
    from ultralytics.nn import tasks
    from ultralytics.utils import SETTINGS, USER_CONFIG_DIR

    if hasattr(tasks, "SAFE_LOAD"):
        tasks.SAFE_LOAD = True  # read at ultralytics' import: also when it was imported before us

    _install_fonts(Path(USER_CONFIG_DIR))  # also when ultralytics was imported before us
    if SETTINGS.get("sync", True):
        SETTINGS.update(sync=False)
    return ul
