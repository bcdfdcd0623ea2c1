"""Training curves as a PNG, from the article-format CSV log every trainer writes."""

from __future__ import annotations

import csv
from pathlib import Path


def plot_training_log(log: str | Path, png: str | Path | None = None, title: str = "") -> Path:
    """Loss, IoU and Dice per epoch (train and validation) side by side; returns the PNG path."""
    import matplotlib

    matplotlib.use("Agg")  # headless: training runs on servers
    import matplotlib.pyplot as plt

    log = Path(log)
    with open(log, newline="") as fh:
        rows = list(csv.DictReader(fh))
    epochs = [int(r["E"]) for r in rows]
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.6), constrained_layout=True)
    for ax, metric in zip(axes, ("Loss", "IOU", "Dice"), strict=False):
        for split, style in (("Train", "-"), ("Test", "--")):
            ax.plot(epochs, [float(r[f"{split} {metric}"] or "nan") for r in rows], style,  # empty: not measured
                    label="validation" if split == "Test" else "train")
        ax.set_xlabel("epoch")
        ax.set_title(metric.replace("IOU", "IoU"))
        ax.grid(alpha=0.3)
    axes[0].legend()
    if title:
        fig.suptitle(title)
    png = Path(png) if png else log.with_suffix(".png")
    fig.savefig(png, dpi=110)
    plt.close(fig)
    return png
