"""Tracking results on disk: the layout `temseg track` writes and the review widget saves.

DIR/labels.zarr   (T, Y, X) uint32 tracked IDs, one chunk per frame; attributes: calibration,
                  the boxes the frames left out (`MARKS_ATTR`, `FRAME_MARKS_ATTR`)
DIR/tracks.csv    frame, track_id, y, x, area, equivalent_diameter, eccentricity, touches_border
                  (cut by the border or by those boxes) (+ nm)
DIR/events.csv    frame, child, parents (';'-joined)
DIR/sintering.csv per fusion event and frame: neck width, axis ratio, area ratio, ...
                  (each of the three with seconds beside its frames where the frame interval is known)
DIR/tracks.geff   the same tracks as a GEFF graph (fusions: nodes with in-degree >= 2)
DIR/tracks_summary.csv  per track: frames, mean squared displacement, diffusion coefficient
DIR/size_over_time.png  particle count and mean diameter per frame, fusions marked
DIR/skipped_frames.csv  frame, reason: frames that were blank or unreadable (their labels empty)
DIR/review.csv    (the review widget's Save) every event with its status: accepted, to review
                  or rejected; events.csv then carries the status of the events kept
"""

from __future__ import annotations

import contextlib
import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..annotations import Box, int_boxes
from ..errors import TemsegError
from ..morphometry import particle_table, sintering_table
from ..tracking.lineage import ONSET_COLUMNS, events_table, parse_events
from ..units import check_calibration
from .folders import recover_folder, replace_folder, writing_name

#: The zarr attributes of a results folder's labels that record their calibration (the
#: (Y, X) pixel sides too where pixels are not square: no size in nm, but the layer's scale).
PIXEL_SIZE_ATTR, FRAME_INTERVAL_ATTR, PIXEL_YX_ATTR = "pixel_size_nm", "frame_interval_s", "pixel_yx_nm"
#: The labels' attribute with the boxes of the video's burned-in marks (`segmentation.stack_marks`).
MARKS_ATTR = "burned_in_marks"
#: The labels' attribute with the boxes single frames left out besides the video's marks
#: where those are recorded (a drift-corrected export's padding, which moves from frame to
#: frame): {frame: [box, ...]}, frames with none left out.
FRAME_MARKS_ATTR = "frame_marks"


def create_labels_zarr(path: Path, shape: tuple[int, ...], pixel_size_nm: float | None = None,
                       frame_interval_s: float | None = None, pixel_yx_nm: tuple[float, float] | None = None):
    """An empty (T, Y, X) uint32 label store, one chunk per frame, recording its calibration."""
    import zarr

    store = zarr.open_array(str(path), mode="w", shape=shape, chunks=(1, *shape[1:]), dtype="uint32")
    store.attrs[FRAME_INTERVAL_ATTR] = frame_interval_s
    record_pixel_size(store, pixel_size_nm, pixel_yx_nm)
    return store


def recorded_marks(path: Path) -> tuple[Box, ...]:
    """The burned-in marks recorded with the labels store at `path` (`MARKS_ATTR`), () for
    none or no store."""
    with _damaged_attribute(path, MARKS_ATTR, "[[y0, x0, y1, x1], ...]"):
        return _boxes(_recorded(path, MARKS_ATTR, []))


def recorded_frame_marks(path: Path) -> dict[int, tuple[Box, ...]]:
    """The boxes single frames hid besides the video's marks, recorded with the labels store
    at `path` (`FRAME_MARKS_ATTR`): {frame: boxes}, {} for none or no store."""
    with _damaged_attribute(path, FRAME_MARKS_ATTR, '{"frame": [[y0, x0, y1, x1], ...], ...}'):
        return {int(t): _boxes(boxes) for t, boxes in _recorded(path, FRAME_MARKS_ATTR, {}).items()}


@contextlib.contextmanager
def _damaged_attribute(path: Path, attr: str, expected: str):
    """A labels store's attribute `attr` that is not `expected` (edited by hand, written by
    another program) named, not a traceback from deep inside the reading."""
    try:
        yield
    except (TypeError, ValueError, AttributeError):
        raise TemsegError(f"{path}: its attribute {attr!r} is damaged (expected {expected}); delete that "
                          "attribute from the store's metadata, or track the video again") from None


def record_marks(store, marks: tuple[Box, ...]) -> None:
    """Record the video's burned-in `marks` (see `recorded_marks`) with a labels store."""
    store.attrs[MARKS_ATTR] = [list(box) for box in int_boxes(marks)]


def record_frame_marks(store, frame_marks: dict[int, tuple[Box, ...]]) -> None:
    """Record `frame_marks` ({frame: boxes}; see `recorded_frame_marks`) with a labels store."""
    store.attrs[FRAME_MARKS_ATTR] = {str(t): [list(box) for box in int_boxes(boxes)]
                                     for t, boxes in sorted(frame_marks.items()) if boxes}


def _recorded(path: Path, attr: str, default: Any) -> Any:
    """Attribute `attr` of the labels store at `path`; `default` where it or the store is missing."""
    import zarr

    if not (Path(path) / "zarr.json").is_file() and not (Path(path) / ".zarray").is_file():
        return default
    return zarr.open_array(str(path), mode="r").attrs.get(attr, default)


def _boxes(boxes: list) -> tuple[Box, ...]:
    found = int_boxes(boxes)
    if any(len(box) != 4 for box in found):
        raise ValueError("a box is not 4 numbers")
    return found


def write_labels_zarr(path: Path, labels, pixel_size_nm: float | None = None,
                      frame_interval_s: float | None = None, pixel_yx_nm: tuple[float, float] | None = None,
                      marks: tuple[Box, ...] | None = None,
                      frame_marks: dict[int, tuple[Box, ...]] | None = None) -> None:
    """Write a (T, Y, X) label stack as zarr, one chunk per frame, frame by frame, beside the
    store it replaces (`folders.replace_folder`): `labels` may be that store itself (a large
    video edited in its results folder), and a failure halfway leaves the old store whole.
    With it the video's `marks` and `frame_marks` (`MARKS_ATTR`, `FRAME_MARKS_ATTR`); None:
    those recorded with the store it replaces (the video's, not an edit's)."""
    labels_shape = tuple(int(s) for s in labels.shape)
    marks = recorded_marks(path) if marks is None else marks
    frame_marks = recorded_frame_marks(path) if frame_marks is None else frame_marks
    written = writing_name(path)
    store = create_labels_zarr(written, labels_shape, pixel_size_nm, frame_interval_s, pixel_yx_nm)
    if marks:
        record_marks(store, marks)
    if frame_marks:
        record_frame_marks(store, frame_marks)
    for t in range(labels_shape[0]):
        store[t] = np.asarray(labels[t], dtype=np.uint32)
    replace_folder(written, path)


#: The review widget's record of its decisions beside events.csv (`write_review`).
REVIEW_FILE = "review.csv"
#: How the event tables' columns are read back to be written again: parents as written
#: (IDs joined by ';'), an onset that some events lack as a whole number, not 3.0.
WHOLE_COLUMNS = {"parents": str, **{c: "Int64" for c in ONSET_COLUMNS}}

#: Columns in frames -> their time in seconds, written beside them where the frame interval
#: is known (`timed`): kinetics are plotted against time, and by hand the product was easy to
#: get wrong by one frame's offset or a resumed run's other interval.
SECONDS_OF = {"frame": "time_s", "frames_since_contact": "time_since_contact_s",
              "coalescence_frames": "coalescence_s"}


def timed(table: pd.DataFrame, frame_interval_s: float | None) -> pd.DataFrame:
    """`table` with each column of SECONDS_OF it has followed by its time in seconds (frame 0
    at 0 s) where `frame_interval_s` is known; without such columns where it is not (a table
    timed before with another interval, or none)."""
    table = table.drop(columns=[c for c in SECONDS_OF.values() if c in table.columns])
    if not frame_interval_s:
        return table
    for frames, seconds in SECONDS_OF.items():
        if frames in table.columns:
            table.insert(table.columns.get_loc(frames) + 1, seconds, table[frames] * frame_interval_s)
    return table


def write_tables(out: Path, labels, events: list[dict], pixel_size_nm: float | None = None,
                 frame_interval_s: float | None = None) -> None:
    """The tables, graph and figure of the module docstring from (T, Y, X) labels read frame by frame."""
    timed(events_table(events), frame_interval_s).to_csv(out / "events.csv", index=False)
    write_measured_tables(out, labels, events, pixel_size_nm, frame_interval_s)


def write_measured_tables(out: Path, labels, events: list[dict], pixel_size_nm: float | None,
                          frame_interval_s: float | None) -> None:
    """Everything measured from the labels (all but events.csv): tracks.csv, sintering.csv,
    the motion tables and size_over_time.png (none without a particle)."""
    from ..plots import size_over_time_png

    store = out / "labels.zarr"
    tracks = particle_table(labels, pixel_size_nm, recorded_marks(store), recorded_frame_marks(store))
    timed(tracks, frame_interval_s).to_csv(out / "tracks.csv", index=False)
    timed(sintering_table(labels, events, pixel_size_nm), frame_interval_s).to_csv(out / "sintering.csv", index=False)
    write_motion_tables(out, tracks, events, pixel_size_nm, frame_interval_s)
    (out / "size_over_time.png").unlink(missing_ok=True)
    if len(tracks):
        size_over_time_png(tracks, events, out / "size_over_time.png")


def write_motion_tables(out: Path, tracks: pd.DataFrame, events: list[dict], pixel_size_nm: float | None,
                        frame_interval_s: float | None) -> None:
    """The tables that depend on the frame interval: tracks_summary.csv and tracks.geff."""
    from ..analysis import track_motion
    from .export import write_geff

    track_motion(tracks, pixel_size_nm, frame_interval_s).to_csv(out / "tracks_summary.csv", index=False)
    write_geff(out / "tracks.geff", tracks, events, pixel_size_nm, frame_interval_s)


def retime_track_dir(path: str | Path, frame_interval_s: float) -> None:
    """Give a results folder a frame interval: its time tables are written again with it (from
    tracks.csv and the pixel size recorded with the labels), the seconds columns of the others
    (`timed`) too, and it is recorded; the rest stays as it is (a review's statuses in
    events.csv, the nm columns of a corrected scale)."""
    import zarr

    path = Path(path)
    _, events = open_track_dir(path, unfinished_ok=True)  # a finished run's, given a frame interval since
    pixel_size_nm, _ = results_calibration(path)
    try:
        tracks = pd.read_csv(path / "tracks.csv")
        write_motion_tables(path, tracks, events, pixel_size_nm, frame_interval_s)
        for name in ("tracks.csv", "sintering.csv", "events.csv", REVIEW_FILE):
            if name != "tracks.csv" and not (path / name).is_file():
                continue  # a folder never reviewed has no review.csv
            table = tracks if name == "tracks.csv" else pd.read_csv(path / name, dtype=WHOLE_COLUMNS)
            timed(table, frame_interval_s).to_csv(path / name, index=False)
        zarr.open_array(str(path / "labels.zarr"), mode="r+").attrs[FRAME_INTERVAL_ATTR] = frame_interval_s
    except OSError as err:
        raise TemsegError(f"{path}: cannot write results ({err.strerror or err})") from None


def record_pixel_size(store, pixel_size_nm: float | None, pixel_yx_nm: tuple[float, float] | None) -> None:
    """Record a pixel size with zarr labels, and, where there is none, the sides of pixels that
    are not square (for the layer's scale); sides recorded before and no longer true go."""
    store.attrs[PIXEL_SIZE_ATTR] = pixel_size_nm
    if pixel_size_nm is None and pixel_yx_nm is not None:
        store.attrs[PIXEL_YX_ATTR] = [float(v) for v in pixel_yx_nm]
    elif PIXEL_YX_ATTR in store.attrs:
        del store.attrs[PIXEL_YX_ATTR]


def rescale_track_dir(path: str | Path, pixel_size_nm: float | None,
                      pixel_yx_nm: tuple[float, float] | None = None) -> None:
    """Give a results folder another pixel size (`pixel_yx_nm`: the sides of pixels that are not
    square, for the layer's scale only): the tables with sizes are measured again from its
    labels (tracks.csv, sintering.csv, the motion tables, the size plot) and it is recorded
    with the labels; events.csv, with a review's statuses, stays as it is."""
    import zarr

    path = Path(path)
    _, events = open_track_dir(path, unfinished_ok=True)  # being measured again: not finished until it is
    _, frame_interval_s = results_calibration(path)
    try:
        store = zarr.open_array(str(path / "labels.zarr"), mode="r+")
        write_measured_tables(path, store, events, pixel_size_nm, frame_interval_s)
        record_pixel_size(store, pixel_size_nm, pixel_yx_nm)
    except OSError as err:
        raise TemsegError(f"{path}: cannot write results ({err.strerror or err})") from None


#: Frames a run skipped, and why (blank, unreadable, no data): their labels are empty.
SKIPPED_FILE = "skipped_frames.csv"


def write_skipped(out: Path, skipped: list[dict]) -> None:
    """SKIPPED_FILE of `skipped` ({frame, reason}); none where no frame was skipped."""
    if skipped:
        pd.DataFrame(skipped, columns=["frame", "reason"]).to_csv(out / SKIPPED_FILE, index=False)


def read_skipped(out: Path) -> list[dict]:
    """The frames a results folder's run skipped ({frame, reason}), from its SKIPPED_FILE."""
    path = Path(out) / SKIPPED_FILE
    if not path.is_file():
        return []
    table = pd.read_csv(path)
    return [{"frame": int(f), "reason": str(r)} for f, r in zip(table["frame"], table["reason"], strict=True)]


def write_track_dir(
    out: str | Path, labels, events: list[dict], pixel_size_nm: float | None = None,
    frame_interval_s: float | None = None, pixel_yx_nm: tuple[float, float] | None = None,
    skipped: list[dict] | None = None, marks: tuple[Box, ...] | None = None,
    frame_marks: dict[int, tuple[Box, ...]] | None = None,
) -> Path:
    """Write a results folder as `temseg track` does (the files of the module docstring; no
    run record) into `out`: `labels` (T, Y, X), `events` as a TrackResult's; `skipped`: the
    frames that were skipped (a TrackResult's), recorded so that their empty labels are not
    taken for frames where every particle vanished (None: a record already in `out` stays); `pixel_yx_nm`: the
    sides of pixels that are not square, recorded for the layer's scale only; `marks` (the
    video's burned-in marks) and `frame_marks` ({frame: boxes} single frames left out
    besides, a TrackResult's): what the segmentation left out, whose particles tracks.csv
    flags as cut (None: a record in `out` stays)."""
    out = Path(out)
    if np.ndim(labels) != 3:
        raise TemsegError(f"labels must be a (T, Y, X) stack, not of shape {np.shape(labels)}")
    if not isinstance(events, list | tuple) or not all(isinstance(e, dict) for e in events):
        raise TemsegError("events must be a list of {frame, parents, child} dicts (a TrackResult's .events)")
    check_calibration("pixel_size_nm", pixel_size_nm)
    check_calibration("frame_interval_s", frame_interval_s)
    try:
        out.mkdir(parents=True, exist_ok=True)
        write_labels_zarr(out / "labels.zarr", labels, pixel_size_nm, frame_interval_s, pixel_yx_nm, marks,
                          frame_marks)
        write_tables(out, labels, events, pixel_size_nm, frame_interval_s)
        if skipped is not None:  # else the folder's own record stays (a review saved into its run's folder)
            (out / SKIPPED_FILE).unlink(missing_ok=True)
            write_skipped(out, list(skipped))
    except OSError as err:
        raise TemsegError(f"{out}: cannot write results ({err.strerror or err})") from None
    return out


def _unfinished(path: Path) -> bool:
    """Whether `path` holds a `temseg track` run that has not finished (`video.RUN_FILE`):
    frames still to track, or its tables still to be measured again at a new pixel size (an
    interrupted re-measure left them in two pixel sizes)."""
    try:
        run = json.loads((path / "run.json").read_text())
        return not run.get("complete", False) or bool(run.get("rescale"))
    except (OSError, ValueError, AttributeError):
        return False


def open_track_dir(path: str | Path, unfinished_ok: bool = False):
    """(lazy zarr labels, events) of a folder written by `write_track_dir` (or a truth folder
    alike); a run that has not finished is refused, but where the run itself finishes its
    folder (`unfinished_ok`)."""
    import zarr

    path = Path(path)
    if not path.is_dir():
        what = "is a file, not" if path.exists() else "no such folder:"
        raise TemsegError(f"{path}: {what} a results folder written by `temseg track`")
    zpath, epath = path / "labels.zarr", path / "events.csv"
    recover_folder(zpath)  # a save stopped between its renames: the previous labels are whole
    if _unfinished(path) and not unfinished_ok:  # its tables may be missing, stale or half rewritten
        raise TemsegError(f"{path}: the tracking run there has not finished; run the same `temseg track` "
                          "command again to finish it")
    if not zpath.exists() or not epath.exists():
        raise TemsegError(f"{path}: expected labels.zarr and events.csv (as written by `temseg track`)")
    events = parse_events(pd.read_csv(epath, dtype={"parents": str}), str(epath))
    return zarr.open_array(str(zpath), mode="r"), events


REVIEW_STATUSES = ("accepted", "to review", "rejected")


def write_review(out: str | Path, labels, events: list[dict], accepted: set[tuple[int, int]],
                 rejected: list[dict], pixel_size_nm: float | None = None,
                 frame_interval_s: float | None = None, pixel_yx_nm: tuple[float, float] | None = None,
                 run_from: str | Path | None = None, run: str | None = None) -> Path:
    """Write reviewed results: the `write_track_dir` layout with each kept event's status
    (accepted or to review) in events.csv, and every decision, rejections included, in
    review.csv (what `read_review` reads back). `run_from`, `run`: the `temseg track` run's
    folder the labels came from and that run's ID (`results_run_id`); saved elsewhere, the
    folder's run record replaces whatever run files were there (`_carry_run_record`), and
    the boxes the run's frames left out go with the labels (`_run_marks`)."""
    marks, frame_marks = _run_marks(run_from, run)
    out = write_track_dir(out, labels, events, pixel_size_nm, frame_interval_s, pixel_yx_nm, marks=marks,
                          frame_marks=frame_marks)
    if run_from is not None and Path(run_from).resolve() != out.resolve():
        _carry_run_record(Path(run_from), run, out)
    status = ["accepted" if (e["frame"], e["child"]) in accepted else "to review" for e in events]
    table = timed(events_table(events), frame_interval_s).assign(status=status)
    try:
        table.to_csv(out / "events.csv", index=False)
        gone = timed(events_table(rejected), frame_interval_s).assign(status="rejected")
        parts = [part for part in (table, gone) if len(part)]  # an empty part would make the IDs floats
        review = pd.concat(parts, ignore_index=True) if parts else table
        review.to_csv(out / REVIEW_FILE, index=False)
    except OSError as err:
        raise TemsegError(f"{out}: cannot write results ({err.strerror or err})") from None
    return out


def _run_marks(run_from: str | Path | None, run: str | None) -> tuple[tuple[Box, ...] | None, dict | None]:
    """The marks and frame marks recorded with the labels of the run in folder `run_from`
    (where that folder still holds run `run`, if one is named; else none), for its labels
    saved anywhere; (None, None) without `run_from`: those of the folder written stay."""
    if run_from is None:
        return None, None
    if run and results_run_id(run_from) != run:
        return (), {}
    store = Path(run_from) / "labels.zarr"
    return recorded_marks(store), recorded_frame_marks(store)


def _carry_run_record(source: Path, run: str | None, out: Path) -> None:
    """Into `out` (other than `source`), the finished run's record (run.json) where `source`
    still holds run `run`, so that a re-track from `out` links with the run's settings; and no
    other run's files (a record or resume state from what was there before)."""
    from ..video import ARRAYS_FILE, RUN_FILE, STATE_FILE

    try:
        for name in (RUN_FILE, STATE_FILE, ARRAYS_FILE, SKIPPED_FILE):
            (out / name).unlink(missing_ok=True)
        if run and results_run_id(source) == run and not _unfinished(source) and (source / RUN_FILE).is_file():
            shutil.copyfile(source / RUN_FILE, out / RUN_FILE)
            if (source / SKIPPED_FILE).is_file():  # the run's record of its skipped frames goes along
                shutil.copyfile(source / SKIPPED_FILE, out / SKIPPED_FILE)
    except OSError as err:
        raise TemsegError(f"{out}: cannot write results ({err.strerror or err})") from None


def read_review(path: str | Path) -> dict:
    """The review decisions saved with results folder `path` ({"accepted": [[frame, child], ...],
    "rejected": [event, ...]}, as the review widget keeps them; empty where none were saved), so
    that reopening a reviewed folder shows its review where it was left. Accepted events no
    longer among the folder's events (a later run replaced them) are dropped."""
    path = Path(path)
    file = path / REVIEW_FILE
    if not file.is_file():
        return {}
    try:
        table = pd.read_csv(file, dtype={"parents": str})
    except (OSError, ValueError) as err:
        raise TemsegError(f"{file}: cannot be read as a review table ({err}); move it away to open the results "
                          "without their review") from None
    status = table.get("status")
    unknown = set() if status is None else set(status.dropna()) - set(REVIEW_STATUSES)
    if status is None or unknown:
        raise TemsegError(f"{file}: needs a status column of {', '.join(REVIEW_STATUSES)}"
                          f"{'; found ' + ', '.join(map(repr, sorted(unknown))) if unknown else ''}")
    decided = parse_events(table, str(file))
    _, events = open_track_dir(path)
    kept = {(e["frame"], e["child"]) for e in events}
    accepted = [[e["frame"], e["child"]] for e, s in zip(decided, status, strict=True)
                if s == "accepted" and (e["frame"], e["child"]) in kept]
    rejected = [e for e, s in zip(decided, status, strict=True) if s == "rejected"]
    return {"accepted": accepted, "rejected": rejected}


def results_calibration(path: str | Path) -> tuple[float | None, float | None]:
    """(pixel size in nm, frame interval in s) of a results folder's labels, as recorded with
    them (folders written before they were: the pixel size its `temseg track` run used);
    None where unknown."""
    attrs = _labels_attrs(path)
    pixel = attrs.get(PIXEL_SIZE_ATTR)
    if pixel is None:
        pixel = _run_signature(path).get("pixel_size_nm")
    return _positive_or_none(pixel), _positive_or_none(attrs.get(FRAME_INTERVAL_ATTR))


def _labels_attrs(path: str | Path) -> dict:
    """The attributes recorded with a results folder's labels ({} where they cannot be read)."""
    import zarr

    try:
        return dict(zarr.open_array(str(Path(path) / "labels.zarr"), mode="r").attrs)
    except (OSError, ValueError, KeyError):
        return {}


def results_run_id(path: str | Path) -> str:
    """The ID of the `temseg track` run whose results folder `path` is ("" if none is recorded)."""
    try:
        return str(json.loads((Path(path) / "run.json").read_text()).get("run_id", ""))
    except (OSError, ValueError, AttributeError):
        return ""


def _run_signature(path: str | Path) -> dict:
    """The settings the `temseg track` run of results folder `path` recorded ({} if none)."""
    try:
        signature = json.loads((Path(path) / "run.json").read_text())["signature"]
    except (OSError, ValueError, KeyError, TypeError):
        return {}
    return signature if isinstance(signature, dict) else {}


def results_options(path: str | Path) -> dict:
    """The options the `temseg track` run of results folder `path` was made with ({} if none
    is recorded): linking options among them, which a re-track from a frame must use too."""
    options = _run_signature(path).get("options")
    return dict(options) if isinstance(options, dict) else {}


def results_method(path: str | Path) -> str:
    """How the run of results folder `path` tracked ("link" or "propagate"; "link" where
    none is recorded): a re-track links as it did."""
    method = _run_signature(path).get("method", "link")
    return method if isinstance(method, str) else "link"


def results_layer_metadata(path: str | Path) -> dict:
    """What a layer showing results folder `path` keeps about it: the folder (Review's Save
    writes there), its run, calibration and saved review decisions."""
    pixel, interval = results_calibration(path)
    return {"source": str(path), "run": results_run_id(path), "pixel_size_nm": pixel,
            "pixel_yx_nm": None if pixel else _recorded_pixel_sides(path), "frame_interval_s": interval,
            **read_review(path)}


def _recorded_pixel_sides(path: Path) -> tuple[float, float] | None:
    """The (Y, X) pixel sides (nm) recorded with a results folder's labels, for pixels that are not square."""
    with contextlib.suppress(TypeError):
        sides = tuple(_positive_or_none(v) for v in _labels_attrs(path).get(PIXEL_YX_ATTR) or ())
        if len(sides) == 2 and None not in sides:
            return sides
    return None


def _positive_or_none(value) -> float | None:
    try:
        value = float(value)
    except (TypeError, ValueError):
        return None
    return value if value > 0 and np.isfinite(value) else None


def read_track_dir(path: str | Path) -> tuple[np.ndarray, list[dict]]:
    """(labels in memory, events) of a tracking results folder."""
    labels, events = open_track_dir(path)
    return np.asarray(labels[:]), events


#: Tracked labels up to this size are loaded into memory to be edited; larger ones are edited
#: in their results folder's own store (opened for writing).
EDITABLE_IN_MEMORY = 2 * 2**30


def editable_labels(path: str | Path):
    """The tracked labels of a results folder as something napari can paint on: an array in
    memory when it fits (edits stay in the viewer until saved), else the folder's zarr store
    opened for writing (edits land in the results at once)."""
    import zarr

    labels, _ = open_track_dir(path)
    if labels.nbytes <= EDITABLE_IN_MEMORY:
        return np.asarray(labels[:])
    return zarr.open_array(str(Path(path) / "labels.zarr"), mode="r+")
