"""Edits a user makes while reviewing fusions: reject an event, re-track after a correction.

Pure array functions, so the review widget stays thin and the edits are testable
without a viewer. Labels are (T, Y, X) uint32 numpy arrays, edited in place.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import numpy as np

from ..errors import TemsegError
from ..instances import nearest_parent
from ..progress import run_steps
from . import new_linker
from .link import LinkOptions


def event_centre(labels: np.ndarray, event: dict) -> tuple[float, float]:
    """(y, x) centroid of the fusion child in its first frame, for centring the camera."""
    ys, xs = np.nonzero(np.asarray(labels[event["frame"]]) == event["child"])
    if len(ys) == 0:
        raise TemsegError(f"fusion child {event['child']} is not in frame {event['frame']}")
    return float(ys.mean()), float(xs.mean())


def reject_fusion(labels: np.ndarray, events: list[dict], index: int) -> list[dict]:
    """Undo fusion `index`: the child's pixels go back to its parents, frame by frame.

    Each child pixel takes the ID of the nearest parent pixel of the previous
    frame, so the parents' IDs continue where the child was. Returns the events
    without the rejected one. A child that is itself a parent of a later fusion
    must be handled first (reject the later event), since its pixels would then
    belong to several tracks.
    """
    event = events[index]
    child, parents = int(event["child"]), [int(p) for p in event["parents"]]
    later = [e for e in events if child in e["parents"]]
    if later:
        raise TemsegError(
            f"particle {child} fuses again at frame {later[0]['frame']}; reject that event first"
        )
    start = int(event["frame"])
    if start == 0:
        raise TemsegError("a fusion at frame 0 has no earlier frame to take the parents from")
    if not (np.asarray(labels[start]) == child).any():  # nothing would go back to the parents
        raise TemsegError(f"fusion child {child} is not in frame {start} (edited there?): re-track from that "
                          "frame, or undo the edit, before rejecting this event")
    for t in range(start, labels.shape[0]):
        region = labels[t] == child
        if not region.any():
            break
        labels[t][region] = nearest_parent(labels[t - 1], region, parents)
    return [e for i, e in enumerate(events) if i != index]


def retrack_from(
    labels: np.ndarray, events: list[dict], frame: int, options: LinkOptions | None = None, frames: Any = None,
    method: str = "link",
) -> list[dict]:
    """Re-link frames after `frame`, trusting frame `frame` as the user corrected it.

    Later frames keep their segmentation (each ID an instance) but get their IDs
    again from the linker seeded with the corrected frame. Events before `frame`
    are kept; later ones are found anew. Returns the new event list. `frames`: the
    video the labels came from (T, Y, X), which dates fusions as tracking did
    (`Linker.push`); without it only the outlines date them. `method`: how the labels were
    tracked, so that they are linked again the same way (`new_linker`).
    """
    return run_steps(iter_retrack_from(labels, events, frame, options, frames, method))


def iter_retrack_from(
    labels: np.ndarray, events: list[dict], frame: int, options: LinkOptions | None = None, frames: Any = None,
    method: str = "link",
) -> Generator[tuple[int, int], None, list[dict]]:
    """`retrack_from` as a generator: yields (frames re-linked, frames to re-link) after each
    frame, so that a viewer can show progress and stop it; returns the new event list."""
    if not 0 <= frame < labels.shape[0]:
        raise TemsegError(f"frame {frame} is outside the stack (0..{labels.shape[0] - 1})")
    keyframe = np.asarray(labels[frame])
    linker = new_linker(options or LinkOptions(), method)
    linker.seed(keyframe, frame, next_id=int(labels.max()) + 1)
    total = labels.shape[0] - frame - 1
    for t in range(frame + 1, labels.shape[0]):
        for done_t, tracked in linker.push(np.asarray(labels[t]), None if frames is None else np.asarray(frames[t])):
            labels[done_t] = tracked
        yield t - frame, total
    for done_t, tracked in linker.flush():
        if done_t > frame:
            labels[done_t] = tracked
    kept = [e for e in events if e["frame"] <= frame]
    return kept + linker.events

