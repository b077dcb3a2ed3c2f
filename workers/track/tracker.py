"""Online multi-person tracking: motion- and scale-aware cost + Hungarian assignment per frame, short gaps
bridged afterwards.

Each live track predicts its detection at frame t by constant velocity: the last observed detection (face box,
hip, body-circle point) shifted by the velocity of its hip and face centre fitted over its last observations
(`switches.predict`, the same prediction the identity-switch measure uses). The cost between a track and a
detection is

    1 - mean(IoU of predicted and detected body boxes, IoU of predicted and detected face boxes)
      + SCALE_WEIGHT x |log side ratio| / scale allowance

Body boxes of two people who stand close overlap a lot, their face boxes rarely do; comparing with where the
track is going (not where it was) keeps two people apart when they cross, and the scale term makes a near
person's track prefer the near person of two overlapping candidates. An assignment is refused when the body
IoU with the prediction is below `min_iou`, or when the body box's scale changed beyond what one body can do in
the elapsed frames (`switches.allowances`: 4/3 in one frame, the rationale is there). At the refusal limit
the scale term is worth half the IoU range (SCALE_WEIGHT = 0.5), so it breaks near-ties without overriding
clear overlaps. A track that missed up to `max_gap` frames can still be matched; the missed frames are then
filled by linear interpolation (`observed` says which frames were detected). Tracks observed in fewer than
`min_frames` frames are dropped.

Frames the detector did not run on (`step(t, None)`: keyframe detection, `workers.track.keyframes`, which
leaves a frame out only inside a window whose people moved on straight lines) are interpolated the same way; the
ones between two detections of a track count as observed for it (the detector vouched for the window).

With `appearance` (and frames given to `step`), each track's torso colour signature is recorded at frames where
it is clear of the others, and `result()` repairs identities across each encounter of two tracks where what
they wear says they left with each other's track (`workers.track.appearance`: why across, not inside, an
encounter); `repairs` lists them.
"""
from __future__ import annotations

import numpy as np
from scipy.optimize import linear_sum_assignment

from ..detect.blazepose import DET_COLS, person_boxes
from ..detect.nms import box_iou
from ..pose.body_landmarks import Landmarks
from . import appearance as look
from .follow import REJOIN_CENTRE, crowded, nearest_body, same_body
from .switches import HISTORY, allowances, body_points, predict

SCALE_WEIGHT = 0.5
REFUSED = 1e6


def iou_cost(prev: np.ndarray, dets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Detections prev (N, 9) x dets (M, 9) -> (1 - mean of body-box and face-box IoU, body-box IoU)."""
    iou_body = box_iou(person_boxes(prev), person_boxes(dets))
    iou_face = box_iou(prev[:, 1:5], dets[:, 1:5])
    return 1.0 - (iou_body + iou_face) / 2.0, iou_body


def predicted(history: dict[int, np.ndarray], t: int) -> tuple[np.ndarray, float]:
    """A track's detection (9,) expected at frame t — its last one moved by the constant-velocity prediction of
    its hip (hip and body-circle point) and face centre (face box), size kept — and its expected log side."""
    frames = np.array(sorted(history)[-HISTORY:])
    dets = np.stack([history[f] for f in frames])
    points, log_sides = body_points(dets)
    pred, log_side = predict(frames, points, log_sides, t)
    shift_hip, shift_face = pred - points[-1]
    out = dets[-1].copy()
    out[[5, 7]] += shift_hip[0]
    out[[6, 8]] += shift_hip[1]
    out[[1, 3]] += shift_face[0]
    out[[2, 4]] += shift_face[1]
    return out, log_side


def association_cost(rows, last, alive: list[int], dets: np.ndarray, t: int, min_iou: float) -> np.ndarray:
    """(len(alive), len(dets)) cost of continuing each live track with each detection; REFUSED where refused.
    rows[k]: {frame: detection} of track k, its recent detections at least (the motion history); last[k]: the
    frame of its last detection."""
    preds = [predicted(rows[k], t) for k in alive]
    cost, iou_body = iou_cost(np.stack([p[0] for p in preds]), dets)
    side_pred = np.array([p[1] for p in preds])
    _, side_det = body_points(dets)
    scale_jump = np.abs(side_det[None, :] - side_pred[:, None])
    scale_max = np.array([allowances(t - last[k])[1] for k in alive])[:, None]
    cost = cost + SCALE_WEIGHT * scale_jump / scale_max
    return np.where((iou_body >= min_iou) & (scale_jump <= scale_max), cost, REFUSED)


class Tracker:
    """Online: `step(t, dets, frame)` for t = 0, 1, ... then `result()`. With a `follower`
    (`workers.track.follow`), a live track the detections did not continue at t, but whose landmarks are known
    at t - 1 (another body overlapped it, or it was already followed), is followed on `frame` by its own
    landmarks; such frames are `followed`, not `observed`."""

    def __init__(self, min_iou: float = 0.2, max_gap: int = 15, min_frames: int = 5, follower=None,
                 appearance: bool = False):
        self.min_iou, self.max_gap, self.min_frames, self.follower = min_iou, max_gap, min_frames, follower
        self.appearance = appearance
        self.looks: list[dict[int, np.ndarray]] = []                    # track -> {clear frame: signature}
        self.repairs: list[dict] = []                                   # identity repairs made by result()
        self.rows: list[dict[int, np.ndarray]] = []     # track -> {frame: detection}
        self.followed: list[set[int]] = []
        self.detected: list[list[int]] = []                             # track -> its detected frames, in order
        self.landmark_rows: dict[int, tuple[int, np.ndarray]] = {}    # track -> (frame, row from landmarks)
        self.poses: list[dict[int, Landmarks]] = []                     # track -> {frame: its landmarks}
        self.kept: list[int] = []
        self.last: list[int] = []
        self.skipped: set[int] = set()                                  # frames the detector did not run on
        self.T = 0

    def step(self, t: int, dets: np.ndarray | None, frame: np.ndarray | None = None) -> None:
        """Frame t's detections (N, 9); None: the detector did not run on t (nothing to associate or follow)."""
        if dets is None:
            self.skipped.add(t)
            self.T = t + 1
            return
        rows, last = self.rows, self.last
        alive = [k for k in range(len(rows)) if t - last[k] <= self.max_gap + 1]
        matched_dets: set[int] = set()
        continued: set[int] = set()
        if alive and len(dets):
            # motion is predicted from detections only: a followed frame is another sensor's estimate of the
            # body centre (the landmark model's), mixing the two would read their offset as velocity
            history = {k: {f: rows[k][f] for f in self.detected[k][-HISTORY:]} for k in alive}
            cost = association_cost(history, {k: self.detected[k][-1] for k in alive}, alive, dets, t,
                                    self.min_iou)
            r, c = linear_sum_assignment(cost)
            for i, j in zip(r, c):
                if cost[i, j] < REFUSED:
                    k = alive[i]
                    rows[k][t] = dets[j]
                    last[k] = t
                    self.detected[k].append(t)
                    matched_dets.add(j)
                    continued.add(k)
        if self.follower is not None and frame is not None:
            self._refresh(t, frame, sorted(continued))
            self._follow(t, frame, [k for k in alive if k not in continued and last[k] == t - 1
                                    and self.landmark_rows.get(k, (None,))[0] == t - 1], dets)
            self._rejoin(t, dets, matched_dets)
        for j in range(len(dets)):
            if j not in matched_dets:
                rows.append({t: dets[j]})
                self.detected.append([t])
                self.followed.append(set())
                self.poses.append({})
                self.looks.append({})
                last.append(t)
        if self.appearance and frame is not None:
            self._record_looks(t, frame)
        self.T = t + 1

    def following(self) -> bool:
        """Whether some track has landmarks at the last frame stepped (refreshed or followed): the next frame is
        needed, with its detections, to go on (keyframe detection asks, `workers.track.keyframes`)."""
        return any(f == self.T - 1 for f, _ in self.landmark_rows.values())

    def _record_looks(self, t: int, frame: np.ndarray) -> None:
        for k, r in enumerate(self.rows):
            if t in r and look.clear(self.rows, k, t):
                sig = look.signature(frame, r[t])
                if sig is not None:
                    self.looks[k][t] = sig.astype(np.float16)      # 256 bytes a clear frame

    def _repair_identities(self, tracks: list[int]) -> None:
        """Exchange two tracks' futures from an encounter's closest frame where appearance says they crossed."""
        for a, i in enumerate(tracks):
            for j in tracks[a + 1:]:
                ri, rj = self.rows[i], self.rows[j]
                if max(min(ri), min(rj)) > min(max(ri), max(rj)):
                    continue
                for first, last in look.encounters(ri, rj):
                    verdict = look.should_swap(self.looks[i], self.looks[j], first, last)
                    if verdict is not None:
                        at = look.closest_frame(ri, rj, first, last)
                        self._swap_from(i, j, at)
                        self.repairs.append({"frame": at, "internal": [i, j], **verdict})

    def _swap_from(self, i: int, j: int, t0: int) -> None:
        for per_track in (self.rows, self.poses, self.looks):
            a, b = per_track[i], per_track[j]
            ta, tb = {f: v for f, v in a.items() if f >= t0}, {f: v for f, v in b.items() if f >= t0}
            for f in ta:
                del a[f]
            for f in tb:
                del b[f]
            a.update(tb)
            b.update(ta)
        fi, fj = self.followed[i], self.followed[j]
        ti, tj = {f for f in fi if f >= t0}, {f for f in fj if f >= t0}
        self.followed[i], self.followed[j] = (fi - ti) | tj, (fj - tj) | ti
        di, dj = self.detected[i], self.detected[j]
        self.detected[i] = [f for f in di if f < t0] + [f for f in dj if f >= t0]
        self.detected[j] = [f for f in dj if f < t0] + [f for f in di if f >= t0]

    def _start(self, k: int, t: int) -> np.ndarray:
        """Where to look for track k at frame t: its landmarks at t - 1 if it has them, else its row at t - 1."""
        lm = self.landmark_rows.get(k)
        return lm[1] if lm is not None and lm[0] == t - 1 else self.rows[k][t - 1]

    def _refresh(self, t: int, frame: np.ndarray, continued: list[int]) -> None:
        """Landmarks at t for detected tracks that have another body close (`follow.crowded`), kept only while
        the track's own detection is the nearest to them of the detections continuing tracks at t (a crowded
        detection may sit between two people, so no fixed distance)."""
        for k in continued:
            det = self.rows[k][t]
            others = [self.rows[j][t - 1] for j in range(len(self.rows)) if j != k and t - 1 in self.rows[j]]
            if t - 1 not in self.rows[k] or not crowded(det, np.array(others).reshape(-1, DET_COLS)):
                self.landmark_rows.pop(k, None)
                continue
            found = self.follower.landmarks(frame, self._start(k, t))
            mine = [self.rows[j][t] for j in continued if j != k]
            if found is not None and nearest_body(found[0], np.array([det] + mine)) == 0:
                self.landmark_rows[k] = (t, found[0])
                self.poses[k][t] = found[1]
            else:
                self.landmark_rows.pop(k, None)

    def _follow(self, t: int, frame: np.ndarray, lost: list[int], dets: np.ndarray) -> None:
        """Follow lost tracks, most evidence first, each refused on a body already taken at t."""
        lost.sort(key=lambda k: -len(self.rows[k]))
        taken = [dets.reshape(-1, DET_COLS)] + [self.rows[k][t][None] for k in range(len(self.rows))
                                               if t in self.rows[k]]
        for k in lost:
            found = self.follower(frame, self._start(k, t), np.concatenate(taken))
            if found is not None:
                row = found[0]
                self.poses[k][t] = found[1]
                self.rows[k][t] = row
                self.followed[k].add(t)
                self.last[k] = t
                self.landmark_rows[k] = (t, row)
                taken.append(row[None])

    def _rejoin(self, t: int, dets: np.ndarray, matched: set[int]) -> None:
        """A detection the association refused that lies on a body followed at t continues that track: the
        detector found the person again, where the landmarks say they are now (a prediction from the last
        detection may be far off after a long follow)."""
        for j in sorted(set(range(len(dets))) - matched, key=lambda j: -dets[j, 0]):
            now = [k for k in range(len(self.rows)) if t in self.followed[k]]
            if not now:
                return
            rows = np.stack([self.rows[k][t] for k in now])
            i = nearest_body(dets[j], rows)
            if same_body(dets[j], rows[i][None], REJOIN_CENTRE):
                k = now[i]
                self.rows[k][t] = dets[j]
                self.detected[k].append(t)
                self.followed[k].discard(t)
                matched.add(j)

    def result(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """tracks (K, T, 9) float32 (NaN where absent), observed (K, T) bool (detected, or vouched for by keyframe
        detection), followed (K, T) bool (found by following). Tracks seen in fewer than min_frames frames are
        dropped; the rest are ordered by first frame, then by detection score; gaps inside a track are bridged."""
        vouched = [self._vouched(r) for r in self.rows]
        long_enough = [k for k, r in enumerate(self.rows) if len(r) + len(vouched[k]) >= self.min_frames]
        if self.appearance:
            self._repair_identities(long_enough)
            vouched = [self._vouched(r) for r in self.rows]
        keep = self.kept = [k for k, r in enumerate(self.rows) if len(r) + len(vouched[k]) >= self.min_frames]
        for rep in self.repairs:              # internal track numbers -> result() rows
            if "internal" in rep:
                rep["tracks"] = [keep.index(k) if k in keep else -1 for k in rep.pop("internal")]
        tracks = np.full((len(keep), self.T, DET_COLS), np.nan, dtype=np.float32)
        observed = np.zeros((len(keep), self.T), dtype=bool)
        followed = np.zeros((len(keep), self.T), dtype=bool)
        for i, k in enumerate(keep):
            r = self.rows[k]
            frames = np.array(sorted(r))
            tracks[i, frames] = np.stack([r[f] for f in frames])
            observed[i, frames] = True
            observed[i, vouched[k]] = True
            if self.followed[k]:
                f = np.array(sorted(self.followed[k]))
                followed[i, f], observed[i, f] = True, False
            _bridge(tracks[i], frames)
        return tracks, observed, followed

    def _vouched(self, rows: dict[int, np.ndarray]) -> list[int]:
        """The skipped frames between two consecutive frames of a track that have rows, all skipped between."""
        frames = sorted(rows)
        return [f for a, b in zip(frames, frames[1:]) if b - a > 1 and all(g in self.skipped for g in range(a + 1, b))
                for f in range(a + 1, b)]

    def landmarks(self, tracks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The landmarks found while refreshing or following, for result() tracks `tracks` (M,): points
        (M, T, 33, 3) = x, y, visibility in frame pixels and world (M, T, 33, 4); NaN (score 0) elsewhere."""
        pts = np.full((len(tracks), self.T, 33, 3), np.nan, np.float32)
        world = np.full((len(tracks), self.T, 33, 4), np.nan, np.float32)
        pts[..., 2], world[..., 3] = 0.0, 0.0
        for i, k in enumerate(tracks):
            for t, lm in self.poses[self.kept[int(k)]].items():
                pts[i, t], world[i, t] = lm.points, lm.world
        return pts, world


def track(per_frame: list[np.ndarray], min_iou: float = 0.2, max_gap: int = 15, min_frames: int = 5
          ) -> tuple[np.ndarray, np.ndarray]:
    """per_frame[t]: detections (N_t, 9). Returns tracks (K, T, 9) float32 (NaN where absent) and
    observed (K, T) bool — detections only, no following."""
    tr = Tracker(min_iou, max_gap, min_frames)
    for t, dets in enumerate(per_frame):
        tr.step(t, dets)
    tracks, observed, _ = tr.result()
    return tracks, observed


def _bridge(tr: np.ndarray, frames: np.ndarray) -> None:
    """Linear interpolation inside the track's own gaps (the matcher already limited them to max_gap)."""
    if len(frames) < 2:
        return
    span = np.arange(frames[0], frames[-1] + 1)
    for col in range(tr.shape[1]):
        tr[span, col] = np.interp(span, frames, tr[frames, col])
