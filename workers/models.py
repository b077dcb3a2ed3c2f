"""Models loaded once per worker process (each Dask worker process keeps its own), keyed by their settings.
No Dask here: the cache is per process, whoever calls it."""
from __future__ import annotations

from functools import lru_cache

from .quiet import native_stderr_silenced


@lru_cache(maxsize=4)
def blazepose_detector(score_threshold: float, nms_iou: float, tiles: str, zoom_out: float, num_threads: int):
    from .detect.blazepose import BlazePoseDetector
    with native_stderr_silenced():
        return BlazePoseDetector(score_threshold, nms_iou, tiles, zoom_out, num_threads)


@lru_cache(maxsize=16)
def expert(name: str, settings_json: str):
    """A set-up expert instance (settings as canonical JSON so the cache key is hashable)."""
    import json

    from .experts.registry import EXPERTS
    e = EXPERTS[name](**json.loads(settings_json))
    e.setup()
    return e


@lru_cache(maxsize=16)
def expert_version(name: str, settings_json: str) -> dict:
    import json

    from .experts.registry import EXPERTS
    return EXPERTS[name](**json.loads(settings_json)).version()


@lru_cache(maxsize=None)
def detector_hash() -> str:
    from .detect.blazepose import file_sha256, model_path
    return file_sha256(model_path())
