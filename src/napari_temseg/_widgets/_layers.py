"""Layer pickers that follow the viewer's layer list."""

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
    viewer.layers.events.inserted.connect(lambda _: combo.reset_choices())
    viewer.layers.events.removed.connect(lambda _: combo.reset_choices())
    return combo


def camera(viewer):
    """The viewer's camera (`viewer.scene.camera` since napari 0.9, `viewer.camera` before)."""
    return viewer.scene.camera if hasattr(viewer, "scene") else viewer.camera
