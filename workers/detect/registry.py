"""Person detectors by name (`detect.detector`). Each is called on an RGB frame and returns detections (N, 9)
in the tracker's layout (blazepose.DET_COLS); `batch(frames)` returns them per frame, for the frames run as one
model batch (YOLOX, YOLO-pose) or one by one (BlazePose), alike either way. BlazePose is bundled; YOLOX and
YOLO-pose need `detect.weights`."""
from __future__ import annotations


def _blazepose(s: dict):
    from .blazepose import BlazePoseDetector
    return BlazePoseDetector(s["score_threshold"], s["nms_iou"], s["tiles"], s["zoom_out"], s["num_threads"])


def _yolox(s: dict):
    from .yolox import YoloxDetector
    return YoloxDetector(s["weights"], s["input_size"], s["score_threshold"], s["nms_iou"], s["device"])


def _yolo_pose(s: dict):
    from .yolo import YoloPoseDetector
    return YoloPoseDetector(s["weights"], s["input_size"], s["score_threshold"], s["nms_iou"], s["device"])


DETECTORS = {"blazepose": _blazepose, "yolox": _yolox, "yolo-pose": _yolo_pose}


def build(name: str, settings: dict):
    return DETECTORS[name](settings)
