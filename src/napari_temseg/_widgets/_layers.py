"""Layer pickers that follow the viewer's layer list."""

from __future__ import annotations

from magicgui.widgets import ComboBox


def layer_picker(viewer, layer_type: str, label: str, ndim: tuple[int, ...] | None = None) -> ComboBox:
    """A ComboBox of the viewer's layers of `layer_type` ("image", "labels", "points")."""
    import napari.layers

    kind = {"image": napari.layers.Image, "labels": napari.layers.Labels, "points": napari.layers.Points}[layer_type]

    def choices(_=None):
        return [
            (layer.name, layer)
            for layer in viewer.layers
            if isinstance(layer, kind) and (ndim is None or layer.ndim in ndim)
        ]

    combo = ComboBox(label=label, choices=choices)
    viewer.layers.events.inserted.connect(lambda _: combo.reset_choices())
    viewer.layers.events.removed.connect(lambda _: combo.reset_choices())
    return combo

