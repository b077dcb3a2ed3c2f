"""Expert names, the parts each produces, and how a config's `experts:` lists become per-expert part masks.
Pure data (the expert code lives in workers/experts/, which registers the same names)."""
from __future__ import annotations

# config part -> canonical parts (schemas.layouts.base.SOURCE_PARTS)
PART_GROUPS: dict[str, tuple[str, ...]] = {"body": ("body",), "hands": ("left_hand", "right_hand"), "face": ("face",)}

# expert -> config parts it can be listed under
EXPERT_PARTS: dict[str, tuple[str, ...]] = {
    "holistic": ("body", "hands", "face"),
    "pose": ("body",),
    "hands": ("hands",),
    "facemesh": ("face",),
    "dlib68": ("face",),
    # cluster experts: user-supplied weights (expert_settings.<name>.onnx / .weights)
    "yolo-pose": ("body",),
    "rtmpose": ("body",),
    "rtmw": ("body", "hands", "face"),
}
# expert -> settings that choose where the model runs or name its model file (which enters cache keys by its
# content hash instead): left out of cache keys, so a build moved to a GPU or to another weights path reuses
# its results (schemas.config.BuildConfig.key_value)
EXECUTION_SETTINGS: dict[str, tuple[str, ...]] = {
    "yolo-pose": ("weights", "device"),
    "rtmpose": ("onnx", "device"),
    "rtmw": ("onnx", "device"),
}
# Person detectors (config `detect.detector`): blazepose (bundled), yolox and yolo-pose (user-supplied weights).


def expert_parts(lists: dict[str, tuple[str, ...]]) -> dict[str, tuple[str, ...]]:
    """{"body": [a, b], "hands": [a], ...} -> {expert: canonical parts it contributes}, in first-listed order."""
    out: dict[str, list[str]] = {}
    for group, names in lists.items():
        for name in names:
            out.setdefault(name, [])
            out[name] += [p for p in PART_GROUPS[group] if p not in out[name]]
    return {k: tuple(v) for k, v in out.items()}
