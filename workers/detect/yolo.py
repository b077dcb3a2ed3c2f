"""Ultralytics YOLO-pose as a multi-person detector (`detect.detector: yolo-pose`, weights from
`detect.weights`): its boxes and scores, with the head region centred on its five head keypoints. `batch(frames)`
runs the frames as one `predict` batch (the frames of a clip share one shape, so each gets the letterbox it gets
alone)."""
from __future__ import annotations

import numpy as np

from ..experts.yolo_pose import load_yolo
from .boxes import dets_from_boxes


class YoloPoseDetector:
    def __init__(self, weights: str, input_size: int = 640, score_threshold: float = 0.5, nms_iou: float = 0.45,
                 device: str = "cpu"):
        self._m = load_yolo(weights)
        self._kw = dict(imgsz=input_size, conf=score_threshold, iou=nms_iou, device=device, verbose=False)

    def __call__(self, frame: np.ndarray) -> np.ndarray:
        return self.batch([frame])[0]

    def batch(self, frames: list[np.ndarray]) -> list[np.ndarray]:
        """Detections (N, 9) per frame."""
        return [_detections(r) for r in self._m.predict(list(frames), **self._kw)]


def _detections(r) -> np.ndarray:
    if len(r.boxes) == 0:
        return np.zeros((0, 9), np.float32)
    boxes = r.boxes.xyxy.cpu().numpy()
    scores = r.boxes.conf.cpu().numpy()
    heads = None
    if r.keypoints is not None:
        k = r.keypoints.data.cpu().numpy()[:, :5]                     # nose, eyes, ears
        vis = k[..., 2] > 0.3
        with np.errstate(invalid="ignore"):
            heads = np.where(vis.any(1)[:, None],
                             (k[..., :2] * vis[..., None]).sum(1) / np.maximum(vis.sum(1), 1)[:, None], np.nan)
    return dets_from_boxes(boxes, scores, heads)
