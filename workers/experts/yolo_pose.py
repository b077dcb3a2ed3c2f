"""yolo-pose — Ultralytics YOLO-pose (COCO-17 body) from user-supplied weights (`expert_settings.yolo-pose.
weights`: a .pt file; nothing is downloaded here — `skelforge models download` fetches the registry's; a file
stored under a registry name must have its published sha256). Native: coco-17. As an expert it runs on the
person crops, batched (one `predict` on all the crops of a `process` call), and keeps the detection nearest the
crop centre; `detect.detector: yolo-pose` uses the same architecture as a multi-person detector
(workers/detect/yolo.py). Score = the model's per-keypoint confidence. Crops are square, so Ultralytics'
letterbox gives each the same input alone or in a batch; on the CPU the outputs are bit-identical for every
batch size (tests/test_batching.py).
"""
from __future__ import annotations

import os

import numpy as np

from ..io.weights_check import check_known
from .base import Crop, Expert, ExpertResult, empty_points


def load_yolo(weights: str):
    check_known(weights)                                  # a registry model's file must have its published sha256
    os.environ.setdefault("YOLO_OFFLINE", "1")            # no update checks or downloads
    from ultralytics import YOLO
    return YOLO(str(weights), task="pose")


def ultralytics_version() -> str:
    from importlib.metadata import version
    return f"ultralytics {version('ultralytics')}, torch {version('torch')}"


class YoloPoseExpert(Expert):
    name = "yolo-pose"
    parts = ("body",)
    native = "coco-17"
    needs_weights = True
    batched = True

    def model_files(self):
        return [str(self.settings["weights"])] if self.settings["weights"] else []

    def check(self) -> None:
        if not self.settings["weights"]:
            raise FileNotFoundError("expert yolo-pose needs expert_settings.yolo-pose.weights: the path of a "
                                    "YOLO-pose .pt file (user-supplied weights)")
        super().check()
        check_known(self.settings["weights"])

    def package_version(self):
        return ultralytics_version()

    def load(self):
        self.check()
        self._m = load_yolo(self.settings["weights"])

    def process(self, crops: list[Crop]) -> list[ExpertResult]:
        self.setup()
        s = self.settings
        results = self._m.predict([c.image for c in crops], imgsz=s["imgsz"], conf=s["conf"], device=s["device"],
                                  verbose=False)
        return [self._pick(c, r) for c, r in zip(crops, results)]

    def _pick(self, crop: Crop, r) -> ExpertResult:
        pts = empty_points(17)
        if r.keypoints is None or len(r.boxes) == 0:
            return ExpertResult(pts)
        boxes = r.boxes.xyxy.cpu().numpy()
        centre = crop.image.shape[0] / 2
        d = np.hypot((boxes[:, 0] + boxes[:, 2]) / 2 - centre, (boxes[:, 1] + boxes[:, 3]) / 2 - centre)
        k = r.keypoints.data[int(np.argmin(d))].cpu().numpy().astype(np.float32)      # (17, 3)
        ok = k[:, 2] >= self.settings["min_score"]
        pts[ok, :2] = crop.to_frame(k[ok, :2])
        pts[ok, 2] = k[ok, 2]
        return ExpertResult(pts)
