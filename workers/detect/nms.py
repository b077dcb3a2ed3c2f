"""Weighted non-maximum suppression (MediaPipe's WEIGHTED mode): detections of one person are merged into a
score-weighted average instead of discarded, which steadies boxes from frame to frame.

Two detections are taken as one person when their face boxes overlap by more than `iou`, or when their face
centres are closer than `centre_ratio` x the smaller face box's side. The second test matters across views at
different scales: the BlazePose detector's face-box size is not scale-consistent (in a zoomed-out view the same
face comes out about twice as large), so IoU alone would keep both and make one person two tracks. Faces of
two different people, even hugging, are more than a face apart.
"""
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


def same_person(boxes: np.ndarray, iou: float, centre_ratio: float = 0.5) -> np.ndarray:
    """(N, N) bool: face boxes (xyxy) that belong to one person."""
    centre = (boxes[:, :2] + boxes[:, 2:]) / 2
    side = np.minimum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1])
    dist = np.linalg.norm(centre[:, None] - centre[None], axis=-1)
    return (box_iou(boxes, boxes) > iou) | (dist < centre_ratio * np.minimum(side[:, None], side[None]))


def weighted_nms(scores: np.ndarray, boxes: np.ndarray, values: np.ndarray, iou: float) -> np.ndarray:
    """Cluster detections that are the same person as the cluster head (highest score first); each cluster
    becomes the score-weighted mean of its `values` rows (N,D), scored by its head. Returns (K, 1+D)."""
    order = np.argsort(-scores, kind="stable")
    same = same_person(boxes, iou)
    taken = np.zeros(len(scores), dtype=bool)
    out = []
    for head in order:
        if taken[head]:
            continue
        members = np.flatnonzero(same[head] & ~taken)
        taken[members] = True
        w = scores[members][:, None]
        out.append(np.concatenate([[scores[head]], (values[members] * w).sum(0) / w.sum()]))
    return np.array(out, dtype=np.float32).reshape(-1, 1 + values.shape[1])
