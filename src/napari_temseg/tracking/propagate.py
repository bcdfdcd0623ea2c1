"""Prompt propagation: the tracked masks of frame t become the prompts for frame t+1.

Each particle of the previous frame gives one query (its box, widened by
`margin` px, plus its centroid as a positive point); all queries of a frame go
through the decoder in one batched call, after one encoder pass. Masks that
overlap strongly are one object now (a fusion in progress). Propagation only
follows what it was given, so every frame is also segmented by the seed model,
which has the last word on two things: a propagated object it sees as two or
more particles is split into them (the prompts of two particles that only touch
come back as one mask), and what it finds that no propagated mask covers (a
particle entering the field, or one whose prompt came back empty) joins the
frame: the hand-over to linking. The resulting instances go through the same
Linker as `method="link"`, so identities, gap closing and fusion confirmation
follow one rule set. A keyframe (labels the user corrected) replaces the
prediction for its frame and propagation carries on from it.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from ..annotations import Box, drop_annotated_particles
from ..errors import TemsegError
from ..instances import add_unclaimed, find_root, paint_masks, split_where_detected
from ..models import Segmenter, load_model
from ..models.specs import DEFAULT_MODEL, SPECS, has_option, prompted_models
from ..preprocess import read_frame
from ..prompts import prompts_from_labels
from ..rims import absorption_look, absorption_strength, grow_rims
from ..rims import edge_level as rim_level
from ..segmentation import normalize_with_marks, segment_image, stack_options
from .link import Linker


def merge_overlapping(masks: np.ndarray, scores: np.ndarray, threshold: float) -> tuple[np.ndarray, np.ndarray]:
    """Union masks whose overlap covers `threshold` of the smaller one (particles now one object)."""
    n = len(masks)
    if n == 0:
        return masks, scores
    parent = list(range(n))
    flat = masks.reshape(n, -1)
    areas = flat.sum(1)
    for i in range(n):
        for j in range(i + 1, n):
            inter = np.count_nonzero(flat[i] & flat[j])
            if inter and inter >= threshold * max(min(areas[i], areas[j]), 1):
                parent[find_root(parent, j)] = find_root(parent, i)
    groups: dict[int, list[int]] = {}
    for i in range(n):
        groups.setdefault(find_root(parent, i), []).append(i)
    merged = np.array([masks[g].any(0) for g in groups.values()]).reshape(-1, *masks.shape[1:])
    return merged, np.array([scores[g].max() for g in groups.values()])


#: A propagated mask larger than this many times the particles the seed model found under
#: it (or, where it found none, the particle that prompted it) has spread over the support.
MAX_GROWTH = 1.5


def spread_masks(masks: np.ndarray, previous: np.ndarray, detected: np.ndarray) -> np.ndarray:
    """Per mask (one per particle of `previous`, in ID order, as `prompts_from_labels` asks)
    whether it spread over the support: more than MAX_GROWTH x the area of the particles
    the seed model `detected` under it, or of its own particle in `previous` where the seed
    model found nothing there (a faint particle only propagation follows). Such masks grew
    frame by frame into ragged blobs reaching the border (a user's clip: one particle from
    530 to 4876 px² in five frames, the particles' share of the frame 0.065 -> 0.146). They
    are dropped: the seed model's particle there joins the frame instead (`add_unclaimed`),
    and linking keeps its identity."""
    ids = np.unique(previous[previous > 0])
    own = np.bincount(previous.ravel())[ids]
    detected_area = np.bincount(detected.ravel())
    found = detected > 0
    spread = np.zeros(len(masks), bool)
    for k, mask in enumerate(masks):
        under = np.unique(detected[mask & found])
        reference = detected_area[under].sum() if len(under) else own[k]
        spread[k] = np.count_nonzero(mask) > MAX_GROWTH * reference
    return spread


def check_prompted(segmenter: Any) -> None:
    name = getattr(segmenter, "name", segmenter)
    model_spec = SPECS.get(name)
    if model_spec is None or not model_spec.prompted:
        raise TemsegError(f"method 'propagate' needs a prompted model ({', '.join(prompted_models())}), "
                          f"not {name!r}")


def next_instances(
    frame: np.ndarray,
    segmenter: Any,
    previous: np.ndarray | None,
    seed_model: str | Segmenter = DEFAULT_MODEL,
    merge_threshold: float = 0.5,
    min_size: int = 30,
    refine_edges: bool | str = True,
    polarity: str = "dark",
    edge_level: Any = "auto",
    df_absorption: Any = "auto",
    **seed_options: Any,
) -> tuple[np.ndarray, tuple[Box, ...]]:
    """(instances of `frame` prompted by the `previous` tracked labels (seeded when there are
    none), split where the seed model sees several particles (`split_where_detected`), plus
    what it finds there that no prompt carried (`add_unclaimed`); the boxes left out of the
    frame: burned-in marks, padding).

    refine_edges: for the prompted masks (and a seed model that refines edges), as in
    `models.edge_refiner.finish_edges`; polarity: of the particles ("bright" frames are
    inverted for the decoder); a stack's callers decide both once (`stack_options`);
    edge_level: where edges are drawn (`rims`), df_absorption: the look bright particles
    are given (`rims.absorption_look`), on seeded and prompted frames alike; corner_cuts
    (among `seed_options`): the stack's decision for the prompted model, handed to a seed
    model that has the option (`segmentation.resolve_single_image_rules`; off when not given);
    a seed model's `grain_guard` is on unless given, as for any frame of a time stack;
    marks (among `seed_options`): the stack's burned-in marks, left out of the decoder's
    image and the seed model's alike.
    """
    seed = load_model(seed_model)
    cuts = seed_options.pop("corner_cuts", False)  # the prompted model's, decided for the stack
    if has_option(seed, "corner_cuts"):
        seed_options["corner_cuts"] = cuts
    if has_option(seed, "grain_guard") and seed_options.get("grain_guard", getattr(seed, "grain_guard", "auto")) == "auto":
        seed_options["grain_guard"] = True
    if getattr(seed, "refines_edges", False):
        seed_options = {**seed_options, "refine_edges": refine_edges}
    seeded = segment_image(frame, seed, add_missed=False, polarity=polarity, edge_level=edge_level,
                           df_absorption=df_absorption, **seed_options)
    detected, marks = seeded.labels, seeded.annotations
    if previous is None or not previous.any():
        return detected, marks
    image = normalize_with_marks(frame, marks)
    if polarity == "bright":
        image = 1.0 - image
    look = absorption_look(image, absorption_strength(df_absorption, polarity, segmenter))
    logits, iou, _ = segmenter.decode(look, prompts_from_labels(previous))
    masks = logits > 0
    held = ~spread_masks(masks, previous, detected)
    masks, scores = merge_overlapping(masks[held], iou[held], merge_threshold)
    from ..models.edge_refiner import finish_edges  # torch: imported by the prompted models that need it

    labels = finish_edges(image, paint_masks(masks, scores, min_size), refine_edges, segmenter.device)
    labels = drop_annotated_particles(grow_rims(labels, image, rim_level(edge_level, polarity)), marks)
    return add_unclaimed(split_where_detected(labels, detected), detected), marks


def propagation_options(frames: Any, segmenter: Any, options: dict[str, Any]) -> dict[str, Any]:
    """The options every frame of a propagated stack is segmented with: the stack's decisions
    (`stack_options`), the seed model built once (it runs every frame), and the edge
    refiner off unless asked for (`refine_edges=True` or "always"). Why: the refiner
    learnt the article's edge rule on still images, and on propagated frames it drew
    particles ~12 px in radius up to 5 px too large; their IoU with the particle fell
    below a half and identities with it. On six development videos (training regime,
    seeds 8000-8005) the two it acts on went from consistent-ID 0.740 and 0.557 to 0.988
    and 0.691 without it (fusions found 3 and 1 -> 4 and 0 of 8; the other four unchanged)."""
    options = stack_options(frames, segmenter, {"refine_edges": False, **options})
    options["seed_model"] = load_model(options.get("seed_model", DEFAULT_MODEL))
    return options


def iter_propagate(
    frames: Any,
    segmenter: Any,
    linker: Linker,
    keyframes: dict[int, np.ndarray] | None = None,
    frame_marks: dict[int, tuple] | None = None,
    **options: Any,
) -> Iterator[tuple[int, np.ndarray]]:
    """Yield (t, tracked labels) in order; `segmenter` must be a prompted model (has `decode`);
    `frame_marks`, where given, is filled with {t: boxes} each frame left out (`iter_track`)."""
    check_prompted(segmenter)
    options = propagation_options(frames, segmenter, options)
    keyframes = keyframes or {}
    shape = tuple(frames.shape[1:3])
    for t in range(frames.shape[0]):
        if t in keyframes:
            yield from linker.push(np.asarray(keyframes[t]))
            continue
        frame, problem = read_frame(frames, t)  # a blank or unreadable frame is skipped, as in linking
        if problem:
            yield from linker.skip(shape, problem)
        else:
            labels, hidden = next_instances(frame, segmenter, linker.last_labels, **options)
            yield from linker.push(labels)
            if hidden and frame_marks is not None:
                frame_marks[t] = hidden
    yield from linker.flush()
