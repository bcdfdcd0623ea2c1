"""Model options as data: name, default, what values it takes, and a check that says so.

Every model's options are declared once, in its `ModelSpec` (`models.specs`); values
from the CLI (`-o key=value`, already turned into numbers and booleans where they look
like them), the widgets and the Python API are checked against them before anything
runs, so `sigma=abc`, `split=maybe` or a misspelt name is a one-line error naming the
option and what it takes, never a traceback or a silently ignored setting.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import TemsegError

Parser = Callable[[Any], Any]


def parse_option(text: str) -> tuple[str, Any]:
    """'key=value' -> (key, value) with numbers and booleans converted."""
    if "=" not in text:
        raise TemsegError(f"option {text!r} must look like key=value (e.g. sigma=2)")
    key, raw = text.split("=", 1)
    if not key.strip():
        raise TemsegError(f"option {text!r} has no name: it must look like key=value (e.g. sigma=2)")
    lowered = raw.lower()
    if lowered in ("true", "false"):
        return key, lowered == "true"
    for kind in (int, float):
        try:
            return key, kind(raw)
        except ValueError:
            pass
    return key, raw


def number(low: float | None = None, high: float | None = None, *, integer: bool = False) -> Parser:
    """A finite number (an integer when `integer`) within [low, high]."""
    span = f"{'an integer' if integer else 'a number'}" + (
        f" from {low:g} to {high:g}" if low is not None and high is not None
        else f" >= {low:g}" if low is not None else f" <= {high:g}" if high is not None else ""
    )

    def parse(value: Any) -> float | int:
        if isinstance(value, np.integer | np.floating):  # a value taken from an array
            value = value.item()
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise ValueError(span)
        if integer and float(value) != int(value):
            raise ValueError(span)
        if (low is not None and value < low) or (high is not None and value > high):
            raise ValueError(span)
        return int(value) if integer else float(value)

    parse.describe, parse.low, parse.high, parse.integer = span, low, high, integer
    return parse


def boolean(value: Any) -> bool:
    if isinstance(value, bool | np.bool_):
        return bool(value)
    raise ValueError("true or false")


boolean.describe = "true or false"


def choice(*values: Any) -> Parser:
    def parse(value: Any) -> Any:
        if value in values:
            return value
        raise ValueError(" or ".join(str(v) for v in values))

    parse.describe, parse.choices = " or ".join(str(v) for v in values), values
    return parse


def either(*parsers: Parser) -> Parser:
    """The first of `parsers` that accepts the value."""

    def parse(value: Any) -> Any:
        for parser in parsers:
            try:
                return parser(value)
            except ValueError:
                continue
        raise ValueError(parse.describe)

    # None is the default, "not given": not a value anyone types
    parse.describe = ", or ".join(p.describe for p in parsers if p.describe != "None")
    if all(hasattr(p, "choices") for p in parsers):  # a choice among choices: one fixed set
        parse.choices = tuple(c for p in parsers for c in p.choices)
    return parse


def anything(value: Any) -> Any:
    return value


anything.describe = "any value"


def array(value: Any) -> Any:
    """Array-like prompts (points, boxes): their shape is checked by the model that reads them."""
    if value is None or isinstance(value, str | bytes | bool | int | float):
        raise ValueError("an array")
    return value


array.describe = "an array"


def boxes(value: Any) -> tuple[tuple[int, int, int, int], ...]:
    """(M, 4) boxes y0, x0, y1, x1 in px (end-exclusive) as a tuple of int tuples; text (the
    command line, a widget) as "y0,x0,y1,x1;y0,x0,y1,x1"."""
    if isinstance(value, str):
        value = [row.split(",") for row in value.replace(" ", "").split(";") if row]
    try:
        arr = np.asarray(value, dtype=float)
    except (TypeError, ValueError):
        raise ValueError(boxes.describe) from None
    if arr.size == 0:
        return ()
    arr = (arr.reshape(-1, 4) if arr.ndim == 1 and arr.size == 4 else arr).round()
    if (arr.ndim != 2 or arr.shape[1] != 4 or not np.isfinite(arr).all() or (arr < 0).any()
            or (arr[:, 2:] <= arr[:, :2]).any()):
        raise ValueError(boxes.describe)
    return tuple(tuple(int(v) for v in row) for row in arr)


boxes.describe = ("boxes y0, x0, y1, x1 in whole px, y1 > y0 >= 0 and x1 > x0 >= 0: an (M, 4) array, or text "
                  "'y0,x0,y1,x1;y0,x0,y1,x1'")


@dataclass(frozen=True)
class Option:
    """One option: `parse` checks (and normalises) a value and raises ValueError saying what
    it takes; `help` is one line for `temseg models` and tooltips."""

    name: str
    default: Any
    parse: Parser
    help: str = ""

    def check(self, value: Any) -> Any:
        try:
            return self.parse(value)
        except ValueError as err:
            raise TemsegError(f"option {self.name}={value!r}: must be {err}") from None


#: Options the command line takes as flags of their own, not as -o KEY=VALUE.
COMMAND_LINE_FLAGS = {"pixel_size_nm": "--pixel-size"}


def check_options(options: dict, known: Sequence[Option], owner: str) -> dict:
    """`options` with every value checked against `known`; an unknown name is an error that
    lists the known ones."""
    by_name = {option.name: option for option in known}
    unknown = sorted(set(options) - set(by_name))
    if unknown:
        shown = [f"{name} ({COMMAND_LINE_FLAGS[name]} on the command line)" if name in COMMAND_LINE_FLAGS else name
                 for name in sorted(by_name)]
        raise TemsegError(f"unknown option(s) for {owner}: {', '.join(unknown)}; known: {', '.join(shown)}")
    return {key: by_name[key].check(value) for key, value in options.items()}
