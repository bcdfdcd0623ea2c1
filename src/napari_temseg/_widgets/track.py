"""Track particles: a (T, Y, X) image layer -> tracked Labels + Tracks layer with the fusion graph."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pandas as pd
from magicgui.widgets import ComboBox, Container, FileEdit, SpinBox

from ..io import Video, open_track_dir
from ..models import available_models
from ..models.specs import DEFAULT_MODEL
from ..tracking.lineage import lineage_graph, napari_tracks_data, tracks_table
from ..video import RunSummary, iter_track_video
from ._layers import layer_picker
from ._runner import WorkerControls


def show_tracks(viewer, labels, events: list[dict], scale, translate, name: str, table=None):
    """Add the tracked Labels layer (lazy if `labels` is) and its Tracks layer with the fusion graph.

    table: the tracks table (frame, track_id, y, x) if already at hand, else computed from labels.
    """
    table = tracks_table(labels) if table is None else table
    labels_layer = viewer.add_labels(
        labels, name=f"{name} tracked", scale=scale, translate=translate, metadata={"temseg": {"events": events}}
    )
    tracks_layer = viewer.add_tracks(
        napari_tracks_data(table), graph=lineage_graph(events), name=f"{name} lineage",
        scale=scale, translate=translate,
    )
    return labels_layer, tracks_layer


class TrackWidget(Container):
    """Plugins > napari-temseg > Track particles.

    Runs the chunked, resumable pipeline into a results folder (a temporary one by
    default) and shows the result lazily from its zarr store, so long or lazy
    (dask) videos are never loaded whole.
    """

    def __init__(self, napari_viewer) -> None:
        super().__init__()
        self.viewer = napari_viewer
        self.image = layer_picker(napari_viewer, "image", "video (T, Y, X)", ndim=(3,))
        self.model = ComboBox(label="model", choices=available_models(), value=DEFAULT_MODEL)
        self.fusion_frames = SpinBox(label="fusion after (frames)", value=6, min=1, max=100)
        self.max_gap = SpinBox(label="max gap (frames)", value=3, min=0, max=100)
        self.out_dir = FileEdit(label="results folder", mode="d", value=tempfile.mkdtemp(prefix="temseg-"))
        self.controls = WorkerControls("Track")
        self.extend([self.image, self.model, self.fusion_frames, self.max_gap, self.out_dir, self.controls])
        self.controls.run_button.clicked.connect(self.run)

    def run(self):
        from napari.utils.notifications import show_error

        layer = self.image.value
        if layer is None:
            show_error("open a (T, Y, X) image stack first")
            return None
        options = {"fusion_min_frames": int(self.fusion_frames.value), "max_gap": int(self.max_gap.value)}
        pixel = float(layer.scale[-1]) if layer.scale[-1] != 1 else None
        video = Video(layer.data, pixel, "")
        out = Path(self.out_dir.value)

        def add_layers(summary: RunSummary):
            labels, events = open_track_dir(summary.out)
            table = pd.read_csv(summary.out / "tracks.csv", usecols=["frame", "track_id", "y", "x"])
            show_tracks(self.viewer, labels, events, layer.scale, layer.translate, layer.name, table)

        args = (video, out, self.model.value, options, 16, True)
        return self.controls.start(iter_track_video, args, add_layers)
