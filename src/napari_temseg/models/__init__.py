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


def _default_device(device: str | None) -> str:
    import torch

    return device or ("cuda" if torch.cuda.is_available() else "cpu")


def _build_efficientsam(weights: str | None, device: str | None, **options: Any) -> Segmenter:
    from ..preprocess import stored_input
    from ..rescale import stored_radius_range
    from . import weights as weight_files
    from .efficient_sam import build_efficient_sam, build_efficient_sam_vitt
    from .efficient_sam.segmenter import EfficientSamSegmenter

    path = weight_files.resolve("efficientsam-tiny", weights)
    net = build_efficient_sam_vitt()
    state, settings = weight_files.load_checkpoint(path, "efficientsam-tiny", set(net.state_dict()))
    if settings.get("img_size", 1024) != 1024:  # weights fine-tuned here at a smaller input size
        net = build_efficient_sam(192, 3, img_size=int(settings["img_size"]))
    net.load_state_dict(state, strict=True)  # fp16 tensors are cast to fp32 on copy
    input_mode, denoise = stored_input(settings)
    return EfficientSamSegmenter(net, _default_device(device), input_mode=input_mode, denoise=denoise,
                                 radius_range=stored_radius_range(settings), **options)


def _build_yolo(weights: str | None, device: str | None, **options: Any) -> Segmenter:
    from . import weights as weight_files
    from .yolo import YoloSegmenter

    return YoloSegmenter(weight_files.resolve("yolov8n-seg", weights), _default_device(device), **options)


def _build_semantic(name: str):
    def build(weights: str | None, device: str | None, **options: Any) -> Segmenter:
        from ..preprocess import stored_input
        from ..rescale import stored_radius_range
        from . import weights as weight_files
        from .semantic import SemanticSegmenter, build_network, read_checkpoint

        path = weight_files.resolve(name, weights)
        settings, state = read_checkpoint(path, name)
        if settings.get("architecture") != name:
            raise TemsegError(f"{path}: holds a {settings.get('architecture')} model, not {name}")
        net = build_network(name, settings["preset"], settings["imgsz"], int(settings.get("channels", 1)))
        net.load_state_dict(state)
        input_mode, denoise = stored_input(settings)
        return SemanticSegmenter(name, net, settings["imgsz"], _default_device(device), input_mode=input_mode,
                                 denoise=denoise, radius_range=stored_radius_range(settings), **options)

    return build


_BUILDERS: dict[str, Callable[..., Segmenter]] = {
    "classical": _build_classical,
    "yolov8n-seg": _build_yolo,
    "efficientsam-tiny": _build_efficientsam,
    "swin-unet": _build_semantic("swin-unet"),
    "vmamba": _build_semantic("vmamba"),
}


def _usable(name: str) -> bool:
    """A model is listed when it can run: no weights needed, or weights are on this machine."""
    from . import weights

    return name not in weights.REGISTRY or weights.find(name) is not None


def available_models() -> list[str]:
    """Names accepted by `load_model`, `segment(model=...)` and the CLI's --model: only models
    that can run here (EfficientSAM once its weights are imported or shipped)."""
    return [name for name in _BUILDERS if _usable(name)]


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
    if not _usable(name) and weights is None:
        from .weights import resolve

        resolve(name)  # raises the message that says how to get the weights
    try:
        return builder(weights, device, **options)
    except TypeError as err:
        raise TemsegError(f"bad option for model {name!r}: {err}") from None


__all__ = ["Segmenter", "available_models", "load_model"]
