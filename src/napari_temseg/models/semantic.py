"""Foreground (semantic) networks as Segmenters: tiled probability maps -> instance labels.

Images are cut into tiles of the network's training size with overlap; tile
predictions are blended with weights that fall off towards the tile edges, so a
4096 x 4096 micrograph shows no seams. A network with one output channel gives the
foreground probability, which `instances.probability_to_instances` splits by the shape
of the mask; an instance-aware network (two channels, `temseg train` since the
simulator) also draws each particle's `instances.centre_map`, and touching particles
are split along its valleys (`instances.centre_to_instances`).
"""

from __future__ import annotations

import importlib

import numpy as np
import torch

from ..errors import TemsegError
from ..instances import (
    CENTRE_DEPTH,
    SEMANTIC_SPLIT_DARKNESS,
    SEMANTIC_SPLIT_DEPTH,
    centre_to_instances,
    probability_to_instances,
)
from ..preprocess import prepare_input
from ..progress import step
from ..rescale import DEFAULT_RADIUS_RANGE
from .classical import image_darkness
from .edge_refiner import finish_edges
from .specs import spec

PRECISIONS = ("fp32", "bf16")


def build_network(name: str, preset: str, imgsz: int, channels: int = 1) -> torch.nn.Module:
    """The untrained network the spec of `name` names (Swin-UNet, VM-UNet), with `channels`
    outputs (1: foreground; 2: and centre map); one built for a fixed input gets `imgsz`."""
    model = spec(name)
    network = model.network_class()
    presets = importlib.import_module(network.__module__).PRESETS
    if preset not in presets:
        raise TemsegError(f"{name} has no preset {preset!r}; use one of {', '.join(presets)}")
    size = {"img_size": imgsz} if model.fixed_input else {}
    return network(preset, num_classes=channels, **size)


def read_checkpoint(path, name: str) -> tuple[dict, dict]:
    """(settings, float32 state dict) of a checkpoint written by `temseg train NAME`,
    read with `weights_only=True`; anything else is refused naming the expected model."""
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
        settings, state = data["temseg"], data["model"]
    except Exception:  # noqa: BLE001 - whatever fails, the file is not such a checkpoint
        raise TemsegError(f"{path}: is not a {name} checkpoint written by `temseg train {name}`") from None
    return settings, {k: v.float() if v.is_floating_point() else v for k, v in state.items()}


def _ramp(size: int, overlap: int) -> np.ndarray:
    """1-D blending weight: rises over `overlap` pixels at both ends, never zero."""
    w = np.ones(size, np.float32)
    if overlap > 0:
        edge = (np.arange(overlap, dtype=np.float32) + 1) / (overlap + 1)
        w[:overlap], w[-overlap:] = edge, edge[::-1]
    return w


def tile_starts(length: int, tile: int, overlap: int) -> list[int]:
    if length <= tile:
        return [0]
    step = tile - overlap
    starts = list(range(0, length - tile, step))
    return starts + [length - tile]


class SemanticSegmenter:
    refines_edges = True  # predict takes refine_edges (edge_refiner)

    def __init__(self, name: str, net: torch.nn.Module, tile: int, device: str = "cpu",
                 input_mode: str = "stretch", denoise: float = 0.0,
                 radius_range: tuple[float, float] = DEFAULT_RADIUS_RANGE) -> None:
        self.name = name
        self.radius_range = radius_range  # particle sizes it was trained on (`rescale`)
        self.net = net.to(device).eval()
        self.tile = tile
        self.device = device
        self.input_mode = input_mode
        self.denoise = denoise

    #: Images larger than `input_size` are cut into tiles of that size (bench times one tile).
    tiles = True

    @property
    def input_size(self) -> int:
        return int(self.tile)

    @property
    def channels(self) -> int:
        """1: foreground only; 2: foreground and centre map (instance-aware)."""
        return int(getattr(self.net, "num_classes", 1))

    @torch.inference_mode()
    def probability(self, image: np.ndarray, overlap: int = 64, batch: int = 1, precision: str = "fp32") -> np.ndarray:
        """(C, Y, X) maps of a float32 (Y, X) image in [0, 1], each through a sigmoid:
        foreground probability, then (instance-aware networks) the centre map.

        Tiles go through the network `batch` at a time (on 2 CPU cores batches gave no
        speed-up, hence 1; on a GPU larger batches fill the device). `precision` "bf16"
        runs under bfloat16 autocast: 1.35-1.65x faster for Swin-UNet on CPUs with bf16 units
        (AVX512-BF16/AMX) at the same IoU; see docs/performance.md.
        """
        if precision not in PRECISIONS:
            raise TemsegError(f"precision must be one of {', '.join(PRECISIONS)}, not {precision!r}")
        image = prepare_input(image, self.input_mode, self.denoise)
        h, w = image.shape
        t = self.tile
        overlap = min(overlap, t // 4)  # a model trained on small tiles still advances
        padded = np.pad(image, ((0, max(t - h, 0)), (0, max(t - w, 0))), mode="reflect")
        ph, pw = padded.shape
        acc = np.zeros((self.channels, ph, pw), np.float32)
        weight = np.zeros((ph, pw), np.float32)
        wy, wx = _ramp(t, overlap), _ramp(t, overlap)
        blend = wy[:, None] * wx[None, :]
        corners = [(y, x) for y in tile_starts(ph, t, overlap) for x in tile_starts(pw, t, overlap)]
        device_type = torch.device(self.device).type
        batch = max(batch, 1)
        for i in range(0, len(corners), batch):
            step(i, len(corners))  # a front end may stop here (progress)
            group = corners[i : i + batch]
            tiles = np.stack([padded[y : y + t, x : x + t] for y, x in group])
            with torch.autocast(device_type, dtype=torch.bfloat16, enabled=precision == "bf16"):
                logits = self.net(torch.from_numpy(tiles)[:, None].to(self.device))
            probs = torch.sigmoid(logits.float()).cpu().numpy()
            for (y, x), prob in zip(group, probs, strict=False):
                acc[:, y : y + t, x : x + t] += prob * blend
                weight[y : y + t, x : x + t] += blend
        return (acc / weight)[:, :h, :w]

    def predict(self, image: np.ndarray, threshold: float = 0.5, split_depth: float = SEMANTIC_SPLIT_DEPTH,
                min_size: int = 30, overlap: int = 64, batch: int = 1, precision: str = "fp32",
                refine_edges: bool | str = True, centre_depth: float = CENTRE_DEPTH,
                split_darkness: float = SEMANTIC_SPLIT_DARKNESS, split_by: str = "outline",
                corner_cuts: bool = True) -> np.ndarray:
        """uint32 instance labels of a float32 (Y, X) image in [0, 1]: foreground at
        `threshold`; touching particles split (split_by="outline") at necks of the foreground
        `split_depth` deep, the image's darkness weighted `split_darkness` in that relief as in
        the classical model, then cut where convex particles meet along a face (`corner_cuts`,
        `cuts`), or (split_by="centre", instance-aware networks only) at valleys of the
        network's centre map `centre_depth` deep."""
        if split_by == "centre" and self.channels < 2:
            raise TemsegError(f"split_by=centre needs instance-aware weights (a centre-map channel); "
                              f"these {self.name} weights draw the foreground only: use split_by=outline")
        maps = self.probability(image, overlap, batch, precision)
        if split_by == "centre":
            labels = centre_to_instances(maps[0], maps[1], threshold=threshold, depth=centre_depth,
                                         min_size=min_size)
        else:
            relief = split_darkness * image_darkness(image) if split_darkness else None
            labels = probability_to_instances(maps[0], threshold=threshold, split_depth=split_depth, min_size=min_size,
                                              inner_relief=relief, corner_cuts=corner_cuts)
        return finish_edges(image, labels, refine_edges, self.device)


def build(name: str, weights: str | None, device: str | None) -> SemanticSegmenter:
    """A Swin-UNet or VM-UNet from a checkpoint written by `temseg train` (shipped or given)."""
    from ..preprocess import stored_input
    from ..rescale import stored_radius_range
    from . import weights as weight_files
    from .devices import default_device

    path = weight_files.resolve(name, weights)
    settings, state = read_checkpoint(path, name)
    if settings.get("architecture") != name:
        held = settings.get("architecture") or "a model it does not name"
        raise TemsegError(f"{path}: holds weights of {held}, not of {name}")
    weight_files.check_finite(state, path)
    try:
        net = build_network(name, settings["preset"], settings["imgsz"], int(settings.get("channels", 1)))
        net.load_state_dict(state)
    except TemsegError as err:  # a preset the model has not
        raise TemsegError(f"{path}: {err}") from None
    except (KeyError, ValueError, TypeError, RuntimeError) as err:
        raise TemsegError(f"{path}: its settings or tensors do not fit a {name} network "
                          f"({' '.join(str(err).split())[:200]}): damaged, or changed after "
                          f"`temseg train {name}` wrote it") from None
    input_mode, denoise = stored_input(settings)
    return SemanticSegmenter(name, net, settings["imgsz"], default_device(device), input_mode=input_mode,
                             denoise=denoise, radius_range=stored_radius_range(settings))
