"""The report's drawn images: a layout's skeletons (each person in its own colour with its id, as in `show`)
drawn on frames of a `workers.report.frames.Window` (shrunk source frames), returned as encoded bytes.

contract:
  thumb_jpeg(frame, joints, source_hw, layout) -> JPEG bytes, THUMB_WIDTH wide (the worst frame)
  viewer_gif(frames, kp, source_hw, layout)    -> GIF bytes at 30 FPS (the worst moment's window)
joints / kp are in source-frame pixels (source_hw = (h, w) of the upright source frames) and are scaled to the
drawn frame here. Pure functions of their inputs: the same frames and points give the same bytes.
"""
from __future__ import annotations

import base64

import cv2
import numpy as np

from .viewer import draw_frame, encode_gif

THUMB_WIDTH = 320
THUMB_QUALITY = 85


def scaled(joints: np.ndarray, source_hw: tuple[int, int], frame_hw: tuple[int, int]) -> np.ndarray:
    """joints (..., V, 3+) from source pixels to the drawn frame's pixels (score unchanged)."""
    out = np.array(joints, np.float64, copy=True)
    out[..., 0] *= frame_hw[1] / source_hw[1]
    out[..., 1] *= frame_hw[0] / source_hw[0]
    return out


def thumb_jpeg(frame: np.ndarray, joints: np.ndarray, source_hw: tuple[int, int], layout: str) -> bytes:
    """frame RGB (shrunk source frame); joints (M, V, 3) in source pixels -> JPEG of the frame with the
    skeletons drawn, THUMB_WIDTH wide."""
    img = draw_frame(frame, scaled(joints, source_hw, frame.shape[:2]), layout)
    h, w = img.shape[:2]
    if w != THUMB_WIDTH:
        img = cv2.resize(img, (THUMB_WIDTH, int(round(h * THUMB_WIDTH / w))), interpolation=cv2.INTER_AREA)
    ok, buf = cv2.imencode(".jpg", cv2.cvtColor(img, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, THUMB_QUALITY])
    return buf.tobytes()


def viewer_gif(frames: list[np.ndarray], kp: np.ndarray, source_hw: tuple[int, int], layout: str,
               fps: int = 30) -> bytes:
    """frames: the window's RGB frames; kp (M, n, V, 3) in source pixels, frame i drawn with kp[:, i]."""
    drawn = (draw_frame(img, scaled(kp[:, i], source_hw, img.shape[:2]), layout) for i, img in enumerate(frames))
    return encode_gif(drawn, fps)[0]


def data_uri(jpeg: bytes) -> str:
    return "data:image/jpeg;base64," + base64.b64encode(jpeg).decode()
