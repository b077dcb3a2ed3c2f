"""Shrinking an image by a factor, shared by the person detector's views and the optical flow."""
from __future__ import annotations

import cv2
import numpy as np


def shrink(frame: np.ndarray, s: float) -> tuple[np.ndarray, float, float]:
    """The frame resized by `s` (area averaging) when s < 1, else as it is; with the actual x and y scales."""
    if s >= 1.0:
        return frame, 1.0, 1.0
    h, w = frame.shape[:2]
    nw, nh = max(1, round(w * s)), max(1, round(h * s))
    return cv2.resize(frame, (nw, nh), interpolation=cv2.INTER_AREA), nw / w, nh / h
