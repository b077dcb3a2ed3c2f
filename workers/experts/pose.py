"""pose — MediaPipe Pose (BlazePose full, bundled): 33 body points with visibility and metric world 3D, on the
person crop. Native: mediapipe-pose-33. Score = the model's per-point visibility."""
from __future__ import annotations

import os

import numpy as np

from .base import Crop, Expert, ExpertResult, empty_points, mediapipe_modules, mediapipe_version


class PoseExpert(Expert):
    name = "pose"
    parts = ("body",)
    native = "mediapipe-pose-33"
    families = {"body": "mediapipe-pose-landmark"}

    def model_files(self):
        pose = {0: "pose_landmark_lite", 1: "pose_landmark_full", 2: "pose_landmark_heavy"}
        return [os.path.join(mediapipe_modules(), "pose_detection/pose_detection.tflite"),
                os.path.join(mediapipe_modules(), f"pose_landmark/{pose[self.settings['model_complexity']]}.tflite")]

    def package_version(self):
        return f"mediapipe {mediapipe_version()}"

    def load(self):
        import mediapipe as mp
        self._p = mp.solutions.pose.Pose(static_image_mode=True, model_complexity=self.settings["model_complexity"],
                                         smooth_landmarks=False, enable_segmentation=False,
                                         min_detection_confidence=self.settings["min_score"])
        self._p.process(np.zeros((256, 256, 3), np.uint8))

    def process_one(self, crop: Crop) -> ExpertResult:
        res = self._p.process(crop.image)
        pts = empty_points(33)
        world = np.full((33, 4), np.nan, dtype=np.float32)
        world[:, 3] = 0.0
        if res.pose_landmarks is not None:
            side = crop.image.shape[0]
            body = np.array([[p.x, p.y, p.visibility] for p in res.pose_landmarks.landmark], dtype=np.float32)
            pts[:, :2] = crop.to_frame(body[:, :2] * side)
            pts[:, 2] = body[:, 2]
            world[:] = [[p.x, p.y, p.z, p.visibility] for p in res.pose_world_landmarks.landmark]
        return ExpertResult(pts, world)
