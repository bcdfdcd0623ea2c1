"""Model registry: the models `specs` describes, built on demand.

Heavy frameworks (torch, ultralytics) are imported by each model's builder, not here, so
listing models stays instant. Only models that can run here are listed.
"""

from __future__ import annotations

from typing import Any

from ..errors import TemsegError
from .base import Segmenter
from .options import check_options
from .specs import SPECS, spec


def _usable(name: str) -> bool:
    """A model is listed when it can run: no weights needed, or weights are on this machine."""
    from . import weights

    return SPECS[name].weights is None or weights.find(name) is not None


def available_models() -> list[str]:
    """Names accepted by `load_model`, `segment(model=...)` and the CLI's --model: only models
    that can run here (EfficientSAM once its weights are imported or shipped)."""
    return [name for name in SPECS if _usable(name)]


def load_model(
    name: str, weights: str | None = None, device: str | None = None, **options: Any
) -> Segmenter:
    """Build model `name` once, to call many times; `weights` overrides the default file.
    `options`: the model's build options, or (the classical model) defaults for its options."""
    if callable(getattr(name, "predict", None)):  # a model already (a Segmenter, or duck-typed)
        return name
    if not isinstance(name, str):
        raise TemsegError(f"model must be a model name (one of {', '.join(available_models())}) or a model from "
                          f"load_model(), not {name!r}")
    if name not in SPECS:
        raise TemsegError(f"unknown model {name!r}; available: {', '.join(available_models())}")
    model_spec = SPECS[name]
    if options and not model_spec.build_options:
        raise TemsegError(f"load_model({name!r}) takes no options ({', '.join(sorted(options))}); "
                          "give them to segment(), the CLI's -o or the widget")
    options = check_options(options, model_spec.build_options, f"building the {name} model")
    if not _usable(name) and weights is None:
        from .weights import resolve

        resolve(name)  # raises the message that says how to get the weights
    return model_spec.builder_function()(name, weights, device, **options)


__all__ = ["Segmenter", "available_models", "load_model", "spec"]
