"""YOLOv8n-seg through the ultralytics package: instance labels at full resolution.

Any ultralytics segmentation checkpoint loads (the official `yolov8n-seg.pt`, a
user's own, or the weights shipped here), read by `yolo_weights` so that no code in
the file runs; ultralytics' predictor then runs the rebuilt network. Images larger than `tile` pixels are
cut into overlapping tiles; a particle is kept from the tile whose core (the
tile less half the overlap on inner sides) holds its centroid, so particles
smaller than the overlap are found once and whole. Masks are painted by confidence;
one mostly covered by more confident ones is a duplicate and is dropped
(`instances.paint_pieces`), and adjacent masks whose union is convex are one particle
drawn in pieces (`instances.join_convex_pieces`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .. import progress
from ..cuts import cut_at_corners
from ..instances import DUPLICATE_SHARE, JOIN_SOLIDITY, join_convex_pieces, paint_pieces, remove_small_and_relabel
from ..preprocess import prepare_input, stored_input
from ..rescale import stored_radius_range
from .edge_refiner import finish_edges
from .ultralytics_env import ultralytics
from .yolo_weights import architecture_path, build_network, read_checkpoint

#: Strength of the bright-field look dark-field images are given (`rims.absorption_look`) for
#: weights trained on bright-field images only: they missed faint thin particles there
#: (chosen among 0-3 on the development set's dark-field images; docs/yolo.md).
BRIGHT_FIELD_ONLY_ABSORPTION = 2.0


def saw_dark_field(settings: dict) -> bool:
    """Whether weights were trained with dark-field images: `temseg train` records it (its
    simulated images are 30 % dark field); files from before that record were trained with
    the simulator if they record their particle radii (the shipped `sim` variant) and
    without it otherwise (the shipped default)."""
    return bool(settings.get("dark_field", "radius_range" in settings))


def network_gray(image: np.ndarray, input_mode: str = "stretch", denoise: float = 0.0) -> np.ndarray:
    """The uint8 image YOLO trains on and sees, from a normalised float image."""
    prepared = prepare_input(image, input_mode, denoise)
    return (np.clip(prepared, 0, 1) * 255).round().astype(np.uint8)


class YoloSegmenter:
    refines_edges = True  # predict takes refine_edges (edge_refiner)

    def __init__(self, name: str, weights: str | Path, device: str = "cpu") -> None:
        self.name = name
        path = Path(weights)
        checkpoint = read_checkpoint(path)
        net = build_network(checkpoint, path)
        # ultralytics' predictor wraps a model object; it is built from the same package YAML,
        # then given the network that holds the checkpoint's tensors.
        self.yolo = ultralytics().YOLO(str(architecture_path(checkpoint.architecture)), task="segment")
        net.args, net.task = self.yolo.model.args, "segment"
        self.yolo.model = net
        self.device = device
        self.imgsz = self.input_size = checkpoint.imgsz  # the network's square input
        self.input_mode, self.denoise = stored_input(checkpoint.settings)
        self.radius_range = stored_radius_range(checkpoint.settings)  # particle sizes it was trained on
        # the look `segmentation` gives dark-field images for it (`rims.absorption_look`)
        self.df_absorption = 0.0 if saw_dark_field(checkpoint.settings) else BRIGHT_FIELD_ONLY_ABSORPTION

    def predict_tile(self, rgb: np.ndarray, conf: float, iou: float, max_det: int) -> tuple[np.ndarray, np.ndarray]:
        """(N, Y, X) boolean masks at the tile's resolution and their confidences."""
        result = self.yolo.predict(
            rgb, imgsz=self.imgsz, conf=conf, iou=iou, max_det=max_det, retina_masks=True,
            verbose=False, device=self.device,
        )[0]
        if result.masks is None:
            return np.zeros((0, *rgb.shape[:2]), bool), np.zeros(0)
        return result.masks.data.cpu().numpy() > 0.5, result.boxes.conf.cpu().numpy()

    def _predict_whole(
        self, rgb: np.ndarray, conf: float, iou: float, duplicate_share: float, max_det: int, min_size: int
    ) -> np.ndarray:
        """One call; overlaps resolved by confidence, each mask painted only inside its box
        (ultralytics crops masks to their boxes), so painting costs about the foreground area."""
        result = self.yolo.predict(
            rgb, imgsz=self.imgsz, conf=conf, iou=iou, max_det=max_det, retina_masks=True,
            verbose=False, device=self.device,
        )[0]
        h, w = rgb.shape[:2]
        if result.masks is None:
            return np.zeros((h, w), np.uint32)
        data = result.masks.data.cpu()
        boxes = result.boxes.xyxy.cpu().numpy()
        pieces = []
        for box, mask in zip(boxes, data, strict=True):
            x0, y0 = max(int(box[0]) - 1, 0), max(int(box[1]) - 1, 0)
            x1, y1 = min(int(np.ceil(box[2])) + 1, w), min(int(np.ceil(box[3])) + 1, h)
            pieces.append((y0, x0, mask[y0:y1, x0:x1].numpy() > 0.5))
        labels = paint_pieces(pieces, result.boxes.conf.cpu().numpy(), (h, w), duplicate_share)
        return remove_small_and_relabel(labels, min_size)

    def predict(
        self,
        image: np.ndarray,
        conf: float = 0.15,
        iou: float = 0.7,
        duplicate_share: float = DUPLICATE_SHARE,
        join_solidity: float = JOIN_SOLIDITY,
        corner_cuts: bool = True,
        denoise: float | None = None,
        max_det: int = 1000,
        tile: int = 1024,
        overlap: int = 128,
        min_size: int = 0,
        refine_edges: bool | str = True,
    ) -> np.ndarray:
        """uint32 instance labels of a float32 (Y, X) image in [0, 1]; `refine_edges`: see
        `edge_refiner` (the prototype masks are 1/4 of the network input's resolution);
        `duplicate_share`: see `instances.DUPLICATE_SHARE`; `join_solidity`: pieces of one
        particle joined (`instances.join_convex_pieces`; 0: off); `corner_cuts`: a mask over
        convex particles joined along a face cut between them (`cuts`); `denoise`: Gaussian sigma (px) of
        the input, None: as the weights were trained (docs/yolo.md measures 1 px on noisy images)."""
        gray = network_gray(image, self.input_mode, self.denoise if denoise is None else float(denoise))
        labels = self._instances(gray, conf, iou, duplicate_share, max_det, tile, overlap, min_size)
        labels = join_convex_pieces(labels, join_solidity)
        if corner_cuts:
            labels = cut_at_corners(labels, max(min_size, 16))
        return finish_edges(image, labels, refine_edges, self.device)

    def _instances(self, gray, conf, iou, duplicate_share, max_det, tile, overlap, min_size) -> np.ndarray:
        rgb = np.repeat(gray[..., None], 3, axis=-1)
        h, w = gray.shape
        if max(h, w) <= tile:
            return self._predict_whole(rgb, conf, iou, duplicate_share, max_det, min_size)
        stride = tile - overlap
        pieces, scores = [], []
        corners = [(y0, x0) for y0 in range(0, max(h - overlap, 1), stride)
                   for x0 in range(0, max(w - overlap, 1), stride)]
        for k, (y0, x0) in enumerate(corners):
            progress.step(k, len(corners))  # a front end may stop here
            y1, x1 = min(y0 + tile, h), min(x0 + tile, w)
            masks, tile_scores = self.predict_tile(rgb[y0:y1, x0:x1], conf, iou, max_det)
            core = (
                y0 + (overlap // 2 if y0 else 0), y1 - (overlap // 2 if y1 < h else 0),
                x0 + (overlap // 2 if x0 else 0), x1 - (overlap // 2 if x1 < w else 0),
            )
            for mask, score in zip(masks, tile_scores, strict=False):
                ys, xs = np.nonzero(mask)
                if len(ys) == 0:
                    continue
                cy, cx = ys.mean() + y0, xs.mean() + x0
                if not (core[0] <= cy < core[1] and core[2] <= cx < core[3]):
                    continue  # another tile holds this particle whole
                top, left = ys.min(), xs.min()
                pieces.append((y0 + top, x0 + left, mask[top:ys.max() + 1, left:xs.max() + 1]))
                scores.append(score)
        return remove_small_and_relabel(paint_pieces(pieces, np.array(scores), (h, w), duplicate_share), min_size)


def build(name: str, weights: str | None, device: str | None) -> YoloSegmenter:
    from . import weights as weight_files
    from .devices import default_device

    return YoloSegmenter(name, weight_files.resolve(name, weights), default_device(device))
