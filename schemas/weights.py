"""The model-weight registry behind `skelforge models list|download` and the load-time hash check. Pure data.

Each entry names one file a cluster expert or detector loads: where upstream publishes it (`url`; a `.zip`
holds the model as `archive_member`, which rtmlib also extracts and names `<zip stem>.onnx`), the name it is
stored under (`file`), which config keys take its path (`config_keys`) and any settings that must go with it
(`settings`, e.g. the model's input size), and its `sha256` — the hash of the stored file (for a zip: of the
extracted member, which is what experts load) — with `sha256_source`, the public page that publishes that
value. Where no published hash was found, `sha256` is None and `sha256_source` says so: `models download`
then computes and prints the hash, checks the file loads, and reports it as not verified. No hash here was
computed by us: every pinned value is copied from the page its source names.

`kind` is the file format ("onnx" or "pt"), which decides how a download is checked to load.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Optional

_OMM = "https://download.openmmlab.com/mmpose/v1/projects"


@dataclass(frozen=True)
class WeightsEntry:
    name: str
    description: str
    url: str
    file: str                                    # stored as <dir>/<file>
    kind: Literal["onnx", "pt"]
    config_keys: tuple[str, ...]                 # config keys that take this file's path
    sha256: Optional[str]                        # of the stored file; None = no published hash found
    sha256_source: str                           # where the hash is published, or why there is none
    size: Optional[int] = None                   # bytes, as published beside the hash
    archive_member: Optional[str] = None         # a zip: the member (path suffix) that is the model
    settings: dict = field(default_factory=dict)  # config key -> value to set with this file

    @property
    def pinned(self) -> bool:
        return self.sha256 is not None


def _rtmlib_zip(name: str, description: str, path: str, keys: tuple[str, ...], settings: dict) -> WeightsEntry:
    """An OpenMMLab `onnx_sdk` zip as rtmlib downloads it (it keeps the zip's end2end.onnx as <stem>.onnx).
    OpenMMLab publishes no sha256 for these zips (the hex part of a file name is the hash prefix of the .pth
    checkpoint it was exported from, not of the zip); rtmlib itself downloads them with check_hash=False."""
    stem = path.rsplit("/", 1)[-1].removesuffix(".zip")
    return WeightsEntry(name=name, description=description, url=f"{_OMM}/{path}", file=f"{stem}.onnx", kind="onnx",
                        config_keys=keys, sha256=None, archive_member="end2end.onnx", settings=settings,
                        sha256_source="not published: OpenMMLab gives no sha256 for its onnx_sdk zips, and rtmlib "
                                      "downloads them unchecked")


_RTMW = ("expert_settings.rtmw.onnx",)
_RTMPOSE = ("expert_settings.rtmpose.onnx",)
_YOLO = ("expert_settings.yolo-pose.weights", "detect.weights")
_HF_DWPOSE = "f7c16a3d45ad3783db41471848c80fbc281cabac"       # yzd-v/DWPose commit "support all dwpose models"
_HF_Y11N = "ef787449d1fe015a77a27ca4d375ed0fde69495c"         # Ultralytics/YOLO11 commit "Upload yolo11n-pose.pt"
_HF_Y11M = "510ba08be5b1246db6d8e8bbcb07efb69ca86cc3"         # Ultralytics/YOLO11 commit "Upload yolo11m-pose.pt"

WEIGHTS: dict[str, WeightsEntry] = {e.name: e for e in (
    _rtmlib_zip("rtmw-x", "RTMW-x whole-body (COCO-WholeBody 133), 384x288; OpenMMLab's cocktail13 release",
                "rtmw/onnx_sdk/rtmw-x_simcc-cocktail13_pt-ucoco_270e-384x288-0949e3a9_20230925.zip", _RTMW,
                {"expert_settings.rtmw.input_size": [288, 384]}),
    _rtmlib_zip("rtmw-l", "RTMW-l whole-body (COCO-WholeBody 133), 384x288, distilled from RTMW-x; rtmlib's "
                          "Wholebody 'performance' model",
                "rtmw/onnx_sdk/rtmw-dw-x-l_simcc-cocktail14_270e-384x288_20231122.zip", _RTMW,
                {"expert_settings.rtmw.input_size": [288, 384]}),
    _rtmlib_zip("rtmpose-m", "RTMPose-m body (COCO-17), 256x192, body7; rtmlib's Body 'balanced' model",
                "rtmposev1/onnx_sdk/rtmpose-m_simcc-body7_pt-body7_420e-256x192-e48f03d0_20230504.zip", _RTMPOSE,
                {"expert_settings.rtmpose.input_size": [192, 256]}),
    _rtmlib_zip("rtmpose-l", "RTMPose-l body (COCO-17), 256x192, body7",
                "rtmposev1/onnx_sdk/rtmpose-l_simcc-body7_pt-body7_420e-256x192-4dba18fc_20230504.zip", _RTMPOSE,
                {"expert_settings.rtmpose.input_size": [192, 256]}),
    WeightsEntry(
        name="dwpose-l", description="DWPose-l whole-body (COCO-WholeBody 133), 384x288 (RTMPose-l distilled)",
        url=f"https://huggingface.co/yzd-v/DWPose/resolve/{_HF_DWPOSE}/dw-ll_ucoco_384.onnx",
        file="dw-ll_ucoco_384.onnx", kind="onnx", config_keys=_RTMW,
        sha256="724f4ff2439ed61afb86fb8a1951ec39c6220682803b4a8bd4f598cd913b1843", size=134399116,
        sha256_source=f"Git LFS pointer in https://huggingface.co/yzd-v/DWPose/commit/{_HF_DWPOSE}",
        settings={"expert_settings.rtmw.input_size": [288, 384]}),
    _rtmlib_zip("yolox-m-person", "YOLOX-m person detector (HumanArt + COCO persons), 640; rtmlib's default "
                                  "detector",
                "rtmposev1/onnx_sdk/yolox_m_8xb8-300e_humanart-c2c7a14a.zip", ("detect.weights",),
                {"detect.detector": "yolox", "detect.input_size": 640}),
    WeightsEntry(
        name="yolo11n-pose", description="Ultralytics YOLO11n-pose (COCO-17), 640",
        url=f"https://huggingface.co/Ultralytics/YOLO11/resolve/{_HF_Y11N}/yolo11n-pose.pt",
        file="yolo11n-pose.pt", kind="pt", config_keys=_YOLO,
        sha256="869e83fcdffdc7371fa4e34cd8e51c838cc729571d1635e5141e3075e9319dc0", size=6255593,
        sha256_source=f"Git LFS pointer in https://huggingface.co/Ultralytics/YOLO11/commit/{_HF_Y11N}"),
    WeightsEntry(
        name="yolo11m-pose", description="Ultralytics YOLO11m-pose (COCO-17), 640",
        url=f"https://huggingface.co/Ultralytics/YOLO11/resolve/{_HF_Y11M}/yolo11m-pose.pt",
        file="yolo11m-pose.pt", kind="pt", config_keys=_YOLO,
        sha256="29b17eaf3a3117cbea906090dbedf9159f7c6a49db58ec8b99ed2dfde1cf6eb2", size=42459307,
        sha256_source=f"Git LFS pointer in https://huggingface.co/Ultralytics/YOLO11/commit/{_HF_Y11M}"),
    WeightsEntry(
        name="yolov8n-pose", description="Ultralytics YOLOv8n-pose (COCO-17), 640",
        url="https://github.com/ultralytics/assets/releases/download/v8.3.0/yolov8n-pose.pt",
        file="yolov8n-pose.pt", kind="pt", config_keys=_YOLO, sha256=None,
        sha256_source="not published: the ultralytics/assets release gives no checksum and ultralytics "
                      "downloads it unchecked"),
)}


def entry_for_file(file_name: str) -> Optional[WeightsEntry]:
    """The registry entry stored under this file name (the load-time check matches files by name)."""
    return next((e for e in WEIGHTS.values() if e.file == file_name), None)
