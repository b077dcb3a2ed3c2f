"""BlazePose body landmarks on a given region of interest, without a person detector: MediaPipe's video-mode
idea (each frame's ROI from the previous frame's landmarks) made available for many people at once.

The bundled `pose_landmark_full.tflite` (mediapipe 0.10.21) runs directly through ai-edge-litert. Input: the ROI
warped to 256x256 RGB in [0, 1]; outputs: 39 landmarks x (x, y, z, visibility logit, presence logit) in input
pixels — the 33 body points, then two auxiliary points (33: the body centre, 34: a point on the circle enclosing
the body, the same pair the BlazePose person detector outputs as its keypoints 0 and 1) — a pose-presence
score, and 33 metric world points.

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

    def to_frame(self, uv: np.ndarray) -> np.ndarray:
        """Points in ROI-input pixels (N, 2) -> frame pixels."""
        d = (uv / INPUT - 0.5) * self.side
        c, s = math.cos(self.angle), math.sin(self.angle)
        return np.stack([self.cx + d[:, 0] * c - d[:, 1] * s, self.cy + d[:, 0] * s + d[:, 1] * c], 1)

    def affine(self) -> np.ndarray:
        """2x3 matrix mapping ROI-input pixels to frame pixels (for cv2.warpAffine with WARP_INVERSE_MAP)."""
        k = self.side / INPUT
        c, s = math.cos(self.angle) * k, math.sin(self.angle) * k
        tx = self.cx - (c * INPUT / 2 - s * INPUT / 2)
        ty = self.cy - (s * INPUT / 2 + c * INPUT / 2)
        return np.array([[c, -s, tx], [s, c, ty]], dtype=np.float64)


def roi_from_points(centre, circle, scale: float = ROI_SCALE) -> Roi | None:
    """MediaPipe's alignment ROI: square of side 2|circle - centre| x scale, its up axis along centre -> circle."""
    cx, cy = float(centre[0]), float(centre[1])
    dx, dy = float(circle[0]) - cx, float(circle[1]) - cy
    r = math.hypot(dx, dy)
    if not np.isfinite(r) or r < 1.0:
        return None
    angle = math.pi / 2 - math.atan2(-dy, dx)
    angle = (angle + math.pi) % (2 * math.pi) - math.pi
    return Roi(cx, cy, 2 * r * scale, angle)


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
    def __init__(self, num_threads: int = 1):
        from ai_edge_litert.interpreter import Interpreter
        self._interp = Interpreter(model_path=model_path(), num_threads=num_threads)
        self._interp.allocate_tensors()
        self._in = self._interp.get_input_details()[0]["index"]
        outs = {tuple(o["shape"][1:]): o["index"] for o in self._interp.get_output_details()}
        self._lm, self._flag, self._world = outs[(195,)], outs[(1,)], outs[(117,)]

    def __call__(self, frame: np.ndarray, roi: Roi) -> Landmarks:
        crop = cv2.warpAffine(frame, roi.affine(), (INPUT, INPUT), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                              borderMode=cv2.BORDER_CONSTANT, borderValue=(0, 0, 0))
        self._interp.set_tensor(self._in, (crop.astype(np.float32) / 255.0)[None])
        self._interp.invoke()
        raw = self._interp.get_tensor(self._lm)[0].reshape(39, 5)
        flag = float(self._interp.get_tensor(self._flag)[0, 0])
        world = self._interp.get_tensor(self._world)[0].reshape(39, 3)[:33]
        xy = roi.to_frame(raw[:, :2].astype(np.float64))
        vis = expit(raw[:33, 3])
        points = np.concatenate([xy[:33], vis[:, None]], 1).astype(np.float32)
        w = np.concatenate([world, vis[:, None]], 1).astype(np.float32)
        return Landmarks(points, xy[33:35].astype(np.float32), w, flag)
