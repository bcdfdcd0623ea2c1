"""Every model run through the Segment widget after a viewer has drawn, in a fresh process.

This is the order a user meets: napari starts (Mesa's OpenGL loads LLVM), then a deep
model imports torchvision, which imports triton, whose own LLVM crashed the process
(`triton_guard`). In this test session torch is imported long before any viewer, which
hides the crash, so the check runs in a process of its own.
"""

import os
import subprocess
import sys
import textwrap

import pytest

pytestmark = [pytest.mark.gui, pytest.mark.slow]

SCRIPT = textwrap.dedent(
    """
    import sys, time
    import napari
    import numpy as np
    from qtpy.QtWidgets import QApplication

    viewer = napari.Viewer(show=False)
    from napari_temseg.synth import synth_image

    sample = synth_image(shape=(192, 192), n_particles=8, radius=(9, 14), seed=3)
    layer = viewer.add_image(sample.image, name="micrograph")
    viewer.window._qt_viewer.canvas.native.grabFramebuffer()  # make sure OpenGL has drawn
    assert "torchvision" not in sys.modules and sys.modules.get("triton") is None

    from napari_temseg._widgets.segment import SegmentWidget
    from napari_temseg.models import available_models

    widget = SegmentWidget(viewer)
    viewer.window.add_dock_widget(widget)
    widget.image.value = layer
    for name in available_models():
        widget.model.value = name
        if name == "efficientsam-tiny":
            widget.mode.value = "auto"
        widget.run()
        deadline = time.time() + 240
        while widget.controls.worker is not None and time.time() < deadline:
            QApplication.processEvents()
            time.sleep(0.02)
        QApplication.processEvents()
        labels = [l for l in viewer.layers if l.name.startswith("micrograph") and l is not layer][-1].data
        print("MODEL", name, int(labels.max()), widget.controls.status.value, flush=True)
    print("TRITON", "triton" in sys.modules and sys.modules["triton"] is not None)
    """
)


def test_every_model_runs_through_the_widget_after_the_viewer(tmp_path):
    env = {**os.environ, "TEMSEG_CACHE": str(tmp_path / "cache")}
    run = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=900, env=env)
    assert run.returncode == 0, f"exit {run.returncode}\n{run.stdout[-3000:]}\n{run.stderr[-3000:]}"
    from napari_temseg.models import available_models

    for name in available_models():
        line = next((row for row in run.stdout.splitlines() if row.startswith(f"MODEL {name} ")), None)
        assert line is not None, run.stdout
        count = int(line.split()[2])
        assert 4 <= count <= 14, line  # 8 particles in the image
    assert "TRITON False" in run.stdout
