"""Find the face inside a head region. The person detector's "face box" is a head-and-shoulders region (about
4-5 x the face on NTU's 1080p frames), too loose for a face-landmark model, so face experts first run
MediaPipe's bundled full-range face detector (BlazeFace, face_detection_full_range_sparse.tflite) on that
region and keep the detection nearest its centre."""
from __future__ import annotations

import os
from typing import Optional

import numpy as np

from .base import mediapipe_modules
from .roi import square_roi

REGION = 256


class FaceFinder:
    def __init__(self, min_score: float = 0.3):
        import mediapipe as mp
        self._fd = mp.solutions.face_detection.FaceDetection(model_selection=1, min_detection_confidence=min_score)
        self._fd.process(np.zeros((REGION, REGION, 3), np.uint8))

    @staticmethod
    def model_files() -> list[str]:
        return [os.path.join(mediapipe_modules(), "face_detection/face_detection_full_range_sparse.tflite")]

    def locate(self, crop) -> Optional[np.ndarray]:
        """The face box (frame pixels) inside a crop's head-region hint, or None (no hint, or no face)."""
        if crop.face_box is None or not np.isfinite(crop.face_box).all():
            return None
        found = self(crop.frame if crop.frame is not None else crop.image, crop.face_box)
        return None if found is None else found[0]

    def region(self, crop, factor: float) -> Optional[tuple[np.ndarray, float, float, float]]:
        """Where a face model should look: (the frame, face centre x, y, side = the located face's larger side x
        `factor`), or None when no face is located."""
        face = self.locate(crop)
        if face is None:
            return None
        x1, y1, x2, y2 = face
        frame = crop.frame if crop.frame is not None else crop.image
        return frame, (x1 + x2) / 2, (y1 + y2) / 2, max(x2 - x1, y2 - y1) * factor

    def __call__(self, frame: np.ndarray, hint: np.ndarray, scale: float = 1.2) -> Optional[tuple[np.ndarray, float]]:
        """(face box xyxy in frame pixels, detector score) or None."""
        x1, y1, x2, y2 = hint
        side = max(x2 - x1, y2 - y1) * scale
        img, x0, y0, s = square_roi(frame, (x1 + x2) / 2, (y1 + y2) / 2, side, REGION)
        res = self._fd.process(img)
        if not res.detections:
            return None
        best, best_d = None, np.inf
        for d in res.detections:
            b = d.location_data.relative_bounding_box
            box = np.array([b.xmin, b.ymin, b.xmin + b.width, b.ymin + b.height]) * REGION
            dist = np.hypot((box[0] + box[2]) / 2 - REGION / 2, (box[1] + box[3]) / 2 - REGION / 2)
            if dist < best_d:
                best, best_d = (box * s + np.array([x0, y0, x0, y0]), float(d.score[0])), dist
        return best
