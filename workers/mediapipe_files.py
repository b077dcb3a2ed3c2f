"""Where mediapipe's bundled model files are (mediapipe 0.10.21 ships its .tflite models in `mediapipe/modules`),
found without importing mediapipe: its import takes most of a second (it pulls in matplotlib and an audio
library), and a build that is served from the cache needs only the file paths, for the experts' and detector's
model hashes in the cache keys.
"""
from __future__ import annotations

import os
from functools import lru_cache
from importlib.util import find_spec


@lru_cache(maxsize=None)
def modules_dir() -> str:
    """`.../site-packages/mediapipe/modules` (ModuleNotFoundError when mediapipe is not installed)."""
    spec = find_spec("mediapipe")              # locates the package; runs none of its code
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError("mediapipe is not installed")
    return os.path.join(list(spec.submodule_search_locations)[0], "modules")


def model_file(*parts: str) -> str:
    """A bundled model file, e.g. model_file("pose_detection", "pose_detection.tflite")."""
    return os.path.join(modules_dir(), *parts)
