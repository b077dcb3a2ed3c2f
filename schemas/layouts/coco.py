"""`coco-17`: the COCO keypoint order, all joints taken directly from MediaPipe Pose."""
from __future__ import annotations

from .base import Layout, direct
from .mediapipe import B

_NAMES = ["nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder", "right_shoulder",
          "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hip", "right_hip", "left_knee",
          "right_knee", "left_ankle", "right_ankle"]

COCO_17 = Layout(
    name="coco-17", joints=tuple(direct(n, "body", B[n]) for n in _NAMES),
    # The COCO dataset's skeleton (0-based).
    edges=((15, 13), (13, 11), (16, 14), (14, 12), (11, 12), (5, 11), (6, 12), (5, 6), (5, 7), (6, 8), (7, 9),
           (8, 10), (1, 2), (0, 1), (0, 2), (1, 3), (2, 4), (3, 5), (4, 6)),
    parts={"head": (0, 1, 2, 3, 4), "left_arm": (5, 7, 9), "right_arm": (6, 8, 10), "left_leg": (11, 13, 15),
           "right_leg": (12, 14, 16)},
    regions={"body": tuple(range(17))}, center=0,
    description="COCO-17 body keypoints",
)
