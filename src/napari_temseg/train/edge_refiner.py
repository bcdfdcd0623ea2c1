"""`temseg train edge-refiner`: teach the edge refiner where labelled particle edges lie.

The refiner must correct any model, so it is not trained on one model's output: each
step degrades a true mask the ways models get edges wrong (a smooth random wobble of
the edge, a uniform grow or shrink, a mask decoded at 1/2-1/8 resolution and upsampled)
and learns to restore the true edge within the band around the degraded one. Validation
IoU is the whole image's, after refinement, over seeded degradations of held-out images.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from scipy import ndimage as ndi

from ..metrics import foreground_iou
from ..models.devices import default_device
from ..models.edge_refiner import DEFAULT_SETTINGS, EdgeRefiner, build_net, edge_band, image_channels
from ..preprocess import noise_to_contrast, normalize
from ..simulator import TRAIN_FRESNEL
from .curves import plot_training_log
from .data import drawn_samples, synth_settings
from .run_state import NOT_MEASURED, finish_epoch, log_epoch, run_files, start_or_resume, training_options
from .semantic import lr_factor

#: Degradations sampled per step: edge wobble amplitude (px) and its correlation length,
#: uniform edge shift (px), and the resolution factors a mask may have been decoded at.
WOBBLE_PX, WOBBLE_LENGTH, SHIFT_PX, FACTORS = 2.0, (3.0, 12.0), 2.5, (1, 2, 4, 8)
STEPS_PER_EPOCH = 25


def degrade_mask(mask: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A model-like mask of the same particles: wobbled, shifted and/or coarsened edges."""
    inside = ndi.distance_transform_edt(mask) - 0.5
    outside = ndi.distance_transform_edt(~mask) - 0.5
    signed = np.where(mask, inside, -outside)
    wobble = ndi.gaussian_filter(rng.standard_normal(mask.shape).astype(np.float32), rng.uniform(*WOBBLE_LENGTH))
    wobble *= rng.uniform(0, WOBBLE_PX) / max(float(wobble.std()), 1e-6)
    coarse = signed + wobble + rng.uniform(-SHIFT_PX, SHIFT_PX) > 0
    factor = int(rng.choice(FACTORS))
    if factor > 1:
        h, w = mask.shape
        padded = np.pad(coarse, ((0, -h % factor), (0, -w % factor)), mode="edge").astype(np.float32)
        small = padded.reshape(padded.shape[0] // factor, factor, padded.shape[1] // factor, factor).mean((1, 3))
        up = ndi.zoom(small, factor, order=1, grid_mode=True, mode="nearest")[:h, :w]
        coarse = up > rng.uniform(0.35, 0.65)
    return coarse


def _example(channels: np.ndarray, truth: np.ndarray, size: int, rng: np.random.Generator, band_px: float):
    """(input C+1 x size x size, target, band weight) from one image: degrade, symmetry, crop."""
    coarse = degrade_mask(truth, rng)
    band = edge_band(coarse, band_px)
    stack = np.concatenate([channels, coarse[None], truth[None], band[None]]).astype(np.float32)
    stack = np.rot90(stack, int(rng.integers(4)), axes=(1, 2))
    if rng.random() < 0.5:
        stack = stack[:, :, ::-1]
    h, w = stack.shape[1:]
    if h < size or w < size:
        stack = np.pad(stack, ((0, 0), (0, max(size - h, 0)), (0, max(size - w, 0))), mode="reflect")
        h, w = stack.shape[1:]
    y, x = int(rng.integers(h - size + 1)), int(rng.integers(w - size + 1))
    stack = stack[:, y : y + size, x : x + size]
    return stack[:-2], stack[-2], stack[-1]


def _band_bce(logits: torch.Tensor, target: torch.Tensor, band: torch.Tensor) -> torch.Tensor:
    loss = F.binary_cross_entropy_with_logits(logits, target, reduction="none")
    return (loss * band).sum() / band.sum().clamp(min=1.0)


def _validate(refiner: EdgeRefiner, val: list, seed: int, repeats: int = 4) -> tuple[float, float, float]:
    """(band loss, IoU, Dice) of whole held-out images after refinement, over seeded degradations."""
    rng = np.random.default_rng(seed)
    losses, ious, dices = [], [], []
    for channels, truth in val:
        h, w = truth.shape
        for _ in range(repeats):
            coarse = degrade_mask(truth, rng)
            band = edge_band(coarse, refiner.band)
            logits = refiner.logits(channels, coarse, slice(0, h), slice(0, w))  # one pass: loss and mask
            refined = np.where(band, logits > 0, coarse)
            losses.append(_band_bce(torch.from_numpy(logits), torch.from_numpy(truth.astype(np.float32)),
                                    torch.from_numpy(band.astype(np.float32))).item())
            iou = foreground_iou(refined.astype(np.uint32), truth.astype(np.uint32))
            ious.append(iou)
            dices.append(2 * iou / (1 + iou))
    return float(np.mean(losses)), float(np.mean(ious)), float(np.mean(dices))


def train_edge_refiner(
    data_dirs: list[str],
    out: str | Path,
    epochs: int = 40,
    crop: int = 256,
    batch: int = 8,
    lr: float = 3e-3,
    synth: int = 0,
    synth_fresnel: float = TRAIN_FRESNEL,
    val_fraction: float = 0.2,
    seed: int = 0,
    repeat: int = 1,
    device: str | None = None,
    resume: bool = False,
) -> Path:
    """Train; writes `out` (best validation IoU), `out`.csv (the article's log columns) and its curve.
    An epoch is `STEPS_PER_EPOCH` batches of random crops. The checkpoint records the range
    of the training images' noise-to-contrast ratios: the refiner acts on images like them."""
    out = Path(out)
    synthesis = synth_settings(synth_fresnel)
    last, log = run_files(out, resume)  # before the data is drawn: a forgotten --resume is said at once
    train, val = drawn_samples(data_dirs, synth, val_fraction, seed, repeat, synth_fresnel)
    device = default_device(device)
    ratios = [noise_to_contrast(normalize(s.image)) for s in train]
    settings = dict(DEFAULT_SETTINGS, epochs=epochs, crop=crop,
                    noise_range=[round(min(ratios), 4), round(max(ratios), 4)], **synthesis)
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    net = build_net(settings).to(device)
    optimizer = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=1e-4)
    options = training_options(data_dirs, batch=batch, lr=lr, synth=synth, repeat=repeat, seed=seed,
                               val_fraction=val_fraction)
    start_epoch, best = start_or_resume(last, log, resume, settings, net, optimizer, rng, options=options)

    def prepared(samples):
        return [(image_channels(normalize(s.image), settings["sigmas"]), s.labels > 0) for s in samples]

    train_items, val_items = prepared(train), prepared(val)
    refiner = EdgeRefiner(net, settings, device)
    total = epochs * STEPS_PER_EPOCH
    for epoch in range(start_epoch, epochs):
        t0 = time.perf_counter()
        net.train()
        losses, ious = [], []
        for k in range(STEPS_PER_EPOCH):
            for group in optimizer.param_groups:
                group["lr"] = lr * lr_factor(epoch * STEPS_PER_EPOCH + k, total, STEPS_PER_EPOCH)
            picks = rng.integers(len(train_items), size=batch)
            parts = [_example(train_items[i][0], train_items[i][1], crop, rng, settings["band"]) for i in picks]
            x, y, band = (torch.from_numpy(np.ascontiguousarray(np.stack(p))).to(device) for p in zip(*parts, strict=False))
            logits = net(x)[:, 0]
            loss = _band_bce(logits, y, band)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
            refined = torch.where(band > 0, logits > 0, x[:, -1] > 0.5)
            inter, union = (refined & (y > 0.5)).sum().item(), (refined | (y > 0.5)).sum().item()
            ious.append(inter / max(union, 1))
        net.eval()
        val_loss, val_iou, val_dice = _validate(refiner, val_items, seed + 1) if val_items else NOT_MEASURED
        train_iou = float(np.mean(ious))
        row = [np.mean(losses), val_loss, train_iou, val_iou, 2 * train_iou / (1 + train_iou), val_dice]
        log_epoch(log, epoch + 1, row)
        weights = {"model": {k: v.detach().cpu() for k, v in net.state_dict().items()}, "temseg": settings}
        best = finish_epoch(out, weights, val_iou, best, last, net, optimizer, epoch + 1, rng, settings,
                            options=options)
        print(f"epoch {epoch + 1}/{epochs}: loss {row[0]:.4f}, val IoU {val_iou:.4f}, Dice {val_dice:.4f} "
              f"({time.perf_counter() - t0:.0f} s)", file=sys.stderr, flush=True)
    plot_training_log(log, title=f"edge refiner ({crop} px crops, band {settings['band']} px)")
    return out
