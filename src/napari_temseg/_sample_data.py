"""File > Open Sample: synthetic data with ground truth, made on the fly (no download)."""

from __future__ import annotations

from .synth import synth_image, synth_video


def sample_image() -> list[tuple]:
    """A 512x512 bright-field micrograph with touching particles, and its ground truth."""
    sample = synth_image(seed=0)
    return [
        (sample.image, {"name": "synthetic TEM"}, "image"),
        (sample.labels, {"name": "ground truth", "visible": False}, "labels"),
    ]


def sample_video() -> list[tuple]:
    """A 60-frame sintering video (drift, noise, pairs and a triple fusing) and its ground truth."""
    video = synth_video(seed=0)
    meta = {"temseg": {"events": video.events}}
    return [
        (video.frames, {"name": "synthetic sintering video"}, "image"),
        (video.labels, {"name": "ground truth tracks", "visible": False, "metadata": meta}, "labels"),
    ]
