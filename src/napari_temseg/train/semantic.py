"""`temseg train swin-unet|vmamba`: the training loop shared by the semantic models.

The networks are instance-aware: besides the foreground (Dice + BCE) they learn each
particle's centre map (`instances.centre_map`, BCE), from which touching particles
are split. AdamW with linear warm-up and cosine decay, TEM augmentation, a seeded
validation split, the article's CSV log per epoch (foreground scores), best and last
checkpoints, exact resume, CPU or CUDA. Training data: labelled folders (the
article's layout or TIFF pairs) plus simulated images.
"""

from __future__ import annotations

import math
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from skimage.measure import label

from ..errors import TemsegError
from ..instances import centre_map
from ..models.devices import default_device
from ..models.semantic import build_network, read_checkpoint
from ..models.specs import spec
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

#: Output channels of the networks trained here: foreground and centre map.
CHANNELS = 2


def _crop(image: np.ndarray, labels: np.ndarray, size: int, rng: np.random.Generator):
    """A random size x size window, padded where the image is smaller: image and labels
    mirrored alike, each mirrored particle an instance of its own (labels padded with
    background taught the mirrored particles in the image as background: fine-tuning on
    256² crops at 448 lost 0.22 IoU)."""
    h, w = image.shape
    if h < size or w < size:
        pad = ((0, max(size - h, 0)), (0, max(size - w, 0)))
        image = np.pad(image, pad, mode="reflect")
        labels = label(np.pad(labels, pad, mode="reflect"), background=0, connectivity=2)
        h, w = image.shape
    y, x = int(rng.integers(h - size + 1)), int(rng.integers(w - size + 1))
    return image[y : y + size, x : x + size], labels[y : y + size, x : x + size]


def _batch(samples, size, rng, augment, input_mode: str, denoise: float):
    """Network inputs as inference makes them: the whole (augmented) image is prepared, then cropped.
    `augment` is one of `AUGMENTATIONS`, or None (validation)."""
    images, masks = [], []
    for s in samples:
        image, labels = normalize(s.image), s.labels
        if augment is not None:
            image, labels = augment(image, labels, rng)
        image, labels = _crop(prepare_input(image, input_mode, denoise), labels, size, rng)
        images.append(image)
        masks.append(np.stack([labels > 0, centre_map(labels)]))
    x = torch.from_numpy(np.stack(images).astype(np.float32))[:, None]
    y = torch.from_numpy(np.stack(masks).astype(np.float32))
    return x, y


def _starting_weights(path: str | Path, name: str, preset: str, net: torch.nn.Module) -> dict:
    """The float32 state dict of a `temseg train` checkpoint, checked against the network to
    train. A foreground-only checkpoint starts the foreground channel of an instance-aware
    network; its centre channel keeps its fresh initialisation. `path` may name a shipped
    variant ("article", "sim"), as `--weights` does everywhere else."""
    from ..models import weights as weight_files

    path = weight_files.resolve(name, str(path))
    settings, state = read_checkpoint(path, name)
    if (settings.get("architecture"), settings.get("preset")) != (name, preset):
        raise TemsegError(
            f"{path}: holds a {settings.get('architecture')} ({settings.get('preset')} preset) model; "
            f"training {name} ({preset} preset) needs weights of the same network"
        )
    fresh = net.state_dict()
    masks = {key for key in {*state, *fresh} if key.endswith("attn_mask")}  # shifted windows' masks follow the
    state = {key: value for key, value in state.items() if key not in masks}  # input size: this network's own
    state.update({key: fresh[key] for key in masks if key in fresh})
    for key, value in state.items():
        if key not in fresh or value.shape == fresh[key].shape:
            continue
        if value.shape[1:] == fresh[key].shape[1:] and value.shape[0] < fresh[key].shape[0]:
            grown = fresh[key].clone()
            grown[: value.shape[0]] = value  # the output layer: one channel more
            state[key] = grown
        else:  # another network's size (a traceback from torch)
            made = f" at --imgsz {settings['imgsz']}" if settings.get("imgsz") else ""
            raise TemsegError(f"{path}: these weights were trained{made}, for another input size than this run's "
                              f"({key}: {tuple(value.shape)}, here {tuple(fresh[key].shape)}); train at their size, "
                              "or without --weights")
    return state


def dice_bce(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Dice + BCE on the foreground channel, plus BCE on the centre map."""
    prob = logits[:, :1].sigmoid()
    fg = target[:, :1]
    inter = (prob * fg).sum((1, 2, 3))
    dice = 1 - (2 * inter + 1) / (prob.sum((1, 2, 3)) + fg.sum((1, 2, 3)) + 1)
    loss = F.binary_cross_entropy_with_logits(logits[:, :1], fg) + dice.mean()
    return loss + F.binary_cross_entropy_with_logits(logits[:, 1:], target[:, 1:])


def _scores(logits: torch.Tensor, target: torch.Tensor) -> tuple[float, float]:
    """Mean foreground IoU and Dice of a batch."""
    pred = logits[:, :1] > 0
    t = target[:, :1] > 0.5
    inter = (pred & t).sum((1, 2, 3)).float()
    union = (pred | t).sum((1, 2, 3)).float()
    total = pred.sum((1, 2, 3)).float() + t.sum((1, 2, 3)).float()
    iou = torch.where(union > 0, inter / union.clamp(min=1), torch.ones_like(union))
    dice = torch.where(total > 0, 2 * inter / total.clamp(min=1), torch.ones_like(total))
    return float(iou.mean()), float(dice.mean())


def lr_factor(step: int, total: int, warmup: int) -> float:
    """Linear warm-up, then cosine decay to 0."""
    if step < warmup:
        return (step + 1) / warmup
    return 0.5 * (1 + math.cos(math.pi * (step - warmup) / max(total - warmup, 1)))


def train_semantic(
    name: str,
    data_dirs: list[str],
    out: str | Path,
    preset: str = "article",
    epochs: int = 50,
    imgsz: int | None = None,
    tile: int | None = None,
    batch: int = 4,
    lr: float = 5e-4,
    synth: int = 40,
    synth_fresnel: float = TRAIN_FRESNEL,
    val_fraction: float = 0.2,
    seed: int = 0,
    repeat: int = 1,
    device: str | None = None,
    resume: bool = False,
    weights: str | Path | None = None,
    input_mode: str = "anchored",
    denoise: float = 0.0,
    augment: str = "full",
    radius_range: tuple[float, float] | None = None,
) -> Path:
    """Train; writes `out` (best validation IoU: weights + settings), `out`.csv and its curve `out`.png.

    `imgsz` is the training crop; `tile` the size the model segments at (and is validated
    at), by default the same. Swin-UNet needs them equal (its windows are built for one
    size); VMamba's scan takes any length, so it can learn from small crops, which give
    more steps per CPU hour, and still segment 512 px tiles. `weights`: start from
    a checkpoint of the same architecture and preset (fine-tuning, e.g. the shipped
    weights on your own labelled images). `input_mode` (see `preprocess.INPUT_MODES`)
    and `denoise` (Gaussian sigma after it, 0 = off) are stored in the checkpoint, so
    inference prepares images the same way. `augment`:
    "full" or "light" (see `train.augment.AUGMENTATIONS`). `radius_range`: recorded for
    inference (`recorded_radius_range`).
    """
    model = spec(name)
    imgsz = imgsz or model.resolution
    tile = tile or imgsz
    if model.fixed_input and tile != imgsz:
        raise TemsegError(f"{name} segments at its training size: drop --tile or make it equal to --imgsz")
    check_input_mode(input_mode, denoise)  # the checks before any file is written
    synthesis = synth_settings(synth_fresnel)
    radii = recorded_radius_range(radius_range)
    if augment not in AUGMENTATIONS:
        raise TemsegError(f"augment must be one of {', '.join(AUGMENTATIONS)}, not {augment!r}")
    out = Path(out)
    torch.manual_seed(seed)
    net = build_network(name, preset, imgsz, CHANNELS)  # an unknown preset: said before any file is written
    last, log = run_files(out, resume)  # before the data is drawn: a forgotten --resume is said at once
    device = default_device(device)
    rng = np.random.default_rng(seed)
    if weights is not None and not resume:
        net.load_state_dict(_starting_weights(weights, name, preset, net))
    net = net.to(device)
    optimizer = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=0.01)
    train, val = drawn_samples(data_dirs, synth, val_fraction, seed, repeat, synth_fresnel)
    steps_per_epoch = math.ceil(len(train) / batch)
    total, warmup = epochs * steps_per_epoch, max(steps_per_epoch, 1)
    augment_fn = AUGMENTATIONS[augment]
    settings = {"architecture": name, "preset": preset, "imgsz": tile, "epochs": epochs, "input": input_mode,
                "augment": augment, "channels": CHANNELS, "radius_range": radii,
                **synthesis}
    if denoise:
        settings["denoise"] = denoise
    if tile != imgsz:
        settings["crop"] = imgsz
    options = training_options(data_dirs, batch=batch, lr=lr, synth=synth, repeat=repeat, seed=seed,
                               val_fraction=val_fraction)
    start_epoch, best = start_or_resume(last, log, resume, settings, net, optimizer, rng, options=options)
    for epoch in range(start_epoch, epochs):
        t0 = time.perf_counter()
        net.train()
        losses, ious, dices = [], [], []
        order = rng.permutation(len(train))
        for k in range(steps_per_epoch):
            step = epoch * steps_per_epoch + k
            for group in optimizer.param_groups:
                group["lr"] = lr * lr_factor(step, total, warmup)
            samples = [train[i] for i in order[k * batch : (k + 1) * batch]]
            x, y = _batch(samples, imgsz, rng, augment_fn, input_mode, denoise)
            logits = net(x.to(device))
            loss = dice_bce(logits, y.to(device))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
            iou, dsc = _scores(logits.detach(), y.to(device))
            ious.append(iou)
            dices.append(dsc)
        net.eval()
        val_rng = np.random.default_rng(seed + 1)
        with torch.no_grad():
            results = []
            for s in val:
                x, y = _batch([s], tile, val_rng, None, input_mode, denoise)
                logits = net(x.to(device))
                results.append((dice_bce(logits, y.to(device)).item(), *_scores(logits, y.to(device))))
        val_loss, val_iou, val_dice = (float(np.mean(c)) for c in zip(*results, strict=False)) if results else NOT_MEASURED
        row = [np.mean(losses), val_loss, np.mean(ious), val_iou, np.mean(dices), val_dice]
        log_epoch(log, epoch + 1, row)
        best = finish_epoch(out, {"model": half_precision(net), "temseg": settings}, val_iou, best, last, net, optimizer,
                            epoch + 1, rng, settings, options=options)
        print(
            f"epoch {epoch + 1}/{epochs}: loss {row[0]:.4f}, val IoU {val_iou:.4f}, Dice {val_dice:.4f} "
            f"({time.perf_counter() - t0:.0f} s)", file=sys.stderr, flush=True,
        )
    plot_training_log(log, title=f"{name} ({preset} preset, {imgsz} px crops)")
    return out
