"""Square person crops with zero padding past the frame edge, and the map back to frame pixels."""
from __future__ import annotations

import numpy as np


def square_crop(frame: np.ndarray, cx: float, cy: float, side: float) -> tuple[np.ndarray, float, float, int]:
    """Crop of side `side` centred on (cx, cy); returns (crop, x0, y0, side) where crop pixel (u, v) is frame
    pixel (x0 + u, y0 + v)."""
    s = max(int(round(side)), 16)
    x0, y0 = int(round(cx - s / 2)), int(round(cy - s / 2))
    h, w = frame.shape[:2]
    out = np.zeros((s, s, 3), dtype=np.uint8)
    xs, ys, xe, ye = max(0, x0), max(0, y0), min(w, x0 + s), min(h, y0 + s)
    if xe > xs and ye > ys:
        out[ys - y0:ye - y0, xs - x0:xe - x0] = frame[ys:ye, xs:xe]
    return out, float(x0), float(y0), s


def mask_boxes(crop: np.ndarray, x0: float, y0: float, boxes: np.ndarray, scale: float,
               keep: np.ndarray | None = None) -> None:
    """Zero, in place, each frame-pixel box (N, 4 xyxy) enlarged by `scale` about its centre, where it falls
    inside the crop — except inside `keep` (xyxy, frame pixels: the actor's own face box). Used to hide other
    people's faces: Holistic's internal detector anchors on a face, so a crop showing two faces could otherwise
    be posed as the wrong person; the actor's own face stays visible even when another face is right beside it
    (a hug), or the actor would be posed without a head."""
    s = crop.shape[0]
    saved = None
    if keep is not None and np.isfinite(keep).all():
        k1, l1 = max(0, int(keep[0] - x0)), max(0, int(keep[1] - y0))
        k2, l2 = min(s, int(np.ceil(keep[2] - x0))), min(s, int(np.ceil(keep[3] - y0)))
        if k2 > k1 and l2 > l1:
            saved = (l1, l2, k1, k2, crop[l1:l2, k1:k2].copy())
    for x1, y1, x2, y2 in boxes:
        cx, cy, hw, hh = (x1 + x2) / 2 - x0, (y1 + y2) / 2 - y0, (x2 - x1) * scale / 2, (y2 - y1) * scale / 2
        u1, v1 = max(0, int(cx - hw)), max(0, int(cy - hh))
        u2, v2 = min(s, int(np.ceil(cx + hw))), min(s, int(np.ceil(cy + hh)))
        if u2 > u1 and v2 > v1:
            crop[v1:v2, u1:u2] = 0
    if saved is not None:
        l1, l2, k1, k2, pix = saved
        crop[l1:l2, k1:k2] = pix
