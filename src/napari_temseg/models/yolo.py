"""YOLOv8n-seg through the ultralytics package: instance labels at full resolution.

Any ultralytics segmentation checkpoint loads (the official `yolov8n-seg.pt`, a
user's own, or the weights shipped here), read by `yolo_weights` so that no code in
the file runs; ultralytics' predictor then runs the rebuilt network. Images larger than `tile` pixels are
cut into overlapping tiles; a particle is kept from the tile whose core (the
tile less half the overlap on inner sides) holds its centroid, so particles
smaller than the overlap are found once and whole.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .. import progress
from ..instances import remove_small_and_relabel
from ..preprocess import prepare_input, stored_input
from ..rescale import stored_radius_range
from .edge_refiner import finish_edges
from .ultralytics_env import ultralytics
from .yolo_weights import architecture_path, build_network, read_checkpoint


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

    def predict_tile(self, rgb: np.ndarray, conf: float, iou: float, max_det: int) -> tuple[np.ndarray, np.ndarray]:
        """(N, Y, X) boolean masks at the tile's resolution and their confidences."""
        result = self.yolo.predict(
            rgb, imgsz=self.imgsz, conf=conf, iou=iou, max_det=max_det, retina_masks=True,
            verbose=False, device=self.device,
        )[0]
        if result.masks is None:
            return np.zeros((0, *rgb.shape[:2]), bool), np.zeros(0)
        return result.masks.data.cpu().numpy() > 0.5, result.boxes.conf.cpu().numpy()

    def _predict_whole(self, rgb: np.ndarray, conf: float, iou: float, max_det: int, min_size: int) -> np.ndarray:
        """One call; overlaps resolved by confidence, each mask painted only inside its box
        (ultralytics crops masks to their boxes), so painting costs about the foreground area."""
        result = self.yolo.predict(
            rgb, imgsz=self.imgsz, conf=conf, iou=iou, max_det=max_det, retina_masks=True,
            verbose=False, device=self.device,
        )[0]
        h, w = rgb.shape[:2]
        labels = np.zeros((h, w), np.uint32)
        if result.masks is None:
            return labels
        data = result.masks.data.cpu()
        boxes = result.boxes.xyxy.cpu().numpy()
        for rank, i in enumerate(np.argsort(result.boxes.conf.cpu().numpy(), kind="stable"), start=1):
            x0, y0 = max(int(boxes[i, 0]) - 1, 0), max(int(boxes[i, 1]) - 1, 0)
            x1, y1 = min(int(np.ceil(boxes[i, 2])) + 1, w), min(int(np.ceil(boxes[i, 3])) + 1, h)
            inside = data[i, y0:y1, x0:x1].numpy() > 0.5
            labels[y0:y1, x0:x1][inside] = rank  # low confidence first: the most confident mask wins
        return remove_small_and_relabel(labels, min_size)

    def predict(
        self,
        image: np.ndarray,
        conf: float = 0.25,
        iou: float = 0.7,
        max_det: int = 1000,
        tile: int = 1024,
        overlap: int = 128,
        min_size: int = 0,
        refine_edges: bool | str = True,
    ) -> np.ndarray:
        """uint32 instance labels of a float32 (Y, X) image in [0, 1]; `refine_edges`: see
        `edge_refiner` (the prototype masks are 1/4 of the network input's resolution)."""
        return finish_edges(image, self._instances(image, conf, iou, max_det, tile, overlap, min_size), refine_edges,
                            self.device)

    def _instances(self, image, conf, iou, max_det, tile, overlap, min_size) -> np.ndarray:
        gray = network_gray(image, self.input_mode, self.denoise)
        rgb = np.repeat(gray[..., None], 3, axis=-1)
        h, w = gray.shape
        if max(h, w) <= tile:
            return self._predict_whole(rgb, conf, iou, max_det, min_size)
        stride = tile - overlap
        labels = np.zeros((h, w), np.uint32)
        best = np.zeros((h, w), np.float32)  # confidence of the particle owning each pixel
        next_id = 1
        corners = [(y0, x0) for y0 in range(0, max(h - overlap, 1), stride)
                   for x0 in range(0, max(w - overlap, 1), stride)]
        for k, (y0, x0) in enumerate(corners):
            progress.step(k, len(corners))  # a front end may stop here
            y1, x1 = min(y0 + tile, h), min(x0 + tile, w)
            masks, scores = self.predict_tile(rgb[y0:y1, x0:x1], conf, iou, max_det)
            core = (
                y0 + (overlap // 2 if y0 else 0), y1 - (overlap // 2 if y1 < h else 0),
                x0 + (overlap // 2 if x0 else 0), x1 - (overlap // 2 if x1 < w else 0),
            )
            for mask, score in zip(masks, scores, strict=False):
                ys, xs = np.nonzero(mask)
                if len(ys) == 0:
                    continue
                cy, cx = ys.mean() + y0, xs.mean() + x0
                if not (core[0] <= cy < core[1] and core[2] <= cx < core[3]):
                    continue  # another tile holds this particle whole
                ys, xs = ys + y0, xs + x0
                win = score > best[ys, xs]
                labels[ys[win], xs[win]] = next_id
                best[ys[win], xs[win]] = score
                next_id += 1
        return remove_small_and_relabel(labels, min_size)


def build(name: str, weights: str | None, device: str | None) -> YoloSegmenter:
    from . import weights as weight_files
    from .devices import default_device

    return YoloSegmenter(name, weight_files.resolve(name, weights), default_device(device))
