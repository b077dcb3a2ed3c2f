"""hands — MediaPipe Hands (palm detector + full hand-landmark model, bundled) on the person crop: up to two
hands, 21 points each. Native: hands-2x21 (left 0-20, right 21-41; the subject's left and right).

MediaPipe labels handedness as if the image were mirrored (selfie camera); skelforge's frames are not, so the
label is swapped (`mirrored_input: false`, the default). When two hands get the same side, the more confident
keeps it. Score = MediaPipe's handedness confidence for that hand (the solution exposes no per-point score).
"""
from __future__ import annotations

import os

import numpy as np

from .base import Crop, Expert, ExpertResult, empty_points, landmarks_xy, mediapipe_modules, mediapipe_version


class HandsExpert(Expert):
    name = "hands"
    parts = ("left_hand", "right_hand")
    native = "hands-2x21"
    families = {"left_hand": "mediapipe-hand-landmark", "right_hand": "mediapipe-hand-landmark"}

    def model_files(self):
        return [os.path.join(mediapipe_modules(), "palm_detection/palm_detection_full.tflite"),
                os.path.join(mediapipe_modules(), "hand_landmark/hand_landmark_full.tflite")]

    def package_version(self):
        return f"mediapipe {mediapipe_version()}"

    def load(self):
        import mediapipe as mp
        self._h = mp.solutions.hands.Hands(static_image_mode=True, max_num_hands=2, model_complexity=1,
                                           min_detection_confidence=self.settings["min_score"])
        self._h.process(np.zeros((256, 256, 3), np.uint8))

    def process_one(self, crop: Crop) -> ExpertResult:
        res = self._h.process(crop.image)
        pts = empty_points(42)
        if not res.multi_hand_landmarks:
            return ExpertResult(pts)
        side = crop.image.shape[0]
        best = {}
        for lms, hd in zip(res.multi_hand_landmarks, res.multi_handedness):
            c = hd.classification[0]
            label = c.label.lower()
            if not self.settings["mirrored_input"]:
                label = {"left": "right", "right": "left"}[label]
            if label not in best or c.score > best[label][0]:
                best[label] = (c.score, landmarks_xy(lms, 21))
        for label, offset in (("left", 0), ("right", 21)):
            if label in best:
                score, xy = best[label]
                pts[offset:offset + 21, :2] = crop.to_frame(xy * side)
                pts[offset:offset + 21, 2] = score
        return ExpertResult(pts)
