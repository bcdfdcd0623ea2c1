"""Widgets in a real viewer (under Xvfb): run them the way a user does and check the layers they make."""

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import write_emd, write_movie

from napari_temseg import TemsegError, load_model
from napari_temseg._sample_data import sample_image
from napari_temseg._widgets.review import HIGHLIGHT, FusionReviewWidget
from napari_temseg._widgets.segment import SegmentWidget
from napari_temseg._widgets.track import TrackWidget
from napari_temseg.synth import synth_video

pytestmark = pytest.mark.gui


def _wait(qtbot, widget, timeout=60_000):
    """Until the widget's worker has returned, errored or been cancelled."""
    qtbot.waitUntil(lambda: widget.controls.worker is None, timeout=timeout)


def test_segment_widget_adds_labels_with_image_scale(make_napari_viewer, qtbot):
    viewer = make_napari_viewer()
    image, meta, _ = sample_image()[0]
    layer = viewer.add_image(image, scale=(0.5, 0.5), **meta)
    widget = SegmentWidget(viewer)
    viewer.window.add_dock_widget(widget)
    widget.image.value = layer
    assert widget.run() is not None
    _wait(qtbot, widget)
    qtbot.waitUntil(lambda: "synthetic TEM classical" in viewer.layers, timeout=10_000)
    labels = viewer.layers["synthetic TEM classical"]
    assert labels.data.dtype == np.uint32 and labels.data.shape == image.shape
    assert labels.data.max() >= 15
    assert tuple(labels.scale) == (0.5, 0.5)
    assert "particles" in widget.controls.status.value and "(auto)" in widget.controls.status.value
    assert widget.options()["edge_level"] == "auto"
    widget.edges.value = 0.2  # "outer rim": the dark-field rule, chosen by hand
    assert widget.options()["edge_level"] == 0.2
    assert widget.options()["min_depth"] == "auto"
    widget.faint.value = 0.0  # "keep": every piece the model draws
    assert widget.options()["min_depth"] == 0.0 and widget.options()["min_significance"] == 0.0
    assert widget.options()["local_edges"] == "auto"
    widget.small.value = "faint"  # "faint particles": grown out to their own contrast
    assert widget.options()["local_edges"] == "faint"
    widget.small.value = False  # "as drawn": particles as the model drew them
    assert widget.options()["local_edges"] is False
    assert widget.options()["df_absorption"] == "auto"
    widget.df_look.value = 0.0  # "as it is": no bright-field look for bright particles
    assert widget.options()["df_absorption"] == 0.0


def test_segment_widget_on_a_stack_and_cancel(make_napari_viewer, qtbot):
    viewer = make_napari_viewer()
    video = synth_video(n_frames=6, shape=(160, 160), n_single=3, n_pairs=1, n_triples=0, n_touching=0)
    frames = video.frames.copy()
    frames[2] = 0  # a detector drop-out
    viewer.add_image(frames, name="video")
    widget = SegmentWidget(viewer)
    widget.run()
    _wait(qtbot, widget)
    qtbot.waitUntil(lambda: "video classical" in viewer.layers, timeout=10_000)
    assert viewer.layers["video classical"].data.shape == (6, 160, 160)
    assert widget.controls.status.value.startswith("6 frames (1 blank: nothing to segment there); dark particles")
    viewer.layers.remove("video classical")
    viewer.add_image(np.zeros((3, 40, 40), np.uint8), name="blank")
    widget.image.value = viewer.layers["blank"]
    widget.run()
    _wait(qtbot, widget)
    assert widget.controls.status.value == "3 frames, all blank (one grey level): nothing to segment"
    viewer.layers.remove("blank classical")
    viewer.add_image(np.repeat(video.frames, 50, axis=0), name="long video")
    widget.image.value = viewer.layers["long video"]
    widget.run()
    widget.controls.cancel()
    _wait(qtbot, widget)
    assert widget.controls.status.value == "cancelled"
    assert widget.controls.run_button.enabled
    assert "long video classical" not in viewer.layers


@pytest.mark.parametrize("name", ["swin-unet", "vmamba"])
def test_segment_widget_semantic_models_per_frame(make_napari_viewer, qtbot, name):
    """The shipped Swin-UNet/VMamba weights, chosen in the widget, label each frame of a stack
    with the threshold and split depth set in their panel."""
    viewer = make_napari_viewer()
    video = synth_video(n_frames=2, shape=(256, 256), n_single=4, n_pairs=1, n_triples=0, n_touching=0)
    viewer.add_image(video.frames, name="video")
    widget = SegmentWidget(viewer)
    widget.model.value = name
    shown = lambda w: not w.native.isHidden()  # noqa: E731 - the viewer window itself is not shown
    assert shown(widget.option("threshold")) and shown(widget.option("centre_depth"))
    assert not shown(widget.panels["yolov8n-seg"])
    widget.option("threshold").value = 0.6
    assert widget.options()["threshold"] == pytest.approx(0.6)
    assert shown(widget.option("refine_edges")) and "refine_edges" not in widget.options()  # the default
    widget.option("refine_edges").value = False
    assert widget.options()["refine_edges"] is False
    widget.run()
    _wait(qtbot, widget, timeout=120_000)
    qtbot.waitUntil(lambda: f"video {name}" in viewer.layers, timeout=10_000)
    labels = viewer.layers[f"video {name}"].data
    assert labels.shape == (2, 256, 256) and all(labels[t].max() >= 4 for t in range(2))


def test_yolo_panel_takes_duplicate_share_and_denoise(make_napari_viewer):
    """YOLO's own options are in its panel: the duplicate rule (a spin box) and the input
    smoothing (typed; empty = as the weights were trained), checked as the CLI checks them."""
    viewer = make_napari_viewer()
    viewer.add_image(np.zeros((64, 64), np.float32), name="image")
    widget = SegmentWidget(viewer)
    widget.model.value = "yolov8n-seg"
    assert "duplicate_share" not in widget.options() and "denoise" not in widget.options()
    widget.option("duplicate_share").value = 0.0
    widget.option("denoise").value = "1"
    assert widget.options()["duplicate_share"] == 0.0 and widget.options()["denoise"] == 1
    assert "corner_cuts" not in widget.options() and widget.option("corner_cuts").value == "auto"
    widget.option("corner_cuts").value = True  # cuts in a time stack's frames too
    assert widget.options()["corner_cuts"] is True
    widget.option("denoise").value = "-2"
    with pytest.raises(TemsegError, match="denoise"):
        widget.options()


def test_track_widget_makes_labels_and_lineage(make_napari_viewer, qtbot, tmp_path, monkeypatch):
    monkeypatch.setenv("TEMSEG_CACHE", str(tmp_path))  # the default results folder, not the user's cache
    viewer = make_napari_viewer()
    video = synth_video(n_frames=20, shape=(256, 256), n_single=3, n_pairs=1, n_triples=0, n_touching=0, seed=2)
    viewer.add_image(video.frames, name="video", scale=(500, 0.5, 0.5), units=("ms", "nm", "nm"))
    widget = TrackWidget(viewer)
    widget.fusion_frames.value = 4
    widget.run()
    _wait(qtbot, widget)
    qtbot.waitUntil(lambda: "video classical lineage" in viewer.layers, timeout=10_000)
    summary = pd.read_csv(widget.results_folder(viewer.layers["video"]) / "tracks_summary.csv")
    assert "net_speed_nm_per_s" in summary  # the time axis's scale in ms gave the frame interval
    labels = viewer.layers["video classical tracked"]
    assert isinstance(labels.data, np.ndarray)  # editable: in memory, as it fits (io.editable_labels)
    events = labels.metadata["temseg"]["events"]
    assert len(events) == 1
    assert viewer.layers["video classical lineage"].graph == {events[0]["child"]: events[0]["parents"]}
    assert labels.metadata["temseg"]["source"] == str(widget.results_folder(viewer.layers["video"]))  # Review saves there
    assert "dark particles (auto), diameter" in widget.controls.status.value  # the stack's decision is reported
    count = len(viewer.layers)
    widget.run()  # the same run again: its layers are updated, not shown twice
    _wait(qtbot, widget)
    assert len(viewer.layers) == count and viewer.layers["video classical tracked"] is labels
    assert "dark particles (auto), diameter" in widget.controls.status.value  # read back from the finished run
    widget.overwrite.value = True
    widget.run()  # another run into the folder: layers of its own; the earlier ones no longer save there
    _wait(qtbot, widget)
    assert len(viewer.layers) == count + 2 and "source" not in labels.metadata["temseg"]
    widget.overwrite.value = False
    widget.diameter.value = "abc"
    widget.run()
    _wait(qtbot, widget)
    assert "diameter" in widget.controls.status.value and "abc" in widget.controls.status.value
    widget.diameter.value, widget.polarity.value = "30", "bright"  # the widget's controls reach the run
    widget.out_dir.value = tmp_path / "bright"
    widget.run()
    _wait(qtbot, widget)
    assert "bright particles (given), diameter 30.0 px (given)" in widget.controls.status.value


def test_track_widget_keeps_two_models_runs_apart(make_napari_viewer, tmp_path, monkeypatch):
    """Two models on one video shared a default folder (the second was refused without
    "overwrite") and layer names ("video tracked", "video tracked [1]")."""
    monkeypatch.setenv("TEMSEG_CACHE", str(tmp_path))
    viewer = make_napari_viewer()
    layer = viewer.add_image(np.zeros((3, 32, 32), np.float32), name="video")
    widget = TrackWidget(viewer)
    first = widget.results_folder(layer), widget.run_name(layer)
    widget.model.value = "yolov8n-seg"
    second = widget.results_folder(layer), widget.run_name(layer)
    widget.method.value = "propagate"
    third = widget.results_folder(layer), widget.run_name(layer)
    assert [name for _, name in (first, second, third)] == ["video classical", "video yolov8n-seg",
                                                           "video yolov8n-seg propagate"]
    assert len({folder for folder, _ in (first, second, third)}) == 3


def test_track_dock_follows_a_corrected_scale_names_runs_apart_and_keeps_its_boxes(make_napari_viewer, qtbot,
                                                                                   tmp_path):
    """From a GUI pass: after the video's scale was corrected, running again left the kept
    layers at the old scale (off the video); a second run's layers were "x tracked [1]" and
    "x tracked [1] lineage"; fusion_min_frames typed in options was overridden by its box."""
    viewer = make_napari_viewer()
    video = synth_video(n_frames=12, shape=(160, 160), n_single=3, n_pairs=1, n_triples=0, n_touching=0, seed=5)
    image = viewer.add_image(video.frames, name="vid", scale=(40, 0.5, 0.5), units=("ms", "nm", "nm"))
    widget = TrackWidget(viewer)
    widget.out_dir.value = tmp_path / "first"
    widget.model_options.value = "fusion_min_frames=2"
    widget.run()
    assert "set fusion_min_frames with the 'fusion after (frames)' box" in widget.controls.status.value
    widget.model_options.value = ""
    widget.run()
    _wait(qtbot, widget)
    image.scale = (80, 1.0, 1.0)
    widget.run()
    _wait(qtbot, widget)
    assert tuple(viewer.layers["vid classical tracked"].scale) == (80, 1.0, 1.0)
    assert tuple(viewer.layers["vid classical lineage"].scale) == (80, 1.0, 1.0)
    kept = viewer.layers["vid classical tracked"].metadata["temseg"]  # what Review's Save writes back
    assert kept["frame_interval_s"] == pytest.approx(0.08) and kept["pixel_size_nm"] == pytest.approx(1.0)
    widget.out_dir.value = tmp_path / "second"
    widget.run()
    _wait(qtbot, widget)
    assert {"vid classical [2] tracked", "vid classical [2] lineage"} <= {layer.name for layer in viewer.layers}


def test_segment_dock_says_why_a_length_cannot_be_used_on_non_square_pixels(make_napari_viewer):
    viewer = make_napari_viewer()
    viewer.add_image(np.zeros((64, 64), np.float32), name="aniso", scale=(0.5, 0.7), units=("nm", "nm"))
    widget = SegmentWidget(viewer)
    widget.diameter.value = "15nm"
    widget.run()
    assert "the layer's pixels are not square (0.5 x 0.7 per pixel)" in widget.controls.status.value


def test_review_select_moves_time_slider_and_reject_restores(tracked_viewer, qtbot, tmp_path):
    viewer, result = tracked_viewer
    widget = FusionReviewWidget(viewer)
    viewer.window.add_dock_widget(widget)
    widget.labels_layer.value = viewer.layers["video tracked"]
    assert widget.table.rowCount() == len(result.events) >= 2
    ev = result.events[1]
    widget.table.selectRow(1)
    assert viewer.dims.current_step[0] == ev["frame"] - 1
    assert HIGHLIGHT in viewer.layers
    assert viewer.layers["video tracked"].selected_label == ev["child"]
    widget.accept()
    assert widget.table.item(1, 3).text() == "accepted"
    widget.reject()
    data = viewer.layers["video tracked"].data
    assert not (data == ev["child"]).any()
    assert all((data[-1] == p).any() for p in ev["parents"])
    assert len(viewer.layers["video tracked"].metadata["temseg"]["events"]) == len(result.events) - 1
    widget.step(1)
    assert widget.current == 0 or widget.current == len(result.events) - 2
    widget.out_dir.value = tmp_path / "reviewed"
    widget.save()
    qtbot.waitUntil(lambda: widget.jobs.worker is None, timeout=60_000)  # saved in the background
    saved = (tmp_path / "reviewed" / "events.csv").read_text()
    assert saved.count("\n") == len(result.events) and saved.splitlines()[0].endswith(",status")
    review = (tmp_path / "reviewed" / "review.csv").read_text()
    assert review.rstrip().endswith("rejected") and review.count("\n") == len(result.events) + 1


def test_review_retrack_after_an_edit(tracked_viewer, qtbot):
    viewer, result = tracked_viewer
    widget = FusionReviewWidget(viewer)
    widget.labels_layer.value = viewer.layers["video tracked"]
    layer = viewer.layers["video tracked"]
    widget.go_to(len(result.events) - 1)
    widget.accept()  # the last event, accepted before the re-track
    step = list(viewer.dims.current_step)
    step[0] = 2
    viewer.dims.current_step = tuple(step)
    widget.retrack()
    qtbot.waitUntil(lambda: widget.jobs.worker is None, timeout=60_000)  # in the background
    assert widget.jobs.status.value.startswith("re-tracked from frame 2")
    events = layer.metadata["temseg"]["events"]
    assert [e["frame"] for e in events] == [e["frame"] for e in result.events]
    assert [widget.table.item(row, 3).text() for row in range(len(events))][-1] == "accepted"  # kept
    widget.retrack()
    layer.paint((5, 10, 10), 1)  # a stroke while it runs: kept, and the result (from before it) not applied
    qtbot.waitUntil(lambda: widget.jobs.worker is None, timeout=60_000)
    assert widget.jobs.status.value.startswith("re-track not applied") and layer.data[5, 10, 10] == 1


def test_review_retrack_gives_results_without_particles_a_tracks_layer_and_takes_it_away(make_napari_viewer, qtbot):
    """Results without a particle have no Tracks layer (napari has no empty one): particles
    painted in and re-tracked get one, tied to the labels; erased and re-tracked, it goes."""
    from napari.layers import Tracks

    from napari_temseg._widgets._layers import lineage_layers
    from napari_temseg._widgets.track import show_tracks

    viewer = make_napari_viewer()
    layer, tracks = show_tracks(viewer, np.zeros((4, 48, 48), np.uint32), [], (1, 0.5, 0.5), (0, 0, 0), "empty")
    assert tracks is None
    widget = FusionReviewWidget(viewer)
    widget.labels_layer.value = layer
    painted = layer.data.copy()
    painted[:, 10:20, 10:20] = 7  # a particle in every frame
    layer.data = painted
    widget.retrack()
    qtbot.waitUntil(lambda: widget.jobs.worker is None, timeout=60_000)
    (shown,) = lineage_layers(viewer, layer)
    assert isinstance(shown, Tracks) and shown.name == "empty lineage" and tuple(shown.scale) == (1, 0.5, 0.5)
    assert sorted(set(shown.data[:, 1])) == [0, 1, 2, 3]
    layer.data = np.zeros_like(painted)
    widget.retrack()
    qtbot.waitUntil(lambda: widget.jobs.worker is None, timeout=60_000)
    assert lineage_layers(viewer, layer) == [] and not any(isinstance(x, Tracks) for x in viewer.layers)


@pytest.fixture
def sam_weights(esam_fixture, tmp_path, monkeypatch):
    """The parity fixture's (random) checkpoint imported as the user's EfficientSAM weights."""
    from napari_temseg.models import weights

    monkeypatch.setenv("TEMSEG_CACHE", str(tmp_path / "cache"))
    weights.import_file("efficientsam-tiny", esam_fixture / "efficient_sam_vitt_random_fp16.pt", lambda p: p)


def test_segment_widget_efficientsam_points_live(make_napari_viewer, qtbot, sam_weights):
    viewer = make_napari_viewer()
    image = sample_image()[0][0][:256, :256]
    layer = viewer.add_image(image, name="crop")
    widget = SegmentWidget(viewer)
    viewer.window.add_dock_widget(widget)
    widget.model.value = "efficientsam-tiny"
    assert not widget.mode.native.isHidden() and widget.panels["classical"].native.isHidden()
    points = widget.add_points_layer()
    assert points.ndim == 2 and "label" in points.features
    widget.option("min_size").value = 0
    points.add(np.array([[60.0, 60.0]]))  # live update starts a run
    qtbot.waitUntil(lambda: "crop efficientsam-tiny" in viewer.layers, timeout=60_000)
    _wait(qtbot, widget)
    labels = viewer.layers["crop efficientsam-tiny"].data
    assert labels.shape == (256, 256) and labels.max() <= 1
    assert not widget.weights.native.isHidden()
    default = widget.segmenter()
    widget.weights.value = "sharp"  # the shipped variant, not the imported file
    sharp = widget.segmenter()
    assert sharp is not default and sharp is widget.segmenter()  # built once
    reference = load_model("efficientsam-tiny", weights="sharp").net.state_dict()
    assert all(torch.equal(v, reference[k]) for k, v in sharp.net.state_dict().items())
    stack_points = viewer.add_points(np.array([[0.0, 10.0, 10.0]]), ndim=3)
    widget.points.value = stack_points
    with pytest.raises(TemsegError, match="3-D points but the image is 2-D"):
        widget.prompts(layer)


def test_points_to_prompts_per_frame():
    import pandas as pd

    from napari_temseg.prompts import points_to_prompts

    data = np.array([[0, 5, 6], [2, 7, 8], [2, 1, 1]], float)
    features = pd.DataFrame({"label": ["positive", "positive", "negative"], "object": [np.nan, 3, np.nan]})
    prompts = points_to_prompts(data, features, 3)
    assert set(prompts) == {0, 2}
    assert prompts[2].tolist()[0][:3] == [7, 8, 1] and prompts[2][1, 2] == 0


def test_tem_file_opens_lazily_with_nm_scale(make_napari_viewer, tmp_path):
    import dask.array as da

    data = (np.random.default_rng(1).random((6, 48, 64)) * 200).astype(np.uint8)
    path = write_emd(tmp_path / "insitu.emd", data, 0.12, "nm")
    viewer = make_napari_viewer()
    [layer] = viewer.open(str(path), plugin="napari-temseg")
    assert isinstance(layer.data, da.Array)
    assert tuple(layer.scale) == pytest.approx((1.0, 0.12, 0.12))
    assert layer.metadata["temseg"]["pixel_size_nm"] == pytest.approx(0.12)


def test_results_folder_opens_for_review(make_napari_viewer, tmp_path, small_video):
    from napari_temseg.io import write_track_dir

    write_track_dir(tmp_path / "run", small_video.labels, small_video.events)
    viewer = make_napari_viewer()
    layer, lineage = viewer.open(str(tmp_path / "run"), plugin="napari-temseg")
    assert layer.metadata["temseg"]["events"] == small_video.events
    assert lineage._type_string == "tracks" and set(lineage.graph) == {e["child"] for e in small_video.events}
    layer.paint((5, 100, 100), 999)  # the user fixes a frame: tracked labels take edits
    assert layer.data[5, 100, 100] == 999
    widget = FusionReviewWidget(viewer)
    assert widget.labels_layer.value is layer  # the picker chooses tracked results, not other labels
    assert widget.table.rowCount() == len(small_video.events)


def test_measurements_dock_table_selection_histogram_and_export(make_napari_viewer, qtbot, tmp_path):
    from napari_temseg._widgets.measure import MeasurementsWidget
    from napari_temseg.synth import synth_image

    viewer = make_napari_viewer()
    truth = synth_image(seed=5).labels
    layer = viewer.add_labels(truth, name="particles", scale=(0.5, 0.5))
    widget = MeasurementsWidget(viewer)
    viewer.window.add_dock_widget(widget)
    widget.layer.value = layer
    assert widget.table.rowCount() == truth.max()
    assert widget.nm_per_pixel() == 0.5 and "diameter (nm)" in widget.table.horizontalHeaderItem(1).text()
    expected = widget.particles[~widget.particles.touches_border].equivalent_diameter_nm.to_numpy()
    assert np.allclose(np.sort(widget.diameters), np.sort(expected))
    widget.table.selectRow(3)  # a row -> the particle
    assert layer.selected_label == int(widget.particles.iloc[3]["label"])
    layer.selected_label = int(widget.particles.iloc[7]["label"])  # the particle -> its row
    assert widget.table.selectionModel().selectedRows()[0].row() == 7
    before = widget.table.rowCount()
    edited = layer.data.copy()
    edited[5:25, 5:25] = truth.max() + 1  # the user paints a new particle
    layer.data = edited
    assert widget.table.rowCount() == before + 1
    exported = pd.read_csv(widget.export_csv(tmp_path / "p.csv"))  # says which image and calibration
    assert list(exported.columns[:4]) == ["image", "pixel_size_nm", "label", "area"]
    assert (exported.image == "particles").all() and (exported.pixel_size_nm == 0.5).all()
    png = widget.export_png(tmp_path / "h.png")
    from PIL import Image

    assert Image.open(png).size == (1020, 480)  # 8.5 x 4 in at 120 dpi (the legend beside), whatever the dock's size
    assert widget.histogram.toolTip() == ""  # synth_image's particles are large enough: nothing to say
    tiny = np.zeros((60, 60), np.uint32)
    for k, (y, x) in enumerate([(10, 10), (10, 30), (30, 10), (30, 30), (45, 45)], 1):
        tiny[y:y + 5, x:x + 5] = k  # 5.6 px across
    layer.data = tiny
    assert "small end is cut off" in widget.histogram.toolTip()
    assert "under 8 px" in widget.histogram.figure.axes[0].get_title()


def _idle(qtbot, widget, timeout=120_000):
    """Until no run is busy and none is waiting (live prompting coalesces events)."""
    qtbot.waitUntil(lambda: widget.controls.worker is None and not widget._rerun, timeout=timeout)


def test_live_prompts_keep_up_add_move_delete_and_negative(make_napari_viewer, qtbot, tmp_path, monkeypatch):
    """Three quick clicks give three particles; a move, a delete and a negative point each give
    the right labels; a point outside the image is left out, not an error on every click."""
    from napari_temseg.synth import synth_image

    monkeypatch.setenv("TEMSEG_CACHE", str(tmp_path / "cache"))  # the shipped weights
    sample = synth_image((256, 256), 10, radius=(12, 16), touching=0.0, seed=4)
    viewer = make_napari_viewer()
    layer = viewer.add_image(sample.image, name="crop")
    widget = SegmentWidget(viewer)
    viewer.window.add_dock_widget(widget)
    widget.image.value = layer
    widget.model.value = "efficientsam-tiny"
    points = widget.add_points_layer()
    assert points.mode == "add"
    centres = [np.argwhere(sample.labels == i).mean(0) for i in (1, 2, 3)]
    for centre in centres:  # quickly: the 2nd and 3rd arrive while the 1st run is busy
        points.add(centre)
    _idle(qtbot, widget)
    result = viewer.layers["crop efficientsam-tiny"]
    found = {int(sample.labels[tuple(np.round(c).astype(int))]) for c in centres}
    assert result.data.max() == 3 and found == {1, 2, 3}
    hits = [result.data[tuple(np.round(c).astype(int))] for c in centres]
    assert len(set(hits)) == 3 and 0 not in hits
    moved = points.data.copy()
    moved[2] = np.argwhere(sample.labels == 4).mean(0)  # drag the third point to particle 4
    points.data = moved
    _idle(qtbot, widget)
    assert result.data[tuple(np.round(moved[2]).astype(int))] > 0
    assert result.data[tuple(np.round(centres[2]).astype(int))] == 0
    points.selected_data = {0}
    points.remove_selected()
    _idle(qtbot, widget)
    assert result.data.max() == 2 and result.data[tuple(np.round(centres[0]).astype(int))] == 0
    widget.point_label.value = "negative"
    points.add(np.argwhere(sample.labels == 5).mean(0))
    _idle(qtbot, widget)
    assert list(points.features["label"])[-1] == "negative" and result.data.max() == 2
    widget.point_label.value = "positive"
    points.add(np.array([-20.0, -20.0]))  # off the image
    _idle(qtbot, widget)
    assert "outside the image" in widget.controls.status.value and result.data.max() == 2
    assert "crop efficientsam-tiny [2]" not in viewer.layers  # live updates stay in one layer
    other = viewer.add_image(sample.image[:200, :240], name="other")
    widget.image.value = other  # another image: its own result layer, crop's kept
    inside = next(c for c in centres if c[0] < 190 and c[1] < 230)
    other_points = widget.add_points_layer()
    other_points.add(inside)
    _idle(qtbot, widget)
    assert viewer.layers["other efficientsam-tiny"].data.shape == (200, 240)
    assert viewer.layers["other efficientsam-tiny"].data.max() == 1
    other_points.selected_data = {0}
    other_points.remove_selected()  # the last point deleted: its particle goes, no error
    _idle(qtbot, widget)
    assert viewer.layers["other efficientsam-tiny"].data.max() == 0
    assert "no point left" in widget.controls.status.value
    assert result.data.shape == (256, 256) and result.data.max() == 2


def test_a_run_that_starts_late_segments_with_the_model_pressed_for(make_napari_viewer, qtbot, monkeypatch):
    """With napari's threads busy a job waits; it must run the model its layer is named after,
    not the one the dock shows when it starts."""
    import threading

    import napari_temseg._widgets.segment as segment_dock

    go, built, job = threading.Event(), [], segment_dock.segment_job

    def waiting_job(*args):
        go.wait(30)
        return (yield from job(*args))

    def recording_load(name, weights=None):
        built.append(name)
        return load_model(name, weights=weights)

    monkeypatch.setattr(segment_dock, "segment_job", waiting_job)
    monkeypatch.setattr(segment_dock, "load_model", recording_load)
    viewer = make_napari_viewer()
    image, _, _ = sample_image()[0]
    viewer.add_image(image[:160, :160], name="crop")
    widget = SegmentWidget(viewer)
    widget.model.value = "classical"
    widget.run()
    widget.model.value = "yolov8n-seg"  # changed while the job waits for a thread
    go.set()
    _wait(qtbot, widget)
    assert built == ["classical"] and viewer.layers["crop classical"].data.max() > 0


def test_each_run_keeps_its_result_and_errors_show_once(make_napari_viewer, qtbot, monkeypatch):
    import napari.utils.notifications as notifications

    viewer = make_napari_viewer()
    image, meta, _ = sample_image()[0]
    viewer.add_image(image[:200, :200], name="crop")
    widget = SegmentWidget(viewer)
    for _ in range(2):
        widget.run()
        _wait(qtbot, widget)
    assert {"crop classical", "crop classical [2]"} <= {layer.name for layer in viewer.layers}
    first = viewer.layers["crop classical"].data.copy()
    viewer.layers["crop classical"].data[:] = 0  # the first (perhaps edited by hand) stays; the latest is replaced
    widget.replace.value = True
    widget.run()
    _wait(qtbot, widget)
    assert "crop classical [3]" not in viewer.layers
    assert not viewer.layers["crop classical"].data.any() and first.any()
    assert viewer.layers["crop classical [2]"].data.max() > 0
    shown = []
    monkeypatch.setattr(notifications, "show_error", shown.append)
    widget.diameter.value = "12nm"  # no pixel size known: an input error inside the run
    widget.run()
    _wait(qtbot, widget)
    assert len(shown) == 1 and "pixel size is unknown" in shown[0]
    assert widget.controls.status.value.startswith("error:") and widget.controls.run_button.enabled


def test_track_widget_resumes_and_its_labels_take_a_brush_stroke_then_save_and_retrack(
        make_napari_viewer, qtbot, tmp_path):
    viewer = make_napari_viewer()
    video = synth_video(n_frames=20, shape=(192, 192), n_single=3, n_pairs=1, n_triples=0, n_touching=0, seed=6)
    viewer.add_image(video.frames, name="heating", scale=(1, 0.5, 0.5))
    widget = TrackWidget(viewer)
    widget.out_dir.value = tmp_path / "run"
    widget.model_options.value = "sigma=2"
    widget.run()
    _wait(qtbot, widget, timeout=300_000)
    assert widget.controls.status.value.startswith("20 frames") and "results in" in widget.controls.status.value
    labels = viewer.layers["heating classical tracked"]
    assert isinstance(labels.data, np.ndarray)  # in memory: editable
    viewer.layers.remove(labels)
    viewer.layers.remove("heating classical lineage")
    widget.run()  # the same run: resumed (complete), not recomputed or refused
    _wait(qtbot, widget)
    assert "heating classical tracked" in viewer.layers and not widget.controls.status.value.startswith("error")
    labels = viewer.layers["heating classical tracked"]
    labels.paint((10, 40, 40), 777, refresh=True)  # a brush stroke on frame 10
    assert labels.data[10, 40, 40] == 777
    review = FusionReviewWidget(viewer)
    assert review.labels_layer.value is labels
    review.out_dir.value = tmp_path / "reviewed"
    review.save()
    qtbot.waitUntil(lambda: review.jobs.worker is None, timeout=60_000)  # saved in the background
    import zarr

    saved = zarr.open_array(str(tmp_path / "reviewed" / "labels.zarr"), mode="r")
    assert saved[10, 40, 40] == 777 and (tmp_path / "reviewed" / "tracks.csv").read_text().count("_nm") >= 1
    step = list(viewer.dims.current_step)
    step[0] = 10
    viewer.dims.current_step = tuple(step)
    review.retrack()  # re-track from the edited frame: the edit is kept, later frames follow it
    qtbot.waitUntil(lambda: review.jobs.worker is None, timeout=60_000)
    assert labels.data[10, 40, 40] == 777


def test_cancel_stops_work_on_a_single_image(make_napari_viewer, qtbot, tmp_path, monkeypatch):
    """Cancel takes effect at the model's next step (here a decoder batch), not after the image."""
    import time

    monkeypatch.setenv("TEMSEG_CACHE", str(tmp_path / "cache"))
    viewer = make_napari_viewer()
    image, meta, _ = sample_image()[0]
    viewer.add_image(image[:256, :256], name="crop")
    widget = SegmentWidget(viewer)
    widget.model.value = "efficientsam-tiny"
    widget.mode.value = "grid"
    widget.option("points_per_side").value = 40  # 1600 prompts: 25 decoder batches, many seconds
    widget.run()
    qtbot.waitUntil(lambda: bool(widget._models), timeout=60_000)  # the model is built: decoding starts
    # the bar follows the decoder's batches of this one image
    qtbot.waitUntil(lambda: widget.controls.progress.value >= 1, timeout=30_000)
    assert widget.controls.progress.max == 1600  # prompts, decoded 64 at a time
    stopped = time.perf_counter()
    widget.controls.cancel()
    _wait(qtbot, widget, timeout=30_000)
    assert widget.controls.status.value == "cancelled"
    assert time.perf_counter() - stopped < 8  # one batch at most (a full run takes far longer)
    assert "crop efficientsam-tiny" not in viewer.layers


def test_a_result_that_cannot_be_shown_is_an_error_line_not_a_traceback(make_napari_viewer, qtbot):
    from napari_temseg import TemsegError
    from napari_temseg._widgets._runner import WorkerControls

    make_napari_viewer()  # napari's notifications need an application

    def job():
        yield 1, 1
        return "result"

    def show(_):
        raise TemsegError("results/review.csv: needs a status column")

    controls = WorkerControls()
    controls.start(job, (), show)
    qtbot.waitUntil(lambda: controls.worker is None, timeout=10_000)
    assert controls.status.value == "error: results/review.csv: needs a status column"


def test_a_scale_bar_is_left_out_and_the_particles_it_cuts_flagged_in_the_docks(make_napari_viewer, qtbot):
    """Segment dock: no particle in the bar, the status says where it was; Measurements dock:
    a particle the bar's box cuts is flagged like one at the border."""
    from napari_temseg._widgets.measure import MeasurementsWidget
    from napari_temseg.synth import synth_image

    viewer = make_napari_viewer()
    image = synth_image(seed=5).image.copy()
    h, w = image.shape
    image[h - 34:h - 28, w - 130:w - 30] = image.min()  # a black bar
    layer = viewer.add_image(image, name="barred")
    widget = SegmentWidget(viewer)
    viewer.window.add_dock_widget(widget)
    widget.image.value = layer
    widget.run()
    _wait(qtbot, widget)
    qtbot.waitUntil(lambda: "barred classical" in viewer.layers, timeout=10_000)
    labels = viewer.layers["barred classical"]
    assert not labels.data[h - 34:h - 28, w - 130:w - 30].any()
    assert "scale bar" in widget.controls.status.value
    (y0, x0, y1, x1), = labels.metadata["temseg"]["annotations"]
    edited = labels.data.copy()
    edited[y0 - 6:y0, x0 + 20:x0 + 30] = new = edited.max() + 1  # a particle against the box
    labels.data = edited
    measurements = MeasurementsWidget(viewer)
    viewer.window.add_dock_widget(measurements)
    measurements.layer.value = labels
    assert measurements.particles.set_index("label").loc[new, "touches_border"]
    assert labels.metadata["temseg"]["scale_bar_px"] == 100  # sizes in nm from the bar's length
    measurements.scale_bar.value = 50
    assert measurements.nm_per_pixel() == 0.5 and "diameter (nm)" in measurements.table.horizontalHeaderItem(1).text()


def test_measurements_export_with_nothing_measured_is_an_error_not_a_crash(make_napari_viewer, tmp_path):
    from napari_temseg import TemsegError
    from napari_temseg._widgets.measure import MeasurementsWidget

    widget = MeasurementsWidget(make_napari_viewer())  # no Labels layer
    for export in (widget.export_png, widget.export_csv):
        with pytest.raises(TemsegError, match="nothing to export"):
            export(tmp_path / "x")
    assert not list(tmp_path.iterdir())


def test_nan_pixels_are_said_in_the_status_line(make_napari_viewer, qtbot):
    """A float image with a band of NaN (no data) was described only as 'a burned-in mark or
    flat region (scale bar, text, padding)': the line now says why, as the CLI's does."""
    viewer = make_napari_viewer()
    image, _, _ = sample_image()[0]
    band = image[:200, :200].astype(np.float32)
    band[90:110] = np.nan
    viewer.add_image(band, name="nan band")
    widget = SegmentWidget(viewer)
    widget.run()
    _wait(qtbot, widget)
    assert "4000 NaN or infinite pixels read as the others' median" in widget.controls.status.value


def test_segment_widget_leaves_a_lossy_movies_still_marks_out_of_every_frame(make_napari_viewer, qtbot, tmp_path):
    """As `temseg track` and the Track dock do: the Segment dock on a movie our reader opened
    drew its codec-frayed timestamp box as a particle in every frame."""
    from test_annotations import _mostly_on, _video_with_marks

    from napari_temseg.annotations import annotation_mask

    frames, bar, box = _video_with_marks(8)
    path = write_movie(tmp_path / "heating.mp4", frames, "mp4v")
    viewer = make_napari_viewer()
    with pytest.warns(UserWarning, match="heating.mp4: its codec .* is lossy"):  # napari shows it
        (layer,) = viewer.open(str(path), plugin="napari-temseg")
    widget = SegmentWidget(viewer)
    widget.image.value = layer
    widget.run()
    _wait(qtbot, widget)
    qtbot.waitUntil(lambda: "heating classical" in viewer.layers, timeout=10_000)
    labels = viewer.layers["heating classical"]
    mask = annotation_mask(frames.shape[1:], tuple(map(tuple, labels.metadata["temseg"]["annotations"])))
    assert mask[bar].all() and mask[box].all() and mask.mean() < 0.06
    assert not any(_mostly_on(frame_labels, mask) for frame_labels in labels.data)
