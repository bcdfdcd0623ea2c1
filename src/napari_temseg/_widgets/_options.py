"""Widgets for model options, generated from the models' specs (`models.specs`).

One widget per option, chosen by the option's default and its check: a check box for
true/false, a spin box for a bounded number, a drop-down for a fixed set of values, a
line edit otherwise (numbers typed there are read as numbers). The values go through the
option's own check, so the widget accepts exactly what the CLI and the API accept.
"""

from __future__ import annotations

from typing import Any

from magicgui.widgets import CheckBox, ComboBox, Container, FloatSpinBox, LineEdit, SpinBox, Widget

from ..errors import TemsegError
from ..models.options import Option, parse_option
from ._layers import pixel_size_nm


def polarity_picker() -> ComboBox:
    """The particles' polarity, as the Segment and Track widgets offer it."""
    return ComboBox(label="particles", choices=["auto", "dark", "bright"], value="auto",
                    tooltip="auto: decided from the image; dark: bright-field TEM; bright: dark-field/HAADF")


def diameter_edit() -> LineEdit:
    """The typical particle diameter, as the Segment and Track widgets offer it."""
    return LineEdit(label="diameter", value="auto",
                    tooltip="typical particle diameter: auto (measured), none (keep the image's scale), "
                            "a number of pixels, or e.g. 12nm when the image has a pixel size")


def scale_options(polarity: ComboBox, diameter: LineEdit, layer) -> dict[str, Any]:
    """polarity and diameter as the models take them, with the layer's pixel size (its scale)
    where the diameter is typed in nm."""
    from ..segmentation import in_nm, with_nm_pixel_size

    options = {"polarity": polarity.value, "diameter": diameter.value.strip() or "auto"}
    y, x = (float(v) for v in tuple(layer.scale)[-2:]) if layer is not None else (1.0, 1.0)
    if in_nm(options["diameter"]) and y != x:  # no one pixel size for both axes (it said "unknown")
        raise TemsegError(f"diameter {options['diameter']!r} is a length, but the layer's pixels are not square "
                          f"({y:g} x {x:g} per pixel): give the diameter in px, or resample to square pixels")
    return with_nm_pixel_size(options, pixel_size_nm(layer))


def option_widget(option: Option) -> Widget:
    """The widget for one option, showing its default; its tooltip is the option's help."""
    parse, default, label = option.parse, option.default, option.name.replace("_", " ")
    common = {"label": label, "tooltip": option.help, "name": option.name}
    if isinstance(default, bool) and getattr(parse, "choices", None) is None:
        return CheckBox(value=default, **common)
    choices = getattr(parse, "choices", None)
    if choices is not None and default in choices:
        return ComboBox(choices=[c for c in choices if c is not None] or [default], value=default, **common)
    low, high = getattr(parse, "low", None), getattr(parse, "high", None)
    if isinstance(default, int) and not isinstance(default, bool) and getattr(parse, "integer", False):
        return SpinBox(value=default, min=int(low if low is not None else -(10**9)), max=int(high or 10**9), **common)
    if isinstance(default, float) and low is not None and high is not None:
        step = 0.05 if high - low <= 5 else 1.0
        return FloatSpinBox(value=default, min=low, max=high, step=step, **common)
    return LineEdit(value="" if default is None else str(default), **common)


def widget_value(widget: Widget, option: Option) -> Any:
    """The widget's value as the option takes it (typed text is read as the CLI reads -o values)."""
    value = widget.value
    if isinstance(widget, LineEdit):
        text = value.strip()
        value = option.default if text == "" else parse_option(f"{option.name}={text}")[1]
    return option.check(value)


class OptionsPanel(Container):
    """The widgets of one model's options (all but those named in `skip`)."""

    def __init__(self, options: tuple[Option, ...], skip: tuple[str, ...] = ()) -> None:
        super().__init__(labels=True)
        self.specs = {o.name: o for o in options if o.name not in skip}
        self.extend([option_widget(o) for o in self.specs.values()])

    def values(self) -> dict[str, Any]:
        """{option: value} for every option that differs from its default."""
        out = {}
        for name, option in self.specs.items():
            value = widget_value(self[name], option)
            if value != option.default:
                out[name] = value
        return out
