"""The interrupted-run checkpoint a trainer keeps beside its output, for an exact resume:
weights, optimizer, epoch, best score, both random generators and the run's settings."""

from __future__ import annotations

import csv
import json
import os
import pickle
import warnings
from pathlib import Path

import numpy as np
import torch

from ..errors import TemsegError
from . import work_folder

#: The article's training-log columns, written by every trainer here.
LOG_COLUMNS = ["E", "Train Loss", "Test Loss", "Train IOU", "Test IOU", "Train Dice", "Test Dice"]


#: (loss, IoU, Dice) of a validation that had nothing to measure: logged as empty columns.
NOT_MEASURED = (float("nan"), float("nan"), float("nan"))

#: What `save_state` writes (and a schedule where the trainer keeps one).
STATE_KEYS = frozenset({"model", "optimizer", "epoch", "best_iou", "rng", "torch_rng", "settings"})


def run_files(out: Path, resume: bool) -> tuple[Path, Path]:
    """(last-state file in `out`-work/, the CSV log beside `out`); creates the work folder. A
    fresh run is refused where an earlier run's state is (`refuse_overwriting`): trainers
    call this before they draw their data."""
    work = work_folder(out)
    if not resume:
        refuse_overwriting(work / "last.pt")
    work.mkdir(parents=True, exist_ok=True)
    return work / "last.pt", out.with_suffix(".csv")


def start_or_resume(last: Path, log: Path, resume: bool, settings: dict, net: torch.nn.Module,
                    optimizer: torch.optim.Optimizer, rng: np.random.Generator,
                    schedule: torch.optim.lr_scheduler.LRScheduler | None = None,
                    options: dict | None = None) -> tuple[int, float]:
    """(first epoch to run, best validation score so far): a fresh run starts the log (where
    no earlier run's state is: that would be lost); a resumed one restores everything
    `save_state` wrote (the learning-rate schedule too, when the trainer keeps one), refusing
    other settings or training `options` (data, batch, learning rate, ...), and drops log rows
    of epochs its state does not hold (a run stopped between the two writes)."""
    if not resume:  # `run_files` has refused a fresh run over an earlier one's state
        with open(log, "w", newline="") as fh:
            csv.writer(fh).writerow(LOG_COLUMNS)
        return 0, -1.0
    if not last.is_file():
        raise TemsegError(f"nothing to resume: {last} does not exist (start without --resume)")
    try:
        with warnings.catch_warnings():  # torch warns about a foreign pickle protocol before refusing it
            warnings.simplefilter("ignore")
            state = torch.load(last, map_location="cpu", weights_only=True)  # tensors and plain values only
    except OSError as err:
        raise TemsegError(f"cannot resume: {last} cannot be read ({err.strerror or err})") from None
    except pickle.UnpicklingError:  # objects other than tensors and plain values: refused, not run
        raise TemsegError(f"cannot resume: {last} is not a checkpoint this training wrote (it holds other objects); "
                          "start without --resume") from None
    except Exception as err:  # noqa: BLE001 - torch raises RuntimeError, EOFError, ... for a cut archive
        reason = f"{type(err).__name__}: {str(err).splitlines()[0][:120]}" if str(err) else type(err).__name__
        raise TemsegError(f"cannot resume: {last} is damaged or truncated, or not a checkpoint this training wrote "
                          f"({reason}); start without --resume") from None
    missing = STATE_KEYS - set(state) if isinstance(state, dict) else STATE_KEYS
    if missing or not isinstance(state.get("settings"), dict):
        raise TemsegError(f"cannot resume: {last} is not a checkpoint this training wrote"
                          f"{' (no ' + ', '.join(sorted(missing)) + ')' if missing else ''}; start without --resume")
    planned = int(state["settings"].get("epochs", state["epoch"] + 1))
    if state["epoch"] >= planned:
        raise TemsegError(f"nothing to resume: the run in {last.parent} has finished ({state['epoch']} of {planned} "
                          "epochs); to train further, start a new run from its weights (--weights) with another --out")
    check_same_run({**state["settings"], **state.get("options", options or {})},  # states before options: not compared
                   {**settings, **(options or {})}, last.parent)
    try:
        net.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
    except (RuntimeError, ValueError, KeyError) as err:
        raise TemsegError(f"cannot resume: {last} does not fit this network or optimizer "
                          f"({str(err).splitlines()[0][:160]}); start without --resume") from None
    if schedule is not None:
        schedule.load_state_dict(state["schedule"])
    rng.bit_generator.state = state["rng"]
    torch.set_rng_state(state["torch_rng"])
    _keep_log_rows(log, state["epoch"])
    return state["epoch"], state["best_iou"]


def check_same_run(recorded: dict, now: dict, work: Path) -> None:
    """Refuse to resume the run in `work` with settings other than it was started with,
    naming each one that differs."""
    changed = sorted(key for key in {**now, **recorded} if now.get(key) != recorded.get(key))
    if changed:
        started = ", ".join(f"{key} {recorded.get(key)!r} (now {now.get(key)!r})" for key in changed)
        raise TemsegError(f"cannot resume: the run in {work} was started with {started}; resume it with the "
                          "same settings, or start a new run with another --out")


def refuse_overwriting(last: Path) -> None:
    """A fresh run must not start over an earlier run's state (a forgotten --resume)."""
    if last.is_file():
        raise TemsegError(f"{last} holds the state of an earlier run with this --out: if it was stopped, continue "
                          f"it with --resume; to start over, delete {last.parent} or choose another --out")


def _keep_log_rows(log: Path, epochs: int) -> None:
    """The log with the rows of epochs 1..`epochs` only: a run stopped after logging an epoch
    but before saving its state runs that epoch again, which must not be logged twice."""
    try:
        with open(log, newline="") as fh:
            rows = list(csv.reader(fh))
    except OSError:
        rows = []
    kept = [row for row in rows[1:] if row and row[0].isdigit() and int(row[0]) <= epochs]
    with open(log, "w", newline="") as fh:
        csv.writer(fh).writerows([LOG_COLUMNS, *kept])


def keep_epoch(score: float, best: float) -> tuple[bool, float]:
    """(whether this epoch's weights replace the best so far, the best score after it): a
    higher validation score, or, where nothing could be validated (no validation images, or
    none with particles: NaN), every epoch, so that the last is kept."""
    if not np.isfinite(score):
        return best < 0, best  # a run that validated before keeps its best
    return score > best, max(score, best)


def save_atomically(payload: dict, out: Path) -> None:
    """`torch.save` under a temporary name, then renamed: a run stopped while writing keeps the
    previous file (best weights, last state) instead of a truncated one."""
    partial = out.with_name(out.name + ".partial")
    try:
        torch.save(payload, partial)
        os.replace(partial, out)
    finally:
        partial.unlink(missing_ok=True)  # a failed save leaves the previous file and nothing else


def training_options(data_dirs: list, **options) -> dict:
    """The training options a resume must repeat, as `save_state` records them (data folders
    as absolute paths, so a resume from another working folder still compares equal)."""
    options = {"data": [str(Path(d).resolve()) for d in data_dirs], **options}
    return json.loads(json.dumps(options))  # as a JSON file keeps them (tuples as lists), so a reread compares equal


def half_precision(net: torch.nn.Module) -> dict:
    """The network's tensors as weights files ship them: floating point in fp16, on the CPU."""
    return {k: v.detach().half().cpu() if v.is_floating_point() else v.cpu() for k, v in net.state_dict().items()}


def finish_epoch(out: Path, weights: dict, score: float, best: float, last: Path,
                 net: torch.nn.Module, optimizer: torch.optim.Optimizer, epoch: int, rng: np.random.Generator,
                 settings: dict, schedule: torch.optim.lr_scheduler.LRScheduler | None = None,
                 options: dict | None = None) -> float:
    """After an epoch's validation `score`: the weights file `out` (`weights`, where kept:
    `keep_epoch`) and the resume state; returns the best score after it."""
    better, best = keep_epoch(score, best)
    if better:
        save_atomically(weights, out)
    save_state(last, net, optimizer, epoch, best, rng, settings, schedule, options)
    return best


def save_state(last: Path, net: torch.nn.Module, optimizer: torch.optim.Optimizer, epoch: int, best: float,
               rng: np.random.Generator, settings: dict,
               schedule: torch.optim.lr_scheduler.LRScheduler | None = None, options: dict | None = None) -> None:
    """Write the state `start_or_resume` restores (`save_atomically`), with the training
    `options` a resume must repeat."""
    extra = {"schedule": schedule.state_dict()} if schedule is not None else {}
    if options is not None:
        extra["options"] = options
    save_atomically({"model": net.state_dict(), "optimizer": optimizer.state_dict(), "epoch": epoch, "best_iou": best,
                     "rng": rng.bit_generator.state, "torch_rng": torch.get_rng_state(), "settings": settings, **extra},
                    last)


def log_epoch(log: Path, epoch: int, row: list[float]) -> None:
    """One line of the article's log: epoch, then train/validation loss, IoU and Dice (empty
    where not measured: NaN, e.g. no validation images)."""
    with open(log, "a", newline="") as fh:
        csv.writer(fh).writerow([epoch] + [f"{v:.8f}" if np.isfinite(v) else "" for v in row])
