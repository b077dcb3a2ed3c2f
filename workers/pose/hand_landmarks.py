"""Hand landmarks from body landmarks, as MediaPipe Holistic chains them (mediapipe 0.10.21's
holistic_landmark graphs), run directly through ai-edge-litert on an image (the expert passes the person crop;
"frame" below is that image).

For one hand, given the body model's wrist, pinky and index points (frame pixels) and the wrist's visibility:

 1. gate: no hand when the wrist's visibility is below 0.1 (Holistic's threshold);
 2. ROI from the body: centre at the middle finger's estimate m = (2 index + pinky) / 3, side 2|m - wrist|,
    rotated so wrist -> m points up, then x 2.7 and moved 0.1 side towards the fingers;
 3. re-crop: `hand_recrop.tflite` on that ROI (256 x 256, RGB in [0, 1]) gives two points, a centre c and a
    scale point s; the hand ROI is centred on c, side 2|s - c|, rotated so c -> s points down (-90 deg), moved
    0.1 side towards the fingers;
 4. `hand_landmark_full.tflite` on the hand ROI (224 x 224, RGB in [0, 1]): 21 points in ROI pixels, and a
    hand-presence score; no hand below 0.5 (Holistic's threshold).

Holistic's own hand tracking (re-using the previous frame's hand ROI) is off in static mode, so a hand here
depends on this frame's body points alone. Deterministic: same frame and points, same result.
"""
from __future__ import annotations

import math
from typing import Optional

import numpy as np

from ..mediapipe_files import model_file
from .body_landmarks import Roi, rotated_up

RECROP_INPUT = 256
LANDMARK_INPUT = 224
MIN_WRIST_VISIBILITY = 0.1
MIN_PRESENCE = 0.5
POSE_ROI_SCALE = 2.7
SHIFT_TO_FINGERS = -0.1       # MediaPipe's shift_y: along the ROI's own axis, towards its top (the fingers)


def model_files() -> list[str]:
    return [model_file("holistic_landmark", "hand_recrop.tflite"),
            model_file("hand_landmark", "hand_landmark_full.tflite")]


def roi_from_body(wrist: np.ndarray, pinky: np.ndarray, index: np.ndarray) -> Optional[Roi]:
    """The re-crop model's search region from the body model's three hand points (frame pixels)."""
    middle = (2 * index + pinky) / 3
    side = 2 * float(np.hypot(*(middle - wrist)))
    if not np.isfinite(side) or side < 1:
        return None
    return Roi(float(middle[0]), float(middle[1]), side, rotated_up(wrist, middle)).shifted(SHIFT_TO_FINGERS) \
        .scaled(POSE_ROI_SCALE)


class HandLandmarker:
    def __init__(self, num_threads: int = 1):
        from ai_edge_litert.interpreter import Interpreter
        recrop, landmark = model_files()
        self._recrop = Interpreter(model_path=recrop, num_threads=num_threads)
        self._recrop.allocate_tensors()
        self._lm = Interpreter(model_path=landmark, num_threads=num_threads)
        self._lm.allocate_tensors()
        outs = {o["name"]: o["index"] for o in self._lm.get_output_details()}
        self._points, self._presence = outs["Identity"], outs["Identity_1"]
        self._recrop_in = self._recrop.get_input_details()[0]["index"]
        self._recrop_out = self._recrop.get_output_details()[0]["index"]
        self._lm_in = self._lm.get_input_details()[0]["index"]

    @staticmethod
    def _run(interp, index: int, image: np.ndarray) -> None:
        interp.set_tensor(index, (image.astype(np.float32) / 255.0)[None])
        interp.invoke()

    def hand_roi(self, frame: np.ndarray, search: Roi) -> Optional[Roi]:
        """The re-crop model's hand ROI inside the search region."""
        self._run(self._recrop, self._recrop_in, search.warp(frame, RECROP_INPUT))
        raw = self._recrop.get_tensor(self._recrop_out).reshape(2, 2)
        c, s = search.to_frame(raw.astype(np.float64), RECROP_INPUT)
        side = 2 * float(np.hypot(*(s - c)))
        if not np.isfinite(side) or side < 1:
            return None
        return Roi(float(c[0]), float(c[1]), side, rotated_up(c, s, -math.pi / 2)).shifted(SHIFT_TO_FINGERS)

    def __call__(self, frame: np.ndarray, wrist: np.ndarray, pinky: np.ndarray, index: np.ndarray,
                 wrist_visibility: float) -> Optional[tuple[np.ndarray, float]]:
        """(21 points (21, 2) in frame pixels, presence score), or None when the wrist is not visible or no
        hand is present."""
        if not wrist_visibility >= MIN_WRIST_VISIBILITY:
            return None
        search = roi_from_body(wrist, pinky, index)
        roi = self.hand_roi(frame, search) if search is not None else None
        if roi is None:
            return None
        self._run(self._lm, self._lm_in, roi.warp(frame, LANDMARK_INPUT))
        presence = float(self._lm.get_tensor(self._presence)[0, 0])
        if not presence >= MIN_PRESENCE:
            return None
        uv = self._lm.get_tensor(self._points)[0].reshape(21, 3)[:, :2].astype(np.float64)
        return roi.to_frame(uv, LANDMARK_INPUT).astype(np.float32), presence
