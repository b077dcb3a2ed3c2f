"""Experts' native layouts and how each maps into the canonical whole-body space (schemas.layouts.base.
SOURCE_PARTS). Pure data. A mapping lists, for every canonical point a native layout can fill, the native
indices averaged to fill it (one index for a direct correspondence).

Conventions, checked on real ground truth by `skelforge eval-experts`: "left" is the subject's left everywhere
(COCO, COCO-WholeBody, MediaPipe Pose/Holistic); hand points use the shared 21-point order (wrist, thumb 1-4,
index 1-4, middle 1-4, ring 1-4, pinky 1-4); iBUG-68 face order.
"""
from __future__ import annotations

from dataclasses import dataclass

from .layouts.mediapipe import B, MESH_TO_IBUG68

Target = tuple[str, int]


@dataclass(frozen=True)
class NativeLayout:
    name: str
    size: int
    mapping: tuple[tuple[Target, tuple[int, ...]], ...]

    def covers(self, part: str) -> bool:
        return any(t[0] == part for t, _ in self.mapping)


def _direct(part: str, n: int, offset: int = 0) -> list[tuple[Target, tuple[int, ...]]]:
    return [((part, i), (offset + i,)) for i in range(n)]


COCO17_TO_BODY = [B[n] for n in ("nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder",
                                 "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist",
                                 "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle")]
# COCO-WholeBody feet 17..22: left big toe, left small toe, left heel, right big toe, right small toe, right heel
WB_FEET_TO_BODY = [B["left_foot_index"], B["left_small_toe"], B["left_heel"],
                   B["right_foot_index"], B["right_small_toe"], B["right_heel"]]

NATIVES: dict[str, NativeLayout] = {}


def _register(n: NativeLayout) -> NativeLayout:
    assert all(0 <= i < n.size for _, idx in n.mapping for i in idx), n.name
    NATIVES[n.name] = n
    return n


MEDIAPIPE_POSE_33 = _register(NativeLayout("mediapipe-pose-33", 33, tuple(_direct("body", 33))))
COCO_17 = _register(NativeLayout("coco-17", 17, tuple((("body", b), (i,)) for i, b in enumerate(COCO17_TO_BODY))))
HAND_LEFT_21 = _register(NativeLayout("hand-21-left", 21, tuple(_direct("left_hand", 21))))
HAND_RIGHT_21 = _register(NativeLayout("hand-21-right", 21, tuple(_direct("right_hand", 21))))
HANDS_2X21 = _register(NativeLayout("hands-2x21", 42, tuple(_direct("left_hand", 21)) + tuple(_direct("right_hand", 21, 21))))
IBUG_68 = _register(NativeLayout("ibug-68", 68, tuple(_direct("face", 68))))
FACE_MESH_468 = _register(NativeLayout("mediapipe-face-468", 468,
                                       tuple((("face", i), tuple(v)) for i, v in enumerate(MESH_TO_IBUG68))))
# MediaPipe Holistic's concatenated output: pose 33 | left hand 21 | right hand 21 | face mesh 468
HOLISTIC_543 = _register(NativeLayout(
    "mediapipe-holistic-543", 543,
    tuple(_direct("body", 33)) + tuple(_direct("left_hand", 21, 33)) + tuple(_direct("right_hand", 21, 54))
    + tuple((("face", i), tuple(75 + x for x in v)) for i, v in enumerate(MESH_TO_IBUG68))))
COCO_WHOLEBODY_133 = _register(NativeLayout(
    "coco-wholebody-133", 133,
    tuple((("body", b), (i,)) for i, b in enumerate(COCO17_TO_BODY))
    + tuple((("body", b), (17 + i,)) for i, b in enumerate(WB_FEET_TO_BODY))
    + tuple(_direct("face", 68, 23)) + tuple(_direct("left_hand", 21, 91)) + tuple(_direct("right_hand", 21, 112))))

# WFLW's 98 face points (ground truth for eval-experts) -> iBUG-68: every second contour point, the upper
# eyebrow arcs, nose, six of the eight points around each eye (corners + the two upper/lower ones that the
# 68-point scheme uses) and the 20 mouth points.
WFLW98_TO_IBUG68 = (list(range(0, 33, 2)) + [33, 34, 35, 36, 37, 42, 43, 44, 45, 46] + list(range(51, 60))
                    + [60, 61, 63, 64, 65, 67, 68, 69, 71, 72, 73, 75] + list(range(76, 96)))
assert len(WFLW98_TO_IBUG68) == 68
WFLW_98 = _register(NativeLayout("wflw-98", 98, tuple((("face", i), (w,)) for i, w in enumerate(WFLW98_TO_IBUG68))))


# Ground-truth body layouts read by `skelforge eval` / `eval-experts` (workers/eval/gt_layouts.py). Their joints
# without a canonical counterpart (head top, neck, thorax, pelvis, JHMDB's belly and head centre) are not mapped,
# so they are not scored. "left" is the subject's left in each dataset's own naming; the orders are the files'
# category keypoint names (CrowdPose, AIC, JHMDB) and MPII's documented joint ids, checked against the data by
# tests/test_eval_e2e.py (the experts put each mapped left joint nearer the ground truth's left joint than its
# right one).
def _named(*names: str) -> tuple:
    return tuple((("body", B[n]), (i,)) for i, n in enumerate(names) if n in B)


CROWDPOSE_14 = _register(NativeLayout("crowdpose-14", 14, _named(
    "left_shoulder", "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hip",
    "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle", "head_top", "neck")))
AIC_14 = _register(NativeLayout("aic-14", 14, _named(
    "right_shoulder", "right_elbow", "right_wrist", "left_shoulder", "left_elbow", "left_wrist", "right_hip",
    "right_knee", "right_ankle", "left_hip", "left_knee", "left_ankle", "head_top", "neck")))
JHMDB_15 = _register(NativeLayout("jhmdb-15", 15, _named(
    "neck", "belly", "head", "right_shoulder", "left_shoulder", "right_hip", "left_hip", "right_elbow",
    "left_elbow", "right_knee", "left_knee", "right_wrist", "left_wrist", "right_ankle", "left_ankle")))
MPII_16 = _register(NativeLayout("mpii-16", 16, _named(
    "right_ankle", "right_knee", "right_hip", "left_hip", "left_knee", "left_ankle", "pelvis", "thorax",
    "upper_neck", "head_top", "right_wrist", "right_elbow", "right_shoulder", "left_shoulder", "left_elbow",
    "left_wrist")))
