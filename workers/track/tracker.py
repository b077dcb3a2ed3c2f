"""Online multi-person tracking: IoU cost + Hungarian assignment per frame, short gaps bridged afterwards.

Cost between a track and a detection is 1 - mean(IoU of body boxes, IoU of face boxes): body boxes of two
people who stand close overlap a lot, their face boxes rarely do. A track that missed up to `max_gap` frames
can still be matched; the missed frames are then filled by linear interpolation (`observed` says which frames
were detected). Tracks observed in fewer than `min_frames` frames are dropped.
"""
from __future__ import annotations

import numpy as np
from scipy.optimize import linear_sum_assignment

from ..detect.blazepose import DET_COLS, person_boxes
from ..detect.nms import box_iou


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
            prev = np.stack([rows[k][last[k]] for k in alive])
            iou_body = box_iou(person_boxes(prev), person_boxes(dets))
            iou_face = box_iou(prev[:, 1:5], dets[:, 1:5])
            cost = 1.0 - (iou_body + iou_face) / 2.0
            r, c = linear_sum_assignment(cost)
            for i, j in zip(r, c):
                if iou_body[i, j] >= min_iou:
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
