"""pose — MediaPipe Pose (BlazePose full, bundled): 33 body points with visibility and metric world 3D, on the
person crop. Native: mediapipe-pose-33. Score = the model's per-point visibility. When Pose's own person
detector finds nobody in the crop, `roi_fallback` (default on) runs the landmark model on the crop itself."""
from __future__ import annotations

import os

import numpy as np

from ..pose.body_landmarks import model_path as body_landmarks_file
from .base import Crop, Expert, ExpertResult, empty_points, mediapipe_modules, mediapipe_version
from .roi_fallback import RoiFallback, belongs


class PoseExpert(Expert):
    name = "pose"
    parts = ("body",)
    native = "mediapipe-pose-33"
    families = {"body": "mediapipe-pose-landmark"}

    def model_files(self):
        pose = {0: "pose_landmark_lite", 1: "pose_landmark_full", 2: "pose_landmark_heavy"}
        return [os.path.join(mediapipe_modules(), "pose_detection/pose_detection.tflite"),
                os.path.join(mediapipe_modules(), f"pose_landmark/{pose[self.settings['model_complexity']]}.tflite")
                ] + ([body_landmarks_file()] if self.settings["roi_fallback"] else [])

    def package_version(self):
        return f"mediapipe {mediapipe_version()}"

    def load(self):
        import mediapipe as mp
        self._p = mp.solutions.pose.Pose(static_image_mode=True, model_complexity=self.settings["model_complexity"],
                                         smooth_landmarks=False, enable_segmentation=False,
                                         min_detection_confidence=self.settings["min_score"])
        self._p.process(np.zeros((256, 256, 3), np.uint8))
        self._fallback = RoiFallback(self.settings["min_score"]) if self.settings["roi_fallback"] else None

    def process_one(self, crop: Crop) -> ExpertResult:
        res = self._p.process(crop.image)
        pts = empty_points(33)
        world = np.full((33, 4), np.nan, dtype=np.float32)
        world[:, 3] = 0.0
        body = None
        if res.pose_landmarks is not None:
            side = crop.image.shape[0]
            body = np.array([[p.x, p.y, p.visibility] for p in res.pose_landmarks.landmark], dtype=np.float32)
            body[:, :2] = crop.to_frame(body[:, :2] * side)
        if body is not None and belongs(body, crop):
            pts[:] = body
            world[:] = [[p.x, p.y, p.z, p.visibility] for p in res.pose_world_landmarks.landmark]
        elif self._fallback is not None:       # nobody found, or someone else: the ROI's own body
            found = self._fallback(crop)
            if found is not None:
                pts[:], world[:] = found
        return ExpertResult(pts, world)
