"""dlib68 — dlib's HOG frontal-face detector + 68-point shape predictor (`face_recognition_models`).
Native: ibug-68 (dlib's predictor is trained on iBUG-300W).

The face is first located inside the crop's head-region hint by MediaPipe's full-range face detector
(face_roi.py); the region around it (2 x the face) is resampled so the face is ~160 px, dlib's HOG detector
confirms a frontal face there and the shape predictor runs on its rectangle. Score = sigmoid(HOG decision
value), per face; no frontal face -> missing (dlib's model is frontal-only).
"""
from __future__ import annotations

import numpy as np
from scipy.special import expit

from .base import Crop, Expert, ExpertResult, empty_points
from .face_roi import FaceFinder
from .roi import square_roi


class Dlib68Expert(Expert):
    name = "dlib68"
    parts = ("face",)
    native = "ibug-68"

    def model_files(self):
        import warnings
        with warnings.catch_warnings():       # it imports pkg_resources (deprecated; setuptools<81 is pinned)
            warnings.simplefilter("ignore", UserWarning)
            import face_recognition_models
        return [face_recognition_models.pose_predictor_model_location()] + FaceFinder.model_files()

    def package_version(self):
        from importlib.metadata import version
        return f"dlib {version('dlib-bin')}"

    def load(self):
        import dlib
        self._finder = FaceFinder(self.settings["min_face_score"])
        self._det = dlib.get_frontal_face_detector()
        self._pred = dlib.shape_predictor(self.model_files()[0])
        self._dlib = dlib

    def process_one(self, crop: Crop) -> ExpertResult:
        pts = empty_points(68)
        region = self._finder.region(crop, self.settings["context"])
        if region is None:
            return ExpertResult(pts)
        img, x0, y0, scale = square_roi(*region, self.settings["roi_size"])
        rects, scores, _ = self._det.run(img, 0, self.settings["threshold"])
        if not rects:
            return ExpertResult(pts)
        c = self.settings["roi_size"] / 2
        i = int(np.argmin([np.hypot((r.left() + r.right()) / 2 - c, (r.top() + r.bottom()) / 2 - c) for r in rects]))
        conf = float(expit(scores[i]))
        if conf < self.settings["min_score"]:
            return ExpertResult(pts)
        shape = self._pred(img, rects[i])
        uv = np.array([[p.x, p.y] for p in shape.parts()], dtype=np.float32)
        pts[:, :2] = uv * scale + np.array([x0, y0], dtype=np.float32)
        pts[:, 2] = conf
        return ExpertResult(pts)
