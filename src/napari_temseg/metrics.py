"""Scores for segmentation and tracking, vectorised so large images score fast.

Foreground IoU and Dice follow the article: computed per image on the binary
foreground, then averaged over images. Instance scores match predicted and
true objects one-to-one at an IoU threshold (above 0.5 a match is unique, so
no assignment problem needs solving).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

from .errors import TemsegError

AP_THRESHOLDS = np.round(np.arange(0.5, 0.96, 0.05), 2)


def _check_pair(pred: np.ndarray, truth: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    pred, truth = np.asarray(pred), np.asarray(truth)
    if pred.shape != truth.shape:
        raise TemsegError(f"prediction shape {pred.shape} differs from ground truth {truth.shape}")
    return pred, truth


def foreground_iou(pred: np.ndarray, truth: np.ndarray) -> float:
    """IoU of the binary foregrounds (label > 0); 1.0 when both are empty."""
    pred, truth = _check_pair(pred, truth)
    p, t = pred > 0, truth > 0
    union = np.count_nonzero(p | t)
    return 1.0 if union == 0 else np.count_nonzero(p & t) / union


def dice(pred: np.ndarray, truth: np.ndarray) -> float:
    """Dice coefficient of the binary foregrounds; 1.0 when both are empty."""
    pred, truth = _check_pair(pred, truth)
    p, t = pred > 0, truth > 0
    total = np.count_nonzero(p) + np.count_nonzero(t)
    return 1.0 if total == 0 else 2 * np.count_nonzero(p & t) / total


def pairwise_iou(pred: np.ndarray, truth: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sparse IoU of every overlapping (pred ID, true ID) pair: (pred_ids, true_ids, iou)."""
    pred, truth = _check_pair(pred, truth)
    p = pred.ravel().astype(np.int64)
    t = truth.ravel().astype(np.int64)
    both = (p > 0) & (t > 0)
    base = int(t.max()) + 1 if t.size else 1
    keys, inter = np.unique(p[both] * base + t[both], return_counts=True)
    pid, tid = keys // base, keys % base
    area_p = np.bincount(p, minlength=int(p.max(initial=0)) + 1)
    area_t = np.bincount(t, minlength=base)
    iou = inter / (area_p[pid] + area_t[tid] - inter)
    return pid, tid, iou


@dataclass
class InstanceScores:
    """Instance matching at one IoU threshold, plus AP averaged over 0.5..0.95."""

    tp: int
    fp: int
    fn: int
    precision: float
    recall: float
    f1: float
    mean_matched_iou: float
    ap: float

    def as_dict(self) -> dict:
        return asdict(self)


def precision_recall_f1(matched: int, n_pred: int, n_true: int) -> tuple[float, float, float]:
    """Scores of `matched` one-to-one matches between n_pred predictions and n_true truths
    (all 1.0 when both sides are empty)."""
    precision = matched / n_pred if n_pred else float(n_true == 0)
    recall = matched / n_true if n_true else float(n_pred == 0)
    f1 = 2 * matched / (n_pred + n_true) if (n_pred + n_true) else 1.0
    return precision, recall, f1


def _counts_at(iou: np.ndarray, n_pred: int, n_true: int, thr: float) -> tuple[int, int, int]:
    tp = int(np.count_nonzero(iou > thr))
    return tp, n_pred - tp, n_true - tp


def instance_scores(pred: np.ndarray, truth: np.ndarray, threshold: float = 0.5) -> InstanceScores:
    """Match instances one-to-one at IoU > `threshold` (>= 0.5) and score them.

    AP is the mean over thresholds 0.5, 0.55, ..., 0.95 of TP / (TP + FP + FN),
    the definition used by the cell-segmentation literature (StarDist, Cellpose).
    """
    if threshold < 0.5:
        raise TemsegError("instance matching needs an IoU threshold >= 0.5 (matches are then unique)")
    pred, truth = _check_pair(pred, truth)
    n_pred = len(np.unique(pred[pred > 0]))
    n_true = len(np.unique(truth[truth > 0]))
    _, _, iou = pairwise_iou(pred, truth)
    tp, fp, fn = _counts_at(iou, n_pred, n_true, threshold)
    precision, recall, f1 = precision_recall_f1(tp, n_pred, n_true)
    matched = iou[iou > threshold]
    aps = []
    for thr in AP_THRESHOLDS:
        t, p_, n_ = _counts_at(iou, n_pred, n_true, float(thr))
        aps.append(t / (t + p_ + n_) if (t + p_ + n_) else 1.0)
    return InstanceScores(
        tp=tp,
        fp=fp,
        fn=fn,
        precision=precision,
        recall=recall,
        f1=f1,
        mean_matched_iou=float(matched.mean()) if matched.size else 0.0,
        ap=float(np.mean(aps)),
    )


@dataclass
class TrackingScores:
    """consistent_id_fraction: share of true track-frames carried by the track's dominant
    predicted ID; id_switches: changes of matched predicted ID along true tracks that the
    predicted lineage does not explain (a parent handing over to its fusion child is not one);
    fusion precision/recall/f1: events matched within `frame_tolerance` frames with the
    same parents and child; onset_errors: predicted minus true frame of each matched event."""

    consistent_id_fraction: float
    id_switches: int
    fusion_precision: float
    fusion_recall: float
    fusion_f1: float
    n_true_events: int
    n_pred_events: int
    onset_errors: list[int] = field(default_factory=list)

    @property
    def worst_onset_error(self) -> int:
        """Largest |predicted - true| fusion frame among matched events (0 when none matched)."""
        return max((abs(e) for e in self.onset_errors), default=0)

    def as_dict(self) -> dict:
        return asdict(self)


def _frame_matches(pred: np.ndarray, truth: np.ndarray) -> dict[int, int]:
    """True ID -> predicted ID for objects matched at IoU > 0.5 in one frame."""
    pid, tid, iou = pairwise_iou(pred, truth)
    ok = iou > 0.5
    return dict(zip(tid[ok].tolist(), pid[ok].tolist(), strict=False))


def tracking_scores(
    pred_labels: np.ndarray,
    true_labels: np.ndarray,
    pred_events: list[dict],
    true_events: list[dict],
    frame_tolerance: int = 2,
) -> TrackingScores:
    """Score tracked (T, Y, X) labels and fusion events against ground truth."""
    if np.shape(pred_labels) != np.shape(true_labels):
        raise TemsegError(
            f"predicted labels {np.shape(pred_labels)} and truth {np.shape(true_labels)} differ in shape"
        )
    history: dict[int, list[int]] = {}  # true id -> matched pred id per frame (0 = unmatched)
    for t in range(true_labels.shape[0]):
        truth = np.asarray(true_labels[t])
        matches = _frame_matches(np.asarray(pred_labels[t]), truth)
        for tid in np.unique(truth[truth > 0]).tolist():
            history.setdefault(tid, []).append(matches.get(tid, 0))
    explained = {int(e["child"]): {int(p) for p in e["parents"]} for e in pred_events}
    carried = total = switches = 0
    dominant: dict[int, int] = {}
    for tid, seq in history.items():
        ids, counts = np.unique([s for s in seq if s], return_counts=True)
        if len(ids):
            dominant[tid] = int(ids[np.argmax(counts)])
            carried += int(counts.max())
        total += len(seq)
        seen = [s for s in seq if s]
        switches += sum(a != b and a not in explained.get(b, ()) for a, b in zip(seen, seen[1:], strict=False))
    found, onsets = 0, []
    used: set[int] = set()
    for true in true_events:
        want_parents = {dominant.get(p, -1) for p in true["parents"]}
        want_child = dominant.get(true["child"], -1)
        for i, pred in enumerate(pred_events):
            if i in used or abs(pred["frame"] - true["frame"]) > frame_tolerance:
                continue
            if set(pred["parents"]) == want_parents and pred["child"] == want_child:
                used.add(i)
                found += 1
                onsets.append(int(pred["frame"]) - int(true["frame"]))
                break
    n_true, n_pred = len(true_events), len(pred_events)
    precision, recall, f1 = precision_recall_f1(found, n_pred, n_true)
    return TrackingScores(
        consistent_id_fraction=carried / total if total else 1.0,
        id_switches=switches,
        fusion_precision=precision,
        fusion_recall=recall,
        fusion_f1=f1,
        n_true_events=n_true,
        n_pred_events=n_pred,
        onset_errors=onsets,
    )
