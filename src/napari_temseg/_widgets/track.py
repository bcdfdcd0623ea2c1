"""Track particles: a (T, Y, X) image layer -> tracked Labels + Tracks layer with the fusion graph."""

from __future__ import annotations

import uuid
from pathlib import Path

import pandas as pd
from magicgui.widgets import CheckBox, ComboBox, Container, FileEdit, LineEdit, SpinBox

from ..errors import TemsegError
from ..io import Video, editable_labels, open_track_dir
from ..io.results import results_layer_metadata
from ..models import available_models
from ..models.options import parse_option
from ..models.specs import DEFAULT_MODEL
from ..tracking import LinkOptions
from ..tracking.lineage import lineage_graph, napari_tracks_data, tracks_table
from ..video import RunSummary, iter_track_video
from ._layers import add_lineage_layer, frame_interval_s, layer_picker, lineage_layers, lossy_codec, pixel_size_nm
from ._options import diameter_edit, polarity_picker, scale_options
from ._runner import WorkerControls


def show_tracks(viewer, labels, events: list[dict], scale, translate, name: str, table=None,
                source: str | Path | None = None, units=None):
    """Add the tracked Labels layer (lazy if `labels` is) and its Tracks layer with the fusion
    graph, tied by a "lineage" token (the review finds one from the other by it), with the review
    decisions saved in folder `source` (a finished run shown again after a review); where the
    same results of folder `source` are shown already, those layers are kept as they are (the
    user's edits and review decisions with them) rather than shown twice.

    table: the tracks table (frame, track_id, y, x) if already at hand, else computed from labels.
    """
    folder = results_layer_metadata(source) if source else {}
    shown = _shown_from(viewer, folder, events)
    if shown is not None:  # kept as they are, but on the video as it is now (its scale corrected since)
        calibration = {key: folder[key] for key in ("pixel_size_nm", "pixel_yx_nm", "frame_interval_s")}
        for layer in (layer for layer in shown if layer is not None):
            layer.scale, layer.translate = scale, translate
            if units is not None:
                layer.units = units
            meta = layer.metadata.get("temseg")
            if meta is not None:  # Review's Save writes these back: the folder's, not the old ones
                layer.metadata = {**layer.metadata, "temseg": {**meta, **calibration}}
        return shown
    _detach_earlier_runs(viewer, source)
    name = _unused_name(viewer, name)
    table = tracks_table(labels) if table is None else table
    tracks = napari_tracks_data(table)
    token = uuid.uuid4().hex
    meta = {"events": events, "lineage": token, **({**folder, "shown": events} if source else {})}
    labels_layer = viewer.add_labels(labels, name=f"{name} tracked", scale=scale, translate=translate, units=units,
                                     metadata={"temseg": meta})
    if not len(table):  # no particle in any frame: no tracks to draw (napari refuses an empty Tracks layer)
        return labels_layer, None
    return labels_layer, add_lineage_layer(viewer, labels_layer, tracks, lineage_graph(events))


def _unused_name(viewer, name: str) -> str:
    """`name`, or "name [2]", "name [3]", ... where another run's layers hold it, so that a
    run's Labels and Tracks layers keep one name between them ("x [2] tracked", "x [2]
    lineage"; napari's own suffix gave "x tracked [1]" and "x tracked [1] lineage")."""
    taken = {layer.name for layer in viewer.layers}
    candidate, k = name, 1
    while f"{candidate} tracked" in taken or f"{candidate} lineage" in taken:
        k += 1
        candidate = f"{name} [{k}]"
    return candidate


def _detach_earlier_runs(viewer, source) -> None:
    """Layers showing an earlier run of folder `source` no longer save there (Review's Save
    would write the earlier labels over this run's results): Save asks them for a folder."""
    if not source:
        return
    for layer in viewer.layers:
        meta = layer.metadata.get("temseg", {})
        if meta.get("source") == str(source):
            layer.metadata = {**layer.metadata, "temseg": {k: v for k, v in meta.items() if k != "source"}}


def _shown_from(viewer, folder: dict, events: list[dict]) -> tuple | None:
    """(tracked Labels, Tracks) layers already showing the results of this run of `folder`
    (`io.results.results_layer_metadata`), if any: the same run (a review saved into the
    folder since keeps it, an overwriting run does not), or for a folder without run IDs the
    same events as were shown (kept under "shown": a review may since have rejected some).
    Results without a particle have no Tracks layer (None)."""
    if not folder:
        return None
    for layer in viewer.layers:
        meta = layer.metadata.get("temseg", {})
        same = meta.get("run") == folder["run"] if folder["run"] else meta.get("shown") == events
        if meta.get("source") == folder["source"] and same and meta.get("lineage"):
            partner = lineage_layers(viewer, layer)
            return layer, (partner[0] if partner else None)
    return None


class TrackWidget(Container):
    """Plugins > napari-temseg > Track particles.

    Runs the chunked, resumable pipeline into a results folder and shows the result as
    editable layers (`io.editable_labels`). A folder holding an earlier run of the same
    video and settings is resumed; one of another run is replaced only when "overwrite" is
    on. Without a chosen folder, results go to napari-temseg's cache, one folder per layer
    name, created when a run starts.
    """

    def __init__(self, napari_viewer) -> None:
        super().__init__()
        self.viewer = napari_viewer
        self.image = layer_picker(napari_viewer, "image", "video (T, Y, X)", ndim=(3,))
        self.model = ComboBox(label="model", choices=available_models(), value=DEFAULT_MODEL)
        self.polarity = polarity_picker()
        self.diameter = diameter_edit()
        self.method = ComboBox(label="method", choices=["link", "propagate"], value="link",
                               tooltip="link: segment every frame, then link; propagate: a prompted model "
                                       "follows each particle from frame to frame")
        self.weights = LineEdit(label="weights", value="", tooltip="a weights file or shipped variant (empty: default)")
        self.model_options = LineEdit(label="options", value="",
                                      tooltip="other model options as on the command line, e.g. sigma=2 conf=0.3")
        defaults = LinkOptions()
        self.fusion_frames = SpinBox(label="fusion after (frames)", value=defaults.fusion_min_frames, min=1, max=100)
        self.max_gap = SpinBox(label="max gap (frames)", value=defaults.max_gap, min=0, max=100)
        self.out_dir = FileEdit(label="results folder", mode="d", value="",
                                tooltip="empty: a folder in napari-temseg's cache, named after the layer")
        self.overwrite = CheckBox(text="overwrite another run in the folder", value=False)
        self.controls = WorkerControls("Track")
        self.extend([self.image, self.model, self.polarity, self.diameter, self.method, self.weights, self.model_options, self.fusion_frames,
                     self.max_gap, self.out_dir, self.overwrite, self.controls])
        self.controls.run_button.clicked.connect(self.run)

    def run_name(self, layer) -> str:
        """What a run of the chosen model and method on `layer` is called: its result layers'
        names, and its default folder's (two models compared on one video get two of each)."""
        method = "" if self.method.value == "link" else f" {self.method.value}"
        return f"{layer.name} {self.model.value}{method}"

    def results_folder(self, layer) -> Path:
        """The folder chosen, else one in the cache named after the run and the layer's data
        (two videos opened under one name, e.g. frames.tif of two experiments, get two folders)."""
        chosen = str(self.out_dir.value).strip()
        if chosen and chosen != ".":
            return Path(chosen)
        from ..models.weights import cache_dir
        from ..video import data_digest

        name = "".join(c if c.isalnum() or c in "-_" else "_" for c in self.run_name(layer))
        return cache_dir() / "tracks" / f"{name}-{data_digest(layer.data)[:8]}"

    def run(self):
        layer = self.image.value
        if layer is None:
            self.controls.fail("open a (T, Y, X) image stack first")
            return None
        try:
            chosen = {k: v for k, v in scale_options(self.polarity, self.diameter, layer).items() if v != "auto"}
            options = {**chosen,
                       **dict(parse_option(text) for text in self.model_options.value.split())}
        except TemsegError as err:
            self.controls.fail(str(err))
            return None
        boxed = {"fusion_min_frames": "fusion after (frames)", "max_gap": "max gap (frames)"}
        typed = [key for key in boxed if key in options]
        if typed:  # the boxes won without a word (and a typed max_gap=-1 went unchecked)
            self.controls.fail(f"set {', '.join(typed)} with the {' and '.join(repr(boxed[k]) for k in typed)} "
                               f"box{'es' if len(typed) > 1 else ''}, not in options")
            return None
        options.update(fusion_min_frames=int(self.fusion_frames.value), max_gap=int(self.max_gap.value))
        codec = lossy_codec(layer)
        video = Video(layer.data, pixel_size_nm(layer), "", frame_interval_s=frame_interval_s(layer),
                      metadata={"lossy_codec": codec} if codec else {})
        out, name = self.results_folder(layer), self.run_name(layer)  # as chosen at Run

        def add_layers(summary: RunSummary):
            _, events = open_track_dir(summary.out)
            table = pd.read_csv(summary.out / "tracks.csv", usecols=["frame", "track_id", "y", "x"])
            show_tracks(self.viewer, editable_labels(summary.out), events, layer.scale, layer.translate, name,
                        table, source=summary.out, units=layer.units[:3])
            skipped = f"; {len(summary.skipped)} blank, unreadable or corrupt frame(s) skipped" if summary.skipped else ""
            resumed = summary.resumed_note()
            decided = f"; {summary.decided}" if summary.decided else ""
            frames = f"{summary.frames} frame{'s' if summary.frames != 1 else ''}"
            return (f"{frames}, {len(events)} fusion(s){resumed}{skipped}{decided}; "
                    f"results in {summary.out}")

        kwargs = dict(model=self.model.value, options=options, overwrite=bool(self.overwrite.value),
                      method=self.method.value, weights=self.weights.value.strip() or None)
        return self.controls.start(_track_job, (video, out, kwargs), add_layers)


def _track_job(video: Video, out: Path, kwargs: dict):
    """`iter_track_video` with keyword arguments, as a job for the worker."""
    return (yield from iter_track_video(video, out, **kwargs))
