"""`temseg train efficientsam-tiny`: fine-tune EfficientSAM with prompts sampled from ground truth.

Each step encodes one augmented image and decodes a batch of prompts drawn
from its particles: a positive point inside the particle, its (jittered) box,
or both. Loss: per prompt, the best of the three masks by BCE + Dice (SAM's
multimask rule) plus the IoU head's error. Validation: one positive point per
true particle, the article's foreground IoU and Dice. The CSV log has the
article's columns. `img_size` below 1024 makes CPU training feasible: the
position embedding is stored at 14x14 and resized, so weights stay
official-format and load at any size.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from scipy import ndimage as ndi

from ..datasets import Sample
from ..errors import TemsegError
from ..metrics import dice as dice_score
from ..metrics import foreground_iou
from ..models import weights as weight_files
from ..models.devices import default_device
from ..models.efficient_sam import build_efficient_sam
from ..models.efficient_sam.segmenter import choose_masks, gray_to_rgb, paint_low_logits, query_arrays
from ..preprocess import check_input_mode, normalize, prepare_input
from ..simulator import TRAIN_FRESNEL
from .augment import AUGMENTATIONS
from .curves import plot_training_log
from .data import drawn_samples, recorded_radius_range, synth_settings
from .run_state import (
    NOT_MEASURED,
    finish_epoch,
    half_precision,
    log_epoch,
    run_files,
    start_or_resume,
    training_options,
)


def interior_point(mask: np.ndarray, rng: np.random.Generator) -> tuple[float, float]:
    """A random pixel among the most interior half of a particle (y, x).

    The distance transform runs on the particle's box plus a one-pixel ring (all
    background, so the distances are those of the whole image): a simulated image holds
    up to thousands of particles."""
    (rows, cols), (h, w) = ndi.find_objects(mask.astype(np.uint8))[0], mask.shape
    y0, x0 = max(rows.start - 1, 0), max(cols.start - 1, 0)
    dist = ndi.distance_transform_edt(mask[y0 : min(rows.stop + 1, h), x0 : min(cols.stop + 1, w)])
    ys, xs = np.nonzero(dist >= 0.5 * dist.max())
    i = int(rng.integers(len(ys)))
    return float(ys[i] + y0), float(xs[i] + x0)


def sample_prompts(labels: np.ndarray, count: int, rng: np.random.Generator):
    """Up to `count` (query (k, 3) y, x, code; target mask) pairs from a label image.

    Half the prompts are one interior positive point (a click), a third a jittered
    box, the rest a box with a point inside: the query prompt propagation sends.
    """
    ids = np.unique(labels[labels > 0])
    if len(ids) == 0:
        return []
    chosen = rng.choice(ids, size=min(count, len(ids)), replace=False)
    h, w = labels.shape
    out = []
    for i in chosen:
        mask = labels == i
        kind = rng.random()
        rows = []
        if kind < 0.5 or kind >= 0.8:
            rows.append([*interior_point(mask, rng), 1])
        if kind >= 0.5:
            ys, xs = np.nonzero(mask)
            jitter = rng.normal(0, 0.05 * max(np.ptp(ys), np.ptp(xs), 4), 4)
            y0, x0 = max(ys.min() + jitter[0], 0), max(xs.min() + jitter[1], 0)
            y1, x1 = min(ys.max() + jitter[2], h - 1), min(xs.max() + jitter[3], w - 1)
            rows = [[y0, x0, 2], [y1, x1, 3]] + rows
        out.append((np.array(rows, float), mask))
    return out


def _batch(queries: list[np.ndarray], device) -> tuple[torch.Tensor, torch.Tensor]:
    pts, codes = query_arrays(queries)
    return torch.from_numpy(pts).to(device), torch.from_numpy(codes).to(device)


def prompt_loss(net, image: np.ndarray, prompts, device, embedding: torch.Tensor | None = None
                ) -> tuple[torch.Tensor, float, float]:
    """Loss of one image's prompts, and the mean IoU and Dice of the chosen masks
    (`embedding`: the image's, when the caller already has it)."""
    queries, masks = zip(*prompts, strict=False)
    emb = net.get_image_embeddings(gray_to_rgb(image).to(device)) if embedding is None else embedding
    pts, codes = _batch(list(queries), device)
    low, iou_pred = net.predict_masks(emb, pts, codes, image.shape)  # (1, Q, 3, m, m)
    return score_masks(low[0], iou_pred[0], masks, image.shape)


def score_masks(low: torch.Tensor, iou_pred: torch.Tensor, masks, shape: tuple[int, int]
                ) -> tuple[torch.Tensor, float, float]:
    """Loss of the decoder's (Q, 3, m, m) logits and (Q, 3) predicted IoU against Q true
    (Y, X) masks, and the mean IoU and Dice of the masks SAM's multimask rule picks.

    The masks are scored at half the image's resolution, after the bicubic upsampling
    that inference applies, against the share of each half-res pixel the particle
    covers (a soft target): the decoder learns where an edge falls between its 4-px
    cells instead of a blocky version of the edge, for a quarter of the cost of scoring
    at full resolution.
    """
    size = (shape[0] // 2, shape[1] // 2)
    logits = F.interpolate(low, size, mode="bicubic", align_corners=False)  # (Q, 3, Y/2, X/2)
    target = F.interpolate(torch.from_numpy(np.stack(masks)).float()[:, None].to(low.device), size, mode="area")
    target3 = target.expand_as(logits)
    bce = F.binary_cross_entropy_with_logits(logits, target3, reduction="none").mean((-2, -1))
    prob = logits.sigmoid()
    inter = (prob * target3).sum((-2, -1))
    dice_loss = 1 - (2 * inter + 1) / (prob.sum((-2, -1)) + target3.sum((-2, -1)) + 1)
    per_mask = bce + dice_loss  # (Q, 3)
    best = per_mask.argmin(-1)
    idx = torch.arange(len(best))
    with torch.no_grad():
        hard, truth = (logits > 0).float(), (target3 > 0.5).float()
        true_iou = (hard * truth).sum((-2, -1)) / ((hard + truth) > 0).float().sum((-2, -1)).clamp(min=1)
        true_dice = 2 * (hard * truth).sum((-2, -1)) / (hard.sum((-2, -1)) + truth.sum((-2, -1))).clamp(min=1)
    loss = per_mask[idx, best].mean() + F.mse_loss(iou_pred, true_iou)
    return loss, float(true_iou[idx, best].mean()), float(true_dice[idx, best].mean())


#: Prompts decoded at a time in validation: a simulated image can hold a thousand particles,
#: whose three full-size masks each would need many GB at once.
VALIDATION_CHUNK = 32


@torch.no_grad()
def validate(net, samples: list[Sample], device, rng: np.random.Generator, input_mode: str = "stretch",
             denoise: float = 0.0) -> tuple[float, float, float]:
    """(loss, foreground IoU, Dice) with one interior positive point per true particle, the
    particles painted as prompt mode paints them (`paint_low_logits`)."""
    losses, ious, dices = [], [], []
    for s in samples:
        image = prepare_input(normalize(s.image), input_mode, denoise)
        ids = np.unique(s.labels[s.labels > 0])
        if len(ids) == 0:
            continue
        emb = net.get_image_embeddings(gray_to_rgb(image).to(device))  # once for loss and masks
        loss, low = 0.0, []
        for start in range(0, len(ids), VALIDATION_CHUNK):
            masks = [s.labels == i for i in ids[start : start + VALIDATION_CHUNK]]
            chunk = [(np.array([[*interior_point(m, rng), 1]]), m) for m in masks]
            pts, codes = _batch([q for q, _ in chunk], device)
            logits, iou = net.predict_masks(emb, pts, codes, image.shape)  # decoded once for both
            loss += score_masks(logits[0], iou[0], masks, image.shape)[0].item() * len(chunk)
            low.append(choose_masks(logits[0], iou[0])[0].cpu())
        losses.append(loss / len(ids))
        pred = paint_low_logits(torch.cat(low), image.shape, 0)
        ious.append(foreground_iou(pred, s.labels))
        dices.append(dice_score(pred, s.labels))
    if not ious:  # no validation image, or none with particles
        return NOT_MEASURED
    return float(np.mean(losses)), float(np.mean(ious)), float(np.mean(dices))


def train_efficientsam(
    name: str,
    data_dirs: list[str],
    out: str | Path,
    epochs: int = 20,
    img_size: int = 512,
    prompts_per_image: int = 16,
    synth: int = 40,
    synth_fresnel: float = TRAIN_FRESNEL,
    val_fraction: float = 0.2,
    lr: float = 1e-4,
    seed: int = 0,
    repeat: int = 1,
    device: str | None = None,
    weights: str | None = None,
    freeze_encoder: bool = False,
    resume: bool = False,
    input_mode: str = "stretch",
    denoise: float = 0.0,
    augment: str = "full",
    radius_range: tuple[float, float] | None = None,
) -> Path:
    """Fine-tune and write `out` (best validation IoU, official format, fp16) and `out`.csv.

    input_mode, denoise: how images are prepared (`preprocess.prepare_input`); stored
    beside the weights, so inference prepares them the same way. augment: "full" or
    "light" (see `train.augment.AUGMENTATIONS`). radius_range: recorded for inference
    (`recorded_radius_range`)."""
    check_input_mode(input_mode, denoise)
    if augment not in AUGMENTATIONS:
        raise TemsegError(f"augment must be one of {', '.join(AUGMENTATIONS)}, not {augment!r}")
    augment_fn = AUGMENTATIONS[augment]
    synthesis = synth_settings(synth_fresnel)
    radii = recorded_radius_range(radius_range)
    out = Path(out)
    last, log = run_files(out, resume)  # before the data is drawn: a forgotten --resume is said at once
    plan = {"epochs": epochs, "img_size": img_size, "input": input_mode, "denoise": denoise,
            **synthesis, **({} if radius_range is None else {"radius_range": radii})}
    device = default_device(device)
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    net = build_efficient_sam(192, 3, img_size=img_size)
    if weights:
        path = weight_files.resolve(name, weights)
        net.load_state_dict(weight_files.load_state_dict(path, name, set(net.state_dict())))
    net.to(device)
    if freeze_encoder:
        net.image_encoder.requires_grad_(False)
    params = [p for p in net.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=lr, weight_decay=1e-4)
    train, val = drawn_samples(data_dirs, synth, val_fraction, seed, repeat, synth_fresnel)
    steps = epochs * len(train)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=lr, total_steps=steps, pct_start=0.05)
    options = training_options(data_dirs, lr=lr, prompts_per_image=prompts_per_image, freeze_encoder=freeze_encoder,
                               augment=augment, synth=synth, repeat=repeat, seed=seed, val_fraction=val_fraction)
    start_epoch, best_iou = start_or_resume(last, log, resume, plan, net, optimizer, rng, schedule, options)
    for epoch in range(start_epoch, epochs):
        net.train()
        t0 = time.perf_counter()
        losses, ious, dices = [], [], []
        for i in rng.permutation(len(train)):
            image, labels = augment_fn(normalize(train[i].image), train[i].labels, rng)
            image = prepare_input(image, input_mode, denoise)
            prompts = sample_prompts(labels, prompts_per_image, rng)
            if not prompts:
                continue
            loss, iou, dsc = prompt_loss(net, image, prompts, device)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            schedule.step()
            losses.append(loss.item())
            ious.append(iou)
            dices.append(dsc)
        net.eval()
        val_loss, val_iou, val_dice = validate(net, val, device, np.random.default_rng(seed + 1), input_mode, denoise)
        row = [epoch + 1, np.mean(losses), val_loss, np.mean(ious), val_iou, np.mean(dices), val_dice]
        log_epoch(log, epoch + 1, row[1:])
        settings = {"img_size": img_size, "input": input_mode, "denoise": denoise, "radius_range": radii}
        weights = {"model": half_precision(net), "temseg": settings}  # the official layout + how to feed it
        best_iou = finish_epoch(out, weights, val_iou, best_iou, last, net, optimizer, epoch + 1, rng, plan,
                                schedule, options)
        print(
            f"epoch {epoch + 1}/{epochs}: loss {row[1]:.4f}, val IoU {val_iou:.4f}, Dice {val_dice:.4f} "
            f"({time.perf_counter() - t0:.0f} s)", file=sys.stderr, flush=True,
        )
    plot_training_log(log, title=f"efficientsam-tiny ({img_size} px)")
    return out
