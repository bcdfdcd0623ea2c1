"""Segment particles: image layer + model -> Labels layer with one ID per particle.

Each run makes a layer named "<image> <model>" (a number added when one exists, unless
"replace" is on), so models can be compared side by side and edits are never
overwritten. For a prompted model (EfficientSAM) the widget takes point prompts from a
Points layer (a `label` feature positive/negative, an optional `object` feature): with
"live" on, every completed add/move/delete re-segments; events that arrive while a run
is busy are coalesced into one more run with the latest points; the image embedding is
cached, so only the decoder runs again. New points are positive or negative as the
widget says; Shift-click adds a negative one. The model is built in the worker, so the
viewer never freezes while weights load.
"""

from __future__ import annotations

import numpy as np
from magicgui.widgets import CheckBox, ComboBox, Container, PushButton

from ..errors import TemsegError
from ..models import available_models, load_model
from ..models import weights as weight_files
from ..models.specs import DEFAULT_MODEL, SPECS
from ..prompts import points_to_prompts
from ._layers import layer_picker, lossy_codec
from ._options import OptionsPanel, diameter_edit, polarity_picker, scale_options
from ._runner import WorkerControls

#: Options a prompted model takes from the Points layer, not from its panel.
PROMPT_OPTIONS = ("mode", "points", "boxes")
#: Prompt colours by meaning, whatever order points are added in.
PROMPT_COLOURS = {"positive": "lime", "negative": "red"}


def segment_job(data, get_segmenter, options: dict, is_2d: bool, prompts: dict | None = None, lossy: bool = False):
    """Generator: yields (done, total), returns (uint32 labels shaped like the image less RGB,
    a one-line summary of what was found and decided, the boxes of burned-in marks left
    out: `Segmentation.annotations`, for a stack those most of its frames share, and the
    length in px of the image's scale bar, or of a stack's first readable frame:
    `annotations.scale_bar_length`, or None).

    get_segmenter: called here, in the worker (building a model loads its weights).
    prompts: {frame (None for 2-D): (N, 4) y, x, label, object}; in prompt mode a
    frame without prompts stays empty.
    lossy: the stack is a movie in a lossy codec (our reader says so): its still marks are
    left out of every frame, as `temseg track` does (`with_stack_marks`).
    """
    from ..annotations import scale_bar_length
    from ..preprocess import first_readable_frame
    from ..segmentation import (
        Segmentation,
        common_marks,
        describe_stack_options,
        segment_image,
        stack_options,
        with_stack_marks,
    )

    segmenter = get_segmenter()
    asked = options
    if not is_2d:
        if lossy:  # else its marks are flat, and each frame finds its own
            options, _ = with_stack_marks(data, options, lossy=True)
        options = stack_options(data, segmenter, options)

    def one(frame, key) -> Segmentation:
        if prompts is None:
            return segment_image(frame, segmenter, **options)
        if key not in prompts:
            return Segmentation(np.zeros(np.asarray(frame).shape[:2], np.uint32), "dark", float("nan"), 1.0)
        return segment_image(frame, segmenter, points=prompts[key], **options)

    if is_2d:
        yield 0, 1
        image = np.asarray(data)
        result = one(image, None)
        yield 1, 1
        return result.labels, result.describe(), result.annotations, scale_bar_length(image)
    total = data.shape[0]
    out = None
    found, blank = [], 0
    for t in range(total):
        result = one(np.asarray(data[t]), t)
        if out is None:
            out = np.zeros((total, *result.labels.shape), np.uint32)
        out[t] = result.labels
        found.append(result.annotations)
        blank += result.blank
        yield t + 1, total
    readable = first_readable_frame(data)
    bar = scale_bar_length(readable) if readable is not None else None
    frames = f"{total} frame{'' if total == 1 else 's'}"
    if blank == total:
        return out, f"{frames}, all blank (one grey level): nothing to segment", common_marks(found), bar
    blanks = f" ({blank} blank: nothing to segment there)" if blank else ""
    return out, f"{frames}{blanks}; {describe_stack_options(options, asked)}", common_marks(found), bar


class SegmentWidget(Container):
    """Plugins > napari-temseg > Segment particles.

    Each model's options come from its spec (`models.specs`) as a generated panel; a
    prompted model also gets a mode, a Points layer and live updates; a model with
    shipped weight variants gets a weights choice."""

    def __init__(self, napari_viewer) -> None:
        super().__init__()
        self.viewer = napari_viewer
        self._models: dict = {}
        self.image = layer_picker(napari_viewer, "image", "image", ndim=(2, 3))  # an image or a T, Y, X stack
        self.model = ComboBox(label="model", choices=available_models(), value=DEFAULT_MODEL)
        self.polarity = polarity_picker()
        self.diameter = diameter_edit()
        self.edges = ComboBox(label="edges", choices=[("auto", "auto"), ("midpoint", 0.5), ("outer rim", 0.2)],
                              value="auto", tooltip="where particle edges are drawn: midpoint between support and "
                                                    "particle (bright-field), outer rim (dark-field: brightness tapers "
                                                    "with thickness), or auto: by the particles' polarity")
        self.faint = ComboBox(label="faint pieces", choices=[("drop", "auto"), ("keep", 0.0)], value="auto",
                              tooltip="drop: a particle must somewhere be clearly darker than the support's own "
                                      "grain and noise (as the classical model requires), and stand out from the "
                                      "pixels around it by more than their noise could; keep: all the model draws "
                                      "(the classical model's own seed_depth still applies: 0 in its options)")
        self.small = ComboBox(label="own contrast", choices=[("auto", "auto"), ("small particles", "small"),
                                                              ("faint particles", "faint"), ("both", True),
                                                              ("as drawn", False)],
                              value="auto", tooltip="small particles: in an image of small particles (radius up to "
                                                    "12 px), each is drawn again at 0.4 of the way from the support "
                                                    "around it to its own core, and faint ones the model missed are "
                                                    "added; faint particles: elsewhere, particles much fainter than "
                                                    "the others are grown out to that level; as drawn: as the model "
                                                    "drew them; auto: small particles in single images, faint "
                                                    "particles in time stacks")
        self.df_look = ComboBox(label="dark-field look", choices=[("auto", "auto"), ("as it is", 0.0),
                                                                  ("bright-field", 2.0)], value="auto",
                                tooltip="bright particles: shown to the model as it is, or with the look of a "
                                        "bright-field image (faint thin particles as dark as thick ones); auto: "
                                        "bright-field for models trained without dark-field images")
        self.panels = {name: OptionsPanel(SPECS[name].options, skip=PROMPT_OPTIONS) for name in available_models()}
        # prompted models: how they are prompted
        self.mode = ComboBox(label="mode", choices=["prompt", "auto", "grid", "refine"], value="prompt",
                             tooltip="prompt: points you click; auto: one prompt per particle a detector finds; "
                                     "grid: a grid of points; refine: the detector's boxes")
        self.points = layer_picker(napari_viewer, "points", "points")
        self.new_points = PushButton(text="New points layer")
        self.point_label = ComboBox(label="next point", choices=["positive", "negative"], value="positive",
                                    tooltip="the label of points you add (Shift-click adds a negative one)")
        self.live = CheckBox(text="live update", value=True)
        self.prompt_widgets = [self.mode, self.points, self.new_points, self.point_label, self.live]
        self.weights = ComboBox(label="weights", choices=self._weight_choices, value="default",
                                tooltip="default: the shipped weights (or official ones you imported); "
                                        "the others are shipped variants (see the model's card in docs/)")
        self.replace = CheckBox(text="replace the previous result", value=False,
                                tooltip="off: every run makes a new layer, so results (and your edits) are kept")
        self.controls = WorkerControls("Run")
        self.extend([self.image, self.model, self.polarity, self.diameter, self.edges, self.faint, self.small,
                     self.df_look, self.weights,
                     *self.panels.values(),
                     *self.prompt_widgets, self.replace, self.controls])
        self._live = None  # (image layer, result layer) of the live prompting session
        self._rerun = False  # points changed while a run was busy
        self.controls.when_idle.append(self._run_again_if_needed)
        self.point_label.changed.connect(self._set_point_label)
        self.controls.run_button.clicked.connect(self.run)
        self.model.changed.connect(self._show_model_options)
        self.new_points.clicked.connect(self.add_points_layer)
        self._watched = None
        self.points.changed.connect(self._watch_points)
        self._show_model_options()

    # -- option panels -----------------------------------------------------------------------

    @property
    def prompted(self) -> bool:
        return SPECS[self.model.value].prompted

    def _weight_choices(self, *_) -> list[str]:
        """'default' and the chosen model's shipped weight variants (a callable, so that
        napari's reset of a dock's choices keeps them)."""
        model = getattr(self, "model", None)
        name = model.value if model is not None else None
        entry = weight_files.registered().get(name)
        return ["default", *(entry.variants if entry else ())]

    def option(self, name: str):
        """The widget of option `name` of the chosen model."""
        return self.panels[self.model.value][name]

    def _show_model_options(self, *_) -> None:
        for name, panel in self.panels.items():
            panel.visible = name == self.model.value
        for w in self.prompt_widgets:
            w.visible = self.prompted
        self.weights.reset_choices()
        self.weights.value = "default"
        self.weights.visible = len(self.weights.choices) > 1

    def options(self) -> dict:
        """The chosen model's options that differ from its defaults, and the appearance options."""
        options = {**scale_options(self.polarity, self.diameter, self.image.value),
                   "edge_level": self.edges.value, "min_depth": self.faint.value,
                   "min_significance": self.faint.value, "local_edges": self.small.value,
                   "df_absorption": self.df_look.value, **self.panels[self.model.value].values()}
        if self.prompted:
            options["mode"] = self.mode.value
        return options

    def chosen_model(self) -> tuple[str, str | None]:
        """(model name, weights variant or None for the default) as the dock shows them now."""
        return self.model.value, None if self.weights.value == "default" else self.weights.value

    def segmenter(self, chosen: tuple[str, str | None] | None = None):
        """The `chosen` model (default: the dock's), built once per widget (keeps EfficientSAM's
        embedding cache warm); called in the worker, so loading never freezes the viewer."""
        name, variant = chosen or self.chosen_model()
        if (name, variant) not in self._models:
            self._models[name, variant] = load_model(name, weights=variant)
        return self._models[name, variant]

    # -- points ------------------------------------------------------------------------------

    def add_points_layer(self):
        """A Points layer with the features prompts need, in the image's dimensions, in add mode."""
        image = self.image.value
        ndim = image.ndim if image is not None else 2
        layer = self.viewer.add_points(
            np.empty((0, ndim)), name="prompts", ndim=ndim,
            features={"label": np.array([], dtype=object), "object": np.array([], dtype=float)},
            feature_defaults={"label": self.point_label.value, "object": np.nan},
            face_color="label", face_color_cycle=PROMPT_COLOURS, size=8,
            scale=image.scale if image is not None else None,
            translate=image.translate if image is not None else None,
            units=image.units if image is not None else None,  # napari drops units when layers disagree
        )
        self.points.value = layer
        self.mode.value = "prompt"
        layer.mode = "add"
        return layer

    def _set_point_label(self, *_) -> None:
        if self.points.value is not None:
            self.points.value.feature_defaults["label"] = self.point_label.value

    def _shift_for_negative(self, layer, event):
        """Before napari adds a clicked point: negative while Shift is held, else the widget's choice."""
        if layer.mode == "add":
            layer.feature_defaults["label"] = "negative" if "Shift" in event.modifiers else self.point_label.value
        yield

    def _watch_points(self, *_) -> None:
        if self._watched is not None:
            self._watched.events.data.disconnect(self._on_points_changed)
            if self._shift_for_negative in self._watched.mouse_drag_callbacks:
                self._watched.mouse_drag_callbacks.remove(self._shift_for_negative)
        self._watched = self.points.value
        if self._watched is not None:
            self._watched.events.data.connect(self._on_points_changed)
            self._watched.mouse_drag_callbacks.insert(0, self._shift_for_negative)

    def _on_points_changed(self, event=None) -> None:
        """Re-segment after every completed add/move/delete; while a run is busy, remember to
        run once more when it ends (the latest points win)."""
        if getattr(event, "action", None) in ("adding", "changing", "removing"):
            return  # the points are not stored yet: wait for the event that follows
        if not (self.live.value and self.mode.value == "prompt" and self.prompted):
            return
        if self.controls.worker is not None:
            self._rerun = True
        else:
            self.run(live=True)

    def _run_again_if_needed(self) -> None:
        if self._rerun:
            self._rerun = False
            self.run(live=True)

    def prompts(self, image_layer) -> dict | None:
        """Prompts per frame from the Points layer ({} when none lies on the image); points
        outside the image are left out (said in the status line) rather than failing every
        later click."""
        if not self.prompted or self.mode.value != "prompt":
            return None
        layer = self.points.value
        if layer is None:
            raise TemsegError("prompt mode needs a Points layer: press 'New points layer' and click particles")
        data, features = image_pixels(layer, image_layer), layer.features
        spatial = image_layer.data.shape[:-1] if image_layer.rgb else image_layer.data.shape
        inside = np.all((data[:, -2:] >= 0) & (data[:, -2:] < np.array(spatial[-2:])), axis=1)
        self._outside = int((~inside).sum())
        return points_to_prompts(data[inside], features[inside].reset_index(drop=True), image_layer.ndim)

    # -- run ---------------------------------------------------------------------------------

    def result_layer_name(self, image_name: str) -> str:
        """"<image> <model>", numbered when such a layer exists; to be replaced: the latest of
        them (the first was replaced, which may be the one the user edited by hand)."""
        base = f"{image_name} {self.model.value}"
        if base not in self.viewer.layers:
            return base
        k = 2
        while f"{base} [{k}]" in self.viewer.layers:
            k += 1
        if self.replace.value:
            return base if k == 2 else f"{base} [{k - 1}]"
        return f"{base} [{k}]"

    def run(self, live: bool = False):
        """Start segmentation of the chosen layer; returns the worker (tests wait on it).
        live: a re-run for changed prompts, which updates the layer of the live session."""
        layer = self.image.value
        if layer is None:
            self.controls.fail("add or open an image layer first")
            return None
        self._outside = 0
        reuse = live and self._live is not None and self._live[0] is layer and self._live[1] in self.viewer.layers
        try:
            options = self.options()
            prompts = self.prompts(layer)
            if prompts == {} and not reuse:
                raise TemsegError("no points on the image: click at least one particle")
        except TemsegError as err:
            self.controls.fail(str(err))
            return None
        if prompts == {}:  # the live session's last point deleted (or moved off): its result goes with it
            self._live[1].data = np.zeros_like(self._live[1].data)
            self.controls.status.value = "no point left on the image: the result layer is empty"
            return None
        is_2d = layer.ndim == 2
        name = self._live[1].name if reuse else self.result_layer_name(layer.name)
        outside = self._outside

        def show_labels(result):
            labels, summary, marks, bar = result
            if name in self.viewer.layers:
                self.viewer.layers[name].data = labels
            else:
                self.viewer.add_labels(labels, name=name, scale=layer.scale, translate=layer.translate,
                                       units=layer.units[-labels.ndim:])
            shown = self.viewer.layers[name]  # the Measurements dock flags particles the marks cut, sizes by the bar
            shown.metadata = {**shown.metadata, "temseg": {**shown.metadata.get("temseg", {}), "scale_bar_px": bar,
                                                           "annotations": [list(box) for box in marks]}}
            if prompts is not None:
                self._live = (layer, self.viewer.layers[name])
                if self.points.value is not None:
                    self.viewer.layers.selection.active = self.points.value
            return summary + (f"; {outside} point(s) outside the image left out" if outside else "")

        # the model is fixed now, as the layer's name and the options are: a job that waits for a
        # free thread must not build whatever the dock shows when it starts
        chosen = self.chosen_model()
        return self.controls.start(segment_job, (layer.data, lambda: self.segmenter(chosen), options, is_2d, prompts,
                                                 bool(lossy_codec(layer))), show_labels)


def image_pixels(points_layer, image_layer) -> np.ndarray:
    """The points' positions in the image's pixels (through world coordinates: the two layers
    may have different scales and offsets). Points of another dimensionality are left as
    they are (`points_to_prompts` says what to do about them)."""
    data = np.asarray(points_layer.data, dtype=float)
    if len(data) == 0 or data.shape[1] != image_layer.ndim:
        return data
    return np.array([image_layer.world_to_data(points_layer.data_to_world(point)) for point in data], dtype=float)
