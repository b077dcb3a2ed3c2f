"""Square regions of interest cut out of the frame (zero-filled past its edge) and resized for a model."""
from __future__ import annotations

import cv2
import numpy as np


def square_roi(frame: np.ndarray, cx: float, cy: float, side: float, size: int) -> tuple[np.ndarray, float, float,
                                                                                          float]:
    """(image size x size x 3, x0, y0, scale) with frame = (x0, y0) + roi_pixel * scale."""
    scale = side / size
    x0, y0 = cx - side / 2, cy - side / 2
    m = np.array([[1 / scale, 0, -x0 / scale], [0, 1 / scale, -y0 / scale]], dtype=np.float64)
    img = cv2.warpAffine(frame, m, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT,
                         borderValue=0)
    return img, x0, y0, scale


def box_of(points: np.ndarray) -> np.ndarray:
    lo, hi = np.nanmin(points[:, :2], 0), np.nanmax(points[:, :2], 0)
    return np.concatenate([lo, hi])
