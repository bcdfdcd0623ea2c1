"""Keep triton out of a process where an OpenGL driver has already loaded LLVM.

torchvision (and so ultralytics) imports `torch._dynamo`, which imports triton when it
is installed. triton bundles its own LLVM; Mesa's OpenGL drivers (llvmpipe, radeonsi:
software rendering, VMs, remote desktops, most Linux desktops) load the system's
`libLLVM`. Once a napari viewer has drawn, `import triton` loads the second LLVM into
the same process and it crashes (segmentation fault), taking the viewer and the
user's work with it.

Nothing napari-temseg runs needs triton (it compiles GPU kernels for `torch.compile`).
`install()` puts a finder first on `sys.meta_path` that answers `import triton` with
ModuleNotFoundError, which torch reads as "triton not installed", only when a libLLVM
is mapped into the process at that moment: a command-line run or a script without a
viewer imports triton as usual, and triton imported before any viewer (then the viewer
works) is left alone. TEMSEG_ALLOW_TRITON=1 turns the guard off.
"""

from __future__ import annotations

import importlib.abc
import logging
import os
import sys

log = logging.getLogger(__name__)


def llvm_loaded() -> bool:
    """Whether a libLLVM shared library is mapped into this process (Linux; False elsewhere)."""
    try:
        with open("/proc/self/maps", encoding="utf-8", errors="replace") as maps:
            return any("libLLVM" in line for line in maps)
    except OSError:
        return False


class TritonGuard(importlib.abc.MetaPathFinder):
    """Refuses the top-level `triton` import while a libLLVM is loaded (module docstring)."""

    def find_spec(self, fullname, path=None, target=None):
        if fullname != "triton" or os.environ.get("TEMSEG_ALLOW_TRITON") == "1" or not llvm_loaded():
            return None
        sys.modules["triton"] = None  # later imports and importlib.util.find_spec see "absent" at once
        log.info("napari-temseg: triton not imported, an OpenGL driver's LLVM is loaded (it would crash)")
        raise ModuleNotFoundError("triton is kept out of this process by napari-temseg: an OpenGL driver "
                                  "has loaded LLVM, and triton's own LLVM would crash it", name="triton")


def install() -> None:
    """Put the guard first on `sys.meta_path`, once per process."""
    if not any(isinstance(finder, TritonGuard) for finder in sys.meta_path):
        sys.meta_path.insert(0, TritonGuard())
