"""MediaPipe Holistic (mediapipe 0.10.21, bundled models) on one person crop: 33 body points (+ metric world
3D), 21 points per hand, 468 face-mesh points, mapped back to frame pixels.

Scores: the body model gives each point a visibility, used as its score. Holistic gives no per-point
confidence for hands and face, so skelforge scores them by evidence the graph does give: a found hand's points
take the body model's visibility of that wrist; a found face's points take the mean visibility of the body
model's 11 face points (nose, eyes, ears, mouth). Points of a part Holistic did not find: NaN, score 0.
Static-image mode is used so each crop is independent (deterministic; no state between crops of different
people).
"""
from __future__ import annotations

import glob
import hashlib
import os

import numpy as np

WHOLE_BODY = 33 + 21 + 21 + 468   # body, left hand, right hand, face  (schemas.layouts.SOURCE_PARTS order)


def model_files(model_complexity: int) -> list[str]:
    import mediapipe
    root = os.path.join(os.path.dirname(mediapipe.__file__), "modules")
    pose = {0: "pose_landmark_lite", 1: "pose_landmark_full", 2: "pose_landmark_heavy"}[model_complexity]
    names = ["pose_detection/pose_detection.tflite", f"pose_landmark/{pose}.tflite",
             "hand_landmark/hand_landmark_full.tflite", "holistic_landmark/hand_recrop.tflite",
             "face_landmark/face_landmark.tflite"]
    return [os.path.join(root, n) for n in names]


def models_hash(model_complexity: int) -> str:
    """sha256 over the model files this configuration loads. A missing file (complexity 0/2 models are
    downloaded by MediaPipe at run time, impossible offline) raises FileNotFoundError naming it."""
    h = hashlib.sha256()
    for path in model_files(model_complexity):
        if not os.path.exists(path):
            raise FileNotFoundError(f"MediaPipe model file {path} is not installed (pose.model_complexity "
                                    f"{model_complexity} needs it; 1 works offline)")
        with open(path, "rb") as fh:
            h.update(hashlib.sha256(fh.read()).digest())
    return h.hexdigest()


class HolisticPose:
    def __init__(self, model_complexity: int = 1, min_pose_score: float = 0.5, refine_face_landmarks: bool = False):
        import mediapipe as mp
        self._h = mp.solutions.holistic.Holistic(
            static_image_mode=True, model_complexity=model_complexity, smooth_landmarks=False,
            refine_face_landmarks=refine_face_landmarks, min_detection_confidence=min_pose_score,
        )

    def __call__(self, crop: np.ndarray, x0: float, y0: float, side: int) -> tuple[np.ndarray, np.ndarray]:
        """crop: RGB uint8 (side, side, 3). Returns (points (543, 3) = x, y, score in frame pixels,
        world (33, 4) = x, y, z metres hip-centred, score)."""
        res = self._h.process(crop)
        pts = np.full((WHOLE_BODY, 3), np.nan, dtype=np.float32)
        pts[:, 2] = 0.0
        world = np.full((33, 4), np.nan, dtype=np.float32)
        world[:, 3] = 0.0
        if res.pose_landmarks is None:
            return pts, world
        body = np.array([[p.x, p.y, p.visibility] for p in res.pose_landmarks.landmark], dtype=np.float32)
        vis = body[:, 2]
        pts[:33] = body
        if res.pose_world_landmarks is not None:
            world[:] = [[p.x, p.y, p.z, p.visibility] for p in res.pose_world_landmarks.landmark]
        for lm, start, score in ((res.left_hand_landmarks, 33, vis[15]), (res.right_hand_landmarks, 54, vis[16]),
                                 (res.face_landmarks, 75, vis[:11].mean())):
            if lm is not None:
                xy = np.array([[p.x, p.y] for p in lm.landmark[: (468 if start == 75 else 21)]], dtype=np.float32)
                n = len(xy)
                pts[start:start + n, :2] = xy
                pts[start:start + n, 2] = score
        pts[:, 0] = pts[:, 0] * side + x0
        pts[:, 1] = pts[:, 1] * side + y0
        return pts, world

    def close(self):
        self._h.close()
