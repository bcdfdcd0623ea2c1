"""`temseg track`, `temseg evaluate-track` and `temseg export`: a video tracked into a
resumable results folder, scored against truth, and written for other tools."""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
from collections.abc import Callable
from pathlib import Path

from ..errors import TemsegError
from .arguments import options_given, parse_pixel_size, parse_scale_bar
from .calibration import bar_source, check_nm_diameter, interval_source, pixel_source


def cmd_track(args: argparse.Namespace) -> int:
    from ..annotations import pixel_size_from_scale_bar
    from ..io import open_video
    from ..io.results import results_calibration
    from ..preprocess import first_readable_frame
    from ..video import track_video

    video = open_video(args.input)
    if video.metadata.get("note"):
        print(f"temseg: {args.input}: {video.metadata['note']}", file=sys.stderr)
    given = parse_pixel_size(args.pixel_size) if args.pixel_size is not None else None
    scale = pixel_source(given, video.calibration)
    if args.scale_bar is not None:
        bar_nm = parse_scale_bar(args.scale_bar, given)
        frame = first_readable_frame(video.data)
        if frame is None:
            raise TemsegError("no frame of the video can be read: nothing to measure the scale bar on")
        given = pixel_size_from_scale_bar(frame, bar_nm)
        scale = bar_source(given, bar_nm, video.calibration)
    if given:
        video.pixel_size_nm = given
    recorded = video.frame_interval_s
    if args.frame_interval is not None:
        video.frame_interval_s = args.frame_interval
    options = options_given(args)
    check_nm_diameter(options, video.pixel_size_nm, video.calibration)

    committed = [0]

    def progress(done: int, total: int) -> None:
        committed[0] = done
        print(f"\rtracking {done}/{total} frames", end="", file=sys.stderr, flush=True)

    try:
        with _said_on_stop(lambda: _interrupted_line(args, committed[0])):
            summary = track_video(
                video, args.out, model=args.model, options=options, chunk=args.chunk, overwrite=args.overwrite,
                workers=args.workers, scheduler=args.scheduler, progress=progress, method=args.method,
                weights=args.weights,
            )
    except KeyboardInterrupt:
        print(_interrupted_line(args, committed[0]), file=sys.stderr)
        return 130
    print(file=sys.stderr)
    import pandas as pd

    n_tracks = pd.read_csv(Path(args.out) / "tracks.csv", usecols=["track_id"])["track_id"].nunique()
    resumed = summary.resumed_note()
    if summary.skipped:
        frames = ", ".join(str(s["frame"]) for s in summary.skipped[:10])
        print(f"temseg: {len(summary.skipped)} frame(s) skipped, blank, unreadable or corrupt: {frames}"
              f"{' ...' if len(summary.skipped) > 10 else ''} (skipped_frames.csv)", file=sys.stderr)
    if summary.skipped and len(summary.skipped) == summary.frames:  # no summary line: there is nothing to sum up
        print("temseg: error: no frame could be used (every one blank or unreadable)", file=sys.stderr)
        return 1
    decided = f"; {summary.decided}" if summary.decided else ""
    timing = interval_source(args.frame_interval, recorded, results_calibration(args.out)[1],
                             video.metadata.get("movie_fps"))
    print(
        f"{summary.frames} frame{'s' if summary.frames != 1 else ''}, {n_tracks} tracks, {len(summary.events)} "
        f"fusion events{resumed}{decided}; {scale}; {timing}; results in {args.out}"
    )
    return 0


def _interrupted_line(args: argparse.Namespace, committed: int) -> str:
    """What an interrupted `temseg track` kept, and how to go on."""
    if not (Path(args.out) / "run.json").is_file():  # stopped while starting: no folder to speak of
        return "\ntemseg: interrupted before the run began; nothing was written"
    again = "the same command without --overwrite" if args.overwrite else "the same command again"
    kept = f"the first {committed} frames are" if committed else "the folder is"
    return f"\ntemseg: interrupted; {kept} kept in {args.out}: run {again} to resume"


def _said_on_stop(line: Callable[[], str]):
    """On Ctrl-C (SIGINT) or SIGTERM (a batch system's time limit, `kill`) print `line()` and
    exit at once (status 130 or 143); every chunk is committed atomically, so nothing is
    lost. Not by raising an interrupt: with worker processes one raised in a callback was
    swallowed and the run went on (a review: 2 of 3 SIGTERMs, 1 Ctrl-C); SIGTERM ended the
    run without a word."""
    from ..video import signals_handled

    def stop(signum, frame):
        print(line(), file=sys.stderr, flush=True)
        os._exit(128 + signum)

    return signals_handled({signal.SIGINT: stop, signal.SIGTERM: stop})


def cmd_evaluate_track(args: argparse.Namespace) -> int:
    from ..io import read_track_dir
    from ..metrics import tracking_scores

    pred, pred_events = read_track_dir(args.pred)
    truth, true_events = read_track_dir(args.truth)
    if pred.shape != truth.shape:
        raise TemsegError(f"{args.pred} holds {pred.shape[0]} frames of {pred.shape[1]}x{pred.shape[2]} px, "
                          f"--truth {args.truth} {truth.shape[0]} of {truth.shape[1]}x{truth.shape[2]}: results "
                          "of another video (or cut short); give the truth of the video that was tracked")
    scores = tracking_scores(pred, truth, pred_events, true_events)
    if args.json:
        print(json.dumps(scores.as_dict()))
    else:
        print(
            f"consistent-ID fraction {scores.consistent_id_fraction:.4f}  ID switches {scores.id_switches}  "
            f"fusion P/R/F1 {scores.fusion_precision:.3f}/{scores.fusion_recall:.3f}/{scores.fusion_f1:.3f} "
            f"({scores.n_pred_events} predicted, {scores.n_true_events} true events; "
            f"onset error of matched events at most {scores.worst_onset_error} frame(s))"
        )
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from ..io import open_track_dir
    from ..io.export import write_ctc

    labels, events = open_track_dir(args.result)
    import pandas as pd

    tracks_file = Path(args.result) / "tracks.csv"
    if not tracks_file.is_file():
        raise TemsegError(f"{args.result}: no tracks.csv (as written by `temseg track`)")
    write_ctc(labels, pd.read_csv(tracks_file), events, args.out)
    print(f"Cell Tracking Challenge layout ({labels.shape[0]} masks, res_track.txt) in {args.out}")
    return 0
