"""Frame-to-frame linking of instance labels with stable IDs, gap closing and fusion.

The linker takes one segmented frame at a time and hands back tracked frames
after a delay (`Linker._held_frames`, 33 frames by default): a fusion is only
believed once the merged object has stayed one object for `fusion_min_frames` and has
begun to round up (`ROUNDING_GAIN`), and then the frames since the first contact are
relabelled with the child's ID. Particles that only touch keep their IDs: while a merge is unconfirmed, the
merged object's pixels are shared out among the parents by nearest previous mask.

Drift: a median-displacement motion model (the stage moves every particle
alike) shifts the previous frame before overlaps are measured, and predicts
where lost tracks should reappear. A sudden stage jump (most particles find no
partner where the drift puts them) is found by cross-correlating the two frames'
foreground masks; that frame is linked across the jump, the drift model keeps
its previous value, and lost particles are looked for where the jump carried them.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from itertools import combinations, takewhile

import numpy as np
from scipy import ndimage as ndi
from scipy.optimize import linear_sum_assignment

from ..cuts import solidity
from ..errors import TemsegError
from ..instances import border_labels, find_root, label_stats, nearest_parent, overlap_counts, touching_pairs
from ..preprocess import as_2d_gray, robust_spread

#: Below this share of previous particles finding a partner where the drift puts them, the
#: frame is checked for a stage jump. A 12 px jump still leaves a quarter of particles 10-30
#: px across overlapping their old place, so the check starts well below "all linked":
#: 0.95, chosen among 0.5-0.99 on training-regime videos (docs/tracking.md).
JUMP_SHARE = 0.95
#: Sintering particles keep two dark lobes, so a segmentation splits a young neck along it
#: for frames after material contact and the merge is seen late. Where the parents touched
#: just before the merge along a neck (contact at least ONSET_MIN_NECK of the smaller
#: one's equivalent diameter) and, for at least ONSET_MIN_RUN frames in a row, along
#: ONSET_CONTACT_SHARE or more of that contact, the fusion is dated to the first of those
#: frames (a neck that was already there); a shorter run is parents closing in, and the
#: merge's first frame stays the onset. A frame whose contact the image shows pale (less
#: than ONSET_MATERIAL_DEPTH as dark as the particles, `_pale`) ends the run: in a noisy
#: video the outline joins particles a blurred gap apart. Chosen on training-regime
#: videos (docs/tracking.md).
ONSET_MIN_NECK = 0.3
ONSET_CONTACT_SHARE = 0.7
ONSET_MIN_RUN = 5
#: The image says the same where it is given: material across the contact is dark. A neck
#: whose contact pixels lie ONSET_NECK_DEPTH or more of the way from the surrounding
#: support's grey level to the parents' interior (`neck_depths`) is material, not a
#: blurred gap between two particles closing in (~0.2-0.4 on the development videos); the
#: fusion is dated to the first frame of the unbroken run of such frames before the merge,
#: where that is earlier. Chosen among 0.5-0.9 on training-regime videos (docs/tracking.md).
ONSET_NECK_DEPTH = 0.75
#: The other way round: a blurred gap between particles closing in can be segmented as one
#: object before they meet. Where the fusion was not dated earlier, it is dated to the first
#: frame from the merge on in which the parents' contact (the merged object shared out among
#: them) is ONSET_MATERIAL_DEPTH or more as dark as the particles in two frames running,
#: when there is one (the contact of a young neck is thin, so less than ONSET_NECK_DEPTH).
#: Chosen among 0.5-0.8 on training-regime videos (docs/tracking.md; 0.6 until 2026-12-07).
ONSET_MATERIAL_DEPTH = 0.7
#: How many frames before a merge the onset can move back to: tracked frames stay this
#: much longer in the linker before they are handed out.
ONSET_LOOKBACK = 16
#: Sintering rounds a pair up (its neck fills the concavity between the parents); two
#: particles that only touch keep the outline of two. A merge is therefore confirmed once
#: it has lasted `fusion_min_frames` *and* its solidity (area over convex hull; mean of two
#: frames) has risen ROUNDING_GAIN above its first two merged frames' or reached
#: ROUND_SOLIDITY. Until then its pixels stay shared among the parents. Chosen on
#: training-regime videos (seeds 8100-8105, 247 true fusions: none lost, 7 of 10 false
#: ones gone; docs/tracking.md).
ROUNDING_GAIN = 0.03
ROUND_SOLIDITY = 0.94
#: Sintering may keep a neck the segmentation splits, or a merge that has not rounded up,
#: to the end of a video (early-stage neck growth, a short clip): two established particles
#: that touch along a contact at least NECK_FUSION_SHARE of the smaller one's equivalent
#: diameter and at least ONSET_NECK_DEPTH as dark as the particles (material, not a
#: blurred gap) in the last `fusion_min_frames` frames have fused, though never seen
#: rounded (`Linker._fuse_along_necks`, at `flush`). Read at every frame, the rule moved a
#: held-out slow-sintering event (fusion F1 1.00 -> 0.92): mid-video, rounding decides.
NECK_FUSION_SHARE = 0.75
#: An unlinked object this much inside a particle that a merge took is a piece of it
#: (`Linker._pieces_of_merging`).
PIECE_SHARE = 0.6
#: Frames a merge may take to show its rounding and still be dated to its first merged
#: frame: tracked frames wait this much longer in the linker (a later rounding is dated no
#: earlier than the oldest frame still held).
ROUNDING_WAIT = 16
#: Frames a particle of the first frame must be seen before it can fuse (`Linker._fresh`):
#: it was there before the video began, but a particle cut in two in one frame is not two.
FIRST_SEEN = 2
#: A lost particle's ID goes to an unlinked object near where it was lost whose area is
#: within this factor of its last one. A faint particle is drawn at half its size in one
#: frame and whole in the next, so 3 rather than 2; with `max_gap` 6 rather than 3, chosen
#: together on training-regime videos (docs/tracking.md, "Faint particles found and held").
GAP_AREA_RATIO = 3.0


@dataclass
class LinkOptions:
    """min_iou: least IoU for a one-to-one link; parent_fraction: share of a parent's
    area a merged object must cover; fusion_min_frames: frames a merge must last to
    count as fusion (at least 4 in effect: its rounding is read over four frames);
    max_gap: frames a lost particle may be missing; max_jump: px a reappearing particle
    may have moved (beyond the drift)."""

    min_iou: float = 0.2
    parent_fraction: float = 0.4
    fusion_min_frames: int = 6
    max_gap: int = 6
    max_jump: float = 10.0


@dataclass
class _Pending:
    """A merge not yet confirmed: first merged frame `start`, frames `seen` merged, the
    last of them `last`; `earliest`: the frame after the parents were last seen apart;
    `run_start`: first frame of the merge's current unbroken run (it may flicker apart);
    `solidity`: the merged object's in its first two and its last two merged frames (`rounded`)."""

    parents: frozenset
    start: int
    seen: int = 1
    last: int = 0
    earliest: int = 0
    run_start: int = 0
    solidity: tuple[float, ...] = ()

    def shapes_with(self, parents: frozenset, value: float) -> tuple[float, ...]:
        """The solidity record after one more merged frame of `parents` whose solidity is
        `value`: the first two and the last two values, all `rounded` reads (a merge may
        last for the rest of a video); started afresh when a particle joined the merge,
        which makes another shape."""
        shapes = (*(self.solidity if self.parents == parents else ()), value)
        return shapes[:2] + shapes[2:][-2:]

    def rounded(self) -> bool:
        """Whether the merged object has rounded up as sintering particles do (ROUNDING_GAIN)."""
        if len(self.solidity) < 4:
            return False
        now = float(np.mean(self.solidity[-2:]))
        return now >= ROUND_SOLIDITY or now - float(np.mean(self.solidity[:2])) >= ROUNDING_GAIN


@dataclass
class _Lost:
    frame: int
    y: float
    x: float
    area: int


def _shift(labels: np.ndarray, dy: int, dx: int) -> np.ndarray:
    """Integer translation with zero fill (no wrap-around)."""
    if dy == 0 and dx == 0:
        return labels
    out = np.zeros_like(labels)
    ny, nx = labels.shape
    src = labels[max(-dy, 0) : ny - max(dy, 0), max(-dx, 0) : nx - max(dx, 0)]
    out[max(dy, 0) : max(dy, 0) + src.shape[0], max(dx, 0) : max(dx, 0) + src.shape[1]] = src
    return out


def _mask_shift(prev: np.ndarray, seg: np.ndarray) -> np.ndarray:
    """The translation (dy, dx) that lays `prev`'s foreground best onto `seg`'s (FFT
    cross-correlation of the two masks)."""
    a, b = (prev > 0).astype(np.float32), (seg > 0).astype(np.float32)
    corr = np.fft.irfft2(np.fft.rfft2(b) * np.conj(np.fft.rfft2(a)), s=a.shape)
    peak = np.array(np.unravel_index(int(np.argmax(corr)), corr.shape))
    size = np.array(a.shape)
    return np.where(peak > size // 2, peak - size, peak)


def _linked_share(inter: np.ndarray, area_p: np.ndarray, area_s: np.ndarray, min_iou: float) -> float:
    """Share of the previous particles that overlap some current object by at least `min_iou`."""
    present = np.nonzero(area_p[1:])[0] + 1
    if not len(present):
        return 1.0
    iou = inter[present] / np.maximum(area_p[present, None] + area_s[None, :] - inter[present], 1)
    return float((iou.max(1) >= min_iou).mean())


#: Pixels around a touching pair that `neck_depths` looks at (the support 3-6 px out).
NECK_MARGIN = 8
#: Least contrast between a pair's interior and its support, in the support's noise levels
#: (robust spread), for `neck_depths` to measure the contact: below it the ratio is noise.
NECK_CONTRAST = 3.0
_EIGHT = np.ones((3, 3), bool)


def neck_shares(labels: np.ndarray, area: np.ndarray) -> dict[tuple[int, int], float]:
    """{(a, b): contact length / the smaller one's equivalent diameter} for every pair of
    touching particles in `labels` (`area`: pixels per label)."""
    diameter = 2.0 * np.sqrt(np.asarray(area, float) / np.pi)
    return {(a, b): n / max(min(diameter[a], diameter[b]), 1.0) for (a, b), n in touching_pairs(labels).items()}


def neck_depths(image: np.ndarray, labels: np.ndarray, pairs: Iterable[tuple[int, int]]) -> dict[tuple[int, int], float]:
    """{(a, b): how dark the pixels along a and b's contact are, as a share of the way from
    the support around the pair (median, 3-6 px out) to the pair's interior (median, more
    than 3 px in)}: about 1 where the contact is as dark as the particles, 0 where it is as
    the support. Either polarity (the ratio's sign cancels); `image` is the 2-D frame the
    labels came from, smoothed by 1 px against shot noise. A pair whose interior stands
    less than NECK_CONTRAST noise levels from its support gets no depth: the ratio would
    divide by noise."""
    depths = {}
    boxes = ndi.find_objects(labels)  # one pass over the frame, however many pairs
    for a, b in pairs:
        if not (0 < a <= len(boxes) and 0 < b <= len(boxes)) or boxes[a - 1] is None or boxes[b - 1] is None:
            continue
        box = tuple(slice(max(min(sa.start, sb.start) - NECK_MARGIN, 0), max(sa.stop, sb.stop) + NECK_MARGIN)
                    for sa, sb in zip(boxes[a - 1], boxes[b - 1], strict=True))
        crop, grey = labels[box], ndi.gaussian_filter(np.asarray(image[box], np.float32), 1.0)
        in_a, in_b = crop == a, crop == b
        contact = (in_a & ndi.binary_dilation(in_b, _EIGHT)) | (in_b & ndi.binary_dilation(in_a, _EIGHT))
        pair = in_a | in_b
        interior = ndi.binary_erosion(pair, iterations=3)
        support = ndi.binary_dilation(pair, iterations=NECK_MARGIN - 2) & ~ndi.binary_dilation(crop > 0, iterations=2)
        if not contact.any() or not support.any():
            continue
        around = grey[support]
        level = float(np.median(around))
        span = level - float(np.median(grey[interior if interior.any() else pair]))
        noise = robust_spread(around, level)
        if abs(span) > NECK_CONTRAST * noise:
            depths[(a, b)] = (level - float(np.median(grey[contact]))) / span
    return depths


def _dark(necks: list[tuple[float, float | None]], level: float) -> bool:
    """Whether any of a frame's (share, depth) contacts is at least `level` as dark as the
    particles (a depth of None: not measured)."""
    return any(depth is not None and depth >= level for _, depth in necks)


def _neck(contact: tuple[float, float | None] | None, level: float, stretch: float = 1.0) -> bool:
    """Whether a pair's (share, depth) contact is a neck: NECK_FUSION_SHARE or more of the
    smaller one's diameter once the share is divided by `stretch` (`_edge_count_stretch`),
    measured at least `level` as dark as the particles."""
    return (contact is not None and contact[0] >= NECK_FUSION_SHARE * stretch
            and contact[1] is not None and contact[1] >= level)


def _edge_count_stretch(cy: np.ndarray, cx: np.ndarray, pair: tuple[int, int]) -> float:
    """How much longer than it is a contact reads in pixel edges (`touching_pairs`): |cos| +
    |sin| of its direction, across the line between the pair's centroids (1 along the axes,
    1.41 at 45 degrees: a pair overlapping a little read 0.56 of a diameter upright and 0.77
    at 45 degrees)."""
    a, b = pair
    dy, dx = float(cy[b] - cy[a]), float(cx[b] - cx[a])
    length = float(np.hypot(dy, dx))
    return (abs(dy) + abs(dx)) / length if length else 1.0


def _pale(necks: list[tuple[float, float | None]]) -> bool:
    """Whether a frame's contacts were all measured, and all less than ONSET_MATERIAL_DEPTH as
    dark as the particles: a blurred gap between particles closing in, not a neck."""
    return bool(necks) and all(depth is not None and depth < ONSET_MATERIAL_DEPTH for _, depth in necks)


def _material_onset(necks_by_frame: list[tuple[int, list[tuple[float, float | None]]]], start: int) -> int:
    """The first frame from `start` on (of a merge's (t, contacts) `necks_by_frame`) in which
    the parents touched along a contact ONSET_MATERIAL_DEPTH or more as dark as the
    particles, and still did in the next frame (a single dark reading may be noise); `start`
    where none did. Only frames measured pale are passed over: one whose contact could not
    be measured (no image, too little contrast, no contact) ends the reading at `start`.
    Frames up to the one before the confirmation are read (the last one's contacts are not
    measured yet)."""
    merged = [(t, necks) for t, necks in necks_by_frame if t >= start]
    if not merged or merged[0][0] != start:  # the merge's first frame not recorded (a state saved before)
        return start
    dark = [_dark(necks, ONSET_MATERIAL_DEPTH) for _, necks in merged]
    for i, (t, necks) in enumerate(merged):
        if all(depth is None for _, depth in necks):
            return start
        if all(dark[i : i + 2]):
            return t
    return start

def _frame_like(image: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """`image` as the 2-D grey frame `labels` were segmented from (colour collapsed as the
    models do), or a clear error when it is not that frame."""
    grey = as_2d_gray(image)
    if grey.shape != labels.shape:
        raise TemsegError(f"the frame handed to the linker is {grey.shape}, its labels {labels.shape}: "
                          "pass the image the labels were segmented from")
    return grey


def _cropped_solidity(region: np.ndarray) -> float:
    """`solidity` of one object's mask, computed on its bounding box."""
    box = ndi.find_objects(region.astype(np.uint8))[0]
    return solidity(region[box])


def _rejoin_fragments(seg: np.ndarray, inter: np.ndarray, area_s: np.ndarray) -> np.ndarray:
    """Undo an over-split: adjacent pieces lying inside one previous particle become one object.

    Particles do not divide, so pieces of one particle that touch each other are a
    watershed split caused by noise, not two particles.
    """
    inside = inter / np.maximum(area_s[None, :], 1) >= 0.6
    remap = None
    for p in np.nonzero(inside.sum(1) >= 2)[0]:
        pieces = np.nonzero(inside[p])[0]
        union = np.isin(seg, pieces)
        if ndi.label(union, structure=np.ones((3, 3)))[1] != 1:
            continue
        if remap is None:
            remap = np.arange(len(area_s), dtype=seg.dtype)
        remap[pieces] = pieces[0]
    if remap is None:
        return seg
    _, dense = np.unique(remap, return_inverse=True)
    return dense.astype(seg.dtype)[seg]


@dataclass
class Linker:
    """Stateful linker: `push(labels)` per frame, then `flush()`; both return tracked frames.

    date_by_neck: read contacts as necks: date a fusion to a neck the segmentation still
    split (`_contact_onset`) and confirm a wide dark one as a fusion (`_fuse_along_necks`);
    off for prompt propagation, whose masks keep touching particles apart by construction,
    so a long contact there says nothing about a neck."""

    options: LinkOptions = field(default_factory=LinkOptions)
    next_id: int = 1
    events: list[dict] = field(default_factory=list)
    skipped: list[dict] = field(default_factory=list)  # {frame, reason} of frames not linked
    date_by_neck: bool = True
    _t: int = -1
    _prev: np.ndarray | None = None
    _drift: np.ndarray = field(default_factory=lambda: np.zeros(2))
    _pending: dict = field(default_factory=dict)  # frozenset(parents) -> _Pending
    _lost: dict = field(default_factory=dict)  # track id -> _Lost
    _buffer: deque = field(default_factory=deque)  # (t, tracked labels) not yet handed out
    _born: dict = field(default_factory=dict)  # track id -> first frame
    _prev_stats: tuple = ()  # area, cy, cx of the previous tracked frame
    _contacts: deque = field(default_factory=deque)  # (t, {(a, b): (neck share, depth or None)}) of recent frames

    @property
    def last_labels(self) -> np.ndarray | None:
        """The most recent tracked frame (None before the first push)."""
        return self._prev

    def state(self) -> tuple[dict, dict[str, np.ndarray]]:
        """Everything needed to continue later: (JSON-able fields, arrays). See `restore`."""
        fields = {
            "options": self.options.__dict__,
            "next_id": self.next_id,
            "events": self.events,
            "skipped": self.skipped,
            "date_by_neck": self.date_by_neck,
            "t": self._t,
            "drift": [float(v) for v in self._drift],
            "pending": [[sorted(p.parents), p.start, p.seen, p.last, p.earliest, p.run_start, list(p.solidity)]
                        for p in self._pending.values()],
            "lost": {str(k): [v.frame, float(v.y), float(v.x), v.area] for k, v in self._lost.items()},
            "born": {str(k): v for k, v in self._born.items()},
            "buffer_frames": [t for t, _ in self._buffer],
            "contacts": [[t, [[a, b, *neck] for (a, b), neck in pairs.items()]] for t, pairs in self._contacts],
        }
        arrays = {f"buffer_{i}": frame for i, (_, frame) in enumerate(self._buffer)}
        if self._prev is not None:
            arrays["prev"] = self._prev
        return fields, arrays

    @classmethod
    def restore(cls, fields: dict, arrays: dict[str, np.ndarray]) -> Linker:
        """A linker in exactly the state `state()` saved."""
        linker = cls(LinkOptions(**fields["options"]), next_id=fields["next_id"], events=list(fields["events"]),
                     skipped=list(fields.get("skipped", [])), date_by_neck=fields.get("date_by_neck", True))
        linker._t = fields["t"]
        linker._drift = np.array(fields["drift"], dtype=float)
        linker._pending = {
            frozenset(p): _Pending(frozenset(p), start, seen, last, *rest[:2] or (start, start),
                                   tuple(rest[2]) if len(rest) > 2 else ())
            for p, start, seen, last, *rest in fields["pending"]
        }
        linker._lost = {int(k): _Lost(*v) for k, v in fields["lost"].items()}
        linker._born = {int(k): v for k, v in fields["born"].items()}
        linker._contacts = deque((t, {(a, b): (n, depth[0] if depth else None) for a, b, n, *depth in pairs})
                                 for t, pairs in fields.get("contacts", []))
        linker._buffer = deque(
            (t, np.array(arrays[f"buffer_{i}"])) for i, t in enumerate(fields["buffer_frames"])
        )
        if "prev" in arrays:
            last = linker._buffer[-1] if linker._buffer else None
            # The newest buffered frame *is* the previous frame: keep them one object, as in a live run.
            linker._prev = last[1] if last is not None and last[0] == linker._t else np.array(arrays["prev"])
            linker._prev_stats = label_stats(linker._prev)
        return linker

    def seed(self, tracked: np.ndarray, t: int, next_id: int) -> None:
        """Start from an already tracked frame `t` (a user's keyframe): its IDs are kept
        and count as established particles."""
        self._t = t
        self._prev = np.asarray(tracked, dtype=np.uint32)
        self._prev_stats = label_stats(self._prev)
        self.next_id = max(next_id, int(self._prev.max()) + 1)
        self._born = {int(i): t - self.options.fusion_min_frames for i in np.unique(self._prev) if i}

    def push(self, instances: np.ndarray, image: np.ndarray | None = None) -> list[tuple[int, np.ndarray]]:
        """Link one frame of instance labels (uint, 0 = background); return finished frames.
        `image`: the frame they were segmented from, which dates fusions better (`neck_depths`)."""
        seg = np.asarray(instances)
        frame = _frame_like(image, seg) if image is not None and self.date_by_neck else None  # checked before linking
        self._t += 1
        tracked = self._link(seg) if self._prev is not None else self._fresh(seg)
        self._prev = tracked
        self._prev_stats = label_stats(tracked)
        if self.date_by_neck:  # the only reader of the contacts
            shares = neck_shares(tracked, self._prev_stats[0])
            depths = neck_depths(frame, tracked, shares) if frame is not None else {}
            self._contacts.append((self._t, {pair: (share, depths.get(pair)) for pair, share in shares.items()}))
            while len(self._contacts) > self._held_frames():  # a fusion relabels buffered frames only
                self._contacts.popleft()
        return self._hand_out(tracked)

    def skip(self, shape: tuple[int, ...], reason: str) -> list[tuple[int, np.ndarray]]:
        """A frame with nothing to link (blank, unreadable): it gets empty labels and is listed
        in `skipped`; tracking goes on from the frame before it, as if it had not been
        recorded (particles missing for it count one frame towards `max_gap`). Returns
        finished frames, as `push`."""
        self._t += 1
        self.skipped.append({"frame": self._t, "reason": reason})
        return self._hand_out(np.zeros(shape, np.uint32))

    def _hand_out(self, tracked: np.ndarray) -> list[tuple[int, np.ndarray]]:
        """Buffer this frame; hand out the frames old enough that no fusion can relabel them."""
        self._buffer.append((self._t, tracked))
        out = []
        while len(self._buffer) > self._held_frames():
            out.append(self._buffer.popleft())
        return out

    def _held_frames(self) -> int:
        """How many tracked frames wait in the buffer: enough for a fusion to relabel them
        back to its onset (`fusion_min_frames`, or ROUNDING_WAIT for its rounding, to confirm
        it; ONSET_LOOKBACK before that)."""
        return max(self.options.fusion_min_frames, ROUNDING_WAIT) + 1 + ONSET_LOOKBACK

    def flush(self) -> list[tuple[int, np.ndarray]]:
        """Hand out every buffered frame (call after the last frame). A merge still on in the
        last linked frame that has rounded up is a fusion though it lasted fewer than
        `fusion_min_frames`: the video ended, not the merge (a fusion 5 frames before the end
        of a clip was dropped, and the particle it made went on as its two parents). So is a
        wide dark neck that lasted to the end (`_fuse_along_necks`): the video ended before
        the parents rounded up."""
        end = self._last_linked_frame(before=self._t + 1)
        for key, pending in list(self._pending.items()):
            if pending.last == end and pending.rounded():
                self._confirm(pending)
                del self._pending[key]
        if self.date_by_neck and self._prev is not None:
            self._fuse_along_necks(self._prev)
        out = list(self._buffer)
        self._buffer.clear()
        return out

    # -- one step ---------------------------------------------------------------------------

    def _fresh(self, seg: np.ndarray) -> np.ndarray:
        """IDs for the first frame's particles. They were there before the video began, so they
        count as established (`_established`) once seen FIRST_SEEN frames, not
        `fusion_min_frames`: a short clip of a fusion loses nothing, and a particle the
        segmentation cut in two in the first frame alone is still absorbed, not a fusion."""
        ids = np.unique(seg[seg > 0])
        lut = np.zeros(int(seg.max()) + 1, np.uint32)
        for s in ids:
            lut[s] = self._new_id()
            self._born[int(lut[s])] = self._t - max(self.options.fusion_min_frames - FIRST_SEEN, 0)
        return lut[seg]

    def _new_id(self) -> int:
        tid = self.next_id
        self.next_id += 1
        self._born[tid] = self._t
        return tid

    def _established(self, tid: int) -> bool:
        """Only particles seen for a while can fuse; a short-lived fragment is absorbed instead."""
        return self._t - self._born.get(tid, self._t) >= self.options.fusion_min_frames

    def _link(self, seg: np.ndarray) -> np.ndarray:
        shift = np.round(self._drift).astype(int)
        prev = _shift(self._prev, *shift)
        inter, area_p, area_s = overlap_counts(prev, seg)
        drift, jump = self._drift, np.zeros(2)
        share = _linked_share(inter, area_p, area_s, self.options.min_iou)
        if (area_p[1:] > 0).sum() >= 3 and share < JUMP_SHARE:
            moved_by = _mask_shift(self._prev, seg)
            if np.any(moved_by != shift):
                moved = _shift(self._prev, *moved_by)
                candidate = overlap_counts(moved, seg)
                if _linked_share(*candidate, self.options.min_iou) > share:
                    prev, (inter, area_p, area_s), jump = moved, candidate, (moved_by - shift).astype(float)
        seg = _rejoin_fragments(seg, inter, area_s)
        if seg.max() < len(area_s) - 1:
            inter, area_p, area_s = overlap_counts(prev, seg)
        seg_stats = label_stats(seg, len(area_s) - 1)
        share, absorbed = self._find_merges(inter, area_p, area_s)
        lut = np.zeros(len(area_s), np.uint32)
        rows, cols = self._assign(inter, area_p, area_s, share, absorbed)
        lut[cols] = rows
        for s, parent in absorbed.items():
            lut[s] = parent
        for s, parent in self._pieces_of_merging(inter, area_s, share, lut).items():
            lut[s] = parent
        self._update_drift(seg_stats, rows, cols)
        if jump.any():  # a one-off jump, not the stage's steady drift; it carried lost particles too
            self._drift = drift
            for lost in self._lost.values():
                lost.y, lost.x = lost.y + jump[0], lost.x + jump[1]
        matched = set(rows.tolist()) | set(absorbed.values())
        matched |= {int(p) for ps in share.values() for p in ps}
        self._close_gaps(seg_stats, lut, share)
        tracked = lut[seg]
        self._resolve_merges(prev, seg, tracked, share)
        self._remember_lost(matched, jump)
        return tracked

    def _find_merges(self, inter, area_p, area_s) -> tuple[dict, dict]:
        """Objects covering most of two or more previous particles.

        share: seg id -> established parents (a possible fusion); absorbed: seg id ->
        the particle that swallowed a short-lived fragment (no fusion).
        """
        cover = inter / np.maximum(area_p[:, None], 1)
        share, absorbed = {}, {}
        for s in np.nonzero((cover >= self.options.parent_fraction).sum(0) >= 2)[0]:
            parents = np.nonzero(cover[:, s] >= self.options.parent_fraction)[0]
            grown = [int(p) for p in parents if self._established(int(p))]
            if len(grown) >= 2:
                share[s] = np.array(grown)
            else:
                absorbed[s] = int(max(parents, key=lambda p: (int(p) in grown, area_p[p])))
        return share, absorbed

    def _assign(self, inter, area_p, area_s, share, absorbed) -> tuple[np.ndarray, np.ndarray]:
        """One-to-one links by maximum total IoU among the objects not in a merge."""
        iou = inter / np.maximum(area_p[:, None] + area_s[None, :] - inter, 1)
        busy_cols = list(share) + list(absorbed)
        busy_rows = [int(p) for ps in share.values() for p in ps] + list(absorbed.values())
        iou[:, busy_cols] = 0.0
        iou[busy_rows, :] = 0.0
        rows_any = np.nonzero(iou.max(1) >= self.options.min_iou)[0]
        cols_any = np.nonzero(iou.max(0) >= self.options.min_iou)[0]
        sub = iou[np.ix_(rows_any, cols_any)]
        r, c = linear_sum_assignment(-sub)
        keep = sub[r, c] >= self.options.min_iou
        return rows_any[r[keep]], cols_any[c[keep]]

    @staticmethod
    def _pieces_of_merging(inter, area_s, share, lut) -> dict[int, int]:
        """{unlinked object: the particle it lies in}: objects with PIECE_SHARE or more of their
        pixels inside one particle that a merge took this frame (`_assign` links no other
        object to it) are pieces of it and keep its ID: particles do not divide. A fused
        child still drawn as its two parents, one of them joined to a neighbour, had its
        other half take a new ID, which then 'fused' with the child."""
        merging = {int(p) for parents in share.values() for p in parents}
        pieces = {}
        for s in np.nonzero(area_s)[0][1:]:
            if lut[s] or s in share:
                continue
            p = int(np.argmax(inter[:, s]))
            if p in merging and inter[p, s] >= PIECE_SHARE * area_s[s]:
                pieces[int(s)] = p
        return pieces

    def _update_drift(self, seg_stats, rows, cols) -> None:
        """Median displacement of linked particles = the stage drift for the next frame."""
        if len(rows) < 3:
            return
        _, py, px = self._prev_stats
        _, sy, sx = seg_stats
        self._drift = np.array([np.median(sy[cols] - py[rows]), np.median(sx[cols] - px[rows])])

    def _remember_lost(self, matched: set, jump: np.ndarray) -> None:
        """Particles of the previous frame that found no successor wait `max_gap` frames, at
        their last place (moved by this frame's stage `jump`, if any)."""
        area, cy, cx = self._prev_stats
        for tid in np.nonzero(area)[0][1:]:
            if int(tid) not in matched:
                self._lost[int(tid)] = _Lost(self._t - 1, cy[tid] + jump[0], cx[tid] + jump[1], int(area[tid]))
        self._lost = {k: v for k, v in self._lost.items() if self._t - v.frame <= self.options.max_gap}

    def _close_gaps(self, seg_stats, lut, share) -> None:
        """Give unmatched objects a lost track's ID when it is near and of similar size, else a new ID."""
        area, cy, cx = seg_stats
        for s in np.nonzero(area)[0][1:]:
            if lut[s] or s in share:
                continue
            best, best_d = 0, self.options.max_jump
            for tid, lost in self._lost.items():
                gap = self._t - lost.frame
                d = np.hypot(cy[s] - lost.y - self._drift[0] * gap, cx[s] - lost.x - self._drift[1] * gap)
                if d < best_d and 1 / GAP_AREA_RATIO <= area[s] / max(lost.area, 1) <= GAP_AREA_RATIO:
                    best, best_d = tid, d
            if best:
                lut[s] = best
                del self._lost[best]
            else:
                lut[s] = self._new_id()

    def _resolve_merges(self, prev, seg, tracked, share) -> None:
        """Share merged objects among parents; confirm a fusion once it has lasted long enough."""
        still = {}
        before = self._last_linked_frame()  # the same for every merge of this frame
        for s, parents in share.items():
            key = frozenset(int(p) for p in parents)
            pending = self._pending.get(key) or next(
                (p for k, p in self._pending.items() if k < key), None
            )
            if pending is None:
                pending = _Pending(key, self._t, 0, earliest=before + 1, run_start=self._t)
            run_start = pending.run_start if pending.last >= before else self._t  # apart in between: a new run
            region = seg == s
            pending = _Pending(key, pending.start, pending.seen + 1, self._t, pending.earliest, run_start,
                               pending.shapes_with(key, _cropped_solidity(region)))
            if pending.seen >= self.options.fusion_min_frames and pending.rounded():
                child = self._confirm(pending)
                tracked[region | np.isin(tracked, list(key))] = child  # with pieces of the parents
                continue
            tracked[region] = nearest_parent(prev, region, list(key))
            still[key] = pending
        # A merge may flicker apart for a frame while the neck is still narrow: keep it a while.
        for key, pending in self._pending.items():
            if key not in still and self._t - pending.last <= 2:
                still[key] = pending
        self._pending = still

    def _fuse_along_necks(self, tracked: np.ndarray) -> None:
        """Confirm as fusions the pairs (or groups: a chain of three, or the merge a pair's neck
        lies in) of established particles whose contact has been a dark neck (NECK_FUSION_SHARE,
        ONSET_NECK_DEPTH) in each of the last `fusion_min_frames` linked frames, whether the
        segmentation split them there or drew them as one object (shared out among them: a
        merge that does not round up, as a neck growing between parents that stay put). Not
        particles cut by the frame's border: their diameters, and so the neck's share, are
        unknown (two particles entering side by side read as a wide neck). `tracked` (this
        frame) is relabelled too."""
        n = self.options.fusion_min_frames
        recent = list(self._contacts)[-n:]
        if len(recent) < n:
            return
        edge = set(border_labels(tracked).tolist())
        _, cy, cx = self._prev_stats
        necked = [pair for pair in recent[-1][1]
                  if all(self._established(tid) and tid not in edge for tid in pair)
                  and all(_neck(contacts.get(pair), ONSET_NECK_DEPTH, _edge_count_stretch(cy, cx, pair))
                          for _, contacts in recent)]
        merged_now = [tuple(key) for key, pending in self._pending.items() if pending.last == self._t]
        joined = necked + [key for key in merged_now if any(set(pair) <= set(key) for pair in necked)]
        parent = {tid: tid for group in joined for tid in group}
        for first, *rest in joined:  # a neck inside a merge of three: the merge's parents all fuse
            for tid in rest:
                parent[find_root(parent, tid)] = find_root(parent, first)
        groups: dict[int, list[int]] = {}
        for tid in parent:
            groups.setdefault(find_root(parent, tid), []).append(tid)
        for group in groups.values():
            start = recent[0][0]
            child = self._confirm(_Pending(frozenset(group), start, n, self._t, start, start))
            tracked[np.isin(tracked, group)] = child
            self._prev_stats = label_stats(tracked)
            for key in [key for key in self._pending if key & set(group)]:
                del self._pending[key]

    def _last_linked_frame(self, before: int | None = None) -> int:
        """The last frame linked before frame `before` (default: this one); skipped frames
        are not linked."""
        skipped = {s["frame"] for s in self.skipped}
        t = (self._t if before is None else before) - 1
        while t in skipped:
            t -= 1
        return t

    def _confirm(self, pending: _Pending) -> int:
        """Record the fusion and relabel the buffered frames since first contact."""
        child = self._new_id()
        oldest = self._buffer[0][0] if self._buffer else self._t
        parents = sorted(pending.parents)
        onset = self._contact_onset(parents, pending.start) if self.date_by_neck else pending.start
        start = max(onset, oldest)
        for t, frame in self._buffer:
            if t >= start:
                frame[np.isin(frame, parents)] = child
        # How sure the onset is: contact happened in [onset_earliest, onset_latest], after the
        # parents were last seen apart and no later than the start of the merge that lasted.
        self.events.append({"frame": start, "parents": parents, "child": child,
                            "onset_earliest": min(pending.earliest, start), "onset_latest": max(pending.run_start, start)})
        # A fusion is confirmed some frames after its onset, and a later onset can be confirmed
        # first: the events are kept in the order of their onsets, as tables and reviews list them.
        self.events.sort(key=lambda event: event["frame"])
        return child

    def _contact_onset(self, parents: list[int], start: int) -> int:
        """The frame a fusion first seen merged at `start` began: the earlier of two readings
        of the frames just before it, where either applies. The outline: the parents touched
        along a neck, the first of an unbroken run of at least ONSET_MIN_RUN frames in which
        their neck was ONSET_CONTACT_SHARE or more of the last one and not measured pale
        (`_pale`: in a noisy video the outline joins particles still a blurred gap apart). The image: the first of
        an unbroken run of frames in which they touched along a contact ONSET_NECK_DEPTH or
        more as dark as the particles. Where neither applies, the image's reading of the
        merged frames (`_material_onset`)."""
        pairs = list(combinations(parents, 2))  # parents sorted: keys as `touching_pairs` writes them
        necks_by_frame = [(t, [contacts[pair] for pair in pairs if pair in contacts]) for t, contacts in self._contacts]
        recent = [frame for frame in reversed(necks_by_frame) if frame[0] < start]  # newest first
        shares = [max((share for share, _ in necks), default=0.0) for _, necks in recent]
        onset = start
        if shares and shares[0] >= ONSET_MIN_NECK:
            neck = (share >= ONSET_CONTACT_SHARE * shares[0] and not _pale(necks)
                    for share, (_, necks) in zip(shares, recent, strict=True))
            run = len(list(takewhile(bool, neck)))
            if run >= ONSET_MIN_RUN:
                onset = recent[run - 1][0]
        dark = len(list(takewhile(lambda frame: _dark(frame[1], ONSET_NECK_DEPTH), recent)))
        onset = min(onset, recent[dark - 1][0]) if dark else onset
        return onset if onset < start else _material_onset(necks_by_frame, start)

