"""What the polarity and size decisions and the searches for vacuum and padding cost, against the classical model's own time, per
512² image (issue: at most 10 %). Both timed in this one run, on the same images:
training-regime simulator images and the article's images when present.

    python benchmarks/appearance_speed.py [--images 12]
"""

from __future__ import annotations

import argparse
import glob
import time
from pathlib import Path

import imageio.v3 as iio
import numpy as np

from napari_temseg.appearance import measure_appearance
from napari_temseg.models import load_model
from napari_temseg.models.specs import DEFAULT_MODEL
from napari_temseg.padding import edge_padding
from napari_temseg.preprocess import normalize
from napari_temseg.simulator import random_image
from napari_temseg.vacuum import find_vacuum

ARTICLE = Path(__file__).resolve().parents[2] / "shared" / "data" / "paper-tem" / "train" / "images"


def median_seconds(functions, images, repeats: int = 5) -> list[float]:
    """Median over images of each function's mean time per call. The functions take turns
    on each image, so that a change of CPU speed during the run (other work, clock
    scaling) weighs on all of them alike rather than on whichever ran last."""
    times = np.zeros((len(functions), len(images)))
    for j, image in enumerate(images):
        for function in functions:
            function(image)  # warm
        for _ in range(repeats):
            for i, function in enumerate(functions):
                start = time.perf_counter()
                function(image)
                times[i, j] += (time.perf_counter() - start) / repeats
    return [float(t) for t in np.median(times, axis=1)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=12)
    args = parser.parse_args()
    images = [normalize(random_image(5000 + i, "train", shape=(512, 512)).image) for i in range(args.images)]
    images += [normalize(iio.imread(f)) for f in sorted(glob.glob(str(ARTICLE / "*.png")))[: args.images]]
    classical = load_model(DEFAULT_MODEL)

    def decisions(image: np.ndarray) -> None:
        measure_appearance(image)
        find_vacuum(image)
        edge_padding(image)

    decide, segment = median_seconds([decisions, classical.predict], images)
    print(f"{len(images)} images of 512²: decisions {1000 * decide:.1f} ms, classical model {1000 * segment:.1f} ms "
          f"(its sigma='auto' included): decisions = {100 * decide / segment:.1f} % of the model's time")


if __name__ == "__main__":
    main()
