"""Multi-person detection with the BlazePose person detector shipped in mediapipe 0.10.21, run directly
through ai-edge-litert (MediaPipe's own graph keeps only one person).

Model: `mediapipe/modules/pose_detection/pose_detection.tflite`, input 224x224 RGB in [-1, 1] (letterboxed),
outputs 2254 SSD anchors x (face box cx, cy, w, h + 4 keypoints) and a logit each. Anchors and decoding follow
MediaPipe's pose_detection_cpu graph (strides 8,16,32,32,32; 2 anchors per cell; fixed anchor size; scales of
224; sigmoid scores clipped at +-100). Keypoint 0 is the hip centre, keypoint 1 a point on the circle that
encloses the whole body; the person box is the square of side 2|kp1-kp0| centred on kp0 (MediaPipe's ROI
before its 1.25 margin).

Besides the whole frame, two more kinds of view go through the detector, and all detections are merged by
weighted NMS on the face boxes:
 - tiles: frames wider or taller than 4:3 are cut into overlapping squares of the short side, so people stay
   large in the 224 px input (NTU's 1080p frames: people apart are found in the tiles);
 - zoom-out, a fallback for frames where no other view found anyone: the frame padded by `zoom_out` x its long
   side on every side, so a close-up person whose body runs out of the frame fits the detector's whole-body
   circle (Kinetics close-ups: 19 -> 56 of 94 frames found on arm wrestling at the same score threshold). Only
   a fallback, because its boxes are not geometrically consistent with the other views' (its "face" box can
   sit on the torso), so merging them would make one person two tracks.
"""
from __future__ import annotations


import cv2
import numpy as np
from scipy.special import expit

from ..geometry.resize import shrink
from ..mediapipe_files import model_file
from .nms import weighted_nms

INPUT = 224
# Row layout of a detection: score, face box (x1,y1,x2,y2), hip (x,y), body-circle point (x,y)  [pixels]
DET_COLS = 9


def model_path() -> str:
    return model_file("pose_detection", "pose_detection.tflite")


def _anchors() -> np.ndarray:
    strides = [8, 16, 32, 32, 32]
    out, i = [], 0
    while i < len(strides):
        j = i
        while j < len(strides) and strides[j] == strides[i]:
            j += 1
        per_cell = 2 * (j - i)
        cells = int(np.ceil(INPUT / strides[i]))
        ys, xs = np.meshgrid((np.arange(cells) + 0.5) / cells, (np.arange(cells) + 0.5) / cells, indexing="ij")
        grid = np.stack([xs.ravel(), ys.ravel()], 1)
        out.append(np.repeat(grid, per_cell, axis=0))
        i = j
    return np.concatenate(out).astype(np.float32)


def square_tiles(h: int, w: int) -> list[tuple[int, int, int]]:
    """(x, y, side) of overlapping square tiles of the short side covering a frame wider/taller than 4:3."""
    side, long = min(h, w), max(h, w)
    if long * 3 <= side * 4:
        return []
    n = int(np.ceil(long / side))
    starts = np.linspace(0, long - side, n + 1 if n * side - long < side / 3 else n).round().astype(int)
    return [(int(s), 0, side) if w > h else (0, int(s), side) for s in starts]


class BlazePoseDetector:
    def __init__(self, score_threshold: float = 0.5, nms_iou: float = 0.3, tiles: str = "auto",
                 zoom_out: float = 0.5, num_threads: int = 1):
        from ai_edge_litert.interpreter import Interpreter
        self.score_threshold, self.nms_iou, self.tiles, self.zoom_out = score_threshold, nms_iou, tiles, zoom_out
        self._interp = Interpreter(model_path=model_path(), num_threads=num_threads)
        self._interp.allocate_tensors()
        self._in = self._interp.get_input_details()[0]["index"]
        outs = self._interp.get_output_details()
        self._out_raw = next(o["index"] for o in outs if o["shape"][-1] == 12)
        self._out_score = next(o["index"] for o in outs if o["shape"][-1] == 1)
        self._anchors = _anchors()

    def _run_view(self, img: np.ndarray) -> np.ndarray:
        """Raw detections (N, 9) in `img` pixels, before NMS."""
        h, w = img.shape[:2]
        s = INPUT / max(h, w)
        nh, nw = max(1, round(h * s)), max(1, round(w * s))
        oy, ox = (INPUT - nh) // 2, (INPUT - nw) // 2
        canvas = np.full((INPUT, INPUT, 3), -1.0, dtype=np.float32)
        canvas[oy:oy + nh, ox:ox + nw] = cv2.resize(img, (nw, nh), interpolation=cv2.INTER_AREA) / 127.5 - 1.0
        self._interp.set_tensor(self._in, canvas[None])
        self._interp.invoke()
        raw = self._interp.get_tensor(self._out_raw)[0]
        logits = np.clip(self._interp.get_tensor(self._out_score)[0, :, 0], -100, 100)
        scores = expit(logits)
        keep = scores >= self.score_threshold
        if not keep.any():
            return np.zeros((0, DET_COLS), np.float32)
        raw, a, scores = raw[keep], self._anchors[keep], scores[keep]
        cx, cy = raw[:, 0] / INPUT + a[:, 0], raw[:, 1] / INPUT + a[:, 1]
        bw, bh = raw[:, 2] / INPUT, raw[:, 3] / INPUT
        kp = raw[:, 4:].reshape(-1, 4, 2) / INPUT + a[:, None, :]
        # letterbox-normalised -> view pixels
        to_px = lambda x, y: ((x * INPUT - ox) / s, (y * INPUT - oy) / s)  # noqa: E731
        fx1, fy1 = to_px(cx - bw / 2, cy - bh / 2)
        fx2, fy2 = to_px(cx + bw / 2, cy + bh / 2)
        hx, hy = to_px(kp[:, 0, 0], kp[:, 0, 1])
        ex, ey = to_px(kp[:, 1, 0], kp[:, 1, 1])
        return np.stack([scores, fx1, fy1, fx2, fy2, hx, hy, ex, ey], 1).astype(np.float32)

    def __call__(self, frame: np.ndarray) -> np.ndarray:
        """Detections (N, 9) in frame pixels after NMS, highest score first. The frame is shrunk once to the
        scale the views need (224 px on the tiles' side, or on the long side without tiles) and the whole-frame
        view and the tiles are cut from that small image, so a 1080p frame is resampled once, not once per view
        (frames within 4:3 have no tiles: one resampling, as before). Detections are mapped back with the shrunk
        image's own x and y scales (its sides are rounded to whole pixels)."""
        h, w = frame.shape[:2]
        tiles = square_tiles(h, w) if self.tiles == "auto" else []
        small, sx, sy = shrink(frame, INPUT / (min(h, w) if tiles else max(h, w)))
        sh, sw = small.shape[:2]
        dets = [_to_frame(self._run_view(small), 0, 0, sx, sy)]
        for x, y, side in tiles:
            n = min(sh, sw)
            x0, y0 = min(round(x * sx), sw - n), min(round(y * sy), sh - n)
            dets.append(_to_frame(self._run_view(small[y0:y0 + n, x0:x0 + n]), x0, y0, sx, sy))
        if self.zoom_out > 0 and not any(len(d) for d in dets):
            # the full frame padded, resampled once: a fallback, so its cost is rare, and its detections sit
            # near the score threshold, where resampling a shrunk copy again would flip some of them
            pad = int(round(self.zoom_out * max(h, w)))
            padded = cv2.copyMakeBorder(frame, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=0)
            dets.append(_to_frame(self._run_view(padded), -pad, -pad, 1.0, 1.0))
        d = np.concatenate(dets)
        if len(d) == 0:
            return d
        return weighted_nms(d[:, 0], d[:, 1:5], d[:, 1:], self.nms_iou)

    def batch(self, frames: list[np.ndarray]) -> list[np.ndarray]:
        """Detections per frame, frame by frame (the TFLite detector takes one view per run)."""
        return [self(f) for f in frames]


def _to_frame(d: np.ndarray, x: float, y: float, sx: float, sy: float) -> np.ndarray:
    """Detections in a view's pixels -> frame pixels: the view's offset (x, y) in an image that is the frame
    scaled by (sx, sy)."""
    d[:, [1, 3, 5, 7]] = (d[:, [1, 3, 5, 7]] + x) / sx
    d[:, [2, 4, 6, 8]] = (d[:, [2, 4, 6, 8]] + y) / sy
    return d


def person_boxes(dets: np.ndarray) -> np.ndarray:
    """Square body boxes (N, 4) xyxy: centre hip, side 2 * |body-circle point - hip|."""
    hip = dets[:, 5:7]
    r = np.linalg.norm(dets[:, 7:9] - hip, axis=1, keepdims=True)
    return np.concatenate([hip - r, hip + r], 1)
