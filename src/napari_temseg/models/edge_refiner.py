"""Full-resolution edge refinement of any model's particle masks.

Why: YOLO's prototype masks and EfficientSAM's mask decoder work at 1/4 of their input
size, and the semantic networks decode each 4 x 4 pixel block from one token, so their
edges land up to a few pixels from the particle's. On particles 20-60 px across that costs
1-6 % foreground IoU and biases every size in nm. A small CNN that sees the micrograph at
full resolution (levels anchored, at three smoothings) and the model's mask re-decides the
pixels within `band` px of the mask's edge (the idea of PointRend and SegFix). Which
particles exist, and which particle a pixel belongs to, stay the model's decision.
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import torch
from scipy import ndimage as ndi
from skimage.segmentation import expand_labels
from torch import nn

from ..errors import TemsegError
from ..preprocess import anchor_two_classes, noise_to_contrast, normalize, read_frame
from .weights import check_finite

#: Checkpoint settings of a refiner trained by `temseg train edge-refiner` (the shipped one's).
DEFAULT_SETTINGS = {"architecture": "edge-refiner", "sigmas": [0.0, 2.0, 5.0], "width": 16,
                    "dilations": [1, 2, 4, 8], "band": 4}
#: Tiles of the full-resolution pass: bounded memory on 4096 px micrographs.
TILE = 1024
#: The refiner acts on images whose noise-to-contrast ratio (`preprocess.noise_to_contrast`)
#: lies within this factor of the range of its training images; elsewhere it keeps the
#: model's edges. Why: it learns where its training labels put edges in images like those
#: (the article's: smoothed by about 5 px); on much cleaner or noisier images that rule
#: is not known to hold (docs/edge-refiner.md measures it on synthetic images).
NOISE_MARGIN = 1.5
#: Frames a time stack's one refinement decision looks at (evenly spaced).
STACK_SAMPLES = 8


class EdgeRefinerNet(nn.Module):
    """Image channels + the coarse mask -> foreground logit, through dilated 3 x 3 convolutions
    (receptive field 1 + 2 * sum(dilations) px: enough to see both sides of an edge)."""

    def __init__(self, in_channels: int, width: int, dilations: list[int]) -> None:
        super().__init__()
        layers, channels = [], in_channels
        for d in dilations:
            layers += [nn.Conv2d(channels, width, 3, padding=d, dilation=d), nn.ReLU(inplace=True)]
            channels = width
        layers.append(nn.Conv2d(width, 1, 1))
        self.body = nn.Sequential(*layers)
        self.margin = sum(dilations)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


def image_channels(image: np.ndarray, sigmas: list[float]) -> np.ndarray:
    """(len(sigmas), Y, X) float32: the normalised image with its levels anchored
    (`preprocess.anchor_two_classes`), Gaussian-smoothed at each sigma (0 = as is)."""
    anchored = anchor_two_classes(np.asarray(image, np.float32))
    return np.stack([ndi.gaussian_filter(anchored, s, mode="nearest") if s > 0 else anchored for s in sigmas])


def edge_band(mask: np.ndarray, radius: float) -> np.ndarray:
    """Pixels within `radius` px of the edge of `mask`, on either side."""
    inside = ndi.distance_transform_edt(mask)
    outside = ndi.distance_transform_edt(~mask)
    return np.where(mask, inside, outside) <= radius


class EdgeRefiner:
    """A trained `EdgeRefinerNet` and the settings it was trained with."""

    def __init__(self, net: EdgeRefinerNet, settings: dict, device: str = "cpu") -> None:
        self.net = net.to(device).eval()
        self.settings = settings
        self.sigmas = [float(s) for s in settings["sigmas"]]
        self.band = float(settings["band"])
        self.noise_range = settings.get("noise_range")
        self.device = device

    def applies_to(self, image: np.ndarray) -> bool:
        """Whether `image` is like the refiner's training images (see NOISE_MARGIN)."""
        return self.noise_range is None or self.in_range(noise_to_contrast(image))

    def in_range(self, ratio: float) -> bool:
        """Whether a noise-to-contrast ratio lies within NOISE_MARGIN of the training images'."""
        if self.noise_range is None:
            return True
        low, high = self.noise_range
        return low / NOISE_MARGIN <= ratio <= high * NOISE_MARGIN

    @torch.inference_mode()
    def logits(self, channels: np.ndarray, mask: np.ndarray, rows: slice, cols: slice) -> np.ndarray:
        """Refiner logits over one window, computed with a margin so tiles join without seams."""
        m = self.net.margin
        h, w = mask.shape
        y0, y1 = max(rows.start - m, 0), min(rows.stop + m, h)
        x0, x1 = max(cols.start - m, 0), min(cols.stop + m, w)
        x = np.concatenate([channels[:, y0:y1, x0:x1], mask[None, y0:y1, x0:x1].astype(np.float32)])
        out = self.net(torch.from_numpy(np.ascontiguousarray(x))[None].to(self.device))[0, 0].float().cpu().numpy()
        return out[rows.start - y0 : rows.stop - y0, cols.start - x0 : cols.stop - x0]

    def refine_mask(self, image: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """The foreground of `mask` with its edge band re-decided at full resolution."""
        mask = np.asarray(mask, bool)
        if image.shape != mask.shape:
            raise TemsegError(f"edge refinement needs an image and mask of one shape, not {image.shape} and {mask.shape}")
        band = edge_band(mask, self.band)
        if not band.any():
            return mask
        channels = image_channels(image, self.sigmas)
        out = mask.copy()
        h, w = mask.shape
        for y in range(0, h, TILE):
            for x in range(0, w, TILE):
                rows, cols = slice(y, min(y + TILE, h)), slice(x, min(x + TILE, w))
                if band[rows, cols].any():
                    decided = self.logits(channels, mask, rows, cols) > 0
                    out[rows, cols] = np.where(band[rows, cols], decided, mask[rows, cols])
        return out

    def refine_labels(self, image: np.ndarray, labels: np.ndarray, check_range: bool = True) -> np.ndarray:
        """Instance labels with refined edges: new foreground pixels join the nearest particle,
        pixels found to be background leave theirs; no particle is lost (one the band would
        erase entirely keeps its original pixels). With `check_range`, images unlike the
        training images (`applies_to`) keep the model's edges."""
        labels = np.asarray(labels)
        if not labels.any() or (check_range and not self.applies_to(image)):
            return labels
        fg = self.refine_mask(image, labels > 0)
        grown = expand_labels(labels, distance=self.band + 1)
        out = np.where(fg, grown, 0).astype(labels.dtype)
        lost = np.setdiff1d(np.unique(labels), np.unique(out))
        if lost.size:
            restore = np.isin(labels, lost) & (out == 0)
            out[restore] = labels[restore]
        return out


def build_net(settings: dict) -> EdgeRefinerNet:
    return EdgeRefinerNet(len(settings["sigmas"]) + 1, int(settings["width"]), [int(d) for d in settings["dilations"]])


def read_refiner(path: str | Path, device: str = "cpu") -> EdgeRefiner:
    """An edge refiner from a checkpoint written by `temseg train edge-refiner` (tensors only)."""
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
        settings, state = data["temseg"], data["model"]
        if settings.get("architecture") != "edge-refiner":
            raise KeyError("architecture")
        net = build_net(settings)
        net.load_state_dict({k: v.float() for k, v in state.items()})
    except Exception:  # noqa: BLE001 - whatever fails, the file is not a refiner checkpoint
        raise TemsegError(f"{path}: is not an edge-refiner checkpoint written by `temseg train edge-refiner`") from None
    check_finite(state, path)
    return EdgeRefiner(net, settings, device)


def load_edge_refiner(weights: str | None = None, device: str = "cpu") -> EdgeRefiner:
    """The shipped refiner (or `weights`), built once per process and device."""
    return _cached_refiner(weights, device)


@functools.lru_cache(maxsize=4)
def _cached_refiner(weights: str | None, device: str) -> EdgeRefiner:
    from .weights import resolve

    return read_refiner(resolve("edge-refiner", weights), device)


def check_refine_edges(value: bool | str) -> bool | str:
    """Every deep model's `refine_edges` option, checked: True refines images like the
    refiner's training images (`EdgeRefiner.applies_to`), "always" every image, False none."""
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if value == "always":
        return value
    raise TemsegError(f"refine_edges must be true, false or 'always', not {value!r}")


def finish_edges(image: np.ndarray, labels: np.ndarray, refine_edges: bool | str, device: str = "cpu") -> np.ndarray:
    """The last step of every deep model: its labels with edges refined by the shipped (or
    imported) refiner, as `refine_edges` (`check_refine_edges`) says, or as the model drew them."""
    mode = check_refine_edges(refine_edges)
    if mode is False:
        return labels
    return load_edge_refiner(None, device).refine_labels(image, labels, check_range=mode is True)


def refine_edges_for_stack(frames, refine_edges: bool | str = True) -> bool | str:
    """One refinement decision for a whole (T, Y, X[, C]) stack: "always" when the median
    noise-to-contrast ratio of up to STACK_SAMPLES evenly spaced frames is in the refiner's
    range, else False; "always" and False are kept as given.

    Why: checked frame by frame, a video near an end of the range would get refined and
    unrefined edges in turn, and particle sizes would jump between frames.
    """
    mode = check_refine_edges(refine_edges)
    n = int(frames.shape[0])
    if mode is not True or n == 0:
        return mode
    picks = np.unique(np.linspace(0, n - 1, min(n, STACK_SAMPLES)).round().astype(int))
    readable = (frame for frame, problem in (read_frame(frames, t) for t in picks) if problem is None)
    ratios = [noise_to_contrast(normalize(frame)) for frame in readable]
    return "always" if ratios and load_edge_refiner().in_range(float(np.median(ratios))) else False
