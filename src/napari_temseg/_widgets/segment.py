"""Segment particles: image layer + model -> Labels layer with one ID per particle.

For EfficientSAM the widget also takes point prompts from a Points layer (a
`label` feature positive/negative, an optional `object` feature) and, with
"live" on, re-segments as points change: the image embedding is cached, so
only the decoder runs again.
"""

from __future__ import annotations

import numpy as np
from magicgui.widgets import CheckBox, ComboBox, Container, FloatSpinBox, LineEdit, PushButton, SpinBox

from ..errors import TemsegError
from ..instances import SEMANTIC_SPLIT_DEPTH
from ..models import available_models, load_model
from ..prompts import points_to_prompts
from ._layers import layer_picker
from ._runner import WorkerControls

PROMPTED = {"efficientsam-tiny"}
SEMANTIC = ("swin-unet", "vmamba")


def segment_job(data, segmenter, options: dict, is_2d: bool, prompts: dict | None = None):
    """Generator: yields (done, total), returns (uint32 labels shaped like the image less RGB,
    a one-line summary of what was found and decided).

    prompts: {frame (None for 2-D): (N, 4) y, x, label, object}; in prompt mode a
    frame without prompts stays empty.
    """
    from ..segmentation import Segmentation, segment_image, stack_options

    if not is_2d:
        options = stack_options(data, segmenter, options)

    def one(frame, key) -> Segmentation:
        if prompts is None:
            return segment_image(frame, segmenter, **options)
        if key not in prompts:
            return Segmentation(np.zeros(np.asarray(frame).shape[:2], np.uint32), "dark", float("nan"), 1.0)
        return segment_image(frame, segmenter, points=prompts[key], **options)

    if is_2d:
        yield 0, 1
        result = one(np.asarray(data), None)
        yield 1, 1
        return result.labels, result.describe()
    total = data.shape[0]
    out = None
    for t in range(total):
        labels = one(np.asarray(data[t]), t).labels
        if out is None:
            out = np.zeros((total, *labels.shape), np.uint32)
        out[t] = labels
        yield t + 1, total
    diameter = options.get("diameter")
    size = f"diameter {diameter:.1f} px" if isinstance(diameter, float) else "size not measured"
    return out, f"{total} frames; {options.get('polarity')} particles, {size} (decided once for the stack)"


class SegmentWidget(Container):
    """Plugins > napari-temseg > Segment particles."""

    def __init__(self, napari_viewer) -> None:
        super().__init__()
        self.viewer = napari_viewer
        self._models: dict = {}
        self.image = layer_picker(napari_viewer, "image", "image")
        self.model = ComboBox(label="model", choices=available_models(), value="classical")
        # classical
        self.sigma = LineEdit(label="sigma", value="auto", tooltip="Gaussian smoothing in px, or 'auto'")
        self.split_depth = FloatSpinBox(label="split depth", value=0.5, min=0.0, max=5.0, step=0.05)
        # YOLO
        self.conf = FloatSpinBox(label="confidence", value=0.25, min=0.0, max=1.0, step=0.05)
        self.iou = FloatSpinBox(label="NMS IoU", value=0.7, min=0.0, max=1.0, step=0.05)
        self.max_det = SpinBox(label="max particles", value=1000, min=1, max=100000)
        # Swin-UNet, VMamba: foreground probability -> instances
        self.threshold = FloatSpinBox(label="probability threshold", value=0.5, min=0.01, max=0.99, step=0.05)
        self.semantic_split = FloatSpinBox(label="split depth", value=SEMANTIC_SPLIT_DEPTH, min=0.0, max=5.0, step=0.05,
                                           tooltip="how deep a neck must be to split touching particles (px)")
        # EfficientSAM
        self.mode = ComboBox(label="mode", choices=["prompt", "auto", "refine"], value="prompt")
        self.points = layer_picker(napari_viewer, "points", "points")
        self.new_points = PushButton(text="New points layer")
        self.live = CheckBox(text="live update", value=True)
        self.esam_weights = ComboBox(
            label="weights", choices=["default", "sharp"], value="default",
            tooltip="default: shipped weights tuned to the article's labels (edges of a 5 px smoothing), "
                    "or official weights you imported; sharp: edges where the image has them, "
                    "for particles under ~40 px or images cleaner than the article's",
        )
        # shared
        self.polarity = ComboBox(label="particles", choices=["auto", "dark", "bright"], value="auto",
                                 tooltip="auto: decided from the image; dark: bright-field TEM; bright: dark-field/HAADF")
        self.diameter = LineEdit(label="diameter (px)", value="auto",
                                 tooltip="typical particle diameter: auto (measured), none (keep the image's scale), "
                                         "a number of pixels, or e.g. 12nm when the image has a pixel size")
        self.refine_edges = CheckBox(text="refine edges at full resolution", value=True,
                                     tooltip="deep models: re-decide pixels near each particle's edge (edge refiner)")
        self.min_size = SpinBox(label="min size (px)", value=30, min=0, max=100000)
        self.controls = WorkerControls("Run")
        self.panels = {
            "classical": [self.sigma, self.split_depth],
            "yolov8n-seg": [self.conf, self.iou, self.max_det],
            "efficientsam-tiny": [self.esam_weights, self.mode, self.points, self.new_points, self.live],
            **{name: [self.threshold, self.semantic_split] for name in SEMANTIC},
        }
        panel_widgets = list(dict.fromkeys(w for ws in self.panels.values() for w in ws))
        self.extend([self.image, self.model, self.polarity, self.diameter, *panel_widgets, self.refine_edges,
                     self.min_size, self.controls])
        self.controls.run_button.clicked.connect(self.run)
        self.model.changed.connect(self._show_model_options)
        self.new_points.clicked.connect(self.add_points_layer)
        self._watched = None
        self.points.changed.connect(self._watch_points)
        self._show_model_options()

    # -- option panels -----------------------------------------------------------------------

    def _show_model_options(self, *_) -> None:
        shown = self.panels.get(self.model.value, [])
        for widgets in self.panels.values():
            for w in widgets:
                w.visible = w in shown
        self.refine_edges.visible = self.model.value != "classical"

    def options(self) -> dict:
        options = {"min_size": int(self.min_size.value), "polarity": self.polarity.value,
                   "diameter": self.diameter.value.strip() or "auto"}
        if self.model.value != "classical":
            options["refine_edges"] = bool(self.refine_edges.value)
        if self.model.value == "classical":
            sigma = self.sigma.value.strip()
            options.update(sigma=sigma if sigma == "auto" else float(sigma), split_depth=float(self.split_depth.value))
        elif self.model.value == "yolov8n-seg":
            options.update(conf=float(self.conf.value), iou=float(self.iou.value), max_det=int(self.max_det.value))
        elif self.model.value in SEMANTIC:
            options.update(threshold=float(self.threshold.value), split_depth=float(self.semantic_split.value))
        elif self.model.value in PROMPTED:
            options["mode"] = self.mode.value
        return options

    def segmenter(self):
        """The chosen model, built once per widget (keeps EfficientSAM's embedding cache warm)."""
        name = self.model.value
        variant = None  # the default file (shipped, or official weights the user imported)
        if name == "efficientsam-tiny" and self.esam_weights.value != "default":
            variant = self.esam_weights.value
        if (name, variant) not in self._models:
            self._models[name, variant] = load_model(name, weights=variant)
        return self._models[name, variant]

    # -- points ------------------------------------------------------------------------------

    def add_points_layer(self):
        """A Points layer with the features prompts need, in the image's dimensions."""
        image = self.image.value
        ndim = image.ndim if image is not None else 2
        layer = self.viewer.add_points(
            np.empty((0, ndim)), name="prompts", ndim=ndim,
            features={"label": np.array([], dtype=object), "object": np.array([], dtype=float)},
            feature_defaults={"label": "positive", "object": np.nan},
            face_color="label", face_color_cycle=["lime", "red"], size=8,
            scale=image.scale if image is not None else None,
            translate=image.translate if image is not None else None,
        )
        self.points.value = layer
        self.mode.value = "prompt"
        return layer

    def _watch_points(self, *_) -> None:
        if self._watched is not None:
            self._watched.events.data.disconnect(self._on_points_changed)
        self._watched = self.points.value
        if self._watched is not None:
            self._watched.events.data.connect(self._on_points_changed)

    def _on_points_changed(self, *_) -> None:
        if self.live.value and self.mode.value == "prompt" and self.model.value in PROMPTED:
            if self.controls.worker is None and len(self.points.value.data):
                self.run()

    def prompts(self, image_layer) -> dict | None:
        if self.model.value not in PROMPTED or self.mode.value != "prompt":
            return None
        layer = self.points.value
        if layer is None:
            raise TemsegError("prompt mode needs a Points layer: press 'New points layer' and click particles")
        prompts = points_to_prompts(layer.data, layer.features, image_layer.ndim)
        if not prompts:
            raise TemsegError("the Points layer is empty: click at least one particle")
        return prompts

    # -- run ---------------------------------------------------------------------------------

    def run(self):
        """Start segmentation of the chosen layer; returns the worker (tests wait on it)."""
        from napari.utils.notifications import show_error

        layer = self.image.value
        if layer is None:
            show_error("add or open an image layer first")
            return None
        try:
            options = self.options()
            prompts = self.prompts(layer)
            segmenter = self.segmenter()
        except ValueError:
            show_error(f"sigma must be a number or 'auto', not {self.sigma.value!r}")
            return None
        except TemsegError as err:
            show_error(str(err))
            return None
        is_2d = layer.ndim == 2
        name = f"{layer.name} labels"

        def show_labels(result):
            labels, summary = result
            if name in self.viewer.layers:  # live updates replace the previous result
                self.viewer.layers[name].data = labels
            else:
                self.viewer.add_labels(labels, name=name, scale=layer.scale, translate=layer.translate)
            if self.points.value is not None and prompts is not None:
                self.viewer.layers.selection.active = self.points.value
            return summary

        return self.controls.start(segment_job, (layer.data, segmenter, options, is_2d, prompts), show_labels)
