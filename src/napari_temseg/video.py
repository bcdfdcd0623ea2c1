"""Long videos: segment and track chunk by chunk into DIR/labels.zarr, resumable after any kill.

After every chunk the finished frames are in the zarr store and the tracker's
state (open tracks, next ID, the frames still waiting for a fusion decision) is
committed atomically to DIR/state.json + DIR/state.npz. A rerun of the same
command continues after the last committed chunk and gives the same result as
an uninterrupted run. Memory stays bounded by the chunk size, not the video
length. Segmentation can run on a dask.distributed cluster; linking stays
sequential.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import shutil
import signal
import sys
import threading
import uuid
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from . import __version__
from .annotations import Box, int_boxes
from .errors import TemsegError
from .io import Video, open_track_dir
from .io.folders import old_name, writing_name
from .io.images import frame_files
from .io.results import (
    FRAME_INTERVAL_ATTR,
    REVIEW_FILE,
    SKIPPED_FILE,
    create_labels_zarr,
    read_skipped,
    record_frame_marks,
    record_marks,
    record_pixel_size,
    rescale_track_dir,
    results_calibration,
    retime_track_dir,
    write_skipped,
    write_tables,
)
from .models import load_model
from .models.specs import DEFAULT_MODEL
from .models.weights import EDGE_REFINER, find, registered
from .models.weights import resolve as resolve_weights
from .preprocess import read_frame
from .progress import run_steps
from .segmentation import (
    describe_stack_options,
    fitting_diameter,
    in_nm,
    segment_image,
    stack_options,
    with_nm_pixel_size,
    with_stack_marks,
)
from .tracking import Linker, check_method, check_tracked_model_options, new_linker, split_options
from .tracking.propagate import check_prompted, next_instances, propagation_options

RUN_FILE, STATE_FILE, ARRAYS_FILE, LOCK_FILE = "run.json", "state.json", "state.npz", ".lock"


@dataclass
class RunSummary:
    frames: int
    resumed_from: int
    events: list[dict]
    out: Path
    skipped: list[dict] = field(default_factory=list)  # {frame, reason}: blank or unreadable frames
    decided: str = ""  # the polarity and size settled for every frame (`describe_stack_options`)
    rescaled: bool = False  # a finished run's sizes measured again at a pixel size given since

    def resumed_note(self) -> str:
        """How this run relates to earlier ones in its folder, for a status or report line."""
        if self.resumed_from >= self.frames:
            again = ", its sizes measured again at the new pixel size" if self.rescaled else ""
            return f" (already complete: the folder's results{again})"
        return f" (resumed at frame {self.resumed_from})" if self.resumed_from else ""


class RunLock:
    """One writer per output folder: a lock file holding the writer's PID and that process's
    start time. A lock whose process is gone, or whose PID now belongs to another process
    (PIDs are reused), is stale and taken over."""

    def __init__(self, folder: Path) -> None:
        self.path = folder / LOCK_FILE

    @staticmethod
    def _holder(text: str) -> tuple[int, float]:
        pid, _, started = text.partition(" ")
        return int(pid or 0), float(started or 0)

    def __enter__(self) -> RunLock:
        import psutil

        me = psutil.Process()
        for _ in range(2):
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
                os.write(fd, f"{me.pid} {me.create_time()}".encode())
                os.close(fd)
                return self
            except FileExistsError:
                try:
                    pid, started = self._holder(self.path.read_text())
                except (OSError, ValueError):
                    pid, started = 0, 0.0
                if pid and pid != me.pid and _alive(pid, started):
                    raise TemsegError(
                        f"{self.path.parent}: another temseg run (pid {pid}) is writing here; wait for it "
                        "or choose another --out"
                    ) from None
                self.path.unlink(missing_ok=True)  # stale: its writer is gone
        raise TemsegError(f"{self.path}: cannot take the run lock")

    def __exit__(self, *exc) -> None:
        self.path.unlink(missing_ok=True)


def _alive(pid: int, started: float) -> bool:
    """Whether process `pid` runs and is the one that started at `started` (0: unknown, as in
    locks of older versions: any process with that PID counts). A zombie has stopped: a
    killed run stays one until its parent collects it (a rerun straight after `kill -9` was
    refused in 4 of 7 tries)."""
    import psutil

    try:
        process = psutil.Process(pid)
        if process.status() == psutil.STATUS_ZOMBIE:
            return False
        return not started or abs(process.create_time() - started) < 1.0
    except psutil.NoSuchProcess:
        return False
    except psutil.AccessDenied:  # it exists, and is not ours to inspect: assume the worst
        return True


def _source_stat(source: Path | None) -> tuple[int | None, str | None]:
    """(bytes, fingerprint) of the input, so that frames changed, replaced or renamed after
    an interruption are not joined to the old results: a digest of each file's name, size,
    modification time (ns) and `SAMPLED_BLOCKS` blocks spread over it (a video file, or
    every frame file of a folder in reading order; other files in the folder do not count).
    The blocks tell apart a video copied over the input with its time kept (`cp -p`); the
    time tells apart frames re-exported with the same bottom rows (a data bar) and size."""
    if source is None or not source.exists():
        return None, None
    files = frame_files(source) if source.is_dir() else [source]
    blocks, block = (SAMPLED_BLOCKS, SAMPLED_BLOCK) if len(files) == 1 else (FRAME_BLOCKS, FRAME_BLOCK)
    digest = hashlib.sha256()
    total = 0
    for path in files:
        stat = path.stat()
        total += stat.st_size
        digest.update(f"{path.name}\0{stat.st_size}\0{stat.st_mtime_ns}\0".encode())
        with open(path, "rb") as handle:  # one open per file (10,000 frames: 10,000, not 40,000)
            for k in range(blocks):
                handle.seek(max(stat.st_size - block, 0) * k // max(blocks - 1, 1))
                digest.update(handle.read(block))
    return total, digest.hexdigest()[:16]


#: What of the input the run's fingerprint reads (`_source_stat`): blocks spread over a
#: video file (4 MB in all), and over each file of a frame folder.
SAMPLED_BLOCKS, SAMPLED_BLOCK = 64, 1 << 16
FRAME_BLOCKS, FRAME_BLOCK = 4, 1 << 10


@lru_cache(maxsize=512)
def _file_digest(path: Path, size: int, mtime_ns: int) -> bytes:
    """sha256 of a file's bytes (cached while its size and time stay the same)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.digest()


def _build_digest(model: str, weights: str | None) -> str:
    """What computes the labels: this package's sources, the edge refiner and the model's
    weights file. A run is resumed only by the build that began it; otherwise one result
    would hold frames of two versions (the version number alone does not change between
    development builds, and retrained weights keep their file size)."""
    package = Path(__file__).parent
    files = sorted(p for p in package.rglob("*") if p.suffix in (".py", ".yaml") and p.is_file())
    files += [find(EDGE_REFINER), resolve_weights(model, weights) if model in registered() else None]
    digest = hashlib.sha256()
    for path in files:
        if path is not None:
            stat = path.stat()
            digest.update(path.name.encode() + _file_digest(path.resolve(), stat.st_size, stat.st_mtime_ns))
    return digest.hexdigest()[:16]


def data_digest(frames) -> str:
    """A digest of a (T, ...) stack's first, middle and last frames: tells two stacks of the
    same shape apart without reading them whole."""
    n = int(frames.shape[0])
    digest = hashlib.sha256()
    for t in sorted({0, n // 2, n - 1}) if n else ():
        digest.update(np.ascontiguousarray(np.asarray(frames[t])).tobytes())
    return digest.hexdigest()[:16]


def _data_digest(video: Video) -> dict:
    """For a video with no file behind it (a napari layer): its `data_digest`, so that
    another layer of the same name and shape is not taken for the one whose results a
    folder holds (a file is known by its path, size and time)."""
    return {} if video.source else {"data_digest": data_digest(video.data)}


def _signature(video: Video, model: str, weights: str | None, options: dict, method: str) -> dict:
    """What a run's results depend on: a folder is resumed only by a run with the same. Not the
    chunk size, which changes only how often the run commits (the same labels and tables)."""
    source = Path(video.source) if video.source else None
    size, fingerprint = _source_stat(source)
    # the file itself, wherever the run is started from; absent for defaults, so older runs resume
    weights_entry = {"weights": str(resolve_weights(model, weights).resolve())} if weights else {}
    # linking and propagation link differently (`new_linker`): a folder of one is not resumed by the other
    method_entry = {"method": method} if method != "link" else {}
    return {
        "input": str(source.resolve()) if source else "",
        "input_size": size,
        "input_fingerprint": fingerprint,
        **_data_digest(video),
        "shape": [int(s) for s in video.data.shape],
        "dtype": str(video.data.dtype),
        "model": model,
        **weights_entry,
        **method_entry,
        "options": options,
        "pixel_size_nm": video.pixel_size_nm,
        "build": _build_digest(model, weights),
    }


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    try:
        tmp.write_text(text)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _commit(out: Path, linker: Linker, pushed: int, written: int, frame_marks: dict[int, tuple[Box, ...]]) -> None:
    """Save the tracker state and the boxes frames hid so far (`frame_marks`, recorded with
    the labels at the end); arrays first, then the JSON that points at them (atomic replace)."""
    fields, arrays = linker.state()
    tmp = out / (ARRAYS_FILE + ".tmp.npz")
    try:
        np.savez_compressed(tmp, **arrays)  # buffered label frames: mostly runs of one value
        os.replace(tmp, out / ARRAYS_FILE)
    finally:
        tmp.unlink(missing_ok=True)  # a full disk leaves no partial file behind
    _write_atomic(out / STATE_FILE, json.dumps({"pushed": pushed, "written": written, "linker": fields,
                                                "frame_marks": {str(t): boxes for t, boxes in frame_marks.items()}}))


def _load_state(out: Path) -> tuple[int, int, Linker, dict[int, tuple[Box, ...]]] | None:
    """The committed tracker state, or None when there is none or it is damaged (then the
    run starts again from the first frame, in the same folder)."""
    if not (out / STATE_FILE).is_file():
        return None
    try:
        state = json.loads((out / STATE_FILE).read_text())
        with np.load(out / ARRAYS_FILE, allow_pickle=False) as arrays:
            linker = Linker.restore(state["linker"], {k: arrays[k] for k in arrays.files})
        frame_marks = {int(t): int_boxes(boxes) for t, boxes in state.get("frame_marks", {}).items()}
        return int(state["pushed"]), int(state["written"]), linker, frame_marks
    except Exception as err:  # noqa: BLE001 - json, zip, key and shape errors alike mean "not usable"
        print(f"temseg: the saved tracking state in {out} is damaged ({type(err).__name__}); "
              "starting again from the first frame", file=sys.stderr)
        return None


def _frames_intact(store, written: int) -> bool:
    """Whether frames 0..written-1 of the labels store are all there and readable: a chunk
    deleted or damaged after an interruption means the run starts again."""
    if written and store.nchunks_initialized < written:
        return False
    try:
        for t in range(written):
            np.asarray(store[t])
    except Exception:  # noqa: BLE001 - codec errors (zstd, blosc), short reads: the chunk is damaged
        return False
    return True


#: What a refused results folder tells the user (the CLI's flags and the Track widget's fields).
_FOLDER_CHOICES = ("turn on overwrite (--overwrite; in napari the Track widget's 'overwrite' box) or choose "
                   "another results folder (--out; in napari its 'results folder')")


def _only_the_scale_differs(before: dict, now: dict) -> bool:
    """Whether two runs' settings differ in the pixel size alone, and the segmentation did not
    use it (no diameter given in nm): a pixel size given or corrected after a run changes its
    sizes in nm, not its labels."""
    options = now.get("options", {})
    return ({**before, "pixel_size_nm": now.get("pixel_size_nm")} == now
            and not in_nm(options.get("diameter")) and "pixel_size_nm" not in options)


def _moved(before: dict, now: dict) -> bool:
    """Whether two runs' settings differ in the input's path alone, its frames the same by
    their fingerprint (name, size, time and sampled blocks): a video moved or its folder
    renamed after an interruption, which could not be resumed."""
    return (before.get("input") != now.get("input") and bool(now.get("input_fingerprint"))
            and {**before, "input": now.get("input")} == now)


#: How a refusal names the run settings that differ, where the key says too little.
SETTING_NAMES = {"input_fingerprint": "the input's frames (changed, replaced, renamed or touched since)"}


def _prepare(out: Path, signature: dict, overwrite: bool) -> bool:
    """Create or check the output folder; True when an earlier run's state can be resumed."""
    run_file = out / RUN_FILE
    if run_file.is_file():
        try:
            previous = json.loads(run_file.read_text())
            previous["signature"].pop("chunk", None)  # older runs recorded it: resumed at another chunk size too
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            if not overwrite:
                raise TemsegError(f"{run_file}: damaged; to start this folder again, {_FOLDER_CHOICES}") from None
            previous = {}
        if not overwrite and _moved(previous.get("signature", {}), signature):
            print(f"temseg: the input moved since the run in {out} began (from {previous['signature']['input']}); "
                  "its frames are the same: resumed", file=sys.stderr)
            previous = {**previous, "signature": {**previous["signature"], "input": signature["input"]}}
            _write_atomic(run_file, json.dumps(previous))
        if previous.get("signature") == signature and not overwrite:
            return True
        if not overwrite and _only_the_scale_differs(previous["signature"], signature):
            # the labels do not depend on it: kept; a finished run's tables are measured again
            _write_atomic(run_file, json.dumps({**previous, "signature": signature, "rescale": True}))
            return True
        if not overwrite and {**previous["signature"], "build": signature["build"]} == signature:
            raise TemsegError(f"{out} holds a run by another version of napari-temseg or of the model's weights "
                              f"(resuming would mix the two in one result); {_FOLDER_CHOICES}")
        if not overwrite:
            before = previous["signature"]
            differ = [SETTING_NAMES.get(key, key) for key in signature  # keys a run of an older build lacks: its build
                      if key != "build" and key in before and before[key] != signature[key]]
            if before.get("build") != signature["build"]:
                differ.append("the version of napari-temseg or of the model's weights")
            raise TemsegError(
                f"{out} holds results of another input, model or settings (input: "
                f"{before.get('input') or 'a napari layer'}, model: {before.get('model')}; differs in: "
                f"{', '.join(differ) or 'the run settings'}); {_FOLDER_CHOICES}"
            )
    elif out.exists() and any(p.name != LOCK_FILE for p in out.iterdir()) and not overwrite:
        raise TemsegError(f"{out} is not empty and holds no temseg run; {_FOLDER_CHOICES}")
    for name in ("labels.zarr", STATE_FILE, ARRAYS_FILE, "tracks.csv", "events.csv", "sintering.csv", SKIPPED_FILE,
                 "tracks.geff", "tracks_summary.csv", "size_over_time.png", REVIEW_FILE,
                 writing_name(Path("labels.zarr")).name, old_name(Path("labels.zarr")).name):  # a stopped save's
        target = out / name
        if target.is_dir():
            shutil.rmtree(target)
        elif target.exists():
            target.unlink()
    _write_atomic(run_file, json.dumps({"signature": signature, "version": __version__, "complete": False,
                                        "run_id": uuid.uuid4().hex}))  # io.results.results_run_id
    return False


@lru_cache(maxsize=4)
def _cached_model(name: str, weights: str | None = None):
    return load_model(name, weights=weights)


def _frame_own(hidden: tuple[Box, ...], recorded: tuple[Box, ...]) -> tuple[Box, ...]:
    """The boxes a frame hid (its segmentation's annotations) that the run's recorded marks
    do not hold: its own, as a drift-corrected export's padding (merged with a mark it meets)."""
    return tuple(box for box in int_boxes(hidden) if not any(_holds(mark, box) for mark in recorded))


def _holds(outer: Box, inner: Box) -> bool:
    return outer[0] <= inner[0] and outer[1] <= inner[1] and outer[2] >= inner[2] and outer[3] >= inner[3]


def _segment_one(frame: np.ndarray, model: str, options_json: str,
                 weights: str | None = None) -> tuple[np.ndarray, tuple[Box, ...]]:
    """Worker-side segmentation: (labels, the boxes the frame hid: `segment_image`'s
    annotations); the model is built once per process."""
    found = segment_image(frame, _cached_model(model, weights), **json.loads(options_json))
    return found.labels, found.annotations


def _segment_block(frames: np.ndarray, model: str, weights: str | None, options: dict,
                   client) -> list[tuple[np.ndarray, tuple[Box, ...]]]:
    payload = json.dumps(options)
    if client is None:
        return [_segment_one(f, model, payload, weights) for f in frames]
    futures = client.map(_segment_one, list(frames), model=model, options_json=payload, weights=weights, pure=False)
    return client.gather(futures)


def _quiet_when_cut_short(client):
    """A gather cut short by Ctrl-C leaves tasks on the client's event loop that each print a
    traceback ("Task exception was never retrieved ... AllExit") as the cluster closes; those,
    and only those, are dropped."""
    from distributed.client import AllExit

    def handler(loop, context):
        if not isinstance(context.get("exception"), AllExit):
            loop.default_exception_handler(context)

    client.loop.asyncio_loop.set_exception_handler(handler)
    return client


@contextlib.contextmanager
def signals_handled(handlers: dict):
    """`handlers` ({signal: handler}) in force for the block, the earlier ones back after it;
    nothing where this is not the main thread (only it may set signal handlers)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.signal(sig, handler) for sig, handler in handlers.items()}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _sigint_ignored():
    """SIGINT ignored while child processes start (they inherit it)."""
    return signals_handled({signal.SIGINT: signal.SIG_IGN})


def _client(workers: int | None, scheduler: str | None):
    if scheduler:
        from distributed import Client

        try:
            return _quiet_when_cut_short(Client(scheduler, timeout="10s"))
        except (OSError, ValueError, TypeError) as err:  # unreachable, or not an address at all
            raise TemsegError(f"cannot reach the dask scheduler at {scheduler!r} ({type(err).__name__}: {err}); "
                              "give an address such as tcp://host:8786") from None
    if workers and workers > 1:
        from distributed import Client, LocalCluster

        # A terminal's Ctrl-C reaches the cluster's processes too, and each printed a traceback: they
        # start with it ignored (this process stops them), and log nothing below errors (the tasks a
        # Ctrl-C cancels are logged as warnings).
        with _sigint_ignored():
            cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                   dashboard_address=None, silence_logs=logging.ERROR)
        return _quiet_when_cut_short(Client(cluster))
    return None


def track_video(video: Video, out: str | Path, *, progress: Callable[[int, int], None] | None = None, **kwargs) -> RunSummary:
    """Segment and track `video` into `out` (labels.zarr, tracks.csv, events.csv, sintering.csv).

    Keyword arguments as for `iter_track_video`; progress(done, total) follows
    the committed frames. Returns the RunSummary.
    """
    return run_steps(iter_track_video(video, out, **kwargs), progress)


def iter_track_video(
    video: Video,
    out: str | Path,
    model: str = DEFAULT_MODEL,
    options: dict[str, Any] | None = None,
    chunk: int = 16,
    overwrite: bool = False,
    workers: int | None = None,
    scheduler: str | None = None,
    method: str = "link",
    weights: str | None = None,
) -> Generator[tuple[int, int], None, RunSummary]:
    """Segment and track chunk by chunk; yields (frames written, total) after each committed
    chunk and returns the RunSummary. Stopping it between chunks leaves a resumable folder.

    options: model and linking options, as for `track()`. Resumes an interrupted
    run of the same input, model and options; refuses a folder of another run
    unless `overwrite`. workers/scheduler: segment on a dask.distributed cluster.
    weights: a weights file or shipped variant for `model` (workers build it by name).
    """
    import zarr

    check_method(method)
    if not isinstance(model, str):
        raise TemsegError("track_video takes a model name (workers rebuild the model from it)")
    if chunk < 1:
        raise TemsegError("--chunk must be at least 1 frame")
    options = dict(options or {})
    link_opts, model_opts = split_options(dict(options))
    # the model and its options fail early, in this process, before the folder is touched
    segmenter = _cached_model(model, weights)
    if method == "propagate":
        check_prompted(segmenter)
    if method == "link":
        model_opts = check_tracked_model_options(segmenter, model_opts)
    model_opts = with_nm_pixel_size(model_opts, video.pixel_size_nm)
    fitting_diameter(model_opts.get("diameter", "auto"), model_opts.get("pixel_size_nm"), video.data.shape[1:3])
    out = Path(out)
    if video.source and Path(video.source).is_dir() and Path(video.source).resolve() == out.resolve():
        raise TemsegError(f"{out}: is the folder of the video's frames; results written there (a plot is an image "
                          "too) would become frames of the next run: choose another results folder")
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / ".write-test"
        probe.write_text("")
        probe.unlink()
    except OSError as err:
        raise TemsegError(f"{out}: cannot write results here ({err.strerror or err})") from None
    n = int(video.data.shape[0])
    with RunLock(out):
        signature = _signature(video, model, weights, options, method)
        resume = _prepare(out, signature, overwrite)
        state = _load_state(out) if resume else None
        run = json.loads((out / RUN_FILE).read_text())
        if run.get("complete"):
            _, events = open_track_dir(out, unfinished_ok=True)  # its tables may wait to be measured again
            rescaled = run.pop("rescale", False)  # a pixel size given or corrected since (`_only_the_scale_differs`)
            if rescaled:
                rescale_track_dir(out, video.pixel_size_nm, video.pixel_yx_nm)
                _write_atomic(out / RUN_FILE, json.dumps(run))
            if video.frame_interval_s is not None and results_calibration(out)[1] != video.frame_interval_s:
                retime_track_dir(out, video.frame_interval_s)  # the labels do not depend on it: nothing re-tracked
            return RunSummary(n, n, events, out, read_skipped(out), run.get("decided", ""), rescaled)
        shape = (n, *[int(s) for s in video.data.shape[1:3]])  # an RGB stack: one label per pixel
        if state is not None:
            store = zarr.open_array(str(out / "labels.zarr"), mode="r+")
            if video.frame_interval_s is not None:  # not part of the run's settings
                store.attrs[FRAME_INTERVAL_ATTR] = video.frame_interval_s
            record_pixel_size(store, video.pixel_size_nm, video.pixel_yx_nm)  # the same, or given since
            pushed, written, linker, frame_marks = state
            if not _frames_intact(store, written):
                print(f"temseg: some saved frames in {out / 'labels.zarr'} are missing or damaged; "
                      "starting again from the first frame", file=sys.stderr)
                state = None
        if state is None:
            store = create_labels_zarr(out / "labels.zarr", shape, video.pixel_size_nm, video.frame_interval_s,
                                       video.pixel_yx_nm)
            pushed, written, linker, frame_marks = 0, 0, new_linker(link_opts, method), {}
        resumed_from = pushed
        client = _client(workers, scheduler)
        try:
            asked = model_opts
            given = tuple(model_opts.get("marks", ()))
            model_opts, found = with_stack_marks(video.data, model_opts, bool(video.metadata.get("lossy_codec")))
            model_opts = (propagation_options if method == "propagate" else stack_options)(
                video.data, segmenter, model_opts)
            run["decided"] = describe_stack_options(model_opts, asked)
            recorded = int_boxes((*given, *found))
            record_marks(store, recorded)  # flags the particles they cut
            shape = tuple(shape[1:3])
            if pushed:
                yield pushed, n  # a resumed run starts where the last one stopped
            while pushed < n:
                stop = min(pushed + chunk, n)
                read = [read_frame(video.data, t) for t in range(pushed, stop)]  # blank/unreadable: skipped
                good = [frame for frame, problem in read if problem is None]
                if method == "propagate":  # sequential by nature: each frame is prompted by the last
                    instances = (next_instances(f, segmenter, linker.last_labels, **model_opts) for f in good)
                else:
                    instances = iter(_segment_block(np.asarray(good), model, weights, model_opts, client)) if good \
                        else iter(())
                for index, (frame, problem) in enumerate(read, start=pushed):
                    if problem:
                        finished = linker.skip(shape, problem)
                    else:
                        labels, hidden = next(instances)
                        finished = linker.push(labels, frame)
                        own = _frame_own(hidden, recorded)
                        if own:
                            frame_marks[index] = own
                    for t, tracked in finished:
                        store[t] = tracked
                        written = t + 1
                pushed = stop
                if pushed == n:
                    for t, tracked in linker.flush():
                        store[t] = tracked
                        written = t + 1
                _commit(out, linker, pushed, written, frame_marks)
                yield pushed, n  # frames tracked and committed: what a resume starts after
        except OSError as err:
            raise TemsegError(
                f"{out}: writing failed ({err.strerror or err}); finished chunks are kept, rerun to resume"
            ) from None
        finally:
            if client is not None:
                own_cluster = client.cluster if scheduler is None else None  # --workers: ours to stop
                client.close()
                if own_cluster is not None:  # its worker processes, else killed at exit with their
                    own_cluster.close()  # semaphores ("resource_tracker: ... leaked semaphore objects")
        interval = video.frame_interval_s or results_calibration(out)[1]  # given to an earlier, interrupted start
        record_frame_marks(store, frame_marks)  # the particles they cut are flagged as the marks' are
        write_tables(out, store, linker.events, video.pixel_size_nm, interval)
        write_skipped(out, linker.skipped)
        run["complete"] = True
        run.pop("rescale", None)  # its tables were written at the new pixel size
        _write_atomic(out / RUN_FILE, json.dumps(run))
    return RunSummary(n, resumed_from, list(linker.events), out, list(linker.skipped), run["decided"])


__all__ = ["RunSummary", "iter_track_video", "track_video"]
