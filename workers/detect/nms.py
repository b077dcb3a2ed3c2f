"""Weighted non-maximum suppression (MediaPipe's WEIGHTED mode): overlapping detections are merged into a
score-weighted average instead of discarded, which steadies boxes from frame to frame."""
from __future__ import annotations

import numpy as np


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU matrix of boxes (N,4) x (M,4), xyxy."""
    x1 = np.maximum(a[:, None, 0], b[None, :, 0])
    y1 = np.maximum(a[:, None, 1], b[None, :, 1])
    x2 = np.minimum(a[:, None, 2], b[None, :, 2])
    y2 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    union = area_a[:, None] + area_b[None, :] - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-9), 0.0)


def weighted_nms(scores: np.ndarray, boxes: np.ndarray, values: np.ndarray, iou: float) -> np.ndarray:
    """Cluster detections whose `boxes` overlap the cluster head by more than `iou`; each cluster becomes the
    score-weighted mean of its `values` rows (N,D), scored by its head. Returns (K, 1+D): score, values."""
    order = np.argsort(-scores, kind="stable")
    remaining = list(order)
    out = []
    ious = box_iou(boxes, boxes)
    while remaining:
        head = remaining[0]
        members = [i for i in remaining if ious[head, i] > iou or i == head]
        w = scores[members][:, None]
        out.append(np.concatenate([[scores[head]], (values[members] * w).sum(0) / w.sum()]))
        remaining = [i for i in remaining if i not in set(members)]
    return np.array(out, dtype=np.float32).reshape(-1, 1 + values.shape[1])
