"""Widgets follow the layers as napari has them: scales and offsets, renames, time axes that
differ from the viewer's, and state that belongs to one layer (found in a GUI pass)."""

import numpy as np
import pytest

from napari_temseg import TemsegError
from napari_temseg._widgets import measure as measure_module
from napari_temseg._widgets.measure import MeasurementsWidget
from napari_temseg._widgets.review import FusionReviewWidget
from napari_temseg._widgets.segment import SegmentWidget, image_pixels
from napari_temseg._widgets.track import show_tracks
from napari_temseg.analysis import measure as analysis_measure
from napari_temseg.synth import synth_image

pytestmark = pytest.mark.gui


def test_prompts_are_read_in_the_images_pixels_whatever_the_points_scale(make_napari_viewer):
    viewer = make_napari_viewer()
    image = viewer.add_image(np.zeros((100, 120), np.float32), scale=(0.5, 0.5), translate=(10, 0))
    points = viewer.add_points(np.array([[20.0, 15.0]]))  # world (20, 15): image pixel (20, 30)
    assert image_pixels(points, image) == pytest.approx(np.array([[20.0, 30.0]]))
    same = viewer.add_points(np.array([[4.0, 6.0]]), scale=(0.5, 0.5), translate=(10, 0))
    assert image_pixels(same, image) == pytest.approx(np.array([[4.0, 6.0]]))


def test_prompt_colours_follow_their_meaning_and_nm_diameters_take_the_layer_scale(make_napari_viewer):
    viewer = make_napari_viewer()
    viewer.add_image(np.zeros((64, 64), np.float32), name="micrograph", scale=(0.5, 0.5))
    widget = SegmentWidget(viewer)
    widget.model.value = "efficientsam-tiny"
    widget.live.value = False  # colours only: no run
    widget.point_label.value = "negative"  # the first point is a negative one
    layer = widget.add_points_layer()
    layer.add(np.array([10.0, 10.0]))
    widget.point_label.value = "positive"
    layer.feature_defaults["label"] = "positive"
    layer.add(np.array([20.0, 20.0]))
    assert list(layer.features["label"]) == ["negative", "positive"]
    assert np.allclose(layer.face_color[0], [1, 0, 0, 1]) and np.allclose(layer.face_color[1], [0, 1, 0, 1])
    assert "pixel_size_nm" not in widget.options()  # a diameter in px (auto): the scale is not read
    widget.diameter.value = "12nm"
    assert widget.options()["pixel_size_nm"] == 0.5  # "12nm" typed as the diameter can be read
    viewer.add_image(np.zeros((64, 64), np.float32), name="anisotropic", scale=(0.5, 0.25))
    widget.image.value = viewer.layers["anisotropic"]
    with pytest.raises(TemsegError, match="the layer's pixels are not square"):  # no single nm per pixel
        widget.options()


def test_pickers_follow_renames_and_segment_offers_no_4d_layer(make_napari_viewer):
    viewer = make_napari_viewer()
    viewer.add_labels(np.zeros((32, 32), np.uint32), name="parts")
    viewer.add_image(np.zeros((2, 3, 32, 32), np.float32), name="4-D")
    measurements, segment = MeasurementsWidget(viewer), SegmentWidget(viewer)
    viewer.layers["parts"].name = "parts renamed"
    names = [measurements.layer.native.itemText(i) for i in range(measurements.layer.native.count())]
    assert names == ["parts renamed"]
    assert segment.image.choices == ()


def test_measurements_follow_the_time_slider_through_offsets(make_napari_viewer, monkeypatch):
    viewer = make_napari_viewer()
    viewer.add_image(np.zeros((12, 64, 64), np.float32), name="video")
    labels = np.zeros((6, 64, 64), np.uint32)
    for t in range(6):
        labels[t, 5:15, 5:15 + 2 * t] = 1  # grows by frame
        labels[t, 40:50, 40:50] = 2 if t == 0 else 0
    layer = viewer.add_labels(labels, name="late", translate=(4, 0, 0))  # starts at the viewer's frame 4
    widget = MeasurementsWidget(viewer)
    widget.layer.value = layer
    viewer.dims.current_step = (4, 0, 0)
    assert len(widget.particles) == 2  # the layer's frame 0
    viewer.dims.current_step = (6, 0, 0)
    assert len(widget.particles) == 1 and widget.particles["area"].iloc[0] == 10 * 14
    viewer.dims.current_step = (11, 0, 0)  # past the layer's last frame (9): nothing, no error
    assert widget.particles.empty and widget.table.rowCount() == 0
    assert widget.table.horizontalHeaderItem(1).text() == "diameter (px)"
    assert widget.table.horizontalHeaderItem(2).text() == "area (px²)"
    measured = []
    monkeypatch.setattr(measure_module, "measure", lambda *a: measured.append(1) or analysis_measure(*a))
    widget.layer.value = viewer.add_labels(labels[2], name="2-D")
    viewer.dims.current_step = (5, 0, 0)  # the slider moves: a 2-D layer is not measured again
    assert len(measured) == 1


def test_review_keeps_decisions_per_layer_and_finds_its_lineage_after_a_rename(tracked_viewer, qtbot, tmp_path):
    viewer, result = tracked_viewer
    image = viewer.layers["video"]
    show_tracks(viewer, result.labels, result.events, image.scale, image.translate, "B")  # a second run
    assert len(result.events) >= 2
    widget = FusionReviewWidget(viewer)
    widget.labels_layer.value = viewer.layers["video tracked"]
    viewer.layers["video tracked"].name = "run A"
    widget.go_to(0)
    rejected = result.events[0]
    widget.reject()
    graph = viewer.layers["video lineage"].graph
    assert rejected["child"] not in graph and len(graph) == len(result.events) - 1
    assert viewer.layers["B lineage"].graph == {e["child"]: e["parents"] for e in result.events}
    widget.labels_layer.value = viewer.layers["B tracked"]  # another run: none of A's decisions
    assert widget.rejected == [] and widget.accepted == set()
    widget.out_dir.value = tmp_path / "B"
    widget.save()
    qtbot.waitUntil(lambda: widget.jobs.worker is None, timeout=60_000)  # saved in the background
    assert "rejected" not in (tmp_path / "B" / "review.csv").read_text()
    widget.labels_layer.value = viewer.layers["run A"]
    assert widget.rejected == [rejected]


def test_review_shortcuts_leave_with_the_dock(make_napari_viewer, qtbot):
    viewer = make_napari_viewer()
    before = dict(viewer.keymap)
    widget = FusionReviewWidget(viewer)
    dock = viewer.window.add_dock_widget(widget)
    assert len(viewer.keymap) == len(before) + 4
    viewer.window.remove_dock_widget(dock)  # what the dock's close button does
    qtbot.wait(10)
    assert dict(viewer.keymap) == before


def test_a_duplicated_tracked_layer_is_not_taken_for_its_lineage(tracked_viewer):
    viewer, result = tracked_viewer
    from napari.layers import Labels

    copy = Labels(viewer.layers["video tracked"].data.copy(), name="copy",
                  metadata=dict(viewer.layers["video tracked"].metadata))  # as napari's Duplicate Layer copies
    viewer.add_layer(copy)
    widget = FusionReviewWidget(viewer)
    widget.labels_layer.value = viewer.layers["video tracked"]
    widget.go_to(0)
    widget.reject()  # updates the Tracks layer only
    assert len(viewer.layers["video lineage"].graph) == len(result.events) - 1
    assert np.array_equal(copy.data, result.labels)


def test_measurements_on_a_synthetic_image_in_nm(make_napari_viewer):
    viewer = make_napari_viewer()
    layer = viewer.add_labels(synth_image(seed=1).labels, name="parts", scale=(0.5, 0.5))
    widget = MeasurementsWidget(viewer)
    widget.layer.value = layer
    assert widget.table.horizontalHeaderItem(2).text() == "area (nm²)"
    assert float(widget.table.item(0, 2).text()) == pytest.approx(widget.particles["area_nm2"].iloc[0], rel=1e-3)


def test_a_saved_review_is_shown_again_when_its_folder_is_reopened(tracked_viewer, qtbot, tmp_path):
    viewer, result = tracked_viewer
    assert len(result.events) >= 2
    widget = FusionReviewWidget(viewer)
    widget.labels_layer.value = viewer.layers["video tracked"]
    widget.go_to(0)
    widget.accept()
    widget.go_to(1)
    rejected = widget.events[1]
    widget.reject()
    widget.out_dir.value = tmp_path / "reviewed"
    widget.save()
    qtbot.waitUntil(lambda: widget.jobs.worker is None, timeout=60_000)  # saved in the background

    layer, _ = viewer.open(str(tmp_path / "reviewed"), plugin="napari-temseg")
    widget.labels_layer.value = layer
    first = result.events[0]
    assert widget.accepted == {(first["frame"], first["child"])}
    assert widget.rejected == [rejected] and len(widget.events) == len(result.events) - 1
    statuses = [widget.table.item(row, 3).text() for row in range(widget.table.rowCount())]
    assert statuses.count("accepted") == 1 and "rejected" not in statuses


def test_a_results_folder_reopens_at_its_calibration_and_saves_its_nm_columns(make_napari_viewer, qtbot, tmp_path,
                                                                            small_video):
    from napari_temseg.io import write_track_dir

    write_track_dir(tmp_path / "run", small_video.labels, small_video.events, pixel_size_nm=0.5, frame_interval_s=0.25)
    viewer = make_napari_viewer()
    layer, lineage = viewer.open(str(tmp_path / "run"), plugin="napari-temseg")
    assert tuple(layer.scale) == tuple(lineage.scale) == (1.0, 0.5, 0.5)  # lines up with its video in nm
    widget = FusionReviewWidget(viewer)
    widget.save()  # into the folder it came from
    qtbot.waitUntil(lambda: widget.jobs.worker is None, timeout=60_000)
    assert "equivalent_diameter_nm" in (tmp_path / "run" / "tracks.csv").read_text().splitlines()[0]
    assert "diffusion_nm2_per_s" in (tmp_path / "run" / "tracks_summary.csv").read_text()  # and the frame interval


def test_a_layer_scale_in_other_length_units_is_read_as_nm(make_napari_viewer):
    from napari_temseg._widgets._layers import pixel_size_nm

    viewer = make_napari_viewer()
    micrometres = viewer.add_image(np.zeros((8, 8)), scale=(0.0005, 0.0005), units=("um", "um"))
    plain = viewer.add_image(np.zeros((8, 8)), scale=(0.5, 0.5))  # napari's default unit, pixels: taken as nm
    assert pixel_size_nm(micrometres) == pytest.approx(0.5) and pixel_size_nm(plain) == 0.5


def test_results_without_particles_are_shown_once_and_stay_tied_to_their_folder(make_napari_viewer, tmp_path):
    """They have no Tracks layer; showing them again added a second layer and detached the first."""
    from napari_temseg.io.results import write_track_dir

    labels = np.zeros((4, 32, 32), np.uint32)
    write_track_dir(tmp_path / "run", labels, [])
    viewer = make_napari_viewer()
    first = show_tracks(viewer, labels, [], (1, 1, 1), (0, 0, 0), "vid", source=tmp_path / "run")
    again = show_tracks(viewer, labels, [], (1, 1, 1), (0, 0, 0), "vid", source=tmp_path / "run")
    assert [layer.name for layer in viewer.layers] == ["vid tracked"] and again == (first[0], None)
    assert first[0].metadata["temseg"]["source"] == str(tmp_path / "run")


def test_the_frame_interval_comes_from_a_time_axis_in_any_time_unit(make_napari_viewer):
    from napari_temseg._widgets._layers import frame_interval_s

    viewer = make_napari_viewer()
    frames = np.zeros((3, 16, 16), np.float32)
    for unit, step, seconds in (("ms", 500, 0.5), ("us", 500, 5e-4), ("µs", 500, 5e-4), ("h", 0.5, 1800.0),
                                ("minute", 0.5, 30.0)):
        layer = viewer.add_image(frames, scale=(step, 1, 1), units=(unit, "nm", "nm"))
        assert frame_interval_s(layer) == pytest.approx(seconds), unit
    recorded = viewer.add_image(frames, metadata={"temseg": {"frame_interval_s": 2.0}})  # units: pixels
    assert frame_interval_s(recorded) == 2.0
    assert frame_interval_s(viewer.add_image(frames)) is None
