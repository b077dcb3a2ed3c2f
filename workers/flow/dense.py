"""Dense optical flow between consecutive frames, and its value at body joints (DeepActs' flow modality,
issue 16: Asif et al., AAAI 2021, sample the flow at the joints).

Convention: the flow of frame t is the displacement, in frame pixels, of what is at a pixel of frame t when it
appears in frame t + 1 (forward flow); sampled at a joint's position in frame t it says where that joint's
surroundings went. The last frame of a clip has no successor: its flow is NaN.

Methods (`METHODS`), all OpenCV, run on a grey copy of the frame shrunk so its long side is at most
`work_side` pixels (flow is smooth at body scale; the values are scaled back to frame pixels):
  dis-ultrafast / dis-fast / dis-medium   DIS (Kroeger et al. 2016) at OpenCV's three presets
  farneback                               Farneback's polynomial expansion (pyr 0.5, 3 levels, window 15)
`benchmarks/flow.py` measures their cost and accuracy on the sample clips; the stage's default is chosen there.

Sampling (`sample_at`): bilinear at each point, averaged over a (2r + 1)^2 grid of offsets r pixels apart at
the working scale (a small neighbourhood: one pixel's flow is noisy at motion edges, and a joint sits at one);
NaN for a NaN point or one outside the frame (beyond the outer edge of its border pixels; pixel centres at
integers).
"""
from __future__ import annotations

from itertools import islice
from typing import Callable, Iterable

import cv2
import numpy as np

from ..geometry.resize import shrink

FlowFn = Callable[[np.ndarray, np.ndarray], np.ndarray]


def _dis(preset: int) -> Callable[[], FlowFn]:
    def make() -> FlowFn:
        dis = cv2.DISOpticalFlow_create(preset)
        return lambda a, b: dis.calc(a, b, None)
    return make


def _farneback() -> FlowFn:
    return lambda a, b: cv2.calcOpticalFlowFarneback(a, b, None, 0.5, 3, 15, 3, 5, 1.2, 0)


METHODS: dict[str, Callable[[], FlowFn]] = {
    "dis-ultrafast": _dis(cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST),
    "dis-fast": _dis(cv2.DISOPTICAL_FLOW_PRESET_FAST),
    "dis-medium": _dis(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM),
    "farneback": _farneback,
}


def work_scale(height: int, width: int, work_side: int) -> float:
    """The factor frames are shrunk by before flow (1 when the long side is already within work_side)."""
    return min(1.0, work_side / max(height, width))


def grey(frame: np.ndarray, scale: float) -> np.ndarray:
    """The RGB frame as 8-bit grey, area-shrunk by `scale` (< 1) or as it is."""
    return shrink(cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY), scale)[0]


def sample_at(flow: np.ndarray, points: np.ndarray, radius: int = 1, spacing: float = 1.0) -> np.ndarray:
    """flow (h, w, 2) at points (..., 2) given in flow pixels -> (..., 2): the mean of bilinear samples over a
    (2 radius + 1)^2 grid of offsets `spacing` apart around each point; NaN where the point is NaN or outside."""
    h, w = flow.shape[:2]
    pts = np.asarray(points, dtype=np.float32)
    flat = pts.reshape(-1, 2).astype(np.float64)
    offs = np.arange(-radius, radius + 1) * spacing
    dx, dy = np.meshgrid(offs, offs)
    xs = np.clip(flat[:, 0:1] + dx.ravel()[None], 0, w - 1)          # (N, K) sample positions, clamped inside
    ys = np.clip(flat[:, 1:2] + dy.ravel()[None], 0, h - 1)
    x0 = np.clip(np.floor(np.nan_to_num(xs)), 0, max(w - 2, 0)).astype(int)     # the cell's top-left corner
    y0 = np.clip(np.floor(np.nan_to_num(ys)), 0, max(h - 2, 0)).astype(int)
    fx, fy = (xs - x0)[..., None], (ys - y0)[..., None]
    x1, y1 = np.minimum(x0 + 1, w - 1), np.minimum(y0 + 1, h - 1)
    samples = ((1 - fy) * ((1 - fx) * flow[y0, x0] + fx * flow[y0, x1])
               + fy * ((1 - fx) * flow[y1, x0] + fx * flow[y1, x1]))       # (N, K, 2), exact bilinear
    out = samples.mean(axis=1) if len(flat) else np.zeros((0, 2))
    x, y = flat[:, 0], flat[:, 1]          # inside: within the outer edges of the border pixels
    bad = ~np.isfinite(flat).all(1) | (x < -0.5) | (x > w - 0.5) | (y < -0.5) | (y > h - 0.5)
    out[bad] = np.nan
    return out.reshape(pts.shape).astype(np.float32)


def joint_flow(frames: Iterable[np.ndarray], joints: np.ndarray, method: str = "dis-medium", work_side: int = 480,
               radius: int = 1) -> np.ndarray:
    """frames: the clip's frames in order (T of them, RGB, one size); joints (M, T, J, 2) in frame pixels (NaN
    where absent) -> flow at the joints (M, T, J, 2) in frame pixels per frame, NaN where the joint is absent
    and on the last frame. Frames are read once, in order, holding two at a time."""
    M, T, J, _ = joints.shape
    out = np.full((M, T, J, 2), np.nan, np.float32)
    fn = METHODS[method]()
    prev, scale = None, 1.0
    for t, frame in enumerate(islice(frames, T)):
        if prev is None:
            scale = work_scale(*frame.shape[:2], work_side)
            prev = grey(frame, scale)
            continue
        cur = grey(frame, scale)
        flow = fn(prev, cur)
        sx, sy = prev.shape[1] / frame.shape[1], prev.shape[0] / frame.shape[0]
        at = joints[:, t - 1] * np.array([sx, sy], np.float32)
        out[:, t - 1] = sample_at(flow, at, radius) / np.array([sx, sy], np.float32)
        prev = cur
    return out
