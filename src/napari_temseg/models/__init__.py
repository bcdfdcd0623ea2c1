"""Model registry: the only place that knows every model name.

Each entry maps a name to a builder; heavy frameworks (torch, ultralytics) are
imported by the builder, not here, so listing models stays instant.
Only models that work are registered.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..errors import TemsegError
from .base import Segmenter


def _build_classical(weights: str | None, device: str | None, **options: Any) -> Segmenter:
    from .classical import ClassicalSegmenter

    if weights is not None:
        raise TemsegError("the classical model has no weights; drop --weights")
    return ClassicalSegmenter(**options)


_BUILDERS: dict[str, Callable[..., Segmenter]] = {
    "classical": _build_classical,
}


def available_models() -> list[str]:
    """Names accepted by `load_model`, `segment(model=...)` and the CLI's --model."""
    return list(_BUILDERS)


def load_model(
    name: str, weights: str | None = None, device: str | None = None, **options: Any
) -> Segmenter:
    """Build model `name` once, to call many times; `weights` overrides the default file."""
    if isinstance(name, Segmenter):
        return name
    try:
        builder = _BUILDERS[name]
    except KeyError:
        raise TemsegError(
            f"unknown model {name!r}; available: {', '.join(available_models())}"
        ) from None
    try:
        return builder(weights, device, **options)
    except TypeError as err:
        raise TemsegError(f"bad option for model {name!r}: {err}") from None


__all__ = ["Segmenter", "available_models", "load_model"]
