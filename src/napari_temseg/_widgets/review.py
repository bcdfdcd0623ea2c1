"""Review fusions: step through fusion events with the time slider; accept, reject or re-track.

The event list lives in the tracked Labels layer's metadata["temseg"]["events"]
(the Track widget and the results reader put it there), with the review's decisions
("accepted", "rejected") beside it, so that each layer keeps its own; every edit goes
through `tracking.review` and is written back to that layer. Its Tracks layer is the one
whose metadata carries the same "lineage" token, whatever either is renamed to.
"""

from __future__ import annotations

import weakref
from pathlib import Path

import numpy as np
from magicgui.widgets import Container, FileEdit, Label, PushButton
from napari.layers import Image
from qtpy.QtCore import QEvent, QObject
from qtpy.QtWidgets import QAbstractItemView, QTableWidget, QTableWidgetItem

from ..errors import TemsegError
from ..io import write_review
from ..io.results import results_method, results_options
from ..tracking import LinkOptions, split_options
from ..tracking.lineage import lineage_graph, napari_tracks_data, tracks_table
from ..tracking.review import event_centre, iter_retrack_from, reject_fusion
from ._layers import add_lineage_layer, camera, layer_picker, lineage_layers, pixel_size_nm
from ._runner import WorkerControls

HIGHLIGHT = "fusion highlight"
COLUMNS = ["frame", "child", "parents", "status"]


class FusionReviewWidget(Container):
    """Plugins > napari-temseg > Review fusions."""

    def __init__(self, napari_viewer) -> None:
        super().__init__()
        self.viewer = napari_viewer
        self.labels_layer = layer_picker(napari_viewer, "labels", "tracked labels", ndim=(3,), prefer=has_events)
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setMinimumHeight(180)  # several events in view (it showed one and a half rows)
        buttons = {name: PushButton(text=name) for name in ("Previous", "Next", "Accept", "Reject", "Save")}
        self.jobs = WorkerControls("Re-track from this frame")  # re-track and Save run in the background
        self.out_dir = FileEdit(label="save to", mode="d", value="",
                                tooltip="empty: the results folder the layer came from, else you are asked")
        self.status = Label(value="")
        self.extend([self.labels_layer, *buttons.values(), self.jobs, self.out_dir, self.status])
        self.native.layout().insertWidget(1, self.table)
        self.current = -1
        self.labels_layer.changed.connect(self.refresh)
        self.table.itemSelectionChanged.connect(self._on_select)
        actions = {
            "Previous": lambda: self.step(-1), "Next": lambda: self.step(1), "Accept": self.accept,
            "Reject": self.reject, "Save": self.save,
        }
        for name, action in actions.items():
            buttons[name].clicked.connect(action)
        self.jobs.run_button.clicked.connect(self.retrack)
        me = weakref.ref(self)  # the viewer's keymap must not keep a closed dock alive

        def shortcut(method: str, *args):
            def run(_viewer):
                widget = me()
                if widget is not None:
                    getattr(widget, method)(*args)
            return run

        shortcuts = {"Alt-N": shortcut("step", 1), "Alt-P": shortcut("step", -1), "Alt-A": shortcut("accept"),
                     "Alt-R": shortcut("reject")}
        for key, run in shortcuts.items():
            napari_viewer.bind_key(key, run, overwrite=True)
        unbind = lambda *_: unbind_keys(napari_viewer, shortcuts)  # noqa: E731
        self._undocked = UndockWatcher(self.native, unbind)  # napari's close button takes it out of its dock
        self.native.destroyed.connect(unbind)
        self.refresh()

    # -- state -------------------------------------------------------------------------------

    def _state(self) -> dict:
        layer = self.labels_layer.value
        return {} if layer is None else layer.metadata.get("temseg", {})

    @property
    def events(self) -> list[dict]:
        return list(self._state().get("events", []))

    @property
    def accepted(self) -> set[tuple[int, int]]:
        """(frame, child) of the events accepted on this layer."""
        return {tuple(key) for key in self._state().get("accepted", [])}

    @property
    def rejected(self) -> list[dict]:
        """The events rejected on this layer (kept for review.csv)."""
        return list(self._state().get("rejected", []))

    def _update_state(self, layer=None, **changes) -> None:
        layer = layer or self.labels_layer.value
        meta = dict(layer.metadata)
        meta["temseg"] = {**meta.get("temseg", {}), **changes}
        layer.metadata = meta

    def _set_events(self, events: list[dict], labels: np.ndarray | None = None, layer=None, **changes) -> None:
        layer = layer or self.labels_layer.value
        if labels is not None:
            layer.data = labels
        self._update_state(layer, events=events, **changes)
        self._refresh_tracks_layer(layer, events)
        self.refresh()

    def _refresh_tracks_layer(self, layer, events: list[dict]) -> None:
        """The Tracks layers follow the labels: a re-track that finds particles where there
        were none gets one, one that leaves none removes them (napari has no empty Tracks)."""
        table = tracks_table(np.asarray(layer.data))
        shown = lineage_layers(self.viewer, layer)
        if not len(table):
            for other in shown:
                self.viewer.layers.remove(other)
            return
        data, graph = napari_tracks_data(table), lineage_graph(events)
        if not shown:
            add_lineage_layer(self.viewer, layer, data, graph)
        for other in shown:
            other.data = data
            other.graph = graph

    def refresh(self, *_) -> None:
        events, accepted = self.events, self.accepted
        self.table.setRowCount(len(events))
        for row, ev in enumerate(events):
            key = (ev["frame"], ev["child"])
            values = [ev["frame"], ev["child"], ";".join(map(str, ev["parents"])),
                      "accepted" if key in accepted else "to review"]
            for col, value in enumerate(values):
                self.table.setItem(row, col, QTableWidgetItem(str(value)))
        self.status.value = f"{len(events)} fusion event(s)"

    # -- navigation --------------------------------------------------------------------------

    def _on_select(self) -> None:
        rows = self.table.selectionModel().selectedRows()
        if rows:
            self.go_to(rows[0].row())

    def go_to(self, index: int) -> None:
        """Show event `index`: time slider just before it, camera on the child, parents and child marked."""
        events, layer = self.events, self.labels_layer.value
        if not events or layer is None:
            return
        index = int(np.clip(index, 0, len(events) - 1))
        self.current = index
        ev = events[index]
        data = np.asarray(layer.data)
        step = list(self.viewer.dims.current_step)
        step[-3] = max(ev["frame"] - 1, 0)
        self.viewer.dims.current_step = tuple(step)
        try:
            centre = event_centre(data, ev)
        except TemsegError:  # the child was painted over in its first frame
            centre = None
        if centre is not None:
            scale, translate = np.asarray(layer.scale[-2:]), np.asarray(layer.translate[-2:])
            camera(self.viewer).center = tuple(np.array(centre) * scale + translate)
        self._highlight(data, ev, layer, centre)
        layer.selected_label = ev["child"]
        if self.table.currentRow() != index:
            self.table.blockSignals(True)
            self.table.selectRow(index)
            self.table.blockSignals(False)
        missing = "" if centre is not None else (f" (child {ev['child']} is not in frame {ev['frame']}: edited? "
                                                 "re-track from that frame)")
        self.status.value = (f"event {index + 1}/{len(events)}: {ev['parents']} -> {ev['child']} at frame "
                             f"{ev['frame']}{missing}")

    def _highlight(self, data: np.ndarray, ev: dict, layer, centre: tuple[float, float] | None) -> None:
        """Mark the parents (cyan) in the frame before the event and the child (magenta, at
        `centre`, where it is in its first frame) there and in its first frame: the slider
        stops before the event, where the child's ring alone was not shown (napari draws a
        points layer's other frames only with a slice thickness)."""
        points, colours = [], []
        before = max(ev["frame"] - 1, 0)
        for pid in ev["parents"]:
            ys, xs = np.nonzero(data[before] == pid)
            if len(ys):
                points.append([before, ys.mean(), xs.mean()])
                colours.append("cyan")
        if centre is not None:
            for t in sorted({before, ev["frame"]}):
                points.append([t, *centre])
                colours.append("magenta")
        # the labels' units too: napari stops using units when layers disagree
        kwargs = {"scale": layer.scale, "translate": layer.translate, "units": layer.units}
        if HIGHLIGHT in self.viewer.layers:
            self.viewer.layers.remove(HIGHLIGHT)
        self.viewer.add_points(
            np.array(points), name=HIGHLIGHT, face_color=colours, size=12, symbol="ring",
            projection_mode="all", **kwargs,
        )
        self.viewer.layers.selection.active = layer

    def step(self, delta: int) -> None:
        if self.events:
            self.go_to((self.current + delta) % len(self.events) if self.current >= 0 else 0)

    # -- edits -------------------------------------------------------------------------------

    def _guard(self, action, need_event: bool = True) -> None:
        """Run an edit; input problems become a notification, not a traceback."""
        from napari.utils.notifications import show_error

        if self.labels_layer.value is None:
            show_error("choose a tracked labels layer first")
            return
        if need_event and not 0 <= self.current < len(self.events):
            show_error("select a fusion event first")
            return
        if self.jobs.worker is not None:
            show_error("a re-track or save is running: wait for it, or cancel it")
            return
        try:
            action()
        except TemsegError as err:
            show_error(str(err))

    def accept(self) -> None:
        def do():
            ev = self.events[self.current]
            self._update_state(accepted=sorted(self.accepted | {(ev["frame"], ev["child"])}))
            self.refresh()

        self._guard(do)

    def reject(self) -> None:
        """Restore the parents' IDs and remove the event."""

        def do():
            labels = np.array(self.labels_layer.value.data, dtype=np.uint32)
            rejected = [*self.rejected, self.events[self.current]]
            events = reject_fusion(labels, self.events, self.current)
            self._set_events(events, labels, rejected=rejected)
            self.current = min(self.current, len(events) - 1)

        self._guard(do)

    def retrack(self) -> None:
        """Trust the current frame as edited with napari's label tools and re-link what
        follows, in the background (progress and Cancel below the button); the layer gets the
        result when it is done, a cancelled re-track leaves it as it was."""

        def do():
            layer = self.labels_layer.value
            frame = int(self.viewer.dims.current_step[-3])
            labels = np.array(layer.data, dtype=np.uint32)
            accepted = {(e["frame"], frozenset(e["parents"])) for e in self.events
                        if (e["frame"], e["child"]) in self.accepted}

            def done(events: list[dict]) -> str:
                # a re-tracked child gets a new ID: an event keeps its acceptance by frame and parents
                kept = sorted((e["frame"], e["child"]) for e in events if (e["frame"], frozenset(e["parents"])) in accepted)
                self._set_events(events, labels, layer, accepted=kept)
                return f"re-tracked from frame {frame}: {len(events)} fusion event(s)"

            options, method = self._link_settings()
            self._run_watching(layer, iter_retrack_from,
                               (labels, self.events, frame, options, self._video_of(labels), method), done)

        self._guard(do, need_event=False)

    def _run_watching(self, layer, job, args: tuple, on_done) -> None:
        """Run a re-track of `layer`'s labels in the background; a brush stroke, fill or erase
        made meanwhile keeps the layer as painted and the result is not applied (it was
        computed from the labels before the stroke). The layer stays editable: locking it
        would clear napari's undo history and its painting mode."""
        edited = []

        def mark(*_) -> None:
            edited.append(True)

        def unwatch() -> None:
            layer.events.paint.disconnect(mark)
            self.jobs.when_idle.remove(unwatch)

        def done(result):
            if edited:
                return "re-track not applied: the layer was painted while it ran; re-track again"
            return on_done(result)

        layer.events.paint.connect(mark)
        self.jobs.when_idle.append(unwatch)
        self.jobs.start(job, args, done)

    def _link_settings(self) -> tuple[LinkOptions, str]:
        """The linking options and method the layer's results were tracked with (its folder's
        run), so a re-track links as the run did (fusion after N frames, gaps; propagation
        dates no fusion by its neck); the defaults otherwise."""
        source = self._state().get("source")
        if not source:
            return LinkOptions(), "link"
        try:
            return split_options(results_options(source))[0], results_method(source)
        except TemsegError:  # a run.json written by hand or by another version
            return LinkOptions(), results_method(source)

    def _video_of(self, labels: np.ndarray):
        """The image layer the labels were tracked on (same frames and size), if one is open:
        the linker dates fusions by it as tracking did."""
        return next((layer.data for layer in self.viewer.layers
                     if isinstance(layer, Image) and tuple(layer.data.shape[:3]) == labels.shape), None)

    def save_folder(self) -> Path | None:
        """The chosen folder, else the results folder the layer came from, else one the user picks."""
        chosen = str(self.out_dir.value).strip()
        if chosen and chosen != ".":
            return Path(chosen)
        source = self._state().get("source")
        if source:
            return Path(source)
        from qtpy.QtWidgets import QFileDialog

        picked = QFileDialog.getExistingDirectory(self.native, "Save the reviewed results to")
        return Path(picked) if picked else None

    def save(self) -> None:
        """Write the reviewed results in the layout `temseg track` uses (nm columns where the
        layer's scale carries the pixel size), with each event's review status in events.csv
        and every decision, rejections included, in review.csv."""

        def do():
            out = self.save_folder()
            if out is None:
                self.status.value = "not saved: no folder chosen"
                return
            layer = self.labels_layer.value
            # labels in memory are saved as they are now (a stroke meanwhile goes in the next Save);
            # a large video's store is the folder's own, written beside it and swapped in
            labels = np.array(layer.data) if isinstance(layer.data, np.ndarray) else layer.data
            args = (out, labels, self.events, self.accepted, self.rejected, pixel_size_nm(layer),
                    self._state().get("frame_interval_s"), self._state().get("pixel_yx_nm"), self._state().get("source"),
                    self._state().get("run"))
            self.jobs.start(_save_job, args, lambda saved: f"saved to {saved}")

        self._guard(do, need_event=False)


def _save_job(*args):
    """`io.write_review` as a job for the worker (one step: Cancel before it starts, not in
    the middle of writing)."""
    yield 0, 1
    return write_review(*args)


def has_events(layer) -> bool:
    """Whether a Labels layer holds tracking results (fusion events in its metadata)."""
    return "events" in layer.metadata.get("temseg", {})


class UndockWatcher(QObject):
    """Calls `gone` when `widget` leaves the dock it was put in: napari's close button does
    that (it sets the widget's parent to None) without deleting the widget."""

    def __init__(self, widget, gone) -> None:
        super().__init__(widget)
        self._gone = gone
        widget.installEventFilter(self)

    def eventFilter(self, watched, event) -> bool:  # noqa: N802 - Qt's name
        if event.type() == QEvent.Type.ParentChange and watched.parent() is None:
            self._gone()
        return False


def unbind_keys(viewer, shortcuts: dict) -> None:
    """Take the review's shortcuts off the viewer when its dock closes (a key since bound to
    something else keeps that); a viewer closed first has no keymap left to clean."""
    for key, shortcut in shortcuts.items():
        try:
            unbound = viewer.bind_key(key, None)
        except AttributeError:  # the viewer was closed before its docks: its keymap is gone
            return
        if unbound is not None and unbound is not shortcut:
            viewer.bind_key(key, unbound)
