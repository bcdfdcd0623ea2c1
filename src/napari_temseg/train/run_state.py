"""The interrupted-run checkpoint a trainer keeps beside its output, for an exact resume:
weights, optimizer, epoch, best score, both random generators and the run's settings."""

from __future__ import annotations

import csv
import os
import pickle
import warnings
from pathlib import Path

import numpy as np
import torch

from ..errors import TemsegError

#: The article's training-log columns, written by every trainer here.
LOG_COLUMNS = ["E", "Train Loss", "Test Loss", "Train IOU", "Test IOU", "Train Dice", "Test Dice"]


#: What `save_state` writes (and a schedule where the trainer keeps one).
STATE_KEYS = frozenset({"model", "optimizer", "epoch", "best_iou", "rng", "torch_rng", "settings"})


def run_files(out: Path) -> tuple[Path, Path]:
    """(last-state file in `out`-work/, the CSV log beside `out`); creates the work folder."""
    work = out.parent / f"{out.stem}-work"
    work.mkdir(parents=True, exist_ok=True)
    return work / "last.pt", out.with_suffix(".csv")


def start_or_resume(last: Path, log: Path, resume: bool, settings: dict, net: torch.nn.Module,
                    optimizer: torch.optim.Optimizer, rng: np.random.Generator,
                    schedule: torch.optim.lr_scheduler.LRScheduler | None = None) -> tuple[int, float]:
    """(first epoch to run, best validation score so far): a fresh run starts the log; a
    resumed one restores everything `save_state` wrote (the learning-rate schedule too, when
    the trainer keeps one), refusing other settings."""
    if not resume:
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
    if state["settings"] != settings:
        raise TemsegError(f"the interrupted run used {state['settings']}; resume it with the same settings")
    net.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    if schedule is not None:
        schedule.load_state_dict(state["schedule"])
    rng.bit_generator.state = state["rng"]
    torch.set_rng_state(state["torch_rng"])
    return state["epoch"], state["best_iou"]


def save_state(last: Path, net: torch.nn.Module, optimizer: torch.optim.Optimizer, epoch: int, best: float,
               rng: np.random.Generator, settings: dict,
               schedule: torch.optim.lr_scheduler.LRScheduler | None = None) -> None:
    """Write the state `start_or_resume` restores, under a temporary name first: a run stopped
    while saving keeps the previous epoch's state instead of a truncated one."""
    extra = {"schedule": schedule.state_dict()} if schedule is not None else {}
    partial = last.with_name(last.name + ".partial")
    try:
        torch.save(
            {"model": net.state_dict(), "optimizer": optimizer.state_dict(), "epoch": epoch, "best_iou": best,
             "rng": rng.bit_generator.state, "torch_rng": torch.get_rng_state(), "settings": settings, **extra},
            partial,
        )
        os.replace(partial, last)
    finally:
        partial.unlink(missing_ok=True)  # a failed save leaves the previous state and nothing else


def log_epoch(log: Path, epoch: int, row: list[float]) -> None:
    """One line of the article's log: epoch, then train/validation loss, IoU and Dice."""
    with open(log, "a", newline="") as fh:
        csv.writer(fh).writerow([epoch] + [f"{v:.8f}" for v in row])
