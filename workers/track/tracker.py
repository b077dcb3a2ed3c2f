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
"""
from __future__ import annotations

import numpy as np
from scipy.optimize import linear_sum_assignment

from ..detect.blazepose import DET_COLS, person_boxes
from ..detect.nms import box_iou
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


def association_cost(rows: list[dict[int, np.ndarray]], last: list[int], alive: list[int], dets: np.ndarray,
                     t: int, min_iou: float) -> np.ndarray:
    """(len(alive), len(dets)) cost of continuing each live track with each detection; REFUSED where refused."""
    preds = [predicted(rows[k], t) for k in alive]
    cost, iou_body = iou_cost(np.stack([p[0] for p in preds]), dets)
    side_pred = np.array([p[1] for p in preds])
    _, side_det = body_points(dets)
    scale_jump = np.abs(side_det[None, :] - side_pred[:, None])
    scale_max = np.array([allowances(t - last[k])[1] for k in alive])[:, None]
    cost = cost + SCALE_WEIGHT * scale_jump / scale_max
    return np.where((iou_body >= min_iou) & (scale_jump <= scale_max), cost, REFUSED)


def track(per_frame: list[np.ndarray], min_iou: float = 0.2, max_gap: int = 15, min_frames: int = 5
          ) -> tuple[np.ndarray, np.ndarray]:
    """per_frame[t]: detections (N_t, 9). Returns tracks (K, T, 9) float32 (NaN where absent) and
    observed (K, T) bool. Tracks are ordered by first frame, then by detection score."""
    T = len(per_frame)
    rows: list[dict[int, np.ndarray]] = []     # track -> {frame: detection}
    last: list[int] = []
    for t, dets in enumerate(per_frame):
        alive = [k for k in range(len(rows)) if t - last[k] <= max_gap + 1]
        matched_dets: set[int] = set()
        if alive and len(dets):
            cost = association_cost(rows, last, alive, dets, t, min_iou)
            r, c = linear_sum_assignment(cost)
            for i, j in zip(r, c):
                if cost[i, j] < REFUSED:
                    k = alive[i]
                    rows[k][t] = dets[j]
                    last[k] = t
                    matched_dets.add(j)
        for j in range(len(dets)):
            if j not in matched_dets:
                rows.append({t: dets[j]})
                last.append(t)
    rows = [r for r in rows if len(r) >= min_frames]
    tracks = np.full((len(rows), T, DET_COLS), np.nan, dtype=np.float32)
    observed = np.zeros((len(rows), T), dtype=bool)
    for k, r in enumerate(rows):
        frames = np.array(sorted(r))
        tracks[k, frames] = np.stack([r[f] for f in frames])
        observed[k, frames] = True
        _bridge(tracks[k], frames)
    return tracks, observed


def _bridge(tr: np.ndarray, frames: np.ndarray) -> None:
    """Linear interpolation inside the track's own gaps (the matcher already limited them to max_gap)."""
    if len(frames) < 2:
        return
    span = np.arange(frames[0], frames[-1] + 1)
    for col in range(tr.shape[1]):
        tr[span, col] = np.interp(span, frames, tr[frames, col])
