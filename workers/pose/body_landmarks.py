"""BlazePose body landmarks on a given region of interest, without a person detector: MediaPipe's video-mode
idea (each frame's ROI from the previous frame's landmarks) made available for many people at once.

The bundled `pose_landmark_full.tflite` (mediapipe 0.10.21) runs directly through ai-edge-litert. Input: the ROI
warped to 256x256 RGB in [0, 1]; outputs: 39 landmarks x (x, y, z, visibility logit, presence logit) in input
pixels — the 33 body points, then two auxiliary points (33: the body centre, 34: a point on the circle enclosing
the body, the same pair the BlazePose person detector outputs as its keypoints 0 and 1) — a pose-presence
score, and 33 metric world points (in the ROI's upright frame: turned back by the ROI's angle, as MediaPipe does).

ROI (`Roi`): a rotated square in frame pixels, built as MediaPipe does from the pair (centre, circle point):
side = 2 x their distance x 1.25, rotated so the centre -> circle-point direction points up. From a detection
(`roi_from_points(hip, circle)`) or from the last landmarks (aux points 33/34) for the next frame.

`BodyLandmarker(frame, roi)` -> `Landmarks` (points (33, 3) x, y, visibility in frame pixels; aux (2, 2); world
(33, 4); presence). Deterministic: same frame, same ROI, same result.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np
from scipy.special import expit

from ..mediapipe_files import model_file

INPUT = 256
ROI_SCALE = 1.25


@dataclass(frozen=True)
class Roi:
    cx: float
    cy: float
    side: float
    angle: float        # radians, rotation of the ROI's up axis from the frame's

    def to_frame(self, uv: np.ndarray, size: int = INPUT) -> np.ndarray:
        """Points in the pixels of the ROI warped to `size` x `size` (N, 2) -> frame pixels."""
        d = (uv / size - 0.5) * self.side
        c, s = math.cos(self.angle), math.sin(self.angle)
        return np.stack([self.cx + d[:, 0] * c - d[:, 1] * s, self.cy + d[:, 0] * s + d[:, 1] * c], 1)

    def affine(self, size: int = INPUT) -> np.ndarray:
        """2x3 matrix mapping the pixels of the ROI warped to `size` x `size` to frame pixels (for
        cv2.warpAffine with WARP_INVERSE_MAP)."""
        k = self.side / size
        c, s = math.cos(self.angle) * k, math.sin(self.angle) * k
        tx = self.cx - (c * size / 2 - s * size / 2)
        ty = self.cy - (s * size / 2 + c * size / 2)
        return np.array([[c, -s, tx], [s, c, ty]], dtype=np.float64)

    def warp(self, frame: np.ndarray, size: int = INPUT) -> np.ndarray:
        """The ROI as a `size` x `size` image (bilinear; black past the frame's edge, as MediaPipe pads)."""
        return cv2.warpAffine(frame, self.affine(size), (size, size), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                              borderMode=cv2.BORDER_CONSTANT, borderValue=(0, 0, 0))

    def scaled(self, k: float) -> "Roi":
        return Roi(self.cx, self.cy, self.side * k, self.angle)

    def shifted(self, dy: float) -> "Roi":
        """The ROI moved by `dy` x its side along its own up-down axis (MediaPipe's `shift_y`)."""
        c, s = math.cos(self.angle), math.sin(self.angle)
        return Roi(self.cx - dy * self.side * s, self.cy + dy * self.side * c, self.side, self.angle)


def rotated_up(start, end, target: float = math.pi / 2) -> float:
    """MediaPipe's ROI rotation: the angle that turns start -> end to `target` (radians, y up), in (-pi, pi]."""
    a = target - math.atan2(-(float(end[1]) - float(start[1])), float(end[0]) - float(start[0]))
    return (a + math.pi) % (2 * math.pi) - math.pi


def roi_from_points(centre, circle, scale: float = ROI_SCALE) -> Roi | None:
    """MediaPipe's alignment ROI: square of side 2|circle - centre| x scale, its up axis along centre -> circle."""
    cx, cy = float(centre[0]), float(centre[1])
    r = math.hypot(float(circle[0]) - cx, float(circle[1]) - cy)
    if not np.isfinite(r) or r < 1.0:
        return None
    return Roi(cx, cy, 2 * r * scale, rotated_up(centre, circle))


@dataclass
class Landmarks:
    points: np.ndarray      # (33, 3) x, y in frame pixels, visibility in [0, 1]
    aux: np.ndarray         # (2, 2) body centre and circle point, frame pixels
    world: np.ndarray       # (33, 4) metric x, y, z + visibility
    presence: float         # the model's pose-presence score in [0, 1]

    def next_roi(self) -> Roi | None:
        return roi_from_points(self.aux[0], self.aux[1])


def model_path() -> str:
    return model_file("pose_landmark", "pose_landmark_full.tflite")


class BodyLandmarker:
    """`refine=True` moves each point to the heatmap's local mean, as MediaPipe's pose graph does
    (`refine_heatmap`); the tracker's following runs without it (its ROIs only need the aux points)."""

    def __init__(self, num_threads: int = 1, refine: bool = False):
        from ai_edge_litert.interpreter import Interpreter
        self._interp = Interpreter(model_path=model_path(), num_threads=num_threads)
        self._interp.allocate_tensors()
        self._in = self._interp.get_input_details()[0]["index"]
        outs = {tuple(o["shape"][1:]): o["index"] for o in self._interp.get_output_details()}
        self._lm, self._flag, self._world = outs[(195,)], outs[(1,)], outs[(117,)]
        self._heatmap = outs[(64, 64, 39)] if refine else None

    def __call__(self, frame: np.ndarray, roi: Roi) -> Landmarks:
        crop = roi.warp(frame)
        self._interp.set_tensor(self._in, (crop.astype(np.float32) / 255.0)[None])
        self._interp.invoke()
        raw = self._interp.get_tensor(self._lm)[0].reshape(39, 5)
        flag = float(self._interp.get_tensor(self._flag)[0, 0])
        world = self._interp.get_tensor(self._world)[0].reshape(39, 3)[:33].copy()
        c, s = math.cos(roi.angle), math.sin(roi.angle)    # the model's world frame is the ROI's, upright:
        world[:, :2] = world[:, :2] @ np.array([[c, s], [-s, c]], np.float32)   # turned back like MediaPipe
        uv = raw[:, :2].astype(np.float64)
        if self._heatmap is not None:
            uv[:33] = refine_heatmap(uv[:33] / INPUT, self._interp.get_tensor(self._heatmap)[0]) * INPUT
        xy = roi.to_frame(uv)
        vis = expit(raw[:33, 3])
        points = np.concatenate([xy[:33], vis[:, None]], 1).astype(np.float32)
        w = np.concatenate([world, vis[:, None]], 1).astype(np.float32)
        return Landmarks(points, xy[33:35].astype(np.float32), w, flag)


def refine_heatmap(uv: np.ndarray, heatmap: np.ndarray, kernel: int = 7, min_confidence: float = 0.5) -> np.ndarray:
    """MediaPipe's heatmap refinement (its pose graph: kernel 7, min confidence 0.5): each point (N, 2), in
    ROI units [0, 1], becomes the sigmoid-weighted mean cell position of the `kernel` x `kernel` window of its
    heatmap channel around it (heatmap (H, W, >= N) logits, cells at their top-left corner, window cut at the
    edges), where the window's highest sigmoid reaches `min_confidence`; other points, and points off the
    heatmap, stay as they are."""
    out = uv.copy()
    h, w = heatmap.shape[:2]
    r = (kernel - 1) // 2
    n = len(uv)
    with np.errstate(invalid="ignore"):
        col = np.where(np.isfinite(uv[:, 0]), np.trunc(uv[:, 0] * w), -1).astype(int)   # C++ truncation
        row = np.where(np.isfinite(uv[:, 1]), np.trunc(uv[:, 1] * h), -1).astype(int)
    on = (col >= 0) & (col < w) & (row >= 0) & (row < h)
    # windows cut at the map's edges: padding with -inf logits gives those cells zero weight
    padded = np.pad(heatmap[..., :n].astype(np.float64), ((r, r), (r, r), (0, 0)), constant_values=-np.inf)
    offs = np.arange(-r, r + 1)
    rows = np.clip(row, 0, h - 1)[:, None] + offs + r                  # (n, k) padded indices
    cols = np.clip(col, 0, w - 1)[:, None] + offs + r
    conf = expit(padded[rows[:, :, None], cols[:, None, :], np.arange(n)[:, None, None]])    # (n, k, k)
    total = conf.sum((1, 2))
    ok = on & (conf.max((1, 2)) >= min_confidence) & (total > 0)
    norm = np.where(total > 0, total, 1)
    x = ((cols - r)[:, None, :] * conf).sum((1, 2)) / norm / w       # each window cell's column, row
    y = ((rows - r)[:, :, None] * conf).sum((1, 2)) / norm / h
    out[ok] = np.stack([x, y], 1)[ok]
    return out
