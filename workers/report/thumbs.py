"""Skeleton-overlay thumbnails: one source frame with a layout's skeletons drawn (each person in its own colour
with its id, as in `show`)."""
from __future__ import annotations

import base64

import av
import cv2
import numpy as np

from .viewer import draw_frame


def read_frame(path: str, src_index: int) -> np.ndarray | None:
    """Source frame `src_index` as RGB."""
    with av.open(path) as c:
        for i, f in enumerate(c.decode(video=0)):
            if i == src_index:
                return f.to_ndarray(format="rgb24")
    return None


def thumbnail(frame: np.ndarray, joints: np.ndarray, layout: str, width: int = 320) -> str:
    """frame RGB; joints (M, V, 3) in frame pixels -> JPEG data URI of the frame with the skeletons drawn."""
    img = draw_frame(frame, joints, layout)
    h, w = img.shape[:2]
    img = cv2.resize(img, (width, int(round(h * width / w))), interpolation=cv2.INTER_AREA)
    ok, buf = cv2.imencode(".jpg", cv2.cvtColor(img, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 85])
    return "data:image/jpeg;base64," + base64.b64encode(buf.tobytes()).decode()
