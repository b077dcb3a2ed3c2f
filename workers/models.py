"""Models loaded once per worker process (each Dask worker process keeps its own): one instance per model and
device, keyed by the settings it is built from (model file and device included; execution-only settings the
caller applies, such as batch sizes, are not part of it). No Dask here: the cache is per process, whoever calls it.

Thread-safe: concurrent callers asking for the same model wait for the one load (`_loaded`), so threads of a
process share an instance; the instances themselves (MediaPipe graphs, Ultralytics predictors) are run by one
thread at a time, which is how skelforge's single-threaded workers call them.
"""
from __future__ import annotations

import threading
from collections import OrderedDict
from functools import lru_cache
from typing import Callable

from .quiet import native_stderr_silenced

_LOCK = threading.RLock()              # re-entrant: a model's loader may load another model
_MODELS: OrderedDict = OrderedDict()
_MAX_MODELS = 16                       # least recently used beyond this are dropped (tests run many configs)


def _loaded(key: tuple, make: Callable[[], object]):
    """The model for `key`, made once per process by `make`; concurrent callers wait for that one load."""
    with _LOCK:
        if key in _MODELS:
            _MODELS.move_to_end(key)
            return _MODELS[key]
        model = make()
        _MODELS[key] = model
        while len(_MODELS) > _MAX_MODELS:
            _MODELS.popitem(last=False)
        return model


def detector(name: str, settings_json: str):
    """A loaded person detector (settings = the config's detect section as canonical JSON, its model file and
    device included; the stage leaves out its batch size)."""
    import json

    from .detect.registry import build

    def make():
        with native_stderr_silenced():
            return build(name, json.loads(settings_json))
    return _loaded(("detector", name, settings_json), make)


def expert(name: str, settings_json: str):
    """A set-up expert instance (settings as canonical JSON, its model file and device included)."""
    import json

    from .experts.registry import EXPERTS

    def make():
        e = EXPERTS[name](**json.loads(settings_json))
        e.setup()
        return e
    return _loaded(("expert", name, settings_json), make)


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


def body_landmarker(num_threads: int = 1):
    """The detector-free BlazePose body landmark model (track following, expert fallback)."""
    from .pose.body_landmarks import BodyLandmarker

    def make():
        with native_stderr_silenced():
            return BodyLandmarker(num_threads)
    return _loaded(("body-landmarks", num_threads), make)


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
