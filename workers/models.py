"""Models loaded once per worker process (each Dask worker process keeps its own), keyed by their settings.
No Dask here: the cache is per process, whoever calls it."""
from __future__ import annotations

from functools import lru_cache

import numpy as np

from .quiet import native_stderr_silenced


@lru_cache(maxsize=4)
def blazepose_detector(score_threshold: float, nms_iou: float, tiles: str, zoom_out: float, num_threads: int):
    from .detect.blazepose import BlazePoseDetector
    with native_stderr_silenced():
        return BlazePoseDetector(score_threshold, nms_iou, tiles, zoom_out, num_threads)


@lru_cache(maxsize=4)
def holistic(model_complexity: int, min_pose_score: float, refine_face_landmarks: bool):
    from .pose.holistic import HolisticPose
    with native_stderr_silenced():
        model = HolisticPose(model_complexity, min_pose_score, refine_face_landmarks)
        model(np.zeros((256, 256, 3), np.uint8), 0.0, 0.0, 256)   # graph start-up logs happen on first use
    return model


@lru_cache(maxsize=None)
def detector_hash() -> str:
    from .detect.blazepose import file_sha256, model_path
    return file_sha256(model_path())


@lru_cache(maxsize=None)
def holistic_hash(model_complexity: int) -> str:
    from .pose.holistic import models_hash
    return models_hash(model_complexity)
