"""Before/after timings of the speed changes kept in the code, measured in one run.

Each "before" is the straightforward version the change replaced, rebuilt here
for the comparison only; each "after" is the package as it is. Outputs are
compared so that a change is kept only when results stay within tolerance.

Run: python benchmarks/speed_changes.py [EFFICIENTSAM_CHECKPOINT]
"""

import sys

import numpy as np
import torch
from timing import median_time
import torch.nn.functional as F

from napari_temseg import instances, preprocess, segment
from napari_temseg.synth import synth_image

torch.set_num_threads(2)


def report(name, before, after, agree):
    print(f"| {name} | {before * 1000:.1f} ms | {after * 1000:.1f} ms | {before / after:.2f}x | {agree} |")


def full_resolution_markers(relief, split_depth):
    from scipy import ndimage as ndi
    from skimage.morphology import h_maxima

    return ndi.label(h_maxima(relief, split_depth))[0]


def classical_hmaxima():
    from napari_temseg.metrics import instance_scores

    samples = [synth_image(seed=s) for s in range(8)]
    image = samples[0].image
    f1_after = np.mean([instance_scores(segment(s.image), s.labels).f1 for s in samples])
    after = median_time(lambda: segment(image))
    original = instances.split_markers
    instances.split_markers = full_resolution_markers
    try:
        f1_before = np.mean([instance_scores(segment(s.image), s.labels).f1 for s in samples])
        before = median_time(lambda: segment(image))
    finally:
        instances.split_markers = original
    report("classical: h-maxima on every other pixel", before, after,
           f"F1 vs truth on 8 synthetic images {f1_before:.3f} -> {f1_after:.3f}")


def normalize_full_percentile(image):
    """The first version: percentiles of every pixel."""
    arr = preprocess.as_2d_gray(image).astype(np.float32)
    lo, hi = np.percentile(arr, [preprocess.LOW_PERCENTILE, preprocess.HIGH_PERCENTILE])
    return np.clip((arr - np.float32(lo)) / np.float32(hi - lo), 0, 1)


def percentile_sample():
    image = synth_image(seed=1).image
    after = median_time(lambda: preprocess.normalize(image))
    before = median_time(lambda: normalize_full_percentile(image))
    diff = np.abs(preprocess.normalize(image) - normalize_full_percentile(image)).max()
    report("normalise: percentiles of a strided sample", before, after, f"max |diff| {diff:.4f} (of 1)")


def explicit_attention(q, k, v, *args, **kwargs):
    scale = q.shape[-1] ** -0.5
    return torch.softmax((q @ k.transpose(-2, -1)) * scale, dim=-1) @ v


def sam_attention_and_cache(checkpoint):
    from napari_temseg import load_model

    model = load_model("efficientsam-tiny", weights=checkpoint)
    image = torch.rand(1, 3, 1024, 1024)
    with torch.inference_mode():
        ref = model.net.get_image_embeddings(image)
        after = median_time(lambda: model.net.get_image_embeddings(image), repeats=3)
        original = F.scaled_dot_product_attention
        F.scaled_dot_product_attention = explicit_attention
        try:
            slow = model.net.get_image_embeddings(image)
            before = median_time(lambda: model.net.get_image_embeddings(image), repeats=3)
        finally:
            F.scaled_dot_product_attention = original
    report("EfficientSAM encoder 1024²: fused SDPA attention", before, after,
           f"max |diff| of embeddings {float((ref - slow).abs().max()):.2e}")
    frame = synth_image(seed=2).image
    points = np.array([[100, 100, 1], [300, 320, 1], [420, 80, 1]], float)
    segment(frame, model, points=points)
    after = median_time(lambda: segment(frame, model, points=points), repeats=3)

    def uncached():
        model._cache_key = None
        return segment(frame, model, points=points)

    before = median_time(uncached, repeats=3)
    report("EfficientSAM: a new point re-runs only the decoder (cached embedding)", before, after, "identical labels")


def main():
    print("| change | before | after | speed-up | outputs |")
    print("|---|---|---|---|---|")
    classical_hmaxima()
    percentile_sample()
    if len(sys.argv) > 1:
        sam_attention_and_cache(sys.argv[1])


if __name__ == "__main__":
    main()
