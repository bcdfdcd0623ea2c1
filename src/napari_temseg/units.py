"""Units of length and time as files record them and users type them: one reading for
calibrations, --pixel-size, --scale-bar and the diameter option."""

from __future__ import annotations

import re
from typing import Any

import numpy as np

from .errors import TemsegError

#: Length units rosettasciio and TIFF tags use, in nm.
NM_PER_UNIT = {
    "nm": 1.0, "nanometer": 1.0, "nanometers": 1.0, "nanometre": 1.0, "nanometres": 1.0,
    "µm": 1e3, "μm": 1e3, "um": 1e3, "micron": 1e3, "microns": 1e3, "micrometer": 1e3, "micrometers": 1e3,
    "micrometre": 1e3, "micrometres": 1e3,
    "å": 0.1, "a": 0.1, "angstrom": 0.1, "angstroms": 0.1, "ångström": 0.1, "ångströms": 0.1,
    "pm": 1e-3, "mm": 1e6, "m": 1e9, "cm": 1e7, "inch": 2.54e7, "in": 2.54e7,
}


#: Time units of ImageJ's `tunit` and rosettasciio's time axes, in seconds.
SECONDS_PER_UNIT = {"s": 1.0, "sec": 1.0, "second": 1.0, "seconds": 1.0, "ms": 1e-3, "msec": 1e-3,
                    "millisecond": 1e-3, "milliseconds": 1e-3, "µs": 1e-6, "μs": 1e-6, "us": 1e-6,
                    "microsecond": 1e-6, "microseconds": 1e-6, "ns": 1e-9, "nanosecond": 1e-9, "nanoseconds": 1e-9,
                    "min": 60.0, "minute": 60.0, "minutes": 60.0, "h": 3600.0, "hr": 3600.0, "hour": 3600.0,
                    "hours": 3600.0}


def unit_key(unit: Any) -> str:
    """`unit` as the tables above spell it: ImageJ writes non-ASCII units escaped in its
    header (`\\u00B5m`, `\\u00C5` for Fiji's Å, `\\u00B5s`), decoded here."""
    text = re.sub(r"\\u([0-9a-fA-F]{4})", lambda m: chr(int(m.group(1), 16)), str(unit or ""))
    return text.strip().lower()


def to_nm(value: float, unit: str | None) -> float | None:
    """A length in `unit` as nm, or None for an unknown or missing unit."""
    if not unit:
        return None
    factor = NM_PER_UNIT.get(unit_key(unit))
    return None if factor is None or not value else as_read(float(value) * factor)


def as_read(nm: float) -> float:
    """A calibration as files and users mean it: to 7 digits (a float32's; far below any calibration's
    accuracy). 3.7 Å is 0.37000000000000005 nm, 3.7e-10 m stored in float32 0.370000003, and
    resolution tags in cm 0.13700000000037027: printed so, and the same pixel size read two
    ways was reported as "pixel sizes differ"."""
    return float(f"{nm:.7g}")


#: A number and its unit as typed: "50", "50nm", "0.5 µm", "5e-1um", "500Å".
_TYPED_LENGTH = re.compile(r"\s*([+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?)\s*([^\s0-9.]*)\s*")

#: The length units a user may type, for messages.
TYPED_UNITS = "nm, µm (um), Å (A)"


def typed_length(text: Any) -> tuple[float, str] | None:
    """A length as typed ("12", "12nm", "0.5 µm", "50 Å") as (number, unit key; "" where no
    unit was typed), or None where it is no number with a unit."""
    match = _TYPED_LENGTH.fullmatch(str(text))
    return None if match is None else (float(match.group(1)), unit_key(match.group(2)))


def length_in_nm(text: Any) -> float | None:
    """A length typed with a unit of NM_PER_UNIT, or none (nm), as nm; None where it is not
    one (another unit, no number, not positive and finite). One reading for --pixel-size,
    --scale-bar and the diameter option."""
    return _typed_quantity(text, NM_PER_UNIT, "nm")


def _typed_quantity(text: Any, per_unit: dict[str, float], default: str) -> float | None:
    """A number typed with a unit of `per_unit` (or none: `default`) in `per_unit`'s base
    unit; None where it is not one (another unit, no number, not positive and finite)."""
    typed = typed_length(text)  # the form: a number, then a unit
    if typed is None:
        return None
    number, unit = typed
    factor = per_unit.get(unit or default)
    value = number * factor if factor is not None else None
    return as_read(value) if value is not None and np.isfinite(value) and value > 0 else None


#: The time units a user may type, for messages.
TYPED_TIME_UNITS = "s, ms, µs (us), min, h"


def time_in_seconds(text: Any) -> float | None:
    """A time typed with a unit of SECONDS_PER_UNIT, or none (s), as seconds ("0.2", "200ms",
    "2 min"); None where it is not one (another unit, no number, not positive and finite)."""
    return _typed_quantity(text, SECONDS_PER_UNIT, "s")


def check_calibration(name: str, value: Any) -> None:
    """Refuse a pixel size or frame interval that is no positive finite number (None: unknown,
    allowed); a negative one gave negative sizes and speeds without a word."""
    if value is not None and not (isinstance(value, int | float | np.number) and not isinstance(value, bool)
                                  and np.isfinite(value) and value > 0):
        raise TemsegError(f"{name} must be a positive number (or None: unknown), not {value!r}")
