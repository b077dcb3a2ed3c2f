"""facemesh — MediaPipe's face-landmark model (face_landmark.tflite, 468 points, bundled), run directly with
ai-edge-litert on a face region, so no second face detector is needed. Native: mediapipe-face-468.

The face is found inside the crop's head-region hint (the person detector's box) by MediaPipe's full-range
face detector (face_roi.py); the landmark model runs on that face x `face_scale`, then once more on the square
its own landmarks give (1.5 x their extent), as MediaPipe's tracking loop does. Score = the landmark model's
face-presence output (sigmoid), per face; below `min_score` the face is reported missing.
"""
from __future__ import annotations

import os

import numpy as np
from scipy.special import expit

from .base import Crop, Expert, ExpertResult, empty_points, mediapipe_modules, mediapipe_version
from .face_roi import FaceFinder
from .roi import box_of, square_roi

INPUT = 192


class FaceMeshExpert(Expert):
    name = "facemesh"
    parts = ("face",)
    native = "mediapipe-face-468"
    families = {"face": "mediapipe-face-landmark"}

    def model_files(self):
        return [os.path.join(mediapipe_modules(), "face_landmark/face_landmark.tflite")] + FaceFinder.model_files()

    def package_version(self):
        return f"mediapipe {mediapipe_version()}"

    def load(self):
        from ai_edge_litert.interpreter import Interpreter
        self._finder = FaceFinder(self.settings["min_face_score"])
        self._m = Interpreter(model_path=self.model_files()[0], num_threads=1)
        self._m.allocate_tensors()
        self._in = self._m.get_input_details()[0]["index"]
        outs = {tuple(o["shape"]): o["index"] for o in self._m.get_output_details()}
        self._out_lm, self._out_flag = outs[(1, 1, 1, 1404)], outs[(1, 1, 1, 1)]

    def run_roi(self, frame: np.ndarray, cx: float, cy: float, side: float) -> tuple[np.ndarray, float]:
        img, x0, y0, scale = square_roi(frame, cx, cy, side, INPUT)
        self._m.set_tensor(self._in, (img.astype(np.float32) / 255.0)[None])
        self._m.invoke()
        lm = self._m.get_tensor(self._out_lm).reshape(468, 3)[:, :2]
        flag = float(expit(self._m.get_tensor(self._out_flag).ravel()[0]))
        return lm * scale + np.array([x0, y0], dtype=np.float32), flag

    def process_one(self, crop: Crop) -> ExpertResult:
        pts = empty_points(468)
        region = self._finder.region(crop, self.settings["face_scale"])
        if region is None:
            return ExpertResult(pts)
        frame, cx, cy, side = region
        for _ in range(self.settings["passes"]):
            lm, flag = self.run_roi(frame, cx, cy, side)
            b = box_of(lm)
            cx, cy = (b[0] + b[2]) / 2, (b[1] + b[3]) / 2
            side = max(b[2] - b[0], b[3] - b[1]) * self.settings["refine_scale"]
        if flag >= self.settings["min_score"]:
            pts[:, :2] = lm
            pts[:, 2] = flag
        return ExpertResult(pts)
