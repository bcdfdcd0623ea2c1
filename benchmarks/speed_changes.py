"""Before/after timings of the speed changes kept in the code, measured in one run.

Each "before" is the straightforward version the change replaced, rebuilt here
for the comparison only; each "after" is the package as it is. Outputs are
compared so that a change is kept only when results stay within tolerance.

Run: python benchmarks/speed_changes.py [--esam CHECKPOINT] [--swin CHECKPOINT] [--vmamba CHECKPOINT]
(any EfficientSAM checkpoint times the same; the Swin-UNet and VMamba rows need trained
weights for their IoU columns and default to the shipped ones)
"""

import argparse
import functools

import numpy as np
import torch
import torch.nn.functional as F
from timing import median_time

from napari_temseg import instances, preprocess, segment
from napari_temseg.synth import synth_image

torch.set_num_threads(2)


def report(name, before, after, agree):
    print(f"| {name} | {before * 1000:.1f} ms | {after * 1000:.1f} ms | {before / after:.2f}x | {agree} |")


def full_resolution_markers(relief, split_depth, foreground=None):
    from scipy import ndimage as ndi
    from skimage.morphology import h_maxima

    return ndi.label(h_maxima(relief, split_depth))[0]


def whole_image_markers(relief, split_depth, foreground=None):
    """The version before the pieces: h-maxima of the whole (every other pixel) relief."""
    from scipy import ndimage as ndi
    from skimage.morphology import h_maxima

    markers = np.zeros(relief.shape, np.int32)
    markers[::2, ::2] = ndi.label(h_maxima(relief[::2, ::2], split_depth))[0]
    return markers


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


def classical_pieces():
    """h-maxima on each foreground piece's box instead of the whole image."""
    from napari_temseg.simulator import draw_params, simulate

    samples = [synth_image(seed=s).image for s in range(4)]
    samples += [simulate(draw_params(np.random.default_rng(s), "train", radius_span=(8.0, 30.0),
                                     shape=(512, 512), mode="bf"), seed=s).image for s in range(4)]
    after_labels = [segment(image) for image in samples]
    after = median_time(lambda: [segment(image) for image in samples], repeats=3)
    original = instances.split_markers
    instances.split_markers = whole_image_markers
    try:
        same = all(np.array_equal(segment(image), labels) for image, labels in zip(samples, after_labels, strict=True))
        before = median_time(lambda: [segment(image) for image in samples], repeats=3)
    finally:
        instances.split_markers = original
    report("classical: h-maxima of each foreground piece (8 images, 4 synth, 4 training-regime)", before, after,
           "identical labels" if same else "labels differ")


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


def _paper_images(count=4):
    """(label, samples): the first article images, or synthetic ones where the data is absent."""
    from pathlib import Path

    from napari_temseg.datasets import iter_dataset

    root = Path(__file__).resolve().parents[2] / "shared" / "data" / "paper-tem" / "train"
    if (root / "images").is_dir():
        return f"{count} article images", list(iter_dataset(root))[:count]
    return f"{count} synthetic images", [synth_image(seed=s) for s in range(count)]


def _foreground_iou(model, samples, **options):
    from napari_temseg.metrics import foreground_iou

    return float(np.mean([foreground_iou(segment(s.image, model, **options), s.labels) for s in samples]))


def semantic_tiles_and_bf16(name, weights):
    """Tiles of one image in one network call, and bfloat16 autocast (opt-in)."""
    from napari_temseg import load_model
    from napari_temseg.preprocess import normalize

    model = load_model(name, weights=weights)
    source, samples = _paper_images()
    image = normalize(samples[0].image)
    one_by_one = model.probability(image, batch=1)
    before = median_time(lambda: model.probability(image, batch=1), repeats=3)
    after = median_time(lambda: model.probability(image, batch=4), repeats=3)
    diff = np.abs(model.probability(image, batch=4) - one_by_one).max()  # default batch is 1
    report(f"{name}: the tiles of a 512² image in one call (option `batch`)", before, after,
           f"max |diff| of probability {diff:.1e}")
    bf16 = median_time(lambda: model.probability(image, precision="bf16"), repeats=3)
    iou32, iou16 = _foreground_iou(model, samples), _foreground_iou(model, samples, precision="bf16")
    report(f"{name}: bf16 autocast (opt-in, `-o precision=bf16`)", before, bf16,
           f"IoU on {source} {iou32:.4f} -> {iou16:.4f}")


def vmamba_scan_and_channels_last():
    from napari_temseg.models import vmamba

    net = vmamba.VMUNet("article").eval()
    x = torch.rand(1, 1, 512, 512)
    with torch.inference_mode():
        ref = net(x)
        after = median_time(lambda: net(x), repeats=3)
        nchw_forward = vmamba.SS2D.forward

        def channels_last_forward(self, x):  # tried: the channels-last view straight into the depthwise conv
            b, h, w, _ = x.shape
            x, z = self.in_proj(x).chunk(2, dim=-1)
            x = F.silu(self.conv2d(x.permute(0, 3, 1, 2)))
            y = self.scan(x).transpose(1, 2).reshape(b, h, w, -1)
            return self.out_proj(self.out_norm(y) * F.silu(z))

        vmamba.SS2D.forward = channels_last_forward
        try:
            channels_last = median_time(lambda: net(x), repeats=3)
            diff_cl = (net(x) - ref).abs().max().item()
        finally:
            vmamba.SS2D.forward = nchw_forward
        report("VMamba 512²: channels-last depthwise conv (tried, not kept)", after, channels_last,
               f"max |diff| of logits {diff_cl:.1e}")
        compiled_scan = vmamba.cross_scan
        vmamba.cross_scan = functools.partial(compiled_scan, method="chunked")
        try:
            chunked = median_time(lambda: net(x), repeats=1)
            diff_scan = (net(x) - ref).abs().max().item()
        finally:
            vmamba.cross_scan = compiled_scan
        report("VMamba 512²: compiled scan instead of the chunked PyTorch scan", chunked, after,
               f"max |diff| of logits {diff_scan:.1e}")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--esam", help="an EfficientSAM checkpoint (the parity fixture's will do)")
    parser.add_argument("--swin", help="Swin-UNet weights (default: the shipped ones)")
    parser.add_argument("--vmamba", help="VMamba weights (default: the shipped ones)")
    args = parser.parse_args()
    print("| change | before | after | speed-up | outputs |")
    print("|---|---|---|---|---|")
    classical_hmaxima()
    classical_pieces()
    percentile_sample()
    vmamba_scan_and_channels_last()
    semantic_tiles_and_bf16("swin-unet", args.swin)
    semantic_tiles_and_bf16("vmamba", args.vmamba)
    if args.esam:
        sam_attention_and_cache(args.esam)


if __name__ == "__main__":
    main()
