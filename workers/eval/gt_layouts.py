"""Ground-truth keypoint layouts the readers recognise (workers/eval/gt.py), as data: how many points an
annotation carries, the category keypoint names that identify it (normalised: lower case, spaces and dashes as
'_'; None for files that name none, e.g. 300W/WFLW faces), the native layout that maps it into the canonical
whole-body space (schemas/natives.py) and the part it scores.

A layout is chosen by keypoint count, then by the category's names when the file has them; a count shared by
several layouts (14: CrowdPose, AIC) needs the names. COCO-WholeBody is recognised by its per-part lists
(`face_kpts`, `lefthand_kpts`, ...), MPII by its list-of-records format (workers/eval/gt.py).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

HAND_NAMES = ("wrist", "thumb1", "thumb2", "thumb3", "thumb4", "forefinger1", "forefinger2", "forefinger3",
              "forefinger4", "middle_finger1", "middle_finger2", "middle_finger3", "middle_finger4", "ring_finger1",
              "ring_finger2", "ring_finger3", "ring_finger4", "pinky_finger1", "pinky_finger2", "pinky_finger3",
              "pinky_finger4")
COCO_NAMES = ("nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder", "right_shoulder",
              "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hip", "right_hip", "left_knee",
              "right_knee", "left_ankle", "right_ankle")


@dataclass(frozen=True)
class GtLayout:
    name: str
    native: str                          # schemas.natives layout the points map through
    count: int                           # keypoints per annotation
    names: Optional[tuple[str, ...]]     # category keypoint names that identify it (normalised)
    part: str                            # body | hands | face: what an instance of it scores
    what: str                            # datasets known to use it (for messages and the README)


LAYOUTS: dict[str, GtLayout] = {l.name: l for l in (
    GtLayout("coco-17", "coco-17", 17, COCO_NAMES, "body", "COCO, OCHuman"),
    GtLayout("coco-wholebody", "coco-wholebody-133", 133, None, "body", "COCO-WholeBody"),
    GtLayout("crowdpose-14", "crowdpose-14", 14, (
        "left_shoulder", "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hip",
        "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle", "head", "neck"), "body", "CrowdPose"),
    GtLayout("aic-14", "aic-14", 14, (
        "right_shoulder", "right_elbow", "right_wrist", "left_shoulder", "left_elbow", "left_wrist", "right_hip",
        "right_knee", "right_ankle", "left_hip", "left_knee", "left_ankle", "head_top", "neck"), "body",
        "AI Challenger"),
    GtLayout("jhmdb-15", "jhmdb-15", 15, (
        "neck", "belly", "head", "right_shoulder", "left_shoulder", "right_hip", "left_hip", "right_elbow",
        "left_elbow", "right_knee", "left_knee", "right_wrist", "left_wrist", "right_ankle", "left_ankle"), "body",
        "JHMDB"),
    GtLayout("mpii-16", "mpii-16", 16, None, "body", "MPII (list format)"),
    GtLayout("hand-21", "hand-21-left", 21, HAND_NAMES, "hands", "FreiHAND, OneHand10K, CMU Panoptic hands"),
    GtLayout("face-68", "ibug-68", 68, None, "face", "300W (iBUG order)"),
    GtLayout("face-98", "wflw-98", 98, None, "face", "WFLW"),
)}
# Layouts a plain COCO-style file (one `keypoints` list per annotation) can be.
COCO_STYLE = ("coco-17", "crowdpose-14", "aic-14", "jhmdb-15", "hand-21", "face-68", "face-98")


def normalise(name: str) -> str:
    return str(name).strip().lower().replace(" ", "_").replace("-", "_")


def known_counts() -> str:
    return ", ".join(f"{LAYOUTS[n].count} {LAYOUTS[n].what}" for n in COCO_STYLE)
