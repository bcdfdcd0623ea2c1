"""Segment particles: image layer + model -> Labels layer with one ID per particle."""

from __future__ import annotations

import numpy as np
from magicgui.widgets import ComboBox, Container, FloatSpinBox, LineEdit, SpinBox

from ..models import available_models
from ..segmentation import iter_segment_frames, segment
from ._layers import layer_picker
from ._runner import WorkerControls


def segment_job(data, model: str, options: dict, is_2d: bool):
    """Generator: yields (done, total), returns uint32 labels shaped like the image (less RGB)."""
    if is_2d:
        yield 0, 1
        labels = segment(np.asarray(data), model, **options)
        yield 1, 1
        return labels
    total = data.shape[0]
    out = None
    for t, labels in iter_segment_frames(data, model, **options):
        if out is None:
            out = np.zeros((total, *labels.shape), np.uint32)
        out[t] = labels
        yield t + 1, total
    return out


class SegmentWidget(Container):
    """Plugins > napari-temseg > Segment particles."""

    def __init__(self, napari_viewer) -> None:
        super().__init__()
        self.viewer = napari_viewer
        self.image = layer_picker(napari_viewer, "image", "image")
        self.model = ComboBox(label="model", choices=available_models(), value="classical")
        self.sigma = LineEdit(label="sigma", value="auto", tooltip="Gaussian smoothing in px, or 'auto'")
        self.polarity = ComboBox(label="particles", choices=["dark", "bright", "auto"], value="dark")
        self.min_size = SpinBox(label="min size (px)", value=30, min=0, max=100000)
        self.split_depth = FloatSpinBox(label="split depth", value=0.5, min=0.0, max=5.0, step=0.05)
        self.controls = WorkerControls("Run")
        self.extend([self.image, self.model, self.sigma, self.polarity, self.min_size, self.split_depth, self.controls])
        self.controls.run_button.clicked.connect(self.run)

    def options(self) -> dict:
        sigma = self.sigma.value.strip()
        return {
            "sigma": sigma if sigma == "auto" else float(sigma),
            "polarity": self.polarity.value,
            "min_size": int(self.min_size.value),
            "split_depth": float(self.split_depth.value),
        }

    def run(self):
        """Start segmentation of the chosen layer; returns the worker (tests wait on it)."""
        from napari.utils.notifications import show_error

        layer = self.image.value
        if layer is None:
            show_error("add or open an image layer first")
            return None
        try:
            options = self.options()
        except ValueError:
            show_error(f"sigma must be a number or 'auto', not {self.sigma.value!r}")
            return None
        is_2d = layer.ndim == 2

        def add_labels(labels):
            self.viewer.add_labels(
                labels, name=f"{layer.name} labels", scale=layer.scale, translate=layer.translate
            )

        return self.controls.start(segment_job, (layer.data, self.model.value, options, is_2d), add_labels)
