"""Screenshots for docs/gui.md and docs/analysis.md, taken from a real napari viewer.

    xvfb-run -a python docs/screenshots.py [--out docs/images]

Segment (a synthetic micrograph, the classical model), live prompts (EfficientSAM-tiny, three
clicked particles), track (the synthetic sintering video), review (a fusion selected) and
measurements (the dock with its table and histogram). Each picture is the whole window.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import napari
import numpy as np
from qtpy.QtWidgets import QApplication

from napari_temseg._sample_data import sample_image, sample_video
from napari_temseg._widgets.measure import MeasurementsWidget
from napari_temseg._widgets.review import FusionReviewWidget
from napari_temseg._widgets.segment import SegmentWidget
from napari_temseg._widgets.track import TrackWidget


def settle(widget=None, seconds: float = 240) -> None:
    """Process events until the widget's worker is done (or for a moment)."""
    deadline = time.time() + seconds
    while widget is not None and widget.controls.worker is not None and time.time() < deadline:
        QApplication.processEvents()
        time.sleep(0.02)
    for _ in range(30):
        QApplication.processEvents()
        time.sleep(0.01)


def grab(viewer, path: Path) -> None:
    settle()
    viewer.window._qt_window.grab().save(str(path))
    print("wrote", path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(Path(__file__).parent / "images"))
    out = Path(parser.parse_args().out)
    out.mkdir(parents=True, exist_ok=True)
    viewer = napari.Viewer()
    viewer.window._qt_window.resize(1400, 900)

    image, meta, _ = sample_image()[0]
    layer = viewer.add_image(image, scale=(0.5, 0.5), **meta)
    segment = SegmentWidget(viewer)
    viewer.window.add_dock_widget(segment, name="Segment particles")
    segment.image.value = layer
    segment.run()
    settle(segment)
    grab(viewer, out / "segment.png")

    viewer.window.remove_dock_widget("all")  # room for the table
    measurements = MeasurementsWidget(viewer)
    viewer.window.add_dock_widget(measurements, name="Measurements")
    measurements.layer.value = viewer.layers[f"{layer.name} {segment.model.value}"]
    measurements.table.selectRow(4)
    grab(viewer, out / "measurements.png")

    viewer.window.remove_dock_widget("all")
    segment = SegmentWidget(viewer)
    viewer.window.add_dock_widget(segment, name="Segment particles")
    segment.image.value = layer
    viewer.layers[f"{layer.name} {segment.model.value}"].visible = False
    segment.model.value = "efficientsam-tiny"
    points = segment.add_points_layer()
    truth = sample_image()[1][0]
    for label in (3, 8, 12):
        ys, xs = np.nonzero(truth == label)
        points.add(np.array([[ys.mean(), xs.mean()]]))  # data coordinates: pixels of the image
        settle(segment)
    viewer.reset_view()
    grab(viewer, out / "prompts.png")

    viewer.layers.clear()
    viewer.window.remove_dock_widget("all")
    frames, meta, _ = sample_video()[0]
    video = viewer.add_image(frames, **meta)
    track = TrackWidget(viewer)
    viewer.window.add_dock_widget(track, name="Track particles")
    track.image.value = video
    track.out_dir.value = tempfile.mkdtemp(prefix="temseg-shots-")  # a fresh run, not the cache's
    track.run()
    settle(track, 600)
    grab(viewer, out / "track.png")

    review = FusionReviewWidget(viewer)
    viewer.window.add_dock_widget(review, name="Review fusions")
    review.refresh()
    if review.events:
        review.go_to(0)
    grab(viewer, out / "review.png")
    viewer.close()


if __name__ == "__main__":
    main()
