"""Measurements: a table of the particles of a Labels layer and their size histogram.

Bound to one Labels layer (on a stack, the frame the time slider shows): selecting a row
selects that particle in the layer and centres the view on it; picking a particle in the
layer selects its row; editing the labels refreshes table and histogram. Sizes are in nm
where the layer's scale carries the pixel size (as layers from our reader and widgets do:
square pixels only) or where one is typed, else in px; the headers say which. Export
writes the table (CSV) or the histogram (PNG).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from magicgui.widgets import Container, FloatSpinBox, PushButton
from napari_matplotlib.base import NapariMPLWidget
from qtpy.QtWidgets import QAbstractItemView, QFileDialog, QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget

from ..analysis import measure, size_statistics
from ..errors import TemsegError
from ..plots import note_lines, size_distribution_png
from ._layers import camera, layer_picker, pixel_size_nm

#: Table columns shown (the CSV export has every column of `analysis.measure`).
SHOWN = ["label", "equivalent_diameter", "area", "aspect_ratio", "circularity", "solidity", "touches_border"]
#: Shown columns that have a unit: (column with the pixel size known, header).
SIZED = {"equivalent_diameter": ("equivalent_diameter_nm", "diameter ({})"), "area": ("area_nm2", "area ({}²)")}


class MeasurementsWidget(QWidget):
    """Plugins > napari-temseg > Measurements."""

    def __init__(self, napari_viewer) -> None:
        super().__init__()
        self.viewer = napari_viewer
        self.layer = layer_picker(napari_viewer, "labels", "labels")
        self.pixel_size = FloatSpinBox(label="nm/px (0: layer scale)", value=0.0, min=0.0, max=1e6, step=0.01,
                                       tooltip="0: from the layer's scale when it is not 1 and the same along Y "
                                               "and X, else sizes in px")
        self.scale_bar = FloatSpinBox(label="scale bar (nm)", value=0.0, min=0.0, max=1e7, step=1.0,
                                      tooltip="the length of the scale bar burned into the segmented image: "
                                              "nm/px is this over its length in px (measured by the Segment dock)")
        self.export_csv_button = PushButton(text="Export CSV")
        self.export_png_button = PushButton(text="Export PNG")
        self.controls = Container(widgets=[self.layer, self.pixel_size, self.scale_bar, self.export_csv_button,
                                           self.export_png_button])
        self.table = QTableWidget()
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setMinimumHeight(180)
        self.histogram = NapariMPLWidget(napari_viewer)
        self.histogram.setMinimumHeight(220)
        layout = QVBoxLayout(self)
        for widget in (self.controls.native, self.table, self.histogram):
            layout.addWidget(widget)
        self.particles = pd.DataFrame()
        self._bound = None
        self._syncing = False
        self.layer.changed.connect(self._bind)
        self.pixel_size.changed.connect(self.refresh)
        self.scale_bar.changed.connect(self._scale_bar_typed)
        self.export_csv_button.clicked.connect(lambda: self._ask_and_export("csv"))
        self.export_png_button.clicked.connect(lambda: self._ask_and_export("png"))
        self.table.itemSelectionChanged.connect(self._row_selected)
        self._shown_frame = None  # which frame the table shows (`_slider_moved`)
        napari_viewer.dims.events.current_step.connect(self._slider_moved)
        self._bind()

    # -- binding to a layer ----------------------------------------------------------------

    def _bind(self, *_) -> None:
        if self._bound is not None:
            for event in (self._bound.events.data, self._bound.events.paint, self._bound.events.labels_update):
                event.disconnect(self.refresh)
            self._bound.events.selected_label.disconnect(self._label_picked)
        self._bound = self.layer.value
        if self._bound is not None:
            for event in (self._bound.events.data, self._bound.events.paint, self._bound.events.labels_update):
                event.connect(self.refresh)
            self._bound.events.selected_label.connect(self._label_picked)
        self.refresh()

    def nm_per_pixel(self) -> float | None:
        """The typed pixel size, else the typed scale bar's length over the bar's in px (the
        Segment dock measured it), else the layer's (`pixel_size_nm`)."""
        if self.pixel_size.value > 0:
            return float(self.pixel_size.value)
        bar = self.scale_bar_px()
        if self.scale_bar.value > 0 and bar:
            return float(self.scale_bar.value) / bar
        return pixel_size_nm(self.layer.value)

    def scale_bar_px(self) -> int | None:
        """The length of the scale bar in the layer's image, as the Segment dock measured it."""
        layer = self.layer.value
        return layer.metadata.get("temseg", {}).get("scale_bar_px") if layer is not None else None

    def _scale_bar_typed(self, *_) -> None:
        if self.scale_bar.value > 0 and not self.scale_bar_px():
            from napari.utils.notifications import show_warning

            show_warning("no scale bar was measured in this layer's image (segment the image with the Segment "
                         "dock first, or it has no flat burned-in bar): type the pixel size instead")
        self.refresh()

    def frame_index(self) -> tuple[int, ...] | None:
        """Which (Y, X) plane of the layer the viewer shows: () for a 2-D layer, the leading
        indices of a stack at the time slider (through world coordinates: the layer may start
        later or be scaled in time); None where the slider is outside the layer's frames."""
        layer = self.layer.value
        if layer is None:
            return None
        shape = layer.data.shape
        leading = np.round(layer.world_to_data(self.viewer.dims.point)[: len(shape) - 2]).astype(int)
        if np.any(leading < 0) or np.any(leading >= np.asarray(shape[:-2], dtype=int)):
            return None
        return tuple(int(i) for i in leading)

    def marks(self) -> tuple:
        """The boxes of the burned-in marks the Segment dock left out of the layer's image."""
        return tuple(map(tuple, self.layer.value.metadata.get("temseg", {}).get("annotations", ())))

    # -- table and histogram ---------------------------------------------------------------

    def _slider_moved(self, *_) -> None:
        """Measure again only when the slider moved to another of the layer's frames (a 2-D
        layer never): measuring runs on the GUI thread."""
        if self.frame_index() != self._shown_frame:
            self.refresh()

    def refresh(self, *_) -> None:
        self._shown_frame = index = self.frame_index()
        frame = None if index is None else np.asarray(self.layer.value.data[index])
        self.particles = measure(frame, self.nm_per_pixel(), self.marks()) if frame is not None else pd.DataFrame()
        nm = "equivalent_diameter_nm" in self.particles.columns
        columns = [SIZED[c][0] if nm and c in SIZED else c for c in SHOWN]
        headers = [SIZED[c][1].format("nm" if nm else "px") if c in SIZED else c.replace("_", " ") for c in SHOWN]
        self._syncing = True
        self.table.clear()
        self.table.setColumnCount(len(columns))
        self.table.setHorizontalHeaderLabels(headers)
        self.table.setRowCount(len(self.particles))
        for row, values in enumerate(self.particles[columns].itertuples(index=False) if len(self.particles) else []):
            for col, value in enumerate(values):
                text = f"{value:.4g}" if isinstance(value, float) else str(value)
                self.table.setItem(row, col, QTableWidgetItem(text))
        self._syncing = False
        self._draw_histogram()

    @property
    def diameters(self) -> np.ndarray:
        """The diameters in the histogram: border particles left out, nm where known."""
        if self.particles.empty:
            return np.zeros(0)
        kept = self.particles[~self.particles["touches_border"].astype(bool)]
        column = "equivalent_diameter_nm" if "equivalent_diameter_nm" in kept.columns else "equivalent_diameter"
        return kept[column].to_numpy(float)

    def _draw_histogram(self) -> None:
        figure = self.histogram.figure
        figure.clear()
        axes = figure.add_subplot(111)
        stats = size_statistics(self.particles) if len(self.particles) else None
        if self.diameters.size:
            axes.hist(self.diameters, bins=max(5, min(30, self.diameters.size // 2)), color="0.7", edgecolor="0.3")
            cut = stats["border_excluded"]
            left_out = f" ({cut} at the border left out)" if cut else ""  # it said so when none were
            noted = "".join(f"\n{line}" for line in note_lines(stats, self.diameters))
            axes.set_title(f"N = {stats['count']}{left_out}, D50 = {stats['d50']:.3g} {stats['unit']}{noted}",
                           fontsize=9)
        self.histogram.setToolTip(stats["note"] if stats else "")
        unit = stats["unit"] if stats else "px"
        axes.set_xlabel(f"equivalent diameter ({unit})")
        axes.set_ylabel("particles")
        self.histogram.canvas.draw_idle()

    # -- selection, both ways --------------------------------------------------------------

    def _row_selected(self) -> None:
        rows = self.table.selectionModel().selectedRows()
        if self._syncing or not rows or self.layer.value is None:
            return
        row = self.particles.iloc[rows[0].row()]
        layer = self.layer.value
        self._syncing = True
        layer.selected_label = int(row["label"])
        self._syncing = False
        scale = np.asarray(layer.scale[-2:])
        centre = np.array([row["centroid_y"], row["centroid_x"]]) * scale + np.asarray(layer.translate[-2:])
        view = camera(self.viewer)
        view.center = (*view.center[:-2], *centre)

    def _label_picked(self, *_) -> None:
        if self._syncing or self.particles.empty:
            return
        matches = np.flatnonzero(self.particles["label"].to_numpy() == self.layer.value.selected_label)
        self._syncing = True
        if len(matches):
            self.table.selectRow(int(matches[0]))
        else:
            self.table.clearSelection()
        self._syncing = False

    # -- export ----------------------------------------------------------------------------

    def _check_exportable(self) -> None:
        if self.particles.empty:
            raise TemsegError("nothing to export: pick a Labels layer with particles (on a stack, a frame it has)")

    def export_csv(self, path: str | Path) -> Path:
        """The table as `temseg segment` writes particles.csv: the image (the layer; on a stack,
        the frame too) and the pixel size the sizes are in lead every row, so that the file says
        which calibration it used."""
        self._check_exportable()
        table = self.particles.copy()
        table.insert(0, "image", self.layer.value.name)
        if self._shown_frame:
            table.insert(1, "frame", self._shown_frame[0] if len(self._shown_frame) == 1 else str(self._shown_frame))
        table.insert(table.columns.get_loc("label"), "pixel_size_nm", self.nm_per_pixel())
        table.to_csv(path, index=False)
        return Path(path)

    def export_png(self, path: str | Path) -> Path:
        """The size distribution as `temseg segment` draws it (log-normal fit, statistics; a
        fixed size, not the dock's)."""
        self._check_exportable()
        return size_distribution_png(self.particles, path)

    def _ask_and_export(self, kind: str) -> None:
        from napari.utils.notifications import show_error

        try:
            self._check_exportable()
            path, _ = QFileDialog.getSaveFileName(self, f"Export {kind.upper()}", f"particles.{kind}", f"*.{kind}")
            if path:
                (self.export_csv if kind == "csv" else self.export_png)(path)
        except TemsegError as err:
            show_error(str(err))
        except OSError as err:
            show_error(f"{path}: cannot write ({err.strerror or err})")
