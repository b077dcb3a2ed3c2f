"""YOLOX person detector (OpenMMLab, via rtmlib + onnxruntime) from a user-supplied ONNX file (`detect.weights`).
rtmlib's human mode returns the boxes that pass its score threshold without their scores, so each kept box is
scored 1.0 (track evidence then ranks by size and length). `batch(frames)` runs rtmlib's own letterbox and
decoding + NMS per frame around one session run on the stacked frames (when the file's batch axis is dynamic;
see workers/onnx_batch.py)."""
from __future__ import annotations

import contextlib
import io

import numpy as np

from ..onnx_batch import BatchedSession
from .boxes import dets_from_boxes


class YoloxDetector:
    def __init__(self, weights: str, input_size: int = 640, score_threshold: float = 0.5, nms_iou: float = 0.45,
                 device: str = "cpu"):
        from rtmlib import YOLOX

        from ..io.weights_check import check_known
        check_known(weights)                # a registry model's file (by name) must have its published sha256
        with contextlib.redirect_stdout(io.StringIO()):
            self._m = YOLOX(onnx_model=str(weights), model_input_size=(input_size, input_size), det_mode="human",
                            nms_thr=nms_iou, score_thr=score_threshold, backend="onnxruntime", device=device)
        self._session = BatchedSession(self._m.session)

    def __call__(self, frame: np.ndarray) -> np.ndarray:
        return self.batch([frame])[0]

    def batch(self, frames: list[np.ndarray]) -> list[np.ndarray]:
        """Detections (N, 9) per frame."""
        prepared = [self._m.preprocess(f) for f in frames]                            # (padded image, ratio)
        outputs = self._session.run([img for img, _ in prepared])
        out = []
        for (_, ratio), (raw, *_) in zip(prepared, outputs):
            boxes = np.asarray(self._m.postprocess(raw, ratio), dtype=np.float32).reshape(-1, 4)
            out.append(dets_from_boxes(boxes, np.ones(len(boxes), np.float32)))
        return out
