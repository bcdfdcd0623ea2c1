"""`temseg demo`: the main job on built-in synthetic data, with a picture to look at."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .io import write_labels_tiff, write_track_dir
from .metrics import instance_scores, tracking_scores
from .segmentation import segment
from .synth import synth_image, synth_video
from .tracking import track


def _overlay(image: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """RGB picture of an image with particle outlines in colour."""
    from skimage.color import label2rgb
    from skimage.segmentation import find_boundaries

    gray = image.astype(float) / max(float(image.max()), 1.0)
    rgb = label2rgb(labels, image=gray, alpha=0.25, bg_label=0)
    rgb[find_boundaries(labels, mode="inner")] = (1.0, 0.9, 0.0)
    return rgb


def run_demo(out: str | Path = "temseg-demo", n_images: int = 3) -> Path:
    """Segment synthetic micrographs and track a synthetic sintering video into `out`."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    fig, axes = plt.subplots(2, n_images, figsize=(4 * n_images, 8.4))
    for i in range(n_images):
        sample = synth_image(seed=i)
        labels = segment(sample.image)
        write_labels_tiff(out / f"synthetic_{i}_labels.tif", labels)
        f1 = instance_scores(labels, sample.labels).f1
        axes[0, i].imshow(_overlay(sample.image, labels))
        axes[0, i].set_title(f"image {i}: {labels.max()} particles, F1 {f1:.2f}")
    video = synth_video(n_frames=40, shape=(320, 320), seed=0)
    result = track(video.frames)
    write_track_dir(out / "video", result.labels, result.events, video.pixel_size_nm)
    scores = tracking_scores(result.labels, video.labels, result.events, video.events)
    frames = np.linspace(0, len(video.frames) - 1, n_images).astype(int)
    for ax, t in zip(axes[1], frames, strict=False):
        ax.imshow(_overlay(video.frames[t], result.labels[t]))
        ax.set_title(f"video frame {t}")
    fig.suptitle(
        f"video: {len(result.events)} fusions found ({len(video.events)} true), "
        f"fusion F1 {scores.fusion_f1:.2f}, consistent IDs {scores.consistent_id_fraction:.3f}"
    )
    for ax in axes.ravel():
        ax.axis("off")
    fig.tight_layout()
    fig.savefig(out / "overview.png", dpi=80)
    plt.close(fig)
    return out
