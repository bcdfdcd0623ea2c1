"""CPU timing of EfficientSAM-tiny, with the protocol of the parity fixture's manifest:
1x3x1024x1024 input, 2 threads, 1 warm-up + 5 timed runs, median.

Run: python benchmarks/efficientsam_speed.py [CHECKPOINT]
(weights values do not change the cost; the parity fixture's random checkpoint will do)
"""

import sys

import torch
from timing import median_time

from napari_temseg.models.efficient_sam import build_efficient_sam_vitt


def main() -> None:
    torch.set_num_threads(2)
    net = build_efficient_sam_vitt().eval()
    if len(sys.argv) > 1:
        net.load_state_dict(torch.load(sys.argv[1], map_location="cpu", weights_only=True)["model"])
    image = torch.rand(1, 3, 1024, 1024)
    with torch.inference_mode():
        embedding = net.get_image_embeddings(image)
        encoder = median_time(lambda: net.get_image_embeddings(image))
        for queries in (1, 16, 64):
            points = torch.rand(1, queries, 1, 2) * 1024
            labels = torch.ones(1, queries, 1, dtype=torch.long)
            decoder = median_time(lambda p=points, q=labels: net.predict_masks(embedding, p, q, (1024, 1024)))
            print(f"decoder, {queries:3d} prompts in one call (256x256 masks): {decoder:.3f} s")
    print(f"image encoder 1024x1024: {encoder:.2f} s")


if __name__ == "__main__":
    main()
