"""Import OpenCV without letting it redirect Qt.

The opencv-python wheels (which ultralytics requires) point QT_QPA_PLATFORM_PLUGIN_PATH
and QT_QPA_FONTDIR at their own bundled Qt when imported. Imported before napari starts
its Qt application, that sends napari's Qt to plugins of another Qt build. Every import
of cv2 in this package goes through `opencv()`, which puts those variables back (where
other code imported cv2 first, its values stay: the old ones are not known here).
"""

from __future__ import annotations

import os
import threading
from functools import cache

_QT_VARIABLES = ("QT_QPA_PLATFORM_PLUGIN_PATH", "QT_QPA_FONTDIR")
_IMPORTING = threading.Lock()  # a second thread would save the values cv2 had just set


@cache
def opencv():
    """The cv2 module, imported with the Qt environment left as it was."""
    with _IMPORTING:
        before = {name: os.environ.get(name) for name in _QT_VARIABLES}
        try:
            import cv2
        finally:
            for name, value in before.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value
    return cv2
