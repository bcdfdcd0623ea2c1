"""EfficientSAM as a Segmenter: prompts (points, boxes), automatic mode and refine mode.

The image embedding is computed once per image and cached (keyed by a checksum
of the pixels), so adding a point re-runs only the decoder. All prompts of one
image go through the decoder in one batched call (chunks of `batch` queries).
Coordinates are image pixels, (row, col) = (y, x); labels 1 positive, 0 negative.
"""

from __future__ import annotations

import zlib
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from scipy import ndimage as ndi

from ...errors import TemsegError
from ...instances import add_unclaimed, paint_masks, remove_small_and_relabel, split_where_detected
from ...preprocess import check_input_mode, prepare_input
from ...progress import step
from ...prompts import prompts_from_labels
from ...rescale import DEFAULT_RADIUS_RANGE
from ..edge_refiner import finish_edges
from ..specs import DEFAULT_MODEL, has_option
from .model import EfficientSam
from .prompt_encoder import BOX_BOTTOM_RIGHT, BOX_TOP_LEFT, PAD, POSITIVE

MODES = ("auto", "grid", "prompt", "refine")
#: Decoded queries remembered for the current image (256² float32 each: 32 MB at most).
DECODED_CACHE = 128


def query_arrays(queries: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """(1, Q, N, 2) float32 points as (x, y) and (1, Q, N) int64 codes from (k, 3) y, x, code
    queries, padded to the longest with (-1, -1) and code -1, as the network takes them."""
    n = max(len(q) for q in queries)
    pts = np.full((1, len(queries), n, 2), -1.0, np.float32)
    codes = np.full((1, len(queries), n), PAD, np.int64)
    for i, q in enumerate(queries):
        pts[0, i, : len(q)] = q[:, [1, 0]]
        codes[0, i, : len(q)] = q[:, 2]
    return pts, codes


def gray_to_rgb(image: np.ndarray) -> torch.Tensor:
    """(1, 3, Y, X) float32 view of a (Y, X) image, the network's 3-channel input."""
    return torch.from_numpy(np.ascontiguousarray(image, dtype=np.float32))[None, None].expand(1, 3, -1, -1)


def group_points(points: np.ndarray) -> list[np.ndarray]:
    """(N, 3|4) rows y, x, label[, object] -> one (k, 3) array per object.

    Each positive point without an object value is its own particle; points that
    share an object value form one particle; negative points without an object
    apply to every particle.
    """
    pts = np.asarray(points, dtype=np.float64)
    if pts.ndim != 2 or pts.shape[1] not in (3, 4):
        raise TemsegError(f"points must be an (N, 3) or (N, 4) array of y, x, label[, object]; got {pts.shape}")
    labels = pts[:, 2]
    if not np.isin(labels, (0, 1)).all():
        raise TemsegError("point labels must be 1 (positive) or 0 (negative)")
    objects = pts[:, 3] if pts.shape[1] == 4 else np.full(len(pts), np.nan)
    shared_neg = pts[(labels == 0) & np.isnan(objects), :3]
    groups = []
    for obj in np.unique(objects[~np.isnan(objects)]):
        groups.append(np.concatenate([pts[objects == obj, :3], shared_neg]))
    for row in pts[(labels == 1) & np.isnan(objects), :3]:
        groups.append(np.concatenate([row[None], shared_neg]))
    if not any((g[:, 2] == 1).any() for g in groups):
        raise TemsegError("prompt mode needs at least one positive point per particle (label positive, or 1)")
    return groups


class EfficientSamSegmenter:
    """Build with `load_model(name)`; call `predict(image, mode=..., points=..., boxes=...)`."""

    refines_edges = True  # predict takes refine_edges (edge_refiner)
    takes_particle_radius = True  # predict takes particle_radius (`segmentation`), for its box model

    def __init__(self, name: str, net: EfficientSam, device: str = "cpu", batch: int = 64, input_mode: str = "stretch",
                 denoise: float = 0.0, radius_range: tuple[float, float] = DEFAULT_RADIUS_RANGE) -> None:
        self.name = name
        self.net = net.to(device).eval()
        self.radius_range = radius_range  # particle sizes it was trained on (`rescale`)
        self.device = device
        self.batch = batch
        check_input_mode(input_mode, denoise)
        self.input_mode, self.denoise = input_mode, denoise  # as the checkpoint was trained
        self._cache_key: tuple | None = None
        self._decoded: dict[tuple, tuple] = {}  # (image key, query) -> (low-res logits, IoU, stability)
        self._embedding: torch.Tensor | None = None
        self._box_models: dict = {}

    @property
    def input_size(self) -> int:
        """The square input the encoder takes (images are resized to it)."""
        return int(self.net.img_size)

    # -- embedding cache -----------------------------------------------------------------------

    def forget_image(self) -> None:
        """Drop the cached embedding: the next image is encoded anew (timing, memory)."""
        self._cache_key, self._embedding = None, None
        self._decoded.clear()

    def embed(self, image: np.ndarray) -> torch.Tensor:
        """(1, 256, 64, 64) embedding of a float32 (Y, X) image in [0, 1], cached per image."""
        key = (image.shape, zlib.crc32(np.ascontiguousarray(image).view(np.uint8)))
        if key != self._cache_key:
            with torch.inference_mode():
                prepared = prepare_input(image, self.input_mode, self.denoise)
                self._embedding = self.net.get_image_embeddings(gray_to_rgb(prepared).to(self.device))
            self._cache_key = key
            self._decoded.clear()
        return self._embedding

    # -- decoding ------------------------------------------------------------------------------

    def decode(self, image: np.ndarray, queries: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Best of the three masks per query: (Q, Y, X) logits, (Q,) predicted IoU, (Q,) stability.

        queries: one (k, 3) array of y, x, code per query (code: 1/0 points, 2/3 box corners).
        Decoded queries are remembered per image (low-resolution logits), so a live click
        decodes only the object whose points changed.
        """
        low, ious, stability = self.decode_low(image, queries)
        return upsample_logits(low, image.shape), ious, stability

    def decode_low(self, image: np.ndarray, queries: list[np.ndarray]) -> tuple[torch.Tensor, np.ndarray, np.ndarray]:
        """As `decode`, with the logits at the decoder's resolution ((Q, m, m), 4 px per cell of
        the model input): many queries on a large image fit in memory this way."""
        h, w = image.shape
        embedding = self.embed(image)
        keys = [(self._cache_key, q.shape, q.tobytes()) for q in (np.asarray(q, np.float32) for q in queries)]
        # This call's answers, held here: remembering more than DECODED_CACHE new ones evicts
        # earlier ones, this call's own included, before they are read back.
        answers = {key: self._decoded[key] for key in keys if key in self._decoded}
        todo = [i for i, key in enumerate(keys) if key not in answers]
        pts, codes = query_arrays([queries[i] for i in todo]) if todo else (None, None)
        with torch.inference_mode():
            for start in range(0, len(todo), self.batch):
                step(start, len(todo))  # a front end may stop here (progress)
                sl = slice(start, start + self.batch)
                low, iou = self.net.predict_masks(
                    embedding, torch.from_numpy(pts[:, sl]).to(self.device),
                    torch.from_numpy(codes[:, sl]).to(self.device), (h, w),
                )
                chosen, chosen_iou, stability = choose_masks(low[0], iou[0])  # chosen: (q, m, m) low-res
                for j, i in enumerate(todo[sl]):  # logits, 4 px per cell of the model input
                    answers[keys[i]] = (chosen[j].cpu(), float(chosen_iou[j]), float(stability[j]))
                    self._remember(keys[i], answers[keys[i]])
        found = [answers[key] for key in keys]
        if not found:
            return torch.zeros((0, 1, 1)), np.zeros(0, np.float32), np.zeros(0, np.float32)
        ious = np.array([f[1] for f in found], np.float32)
        return torch.stack([f[0] for f in found]), ious, np.array([f[2] for f in found], np.float32)

    def _remember(self, key: tuple, decoded: tuple) -> None:
        """Keep a decoded query; the oldest go beyond DECODED_CACHE (a grid run does not pile up)."""
        self._decoded[key] = decoded
        while len(self._decoded) > DECODED_CACHE:
            del self._decoded[next(iter(self._decoded))]

    # -- Segmenter API -------------------------------------------------------------------------

    def predict(
        self,
        image: np.ndarray,
        mode: str | None = None,
        points: np.ndarray | None = None,
        boxes: np.ndarray | None = None,
        points_per_side: int = 20,
        iou_threshold: float = 0.6,
        stability_threshold: float = 0.8,
        agreement: float = 0.5,
        nms_threshold: float = 0.5,
        min_size: int = 30,
        box_source: str = DEFAULT_MODEL,
        refine_edges: bool | str = True,
        particle_radius: float = float("nan"),
        corner_cuts: bool = True,
    ) -> np.ndarray:
        """uint32 instance labels of a float32 (Y, X) image in [0, 1].

        mode: "prompt" (points (N, 3|4) y, x, label[, object] and/or boxes (M, 4)
        y0, x0, y1, x1); "auto" (each particle `box_source` finds prompted once, by its
        box and centroid; masks kept by predicted IoU, stability and `agreement` (IoU with
        the particle prompted), duplicates removed by mask overlap, a mask over several of
        its particles split among them, a particle no kept mask covers kept as found); "grid"
        (SAM's automatic mode: a `points_per_side` grid of points, filtered the same way:
        slower, finds what no detector saw); or "refine"
        (boxes of `box_source`'s instances alone, every mask kept).
        Default: "prompt" when points or boxes are given, else "auto". `refine_edges`: see
        `edge_refiner` (the decoder's masks are 1/4 of the network input's resolution).
        `particle_radius` (px, from `segmentation`) goes to a box model that takes it, and
        `corner_cuts` to one that has that option (`cuts`).
        """
        return finish_edges(
            image, self._instances(image, mode, points, boxes, points_per_side, iou_threshold, stability_threshold,
                                   agreement, nms_threshold, min_size, box_source, particle_radius, corner_cuts),
            refine_edges, self.device,
        )

    def _instances(self, image, mode, points, boxes, points_per_side, iou_threshold, stability_threshold,
                   agreement, nms_threshold, min_size, box_source, particle_radius, corner_cuts) -> np.ndarray:
        mode = mode or ("prompt" if points is not None or boxes is not None else "auto")
        if mode not in MODES:
            raise TemsegError(f"unknown EfficientSAM mode {mode!r}; use one of {', '.join(MODES)}")
        h, w = image.shape
        if mode == "prompt":
            queries = self._prompt_queries(points, boxes, (h, w))
            low, _, _ = self.decode_low(image, queries)
            return paint_low_logits(low, (h, w), min_size)
        if mode in ("refine", "auto"):
            box_model = self._box_model(box_source)
            hint = {"particle_radius": particle_radius} if getattr(box_model, "takes_particle_radius", False) else {}
            if has_option(box_model, "corner_cuts"):
                hint["corner_cuts"] = corner_cuts
            seeds = box_model.predict(image, **hint)
            queries = [_box_query(b) for b in _boxes_of(seeds)] if mode == "refine" else prompts_from_labels(seeds)
            if not queries:
                return np.zeros((h, w), np.uint32)
            low, iou, stability = self.decode_low(image, queries)
            if mode == "refine":
                return paint_low_logits(low, (h, w), min_size)
            agrees = prompted_iou(low, seeds, (h, w)) >= agreement
            keep = np.nonzero((iou >= iou_threshold) & (stability >= stability_threshold) & agrees)[0]
            kept = keep[_mask_nms_indices(low[keep].numpy() > 0, iou[keep], nms_threshold)]
            # The detector's particles have the last word on splits (the prompts of two
            # touching particles can come back as one mask), and stand whole where the masks
            # left most of one out (a rod's mask kept to one end, a neighbour's mask leaking in).
            labels = split_where_detected(paint_low_logits(low[kept], (h, w), min_size), seeds)
            return remove_small_and_relabel(add_unclaimed(labels, seeds, whole=True), min_size)
        grid = (np.arange(points_per_side) + 0.5) / points_per_side
        ys, xs = np.meshgrid(grid * h, grid * w, indexing="ij")
        queries = [np.array([[y, x, POSITIVE]]) for y, x in zip(ys.ravel(), xs.ravel(), strict=False)]
        logits, iou, stability = self.decode(image, queries)
        keep = (iou >= iou_threshold) & (stability >= stability_threshold)
        masks, scores = logits[keep] > 0, iou[keep]
        kept = _mask_nms_indices(masks, scores, nms_threshold)
        return paint_masks(masks[kept], scores[kept], min_size)

    def _box_model(self, name: str):
        """The model whose instances give refine mode its boxes, built once per name."""
        from .. import load_model

        if name not in self._box_models:
            self._box_models[name] = load_model(name)
        return self._box_models[name]

    def _prompt_queries(self, points, boxes, shape) -> list[np.ndarray]:
        h, w = shape
        queries = []
        if points is not None and len(points):
            pts = np.asarray(points, dtype=np.float64)
            if pts.ndim == 2 and pts.shape[1] >= 2:
                if not np.isfinite(pts[:, :2]).all():  # NaN compared false everywhere: a particle at (0, 0)
                    raise TemsegError(f"{int((~np.isfinite(pts[:, :2])).any(axis=1).sum())} point(s) have no "
                                      "position (NaN or infinite y or x)")
                outside = (pts[:, 0] < 0) | (pts[:, 0] >= h) | (pts[:, 1] < 0) | (pts[:, 1] >= w)
                if outside.any():
                    y, x = pts[np.argmax(outside), :2]
                    raise TemsegError(
                        f"{int(outside.sum())} point(s) lie outside the {h}x{w} image, e.g. (y={y:.1f}, x={x:.1f})"
                    )
            queries += [g for g in group_points(pts) if (g[:, 2] == POSITIVE).any()]
        if boxes is not None and len(boxes):
            b = np.asarray(boxes, dtype=np.float64)
            if b.ndim != 2 or b.shape[1] != 4:
                raise TemsegError(f"boxes must be an (M, 4) array of y0, x0, y1, x1; got {b.shape}")
            queries += [_box_query(row) for row in b]
        if not queries:
            raise TemsegError("prompt mode needs points or boxes (points=/boxes= in Python, a Points layer in "
                              "napari, --points CSV on the command line)")
        if any(len(q) > self.net.max_points for q in queries):
            raise TemsegError(f"at most {self.net.max_points} points per particle (EfficientSAM's limit)")
        return queries


def _box_query(box: np.ndarray) -> np.ndarray:
    y0, x0, y1, x1 = box
    return np.array([[min(y0, y1), min(x0, x1), BOX_TOP_LEFT], [max(y0, y1), max(x0, x1), BOX_BOTTOM_RIGHT]])


def _boxes_of(labels: np.ndarray) -> list[np.ndarray]:
    return [
        np.array([s[0].start, s[1].start, s[0].stop - 1, s[1].stop - 1], float)
        for s in ndi.find_objects(labels) if s is not None
    ]


def _stability(logits: torch.Tensor, offset: float = 1.0) -> torch.Tensor:
    """IoU between the mask at logit > +offset and at logit > -offset (SAM's stability score)
    of each (H, W) mask in (..., H, W) logits."""
    inner = (logits > offset).flatten(-2).sum(-1)
    outer = (logits > -offset).flatten(-2).sum(-1)
    return inner / outer.clamp(min=1)


def choose_masks(
    logits: torch.Tensor, iou: torch.Tensor, min_stability: float = 0.5
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The mask kept out of each query's three in (Q, 3, H, W) logits: its (Q, H, W)
    logits, (Q,) predicted IoU and (Q,) stability.

    The mask with the best predicted IoU among those whose extent holds up when the
    logit threshold moves by ±1 (stability ≥ `min_stability`); the best predicted IoU
    alone when none does. Without the stability rule a point on a speck, where every
    predicted IoU is near zero, could pick a mask that floods the whole image.
    """
    stability = _stability(logits)  # (Q, 3)
    score = torch.where(stability >= min_stability, iou, iou - 2.0)  # unstable masks rank last
    best = score.argmax(-1)
    idx = torch.arange(len(best))
    return logits[idx, best], iou[idx, best], stability[idx, best]


def _mask_nms_indices(masks: np.ndarray, scores: np.ndarray, threshold: float) -> list[int]:
    """Indices of the masks kept by greedy non-maximum suppression by mask IoU, best
    predicted IoU first (only masks whose bounding boxes meet are compared)."""
    if len(masks) == 0:
        return []
    rows, cols = masks.any(2), masks.any(1)
    boxes = np.array([[r.argmax(), len(r) - r[::-1].argmax(), c.argmax(), len(c) - c[::-1].argmax()]
                      for r, c in zip(rows, cols, strict=True)])
    flat = masks.reshape(len(masks), -1)
    kept: list[int] = []
    for i in np.argsort(-scores):
        near = [j for j in kept if boxes[i, 0] < boxes[j, 1] and boxes[j, 0] < boxes[i, 1]
                and boxes[i, 2] < boxes[j, 3] and boxes[j, 2] < boxes[i, 3]]
        if all(np.count_nonzero(flat[i] & flat[j]) / max(np.count_nonzero(flat[i] | flat[j]), 1) <= threshold
               for j in near):
            kept.append(int(i))
    return kept


#: Masks brought to full resolution at a time (`paint_low_logits`): 16 x 2048² float32 is 256 MB.
UPSAMPLE_CHUNK = 16


def upsample_logits(low: torch.Tensor, shape: tuple[int, int]) -> np.ndarray:
    """(Q, Y, X) float32 logits from the decoder's (Q, m, m) ones (bicubic)."""
    if len(low) == 0:
        return np.zeros((0, *shape), np.float32)
    with torch.inference_mode():
        return F.interpolate(low[:, None], shape, mode="bicubic", align_corners=False)[:, 0].numpy()


def prompted_iou(low: torch.Tensor, seeds: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """IoU of each query's mask with the particle of `seeds` it was prompted from (queries in
    `prompts_from_labels` order: one per particle, by ascending ID), brought to `shape` a few
    at a time. The decoder's own IoU head is trained on the article's images and scores a
    mask that leaks into the support, or keeps a fragment, as confidently as a good one."""
    ids = np.unique(seeds[seeds > 0])
    boxes = ndi.find_objects(seeds)
    areas = np.bincount(seeds.ravel())
    out = np.zeros(len(low), np.float64)
    for start in range(0, len(low), UPSAMPLE_CHUNK):
        masks = upsample_logits(low[start : start + UPSAMPLE_CHUNK], shape) > 0
        for k, mask in enumerate(masks, start):
            box = boxes[int(ids[k]) - 1]
            inter = int(np.count_nonzero(mask[box] & (seeds[box] == ids[k])))
            union = int(np.count_nonzero(mask)) + int(areas[ids[k]]) - inter
            out[k] = inter / union if union else 0.0
    return out


def paint_low_logits(low: torch.Tensor, shape: tuple[int, int], min_size: int) -> np.ndarray:
    """`instances.paint_by_logits` of the decoder's low-resolution logits, brought to `shape` a few at a
    time: each pixel to the query with the highest positive logit, without holding every
    full-resolution mask at once (a thousand particles in a 2048² image would need 16 GB)."""
    best = np.zeros(shape, np.float32)
    owner = np.zeros(shape, np.uint32)
    for start in range(0, len(low), UPSAMPLE_CHUNK):
        chunk = upsample_logits(low[start : start + UPSAMPLE_CHUNK], shape)
        top = chunk.argmax(0)
        value = np.take_along_axis(chunk, top[None], 0)[0]
        better = value > best
        best[better], owner[better] = value[better], top[better] + start + 1
    return remove_small_and_relabel(owner, min_size)


def build(name: str, weights: str | None, device: str | None, **options: Any) -> EfficientSamSegmenter:
    """EfficientSAM-tiny from the official checkpoint layout (the shipped, an imported or the
    official file); weights fine-tuned here at a smaller input size record it."""
    from ...preprocess import stored_input
    from ...rescale import stored_radius_range
    from .. import weights as weight_files
    from ..devices import default_device
    from . import build_efficient_sam, build_efficient_sam_vitt

    path = weight_files.resolve(name, weights)
    net = build_efficient_sam_vitt()
    state, settings = weight_files.load_checkpoint(path, name, set(net.state_dict()))
    if settings.get("img_size", 1024) != 1024:
        net = build_efficient_sam(192, 3, img_size=int(settings["img_size"]))
    net.load_state_dict(state, strict=True)  # fp16 tensors are cast to fp32 on copy
    input_mode, denoise = stored_input(settings)
    return EfficientSamSegmenter(name, net, default_device(device), input_mode=input_mode, denoise=denoise,
                                 radius_range=stored_radius_range(settings), **options)
