"""Models loaded once per worker process (each Dask worker process keeps its own), keyed by their settings.
No Dask here: the cache is per process, whoever calls it."""
from __future__ import annotations

from functools import lru_cache

from .quiet import native_stderr_silenced


@lru_cache(maxsize=4)
def detector(name: str, settings_json: str):
    """A loaded person detector (settings = the config's detect section as canonical JSON)."""
    import json

    from .detect.registry import build
    with native_stderr_silenced():
        return build(name, json.loads(settings_json))


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
def detector_hash(name: str, weights: str | None) -> str:
    """sha256 of the detector's model file: MediaPipe's bundled pose_detection.tflite or the user's weights."""
    import os

    from .detect.blazepose import model_path
    from .experts.base import sha256_files
    path = model_path() if name == "blazepose" else weights
    if not path or not os.path.exists(path):
        raise FileNotFoundError(f"detect.weights: {path} does not exist")
    from .io.weights_check import check_known
    check_known(path)                   # a registry model's file (by name) must have its published sha256
    return sha256_files([path])


@lru_cache(maxsize=4)
def body_landmarker(num_threads: int = 1):
    """The detector-free BlazePose body landmark model (track following, expert fallback)."""
    from .pose.body_landmarks import BodyLandmarker
    with native_stderr_silenced():
        return BodyLandmarker(num_threads)


@lru_cache(maxsize=None)
def body_landmarker_hash() -> str:
    """sha256 of the bundled pose_landmark_full.tflite."""
    from .experts.base import sha256_files
    from .pose.body_landmarks import model_path
    return sha256_files([model_path()])


@lru_cache(maxsize=None)
def smplx_model_hash(model_dir: str, gender: str) -> str:
    """sha256 of the SMPL-X model file fit3d would load (its cache key's weight hash)."""
    from .experts.base import sha256_files
    from .fitting.smplx_fit import resolve_model_file
    return sha256_files([str(resolve_model_file(model_dir, gender))])
