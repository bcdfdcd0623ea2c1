"""What the widgets share about layers: pickers that follow the viewer's layer list, a layer's pixel
size and frame interval, the camera, and a tracked layer's Tracks layers."""

from __future__ import annotations

from collections.abc import Callable

from magicgui.widgets import ComboBox


def layer_picker(viewer, layer_type: str, label: str, ndim: tuple[int, ...] | None = None,
                 prefer: Callable[[object], bool] | None = None) -> ComboBox:
    """A ComboBox of the viewer's layers of `layer_type` ("image", "labels", "points");
    layers for which `prefer` is true come first (so the default choice is one of them)."""
    import napari.layers

    kind = {"image": napari.layers.Image, "labels": napari.layers.Labels, "points": napari.layers.Points}[layer_type]

    def choices(_=None):
        found = [
            (layer.name, layer)
            for layer in viewer.layers
            if isinstance(layer, kind) and (ndim is None or layer.ndim in ndim)
        ]
        return sorted(found, key=lambda item: not prefer(item[1])) if prefer else found

    combo = ComboBox(label=label, choices=choices)

    def follow_name(layer) -> None:  # a renamed layer shows its new name
        layer.events.name.connect(lambda _: combo.reset_choices())

    def inserted(event) -> None:
        follow_name(event.value)
        combo.reset_choices()

    for layer in viewer.layers:
        follow_name(layer)
    viewer.layers.events.inserted.connect(inserted)
    viewer.layers.events.removed.connect(lambda _: combo.reset_choices())
    return combo


def pixel_size_nm(layer) -> float | None:
    """The layer's pixel size in nm (`io.stacks.pixel_size_from_scale`, in the layer's units);
    None for no layer."""
    from ..io.stacks import pixel_size_from_scale

    if layer is None:
        return None
    recorded = layer.metadata.get("temseg", {}).get("pixel_size_nm")
    return pixel_size_from_scale(layer.scale, recorded, getattr(layer, "units", (None,))[-1])


def frame_interval_s(layer) -> float | None:
    """Seconds between a (T, Y, X) layer's frames: its time axis's scale where that axis's unit
    is a time (set in `add_image(scale=..., units=...)` or by a script), else what our reader
    recorded from the file; None where neither says."""
    from ..io.stacks import to_seconds

    units = tuple(getattr(layer, "units", None) or ())
    given = to_seconds(layer.scale[0], units[0]) if layer.ndim >= 3 and units else None
    return given or layer.metadata.get("temseg", {}).get("frame_interval_s")


def lossy_codec(layer) -> str | None:
    """The lossy codec our reader found the layer's movie in (its burned-in marks are found
    by staying still, `segmentation.with_stack_marks`); None for any other layer."""
    return (layer.metadata.get("temseg") or {}).get("lossy_codec")


def camera(viewer):
    """The viewer's camera (`viewer.scene.camera` since napari 0.9, `viewer.camera` before)."""
    return viewer.scene.camera if hasattr(viewer, "scene") else viewer.camera


def lineage_layers(viewer, tracked) -> list:
    """The Tracks layers of a tracked Labels layer: those with its "lineage" token, else (layers
    made before tokens) the one named as the Track widget names it."""
    import napari.layers

    tracks = [layer for layer in viewer.layers if isinstance(layer, napari.layers.Tracks)]  # not a duplicated copy
    token = tracked.metadata.get("temseg", {}).get("lineage")
    if token:
        return [layer for layer in tracks if layer.metadata.get("temseg", {}).get("lineage") == token]
    return [layer for layer in tracks if layer.name == tracked.name.replace(" tracked", " lineage")]


def lineage_name(tracked) -> str:
    """The Tracks layer's name for a tracked Labels layer ("x tracked" -> "x lineage")."""
    name = tracked.name
    return name[: -len(" tracked")] + " lineage" if name.endswith(" tracked") else f"{name} lineage"


def add_lineage_layer(viewer, tracked, tracks, graph: dict):
    """A Tracks layer for `tracked` (napari Tracks data and graph), on its grid and tied to it
    by its "lineage" token (one is given to a layer that has none)."""
    meta = tracked.metadata.get("temseg", {})
    token = meta.get("lineage")
    if not token:
        import uuid

        token = uuid.uuid4().hex
        tracked.metadata = {**tracked.metadata, "temseg": {**meta, "lineage": token}}
    return viewer.add_tracks(tracks, graph=graph, name=lineage_name(tracked), scale=tracked.scale,
                             translate=tracked.translate, units=tracked.units,
                             metadata={"temseg": {"lineage": token}})
