"""The triton guard: triton stays out only while an OpenGL driver's LLVM is loaded."""

import importlib.util
import os
import subprocess
import sys
import textwrap

import pytest

SCRIPT = textwrap.dedent(
    """
    import sys
    from napari_temseg import triton_guard
    triton_guard.llvm_loaded = lambda: LOADED  # as after a napari viewer has drawn with Mesa
    import torchvision, torch
    print("NMS", torchvision.ops.nms(torch.tensor([[0, 0, 1, 1.0]]), torch.tensor([1.0]), 0.5).tolist())
    print("TRITON", sys.modules.get("triton") is not None)
    """
)


def run(loaded: bool, env: dict | None = None) -> str:
    result = subprocess.run([sys.executable, "-c", SCRIPT.replace("LOADED", str(loaded))], capture_output=True,
                            text=True, timeout=300, env=env)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "NMS [0]" in result.stdout  # torchvision works without triton
    return result.stdout


needs_triton = pytest.mark.skipif(
    importlib.util.find_spec("triton") is None, reason="triton is not installed (it comes with CUDA builds of torch)"
)


def test_triton_blocked_while_llvm_is_loaded():
    assert "TRITON False" in run(True)


@needs_triton
def test_triton_imported_as_usual_without_llvm():
    assert "TRITON True" in run(False)


@needs_triton
def test_guard_can_be_turned_off():
    assert "TRITON True" in run(True, {**os.environ, "TEMSEG_ALLOW_TRITON": "1"})
