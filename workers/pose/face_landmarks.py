"""Face landmarks from body landmarks, as MediaPipe Holistic chains them (mediapipe 0.10.21's holistic_landmark
graphs), on an image (the expert passes the person crop; "frame" below is that image):

 1. search region from the body model's 11 face points (frame pixels): their bounding box, rotated so the right
    eye (point 5) -> left eye (point 2) is level, side 3 x its longer side;
 2. MediaPipe's short-range face detector (BlazeFace, through `mediapipe.solutions.face_detection`: static, no
    state between calls) on that region warped to 128 x 128; the face whose six keypoints centre nearest the
    region's centre (the body's own face: Holistic takes the detector's first, which in a hug can be the other
    person's) gives the face ROI: their bounding box, rotated so right eye -> left eye is level, moved 0.1 x
    its height up, side 2 x its longer side; no face found, no face landmarks (as in Holistic);
 3. `face_landmark.tflite` on the face ROI (192 x 192, RGB in [0, 1]): 468 points in ROI pixels and a face-
    presence logit; no face below 0.5 after the sigmoid.

Deterministic: same frame and points, same result.
"""
from __future__ import annotations

import math
from typing import Optional

import numpy as np
from scipy.special import expit

from ..mediapipe_files import model_file
from .body_landmarks import Roi, rotated_up

DETECT_INPUT = 128
LANDMARK_INPUT = 192
SEARCH_SCALE = 3.0
FACE_SCALE = 2.0
SHIFT_UP = -0.1
MIN_PRESENCE = 0.5
RIGHT_EYE, LEFT_EYE = 5, 2          # in the body model's face points 0-10


def model_files() -> list[str]:
    return [model_file("face_detection", "face_detection_short_range.tflite"),
            model_file("face_landmark", "face_landmark.tflite")]


def rect_roi(points: np.ndarray, right_eye: np.ndarray, left_eye: np.ndarray, scale: float,
             shift_y: float = 0.0) -> Optional[Roi]:
    """MediaPipe's rect from points: their axis-aligned bounding box, rotated by the eye line, moved `shift_y` x
    the box height along its own axis, made square on its longer side, then x `scale`."""
    lo, hi = points.min(0), points.max(0)
    w, h = float(hi[0] - lo[0]), float(hi[1] - lo[1])
    if not (np.isfinite(w) and np.isfinite(h)) or max(w, h) < 1:
        return None
    angle = rotated_up(right_eye, left_eye, 0.0)
    c, s = math.cos(angle), math.sin(angle)
    cx, cy = (lo + hi) / 2
    cx, cy = cx - shift_y * h * s, cy + shift_y * h * c
    return Roi(float(cx), float(cy), max(w, h) * scale, angle)


class FaceLandmarker:
    def __init__(self, num_threads: int = 1, min_face_score: float = 0.5):
        import mediapipe as mp
        from ai_edge_litert.interpreter import Interpreter
        self._detector = mp.solutions.face_detection.FaceDetection(
            model_selection=0, min_detection_confidence=min_face_score)
        self._lm = Interpreter(model_path=model_files()[1], num_threads=num_threads)
        self._lm.allocate_tensors()
        self._in = self._lm.get_input_details()[0]["index"]
        outs = {int(np.prod(o["shape"])): o["index"] for o in self._lm.get_output_details()}
        self._points, self._flag = outs[1404], outs[1]

    def face_roi(self, frame: np.ndarray, search: Roi) -> Optional[Roi]:
        """The face ROI from the face detector's best face inside the search region, or None."""
        res = self._detector.process(np.ascontiguousarray(search.warp(frame, DETECT_INPUT)))
        if not res.detections:
            return None
        kps = [np.array([[k.x, k.y] for k in d.location_data.relative_keypoints], dtype=np.float64)
               for d in res.detections]
        kp = min(kps, key=lambda k: float(np.hypot(*(k.mean(0) - 0.5))))    # the face nearest the body's
        kp = search.to_frame(kp * DETECT_INPUT, DETECT_INPUT)
        return rect_roi(kp, kp[0], kp[1], FACE_SCALE, SHIFT_UP)

    def __call__(self, frame: np.ndarray, face_points: np.ndarray) -> Optional[tuple[np.ndarray, float]]:
        """(468 points (468, 2) in frame pixels, presence score) from the body model's 11 face points (11, 2),
        or None when no face is found."""
        search = rect_roi(face_points, face_points[RIGHT_EYE], face_points[LEFT_EYE], SEARCH_SCALE)
        roi = self.face_roi(frame, search) if search is not None else None
        if roi is None:
            return None
        self._lm.set_tensor(self._in, (roi.warp(frame, LANDMARK_INPUT).astype(np.float32) / 255.0)[None])
        self._lm.invoke()
        presence = float(expit(self._lm.get_tensor(self._flag).ravel()[0]))
        if not presence >= MIN_PRESENCE:
            return None
        uv = self._lm.get_tensor(self._points).reshape(468, 3)[:, :2].astype(np.float64)
        return roi.to_frame(uv, LANDMARK_INPUT).astype(np.float32), presence
