"""`temseg bench`: the article's table (resolution, images/s, pixels/s, memory, IoU, Dice), measured here.

Per model: warm-up excluded, the median over `repeats` passes of the per-image
time (batch stated), peak memory (CUDA max allocated on GPU; on CPU the peak
RSS increase over the process before the model was built, sampled every 5 ms),
and foreground IoU, Dice and instance F1 on the data. Prompted models are
scored twice: one positive point per true particle, and automatic mode.
"""

from __future__ import annotations

import json
import statistics
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from .datasets import Sample, iter_dataset
from .errors import TemsegError
from .metrics import dice, foreground_iou, instance_scores
from .models import available_models, load_model
from .models.devices import default_device
from .models.specs import SPECS
from .preprocess import normalize
from .prompts import one_point_per_particle
from .synth import synth_image


@dataclass
class BenchRow:
    model: str
    mode: str
    resolution: int
    parameters: int
    batch: int
    images_per_s: float
    pixels_per_s: float
    peak_memory_mb: float
    iou: float
    dice: float
    f1: float
    device: str


class PeakRSS:
    """Peak resident memory of this process while the block runs (sampled every 5 ms)."""

    def __init__(self) -> None:
        import psutil

        self.proc = psutil.Process()
        self.peak = 0
        self._stop = threading.Event()

    def __enter__(self) -> PeakRSS:
        self.start = self.proc.memory_info().rss
        self.peak = self.start
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self.proc.memory_info().rss)
            time.sleep(0.005)

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


def default_data(count: int = 4) -> list[Sample]:
    """The built-in benchmark set: synthetic 512x512 micrographs with touching particles."""
    return [Sample(f"synth_{i}", s.image, s.labels) for i, s in ((i, synth_image(seed=100 + i)) for i in range(count))]


def _parameters(model) -> int:
    for attr in ("net", "yolo"):
        obj = getattr(model, attr, None)
        if obj is not None:
            module = getattr(obj, "model", obj)
            return int(sum(p.numel() for p in module.parameters()))
    return 0


def _resolution(model, data: list[Sample]) -> int:
    """The network's input size (`input_size` of deep models), else the images' own."""
    return int(getattr(model, "input_size", None) or max(data[0].image.shape[:2]))


def _center_crop(sample: Sample, size: int) -> Sample:
    """The central size x size window of a larger image (and its labels)."""
    h, w = sample.labels.shape
    y, x = max((h - size) // 2, 0), max((w - size) // 2, 0)
    window = (slice(y, y + size), slice(x, x + size))
    return Sample(sample.name, sample.image[window], sample.labels[window])


def bench_model(
    name: str, mode: str, data: list[Sample], repeats: int, device: str,
    progress: Callable[[str], None] = lambda s: None,
) -> BenchRow:
    """Time and score one model (mode: "default", "points" or "auto") on the data."""
    import torch

    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    with PeakRSS() as memory:
        model = load_model(name, device=device)
        if getattr(model, "tiles", False):  # time and score at the network's own size, one tile per image
            data = [_center_crop(s, model.input_size) for s in data]
        images = [normalize(s.image) for s in data]
        extra = [{} for _ in data]
        if mode == "points":
            extra = [{"mode": "prompt", "points": one_point_per_particle(s.labels)} for s in data]
        elif mode == "auto":
            extra = [{"mode": "auto"} for _ in data]
        with torch.inference_mode():
            model.predict(images[0], **extra[0])  # warm-up (also fills caches, lazily built kernels)
            passes, predictions = [], []
            for r in range(repeats):
                start = time.perf_counter()
                predictions = []
                for img, kw in zip(images, extra, strict=False):
                    if SPECS[name].prompted:
                        model.forget_image()  # time the encoder on every image, as a new frame would
                    predictions.append(model.predict(img, **kw))
                passes.append((time.perf_counter() - start) / len(images))
                progress(f"{name} ({mode}): pass {r + 1}/{repeats}, {passes[-1]:.3f} s/image")
    per_image = statistics.median(passes)
    resolution = _resolution(model, data)
    peak = torch.cuda.max_memory_allocated() if device == "cuda" else memory.peak - memory.start
    return BenchRow(
        model=name, mode=mode, resolution=resolution, parameters=_parameters(model), batch=1,
        images_per_s=1 / per_image, pixels_per_s=resolution**2 / per_image, peak_memory_mb=peak / 2**20,
        iou=float(np.mean([foreground_iou(p, s.labels) for p, s in zip(predictions, data, strict=False)])),
        dice=float(np.mean([dice(p, s.labels) for p, s in zip(predictions, data, strict=False)])),
        f1=float(np.mean([instance_scores(p, s.labels).f1 for p, s in zip(predictions, data, strict=False)])),
        device=device,
    )


def modes_of(name: str) -> list[str]:
    return ["points", "auto"] if SPECS[name].prompted else ["default"]


def run_bench(
    models: list[str] | None = None, data_dir: str | None = None, device: str = "cpu", repeats: int = 3,
    progress: Callable[[str], None] = lambda s: print(s, file=sys.stderr, flush=True),
) -> list[BenchRow]:
    """Rows for every requested model and mode; Ctrl-C returns the rows finished so far."""
    default_device(device)  # a device that is not there: said before any model is built
    names = available_models() if not models or models == ["all"] else models
    unknown = set(names) - set(available_models())
    if unknown:
        raise TemsegError(f"cannot benchmark {', '.join(sorted(unknown))}: available here: {', '.join(available_models())}")
    data = list(iter_dataset(data_dir)) if data_dir else default_data()
    rows: list[BenchRow] = []
    try:
        for name in names:
            for mode in modes_of(name):
                rows.append(bench_model(name, mode, data, repeats, device, progress))
    except KeyboardInterrupt:
        progress(f"interrupted: {len(rows)} row(s) finished")
    return rows


def markdown_table(rows: list[BenchRow]) -> str:
    """Our figures beside the article's (its GPU, its test set)."""
    head = (
        "| model | mode | resolution | parameters | batch | images/s | pixels/s | peak memory (MB) | IoU | Dice | F1@0.5 "
        "| article images/s | article GPU MB | article IoU | article Dice |\n"
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n"
    )
    lines = []
    for r in rows:
        art = SPECS[r.model].article if r.model in SPECS else None
        article = f"{art.images_per_s} | {art.gpu_mb} | {art.iou} | {art.dice}" if art else "– | – | – | –"
        lines.append(
            f"| {r.model} | {r.mode} | {r.resolution} | {r.parameters:,} | {r.batch} | {r.images_per_s:.2f} | "
            f"{r.pixels_per_s:,.0f} | {r.peak_memory_mb:.0f} | {r.iou:.4f} | {r.dice:.4f} | {r.f1:.3f} | {article} |"
        )
    return head + "\n".join(lines) + "\n"


def write_rows(rows: list[BenchRow], path: str | Path) -> Path:
    """CSV, JSON (a list of rows, each with a `model` key) or Markdown, by the file's suffix."""
    path = Path(path)
    records = [asdict(r) for r in rows]
    if path.suffix == ".json":
        path.write_text(json.dumps(records, indent=1))
    elif path.suffix == ".csv":
        import pandas as pd

        pd.DataFrame(records, columns=list(BenchRow.__dataclass_fields__)).to_csv(path, index=False)
    elif path.suffix == ".md":
        path.write_text(markdown_table(rows))
    else:
        raise TemsegError(f"{path}: write .csv, .json or .md")
    return path
