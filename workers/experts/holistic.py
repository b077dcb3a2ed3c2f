"""holistic — MediaPipe Holistic (mediapipe 0.10.21, bundled models): body 33 (+ metric world 3D), both hands,
468-point face mesh, on the person crop. Native: mediapipe-holistic-543.

Scores: body points take the pose model's visibility. Holistic exposes no per-point confidence for hands and
face, so a found hand's points take the body model's visibility of that wrist and a found face's points the
mean visibility of the body model's 11 face points. Static-image mode: each crop independent, deterministic.
Holistic's static mode does not make it so by itself (mediapipe 0.10.21): its hand and face subgraphs keep the
previous call's hand/face landmarks and reuse their ROI when it is near the current re-crop, whatever
`static_image_mode` says (the pose part honours it). A crop's hands and face would then depend on the crop
processed before it — another person, or the last clip this worker process handled — so one clip's cached result
would depend on its neighbours. After a call that found a hand or a face, `_forget` runs the graph on a blank
image (no pose, so no landmarks carried); the results then equal a fresh graph per crop (tested).
When Holistic's own person detector finds nobody in the crop, `roi_fallback` (default on) runs the body landmark
model on the crop itself (`roi_fallback.py`): body points only for that frame.
"""
from __future__ import annotations

import os

import numpy as np

from ..pose.body_landmarks import model_path as body_landmarks_file
from .base import Crop, Expert, ExpertResult, empty_points, landmarks_xy, mediapipe_modules, mediapipe_version
from .roi_fallback import RoiFallback, belongs

_BLANK = np.zeros((64, 64, 3), np.uint8)     # no person: a call on it leaves no landmarks behind


class HolisticExpert(Expert):
    name = "holistic"
    parts = ("body", "left_hand", "right_hand", "face")
    native = "mediapipe-holistic-543"
    families = {"body": "mediapipe-pose-landmark", "left_hand": "mediapipe-hand-landmark",
                "right_hand": "mediapipe-hand-landmark", "face": "mediapipe-face-landmark"}

    def model_files(self):
        pose = {0: "pose_landmark_lite", 1: "pose_landmark_full", 2: "pose_landmark_heavy"}
        names = ["pose_detection/pose_detection.tflite",
                 f"pose_landmark/{pose[self.settings['model_complexity']]}.tflite",
                 "hand_landmark/hand_landmark_full.tflite", "holistic_landmark/hand_recrop.tflite",
                 "face_landmark/face_landmark.tflite"]
        files = [os.path.join(mediapipe_modules(), n) for n in names]
        return files + ([body_landmarks_file()] if self.settings["roi_fallback"] else [])

    def package_version(self):
        return f"mediapipe {mediapipe_version()}"

    def load(self):
        import mediapipe as mp
        s = self.settings
        self._h = mp.solutions.holistic.Holistic(
            static_image_mode=True, model_complexity=s["model_complexity"], smooth_landmarks=False,
            refine_face_landmarks=s["refine_face_landmarks"], min_detection_confidence=s["min_score"])
        self._h.process(np.zeros((256, 256, 3), np.uint8))   # graph start-up (its logs) inside setup()
        self._carried = False          # whether the graph holds hand/face landmarks from the previous call
        self._fallback = RoiFallback(s["min_score"]) if s["roi_fallback"] else None

    def _forget(self) -> None:
        """Clear the hand/face landmarks Holistic carries to its next call (see the module docstring)."""
        if self._carried:
            self._h.process(_BLANK)
            self._carried = False

    def process_one(self, crop: Crop) -> ExpertResult:
        self._forget()
        res = self._h.process(crop.image)
        self._carried = any(x is not None for x in (res.left_hand_landmarks, res.right_hand_landmarks,
                                                    res.face_landmarks))
        pts = empty_points(543)
        world = np.full((33, 4), np.nan, dtype=np.float32)
        world[:, 3] = 0.0
        side = crop.image.shape[0]
        body = (np.array([[p.x, p.y, p.visibility] for p in res.pose_landmarks.landmark], dtype=np.float32)
                if res.pose_landmarks is not None else None)
        if body is not None:
            body[:, :2] = crop.to_frame(body[:, :2] * side)
        if body is None or not belongs(body, crop):     # nobody found, or someone else: the ROI's own body
            found = self._fallback(crop) if self._fallback else None
            if found is not None:
                pts[:33], world[:] = found
            return ExpertResult(pts, world)
        vis = body[:, 2]
        pts[:33] = body
        if res.pose_world_landmarks is not None:
            world[:] = [[p.x, p.y, p.z, p.visibility] for p in res.pose_world_landmarks.landmark]
        for lm, start, n, score in ((res.left_hand_landmarks, 33, 21, vis[15]),
                                    (res.right_hand_landmarks, 54, 21, vis[16]),
                                    (res.face_landmarks, 75, 468, vis[:11].mean())):
            if lm is not None:
                pts[start:start + n, :2] = crop.to_frame(landmarks_xy(lm, n) * side)
                pts[start:start + n, 2] = score
        return ExpertResult(pts, world)
