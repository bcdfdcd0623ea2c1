"""Live prompting: time from a click to updated labels, with the image embedding cached.

What the Segment widget runs after each click (`segment_image` with the points so far) on a
1024² micrograph, once the first click has paid for the encoder: the median over clicks 2..N
of the whole call, and the same with the edge refiner off. Run with 2 threads, alone.

    python benchmarks/prompt_latency.py [--clicks 8] [--threads 2]
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch

from napari_temseg import load_model
from napari_temseg.segmentation import segment_image
from napari_temseg.synth import synth_image


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clicks", type=int, default=8)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    sample = synth_image((1024, 1024), n_particles=60, radius=(14, 30), seed=3)
    model = load_model("efficientsam-tiny")
    centres = [np.argwhere(sample.labels == i).mean(0) for i in range(1, args.clicks + 1)]
    for refine in (True, False):
        model.forget_image()
        times = []
        for k in range(1, len(centres) + 1):
            points = np.column_stack([np.array(centres[:k]), np.ones(k)])
            start = time.perf_counter()
            segment_image(sample.image, model, points=points, mode="prompt", refine_edges=refine)
            times.append(time.perf_counter() - start)
        print(f"refine_edges={refine}: first click {times[0]:.2f} s (encoder), later clicks median "
              f"{1000 * statistics.median(times[1:]):.0f} ms ({args.threads} threads, 1024² image)")


if __name__ == "__main__":
    main()
