"""Time of `segment(image, "yolov8n-seg")` against a bare ultralytics `predict()` on the same
weights and images (the article's 20 training images), median over repeats: the wrapper
alone (refine_edges=False), the same without the polarity and size decisions (given), then
with the edge refiner, a second model it runs by default.

Run: python benchmarks/yolo_overhead.py [DATA_DIR] [WEIGHTS]
"""

import statistics
import sys
import time

import numpy as np

from napari_temseg import load_model, segment
from napari_temseg.datasets import iter_dataset
from napari_temseg.preprocess import normalize


def interleaved(bare, ours, rgb, raw, repeats=5) -> tuple[float, float]:
    """Median per-image seconds of both, alternating image by image so drift hits both alike."""
    for a, b in zip(rgb[:2], raw[:2], strict=False):
        bare(a)
        ours(b)
    t_bare, t_ours = [], []
    for _ in range(repeats):
        tb = to = 0.0
        for a, b in zip(rgb, raw, strict=False):
            start = time.perf_counter()
            bare(a)
            tb += time.perf_counter() - start
            start = time.perf_counter()
            ours(b)
            to += time.perf_counter() - start
        t_bare.append(tb / len(rgb))
        t_ours.append(to / len(raw))
    return statistics.median(t_bare), statistics.median(t_ours)


def main() -> None:
    data = sys.argv[1] if len(sys.argv) > 1 else "../shared/data/paper-tem/train"
    model = load_model("yolov8n-seg", weights=sys.argv[2] if len(sys.argv) > 2 else None)
    raw = [s.image for s in iter_dataset(data)]
    rgb = [np.repeat((normalize(r) * 255).round().astype(np.uint8)[..., None], 3, -1) for r in raw]

    def bare(image):
        result = model.yolo.predict(image, imgsz=model.imgsz, conf=0.25, iou=0.7, max_det=1000,
                                    retina_masks=True, verbose=False, device=model.device)[0]
        return None if result.masks is None else result.masks.data

    t_bare, t_ours = interleaved(bare, lambda image: segment(image, model, refine_edges=False), rgb, raw)
    print(f"bare ultralytics predict: {t_bare * 1000:.1f} ms/image")
    print(f"segment(refine_edges=False) through napari-temseg: {t_ours * 1000:.1f} ms/image "
          f"(overhead {100 * (t_ours / t_bare - 1):+.1f} %)")
    t_bare, t_given = interleaved(
        bare, lambda image: segment(image, model, refine_edges=False, polarity="dark", diameter="none"), rgb, raw)
    print(f"the same with polarity and diameter given (no image decisions): {t_given * 1000:.1f} ms/image "
          f"(bare {t_bare * 1000:.1f} ms in this pass; overhead {100 * (t_given / t_bare - 1):+.1f} %)")
    t_bare, t_refined = interleaved(bare, lambda image: segment(image, model), rgb, raw)
    print(f"segment() with edge refinement (default): {t_refined * 1000:.1f} ms/image "
          f"(bare {t_bare * 1000:.1f} ms in this pass; refinement adds {100 * (t_refined / t_bare - 1):+.1f} %)")


if __name__ == "__main__":
    main()
