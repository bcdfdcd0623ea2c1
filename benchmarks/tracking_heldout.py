"""The tracking table of docs/tracking.md: `temseg track`'s linking (and prompt propagation)
on sintering videos of the held-out regime (`video_simulator`), one condition at a time.

Nothing in the tracker was tuned on these videos: their particles, image formation and
the conditions below come from `video_simulator`, written after the linker.

    python benchmarks/tracking_heldout.py [--videos 3] [--models classical,yolov8n-seg] [--propagate] [-o KEY=VALUE]

`--regime train --seed 8000` gives the same table on training-regime videos: the development
videos that tracking rules are chosen on; `--image KEY=VALUE` fixes a field of their image
(`simulator.Params`), e.g. the heaviest carbon the training generator draws:
`--image carbon=0.12 --image carbon_grain=2 --image psf=1.5`.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import fields

import numpy as np
from table import MarkdownTable

from napari_temseg import load_model
from napari_temseg.metrics import tracking_scores
from napari_temseg.models.options import parse_option
from napari_temseg.models.specs import DEFAULT_MODEL, SPECS
from napari_temseg.simulator import Params
from napari_temseg.tracking import track
from napari_temseg.video_simulator import VideoConditions, simulate_video

#: Image fields a video sets itself (its conditions, dose, particle placement), so `--image` cannot.
SET_BY_VIDEO = {"shape", "mode", "dtype", "contrast", "radius", "dose", "coverage", "touching", "chain", "overlap"}

#: name -> VideoConditions fields that differ from the base (60 frames, 384², 8 singles,
#: 3 pairs and 1 triple fuse, 1 pair touches for 20 frames, 30-120 e-/px, bright-field).
CONDITIONS = {
    "base": {},
    "stage jumps (3 x 12 px)": dict(drift_jumps=3),
    "particles leave and enter": dict(crossing=4),
    "dose x0.3 at mid-video": dict(dose_step=0.3),
    "flicker 10 %": dict(flicker=0.1),
    "blank frames 20, 21": dict(blank=(20, 21)),
    "touching 40 frames": dict(touch_frames=40, n_touching=2, n_pairs=2),
    "three-way fusions": dict(n_pairs=1, n_triples=3),
    "fast sintering (2-4 frames)": dict(sinter_frames=(2, 4)),
    "slow sintering (30-40 frames)": dict(sinter_frames=(30, 40)),
    "dark field": dict(mode="df"),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--videos", type=int, default=3, help="videos per condition")
    parser.add_argument("--models", default=DEFAULT_MODEL, help="models for linking, comma-separated")
    parser.add_argument("--propagate", action="store_true", help="also the prompted model's propagation")
    parser.add_argument("--conditions", default="all", help="names separated by ';', or all")
    parser.add_argument("--regime", default="heldout", choices=["heldout", "train"])
    parser.add_argument("--seed", type=int, default=7000, help="seed of the first video of each condition")
    parser.add_argument("--out", help="also write the table to this markdown file")
    parser.add_argument("--weights", action="append", default=[], metavar="MODEL=FILE",
                        help="weights (a file or variant name) for a model instead of its default (repeatable)")
    parser.add_argument("--image", action="append", default=[], metavar="KEY=VALUE",
                        help="a simulator image field fixed for every video (repeatable)")
    parser.add_argument("-o", dest="options", action="append", default=[], metavar="KEY=VALUE",
                        help="an option for every model's segmentation (repeatable)")
    args = parser.parse_args()
    options = dict(parse_option(item) for item in args.options)
    image = dict(parse_option(item) for item in args.image)
    settable = sorted({f.name for f in fields(Params)} - SET_BY_VIDEO)
    if set(image) - set(settable):
        parser.error(f"--image {', '.join(sorted(set(image) - set(settable)))}: not a field a video lets fix; "
                     f"choose among {', '.join(settable)}")
    weights = dict(item.split("=", 1) for item in args.weights)
    conditions = list(CONDITIONS) if args.conditions == "all" else args.conditions.split(";")
    runs = [(name, "link") for name in args.models.split(",")]
    if args.propagate:
        runs += [(name, "propagate") for name, spec in SPECS.items() if spec.prompted]
    fixed = {"Options": options, "Image": image}
    caption = [line for what, given in fixed.items() if given
               for line in (f"{what}: {', '.join(f'{k}={v}' for k, v in given.items())}", "")]
    table = MarkdownTable(*caption, "| model | method | condition | consistent-ID | ID switches | fusion P / R / F1 | "
                          "worst onset error (frames) | frames/s |", "|---|---|---|---|---|---|---|---|")
    for name, method in runs:
        model = load_model(name, weights=weights.get(name))
        for condition in conditions:
            scores, seconds, frames = [], 0.0, 0
            for i in range(args.videos):
                video = simulate_video(VideoConditions(**CONDITIONS[condition], regime=args.regime, image=image),
                                       seed=args.seed + i)
                start = time.perf_counter()
                result = track(video.frames, model, method=method, **options)
                seconds += time.perf_counter() - start
                frames += len(video.frames)
                scores.append(tracking_scores(result.labels, video.labels, result.events, video.events))
            found = sum(len(s.onset_errors) for s in scores)  # matched events
            true, pred = sum(s.n_true_events for s in scores), sum(s.n_pred_events for s in scores)
            p, r = found / pred if pred else 1.0, found / true if true else 1.0
            f1 = 2 * p * r / (p + r) if p + r else 0.0
            line = (f"| {name} | {method} | {condition} | {np.mean([s.consistent_id_fraction for s in scores]):.3f} | "
                    f"{sum(s.id_switches for s in scores)} | {p:.2f} / {r:.2f} / {f1:.2f} | "
                    f"{max(s.worst_onset_error for s in scores)} | {frames / seconds:.1f} |")
            table.add(line)
    table.write(args.out)


if __name__ == "__main__":
    main()
