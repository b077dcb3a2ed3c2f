"""Optional extras: which config settings need which heavy packages (pyproject's optional dependencies).

A build whose config names a feature whose packages are not installed stops before compute (exit 2), naming the
config key and the extra that installs it, instead of failing every clip when the first model loads. Only the
import machinery is asked (`importlib.util.find_spec`): nothing is imported here.
"""
from __future__ import annotations

from importlib.util import find_spec

# extra -> the top-level modules it provides
EXTRAS: dict[str, tuple[str, ...]] = {
    "dlib": ("dlib", "face_recognition_models"),
    "cluster": ("rtmlib", "onnxruntime", "ultralytics"),
    "smplx": ("smplx",),
}
# what a named expert or detector imports -> (extra, modules)
EXPERT_NEEDS: dict[str, tuple[str, tuple[str, ...]]] = {
    "dlib68": ("dlib", ("dlib", "face_recognition_models")),
    "rtmpose": ("cluster", ("rtmlib", "onnxruntime")),
    "rtmw": ("cluster", ("rtmlib", "onnxruntime")),
    "yolo-pose": ("cluster", ("ultralytics",)),
}
DETECTOR_NEEDS: dict[str, tuple[str, tuple[str, ...]]] = {
    "yolox": ("cluster", ("rtmlib", "onnxruntime")),
    "yolo-pose": ("cluster", ("ultralytics",)),
}


def needed(cfg) -> list[tuple[str, str, tuple[str, ...]]]:
    """(config key, extra, modules) for every optional feature the config uses."""
    out = [(f"experts.{part}", *EXPERT_NEEDS[name]) for part in ("body", "hands", "face")
           for name in getattr(cfg.experts, part) if name in EXPERT_NEEDS]
    if cfg.detect.detector in DETECTOR_NEEDS:
        out.append(("detect.detector", *DETECTOR_NEEDS[cfg.detect.detector]))
    if cfg.fit3d.enabled and cfg.fit3d.smplx.model_dir:
        out.append(("fit3d.smplx.model_dir", "smplx", EXTRAS["smplx"]))
    return out


def missing(cfg) -> list[str]:
    """One message per config key whose feature lacks an installed module (empty when all are there)."""
    msgs = []
    for key, extra, modules in needed(cfg):
        absent = [m for m in modules if find_spec(m) is None]
        if absent:
            msgs.append(f"{key}: needs {', '.join(absent)} (install the optional extra: "
                        f"pip install 'skelforge[{extra}]')")
    return list(dict.fromkeys(msgs))
