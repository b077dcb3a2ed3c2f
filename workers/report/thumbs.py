"""Skeleton-overlay thumbnails: one source frame with a layout's skeleton drawn (edges coloured by region)."""
from __future__ import annotations

import base64

import av
import cv2
import numpy as np

from schemas.layouts import get_layout

COLOURS = {"body": (46, 125, 50), "left_hand": (21, 101, 192), "right_hand": (198, 40, 40), "face": (249, 168, 37)}


def read_frame(path: str, src_index: int) -> np.ndarray | None:
    with av.open(path) as c:
        for i, f in enumerate(c.decode(video=0)):
            if i == src_index:
                return f.to_ndarray(format="bgr24")
    return None


def draw(frame: np.ndarray, joints: np.ndarray, layout: str) -> np.ndarray:
    """joints (M, V, 3) in frame pixels."""
    lay = get_layout(layout)
    region = {}
    for name, idx in lay.regions.items():
        for i in idx:
            region[i] = name
    img = frame.copy()
    t = max(1, int(round(max(img.shape[:2]) / 400)))
    for person in joints:
        ok = person[:, 2] > 0
        for a, b in lay.edges:
            if ok[a] and ok[b]:
                cv2.line(img, tuple(int(v) for v in person[a, :2]), tuple(int(v) for v in person[b, :2]),
                         COLOURS[region[b]][::-1], t, cv2.LINE_AA)
    return img


def thumbnail(frame: np.ndarray, joints: np.ndarray, layout: str, width: int = 320) -> str:
    img = draw(frame, joints, layout)
    h, w = img.shape[:2]
    img = cv2.resize(img, (width, int(round(h * width / w))), interpolation=cv2.INTER_AREA)
    ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 85])
    return "data:image/jpeg;base64," + base64.b64encode(buf.tobytes()).decode()
