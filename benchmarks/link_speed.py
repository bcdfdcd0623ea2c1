"""Frames/s of linking alone (segmentation done beforehand): 512x512 frames, ~50 particles,
each frame's image handed over as `track` does (it dates fusions by their necks).

Run: python benchmarks/link_speed.py
"""

import time

from napari_temseg import segment
from napari_temseg.synth import synth_video
from napari_temseg.tracking import Linker


def main() -> None:
    video = synth_video(n_frames=60, shape=(512, 512), n_single=34, n_pairs=5, n_triples=2, n_touching=1, seed=0)
    instances = [segment(frame) for frame in video.frames]
    linker = Linker()
    start = time.perf_counter()
    for labels, frame in zip(instances, video.frames, strict=True):
        linker.push(labels, frame)
    linker.flush()
    elapsed = time.perf_counter() - start
    per_frame = sum(int(i.max()) for i in instances) / len(instances)
    print(f"{len(instances)} frames, {per_frame:.1f} particles/frame: linking {len(instances) / elapsed:.1f} frames/s")


if __name__ == "__main__":
    main()
