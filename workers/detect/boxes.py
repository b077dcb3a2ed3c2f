"""Detections from person boxes, in the tracker's row layout (score, head-region box, hip, body-circle point;
see blazepose.DET_COLS) so every detector feeds the same tracking and cropping.

The body circle is centred on the box centre with radius max(w, h) / 2 (person box side = max(w, h)). The
head region mirrors BlazePose's loose "face box": a square of 0.45 x max(w, h) centred on the head keypoints'
mean when given, else on the top-centre of the box.
"""
from __future__ import annotations

from typing import Optional

import numpy as np

HEAD_SIDE = 0.45


def dets_from_boxes(boxes: np.ndarray, scores: np.ndarray, heads: Optional[np.ndarray] = None) -> np.ndarray:
    boxes = np.asarray(boxes, dtype=np.float32).reshape(-1, 4)
    n = len(boxes)
    if n == 0:
        return np.zeros((0, 9), np.float32)
    w, h = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
    side = np.maximum(w, h)
    cx, cy = (boxes[:, 0] + boxes[:, 2]) / 2, (boxes[:, 1] + boxes[:, 3]) / 2
    hx, hy = cx.copy(), boxes[:, 1] + HEAD_SIDE * side / 2
    if heads is not None:
        ok = np.isfinite(heads).all(1)
        hx[ok], hy[ok] = heads[ok, 0], heads[ok, 1]
    r = HEAD_SIDE * side / 2
    return np.stack([np.asarray(scores, np.float32), hx - r, hy - r, hx + r, hy + r, cx, cy, cx, cy - side / 2],
                    1).astype(np.float32)
