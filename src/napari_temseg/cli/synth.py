"""`temseg synth-video`, `temseg synth-images` and `temseg demo`: data with ground truth
from the simulators, and the built-in demonstration."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..errors import TemsegError

#: `temseg synth-video`'s particles and groups in a 512 px frame.
VIDEO_GROUPS = {"singles": 14, "pairs": 6, "triples": 2, "touching": 3}


def default_groups(size: int, names: list[str], share: float = 1.0) -> dict[str, int]:
    """Default counts of `names` for a `size` px frame: `share` of VIDEO_GROUPS, in proportion
    to the area below 512 px (a 256 px frame cannot hold 11 groups), at least one fusing pair."""
    share *= min(1.0, (size / 512) ** 2)
    counts = {name: int(round(VIDEO_GROUPS[name] * share)) for name in names}
    if "pairs" in counts:
        counts["pairs"] = max(counts["pairs"], 1)
    return counts


#: Shares of the default counts tried in turn when they do not fit (the frames' drift takes a
#: margin that grows with their number).
FITTING_SHARES = (1.0, 0.5, 0.25, 0.0)


def cmd_synth_video(args: argparse.Namespace) -> int:
    from ..io import write_stack_tiff, write_track_dir
    from ..synth import synth_video
    from ..video_simulator import VideoConditions, simulate_video

    given = {name: getattr(args, name) for name in VIDEO_GROUPS if getattr(args, name) is not None}
    missing = [name for name in VIDEO_GROUPS if name not in given]
    for share in FITTING_SHARES if missing else (1.0,):
        groups = {**given, **default_groups(args.size, missing, share)}
        counts = dict(n_frames=args.frames, shape=(args.size, args.size), n_single=groups["singles"],
                      n_pairs=groups["pairs"], n_triples=groups["triples"], n_touching=groups["touching"])
        try:
            if args.regime == "simple":
                video = synth_video(**counts, seed=args.seed)
            else:
                video = simulate_video(VideoConditions(**counts, regime=args.regime), seed=args.seed)
            break
        except TemsegError:
            if not missing:
                raise
    else:
        raise TemsegError(f"a {args.size} px frame cannot hold one fusing pair that drifts for {args.frames} frames"
                          f"{' beside the groups given' if given else ''}: use a larger --size or fewer --frames")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    write_stack_tiff(out / "frames.tif", video.frames, video.pixel_size_nm)
    write_track_dir(out / "truth", video.labels, video.events, video.pixel_size_nm)
    import numpy as np

    first = len(np.unique(video.labels[0])) - 1
    print(f"{args.frames} frames, {first} particles in the first, {len(video.events)} fusion events: "
          f"{out / 'frames.tif'}, truth in {out / 'truth'}")
    return 0


def cmd_synth_images(args: argparse.Namespace) -> int:
    import tifffile

    from ..simulator import random_image
    from ..synth import synth_image

    out = Path(args.out)
    (out / "images").mkdir(parents=True, exist_ok=True)
    (out / "labels").mkdir(parents=True, exist_ok=True)
    for i in range(args.count):
        if args.regime == "simple":
            sample = synth_image(seed=args.seed + i, dose=args.dose, touching=args.touching)
        else:
            sample = random_image(args.seed + i, args.regime)
        tifffile.imwrite(out / "images" / f"synth_{i:03d}.tif", sample.image)
        tifffile.imwrite(out / "labels" / f"synth_{i:03d}.tif", sample.labels)
    print(f"{args.count} synthetic image/label pairs ({args.regime}) in {out} (images/, labels/)")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from ..demo import run_demo

    out = run_demo(args.out)
    print(f"demo results in {out.resolve()} (overview: {out.resolve() / 'overview.png'})")
    return 0
