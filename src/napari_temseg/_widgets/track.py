"""Track particles: a (T, Y, X) image layer -> tracked Labels + Tracks layer with the fusion graph."""

from __future__ import annotations

import numpy as np
from magicgui.widgets import ComboBox, Container, SpinBox

from ..models import available_models
from ..tracking import TrackResult, iter_track
from ..tracking.lineage import lineage_graph, napari_tracks_data, tracks_table
from ._layers import layer_picker
from ._runner import WorkerControls


def track_job(data, model: str, options: dict):
    """Generator: yields (done, total), returns a TrackResult."""
    total = data.shape[0]
    out, linker = None, None
    for t, tracked, linker in iter_track(data, model, "link", **options):
        if out is None:
            out = np.zeros((total, *tracked.shape), np.uint32)
        out[t] = tracked
        yield t + 1, total
    return TrackResult(out, tracks_table(out), list(linker.events))


def show_tracks(viewer, labels, events: list[dict], scale, translate, name: str, layers=None):
    """Add (or refresh) the tracked Labels layer and its Tracks layer; returns both."""
    meta = {"temseg": {"events": events}}
    table = tracks_table(labels)
    data = napari_tracks_data(table)
    if layers is None:
        lab = viewer.add_labels(labels, name=f"{name} tracked", scale=scale, translate=translate, metadata=meta)
        trk = viewer.add_tracks(
            data, graph=lineage_graph(events), name=f"{name} lineage", scale=scale, translate=translate
        )
        return lab, trk
    lab, trk = layers
    lab.data = labels
    lab.metadata = meta
    trk.data = data
    trk.graph = lineage_graph(events)
    return lab, trk


class TrackWidget(Container):
    """Plugins > napari-temseg > Track particles."""

    def __init__(self, napari_viewer) -> None:
        super().__init__()
        self.viewer = napari_viewer
        self.image = layer_picker(napari_viewer, "image", "video (T, Y, X)", ndim=(3,))
        self.model = ComboBox(label="model", choices=available_models(), value="classical")
        self.fusion_frames = SpinBox(label="fusion after (frames)", value=6, min=1, max=100)
        self.max_gap = SpinBox(label="max gap (frames)", value=3, min=0, max=100)
        self.controls = WorkerControls("Track")
        self.extend([self.image, self.model, self.fusion_frames, self.max_gap, self.controls])
        self.controls.run_button.clicked.connect(self.run)
        self.result: TrackResult | None = None

    def run(self):
        from napari.utils.notifications import show_error

        layer = self.image.value
        if layer is None:
            show_error("open a (T, Y, X) image stack first")
            return None
        options = {"fusion_min_frames": int(self.fusion_frames.value), "max_gap": int(self.max_gap.value)}

        def add_layers(result: TrackResult):
            self.result = result
            show_tracks(self.viewer, result.labels, result.events, layer.scale, layer.translate, layer.name)

        return self.controls.start(track_job, (layer.data, self.model.value, options), add_layers)
