"""Score a model on a labelled dataset folder: the numbers `temseg evaluate` prints."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np

from .datasets import iter_dataset, pair_files
from .errors import TemsegError
from .metrics import dice, foreground_iou, instance_scores
from .models import Segmenter, load_model
from .models.specs import DEFAULT_MODEL, prompted_models, spec_of
from .prompts import one_point_per_particle
from .segmentation import segment


def evaluate_dataset(
    root: str,
    model: str | Segmenter = DEFAULT_MODEL,
    progress: Callable[[int, int], None] | None = None,
    point_per_particle: bool = False,
    pixel_size_nm: float | None = None,
    **options: Any,
) -> dict:
    """Mean per-image foreground IoU and Dice (as the article reports them), instance
    precision/recall/F1 at IoU 0.5, AP 0.5:0.95, and images/s of segmentation alone.

    point_per_particle: prompt a promptable model with one positive point at the innermost
    pixel of each true particle (the article's protocol for EfficientSAM).
    pixel_size_nm: nm per pixel of every image, over their files' own calibration (which is
    used where this is None): what a diameter in nm is read with."""
    segmenter = load_model(model)
    model_spec = spec_of(segmenter)
    if point_per_particle and model_spec is not None and not model_spec.prompted:
        raise TemsegError(f"--point-per-particle prompts a prompted model ({', '.join(prompted_models())}), "
                          f"not {getattr(segmenter, 'name', model)!r}")
    total = len(pair_files(root))
    per_image, seconds = [], 0.0
    for i, sample in enumerate(iter_dataset(root)):
        start = time.perf_counter()
        prompts = (
            {"mode": "prompt", "points": one_point_per_particle(sample.labels)} if point_per_particle else {}
        )
        pixel = pixel_size_nm or sample.pixel_size_nm
        try:
            pred = segment(sample.image, segmenter, **options, **prompts, **({"pixel_size_nm": pixel} if pixel else {}))
        except TemsegError as err:  # name the image: a dataset has many
            raise TemsegError(f"{sample.name}: {err}") from None
        seconds += time.perf_counter() - start
        inst = instance_scores(pred, sample.labels)
        per_image.append(
            {
                "name": sample.name,
                "iou": foreground_iou(pred, sample.labels),
                "dice": dice(pred, sample.labels),
                "f1": inst.f1,
                "precision": inst.precision,
                "recall": inst.recall,
                "ap": inst.ap,
            }
        )
        if progress:
            progress(i + 1, total)
    keys = ["iou", "dice", "f1", "precision", "recall", "ap"]
    summary = {k: float(np.mean([r[k] for r in per_image])) for k in keys}
    summary.update(
        model=getattr(segmenter, "name", str(model)),
        n_images=len(per_image),
        images_per_s=len(per_image) / seconds if seconds > 0 else float("inf"),
    )
    return summary
