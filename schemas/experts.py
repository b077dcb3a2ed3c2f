"""Expert names, the parts each produces, each expert's settings (typed, with defaults and ranges), and how a
config's `experts:` lists become per-expert part masks. Pure data (the expert code lives in workers/experts/,
which registers the same names and takes its defaults from `EXPERT_SETTINGS`).

`check_expert_settings` validates a config's `expert_settings:` mapping when the config loads, so a bad value
(e.g. `holistic.model_complexity: 7`) is an error naming `expert_settings.holistic.model_complexity` before
anything runs.
"""
from __future__ import annotations

import json

from typing import Annotated, Literal, Optional

from pydantic import ConfigDict, Field, ValidationError
from pydantic_core import PydanticCustomError

from .marks import EXECUTION
from .strict_numbers import NoBoolNumbers

# config part -> canonical parts (schemas.layouts.base.SOURCE_PARTS)
PART_GROUPS: dict[str, tuple[str, ...]] = {"body": ("body",), "hands": ("left_hand", "right_hand"), "face": ("face",)}

# expert -> config parts it can be listed under
EXPERT_PARTS: dict[str, tuple[str, ...]] = {
    "holistic": ("body", "hands", "face"),
    "holistic-roi": ("body", "hands", "face"),
    "pose": ("body",),
    "hands": ("hands",),
    "facemesh": ("face",),
    "dlib68": ("face",),
    # cluster experts: user-supplied weights (expert_settings.<name>.onnx / .weights)
    "yolo-pose": ("body",),
    "rtmpose": ("body",),
    "rtmw": ("body", "hands", "face"),
}
# Person detectors (config `detect.detector`): blazepose (bundled), yolox and yolo-pose (user-supplied weights).

Score = Annotated[float, Field(ge=0, le=1)]
Side = Annotated[int, Field(ge=1)]


class _Settings(NoBoolNumbers):
    model_config = ConfigDict(extra="forbid", frozen=True)


class HolisticSettings(_Settings):
    model_complexity: Literal[0, 1, 2] = Field(1, description="pose landmark model: lite, full, heavy (0/1/2)")
    min_score: Score = Field(0.5, description="MediaPipe min_detection_confidence")
    refine_face_landmarks: bool = False
    roi_fallback: bool = Field(True, description="when MediaPipe's own person detector finds nobody in the crop, "
                                                 "run the body landmark model on the crop itself (video-mode ROI)")


class HolisticRoiSettings(_Settings):
    min_score: Score = Field(0.5, description="pose-presence score below which the body (and so the person) "
                                              "is dropped; MediaPipe's own landmark threshold is 0.5")
    min_face_score: Score = Field(0.5, description="short-range face detector confidence in the face region")


class PoseSettings(_Settings):
    model_complexity: Literal[0, 1, 2] = 1
    min_score: Score = 0.5
    roi_fallback: bool = Field(True, description="when MediaPipe's own person detector finds nobody in the crop, "
                                                 "run the body landmark model on the crop itself (video-mode ROI)")


class HandsSettings(_Settings):
    min_score: Score = 0.5
    mirrored_input: bool = Field(False, description="the crops are mirrored (selfie view): keep MediaPipe's sides")


class FaceMeshSettings(_Settings):
    min_score: Score = Field(0.5, description="face-presence score below which the mesh is dropped")
    face_scale: float = Field(1.6, gt=0, description="ROI side = face box side x this")
    refine_scale: float = Field(1.5, gt=0, description="ROI side for the refining passes x the mesh's box")
    passes: int = Field(2, ge=1)
    min_face_score: Score = 0.3


class Dlib68Settings(_Settings):
    min_score: Score = Field(0.3, description="face detector confidence (sigmoid of its score) to keep a face")
    context: float = Field(2.0, gt=0, description="ROI side = face box side x this")
    roi_size: Side = Field(320, description="ROI side in pixels the detector sees")
    threshold: float = Field(-0.5, description="dlib HOG detector adjust_threshold")
    min_face_score: Score = 0.3


class RTMPoseSettings(_Settings):
    onnx: Optional[str] = Field(None, description="the model's ONNX file (user-supplied)", json_schema_extra=EXECUTION)
    input_size: tuple[Side, Side] = Field((192, 256), description="model input (w, h)")
    device: str = Field("cpu", description="cpu or cuda (onnxruntime-gpu)", json_schema_extra=EXECUTION)
    box_shrink: float = Field(0.8, gt=0, le=1, description="person box = this central part of the crop")
    min_score: Score = 0.3


class RTMWSettings(RTMPoseSettings):
    input_size: tuple[Side, Side] = (288, 384)


class YoloPoseSettings(_Settings):
    weights: Optional[str] = Field(None, description="the YOLO-pose .pt file (user-supplied)",
                                   json_schema_extra=EXECUTION)
    imgsz: int = Field(640, ge=32)
    conf: Score = Field(0.25, description="YOLO detection confidence")
    device: str = Field("cpu", json_schema_extra=EXECUTION)
    min_score: Score = 0.3


EXPERT_SETTINGS: dict[str, type[_Settings]] = {
    "holistic": HolisticSettings, "holistic-roi": HolisticRoiSettings, "pose": PoseSettings, "hands": HandsSettings,
    "facemesh": FaceMeshSettings, "dlib68": Dlib68Settings, "yolo-pose": YoloPoseSettings,
    "rtmpose": RTMPoseSettings, "rtmw": RTMWSettings,
}
# expert -> its execution settings (marked EXECUTION: the device, and model-file paths whose files enter cache
# keys by content hash): left out of cache keys (schemas.config.BuildConfig.key_value)
EXECUTION_SETTINGS: dict[str, tuple[str, ...]] = {
    name: tuple(f for f, info in cls.model_fields.items() if (info.json_schema_extra or {}).get("execution"))
    for name, cls in EXPERT_SETTINGS.items()}


def known_experts(by_expert: dict) -> dict:
    """A mapping keyed by expert name: every key must be a known expert."""
    unknown = [k for k in by_expert if k not in EXPERT_PARTS]
    if unknown:
        raise ValueError(f"unknown expert(s) {unknown}; known: {sorted(EXPERT_PARTS)}")
    return by_expert


def check_expert_settings(by_expert: dict) -> None:
    """Validate `expert_settings` ({expert: {setting: value}}); raises one ValidationError whose errors sit at
    `<expert>.<setting>` (unknown experts at `<expert>`)."""
    errors = []
    for name, settings in by_expert.items():
        if name not in EXPERT_SETTINGS:
            errors.append({"type": PydanticCustomError("unknown_expert", "unknown expert; known: {known}",
                                                       {"known": ", ".join(sorted(EXPERT_SETTINGS))}),
                           "loc": (name,), "input": settings})
            continue
        try:
            EXPERT_SETTINGS[name].model_validate(settings)
        except ValidationError as e:
            errors += [{"type": err["type"], "loc": (name, *err["loc"]), "input": err["input"],
                        **({"ctx": err["ctx"]} if "ctx" in err else {})} for err in e.errors()]
    if errors:
        raise ValidationError.from_exception_data("expert_settings", errors)


def expert_parts(lists: dict[str, tuple[str, ...]]) -> dict[str, tuple[str, ...]]:
    """{"body": [a, b], "hands": [a], ...} -> {expert: canonical parts it contributes}, in first-listed order."""
    out: dict[str, list[str]] = {}
    for group, names in lists.items():
        for name in names:
            out.setdefault(name, [])
            out[name] += [p for p in PART_GROUPS[group] if p not in out[name]]
    return {k: tuple(v) for k, v in out.items()}


def used_experts(cfg) -> dict[str, tuple[str, ...]]:
    """Which experts a build's config runs, each with the parts it is used for (config knowledge: the pose stage
    runs them, refine fuses them, the build checks their model files)."""
    return expert_parts({"body": cfg.experts.body, "hands": cfg.experts.hands, "face": cfg.experts.face})


def settings_json(cfg, name: str) -> str:
    """An expert's settings from the config as canonical JSON (the models' cache key and constructor argument)."""
    return json.dumps(cfg.expert_settings.get(name, {}), sort_keys=True)
