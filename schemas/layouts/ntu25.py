"""`ntu-25`: the Kinect v2 joints of NTU RGB+D, approximated from MediaPipe (body + hands).

Kinect's spine, neck, head and hand-centre joints have no MediaPipe counterpart: each is interpolated from
named points (see each joint's note). Hand tip and thumb come from the hand model and fall back to the body
model's index/thumb points when the hand was not found.
"""
from __future__ import annotations

from .base import Joint, Layout, direct, lerp, mean, src
from .mediapipe import B, HAND_21

H = {name: i for i, name in enumerate(HAND_21)}
_spine_base = mean(src("body", B["left_hip"]), src("body", B["right_hip"]))
_spine_shoulder = mean(src("body", B["left_shoulder"]), src("body", B["right_shoulder"]))
_mouth = mean(src("body", B["mouth_left"]), src("body", B["mouth_right"]))


def _hand_centre(side: str) -> Joint:
    return Joint(f"{side}_hand", (src(f"{side}_hand", H["middle_mcp"]),
                                  mean(src("body", B[f"{side}_index"]), src("body", B[f"{side}_pinky"]))),
                 "approximated", "hand model's middle-finger MCP; else the mean of the body model's index and "
                                 "pinky points")


def _tip(side: str) -> Joint:
    return Joint(f"{side}_hand_tip", (src(f"{side}_hand", H["middle_tip"]), src("body", B[f"{side}_index"])),
                 "approximated", "hand model's middle-finger tip; else the body model's index point")


def _thumb(side: str) -> Joint:
    return Joint(f"{side}_thumb", (src(f"{side}_hand", H["thumb_tip"]), src("body", B[f"{side}_thumb"])),
                 "approximated", "hand model's thumb tip; else the body model's thumb point")


_JOINTS = (
    Joint("spine_base", (_spine_base,), "interpolated", "mean of the hips"),
    Joint("spine_mid", (lerp(_spine_base, _spine_shoulder, 0.5),), "interpolated",
          "midpoint of spine_base and spine_shoulder"),
    Joint("neck", (lerp(_spine_shoulder, _mouth, 0.5),), "approximated",
          "midpoint of spine_shoulder and the mouth centre"),
    Joint("head", (mean(src("body", B["left_ear"]), src("body", B["right_ear"])),), "approximated",
          "mean of the ears (head centre)"),
    direct("left_shoulder", "body", B["left_shoulder"]), direct("left_elbow", "body", B["left_elbow"]),
    direct("left_wrist", "body", B["left_wrist"]), _hand_centre("left"),
    direct("right_shoulder", "body", B["right_shoulder"]), direct("right_elbow", "body", B["right_elbow"]),
    direct("right_wrist", "body", B["right_wrist"]), _hand_centre("right"),
    direct("left_hip", "body", B["left_hip"]), direct("left_knee", "body", B["left_knee"]),
    direct("left_ankle", "body", B["left_ankle"]),
    Joint("left_foot", (src("body", B["left_foot_index"]),), "approximated", "MediaPipe's left foot index point"),
    direct("right_hip", "body", B["right_hip"]), direct("right_knee", "body", B["right_knee"]),
    direct("right_ankle", "body", B["right_ankle"]),
    Joint("right_foot", (src("body", B["right_foot_index"]),), "approximated", "MediaPipe's right foot index point"),
    Joint("spine_shoulder", (_spine_shoulder,), "interpolated", "mean of the shoulders"),
    _tip("left"), _thumb("left"), _tip("right"), _thumb("right"),
)

# Kinect v2 bones (st-gcn's NTU graph), converted to 0-based.
_EDGES_1 = [(1, 2), (2, 21), (3, 21), (4, 3), (5, 21), (6, 5), (7, 6), (8, 7), (9, 21), (10, 9), (11, 10),
            (12, 11), (13, 1), (14, 13), (15, 14), (16, 15), (17, 1), (18, 17), (19, 18), (20, 19), (22, 23),
            (23, 8), (24, 25), (25, 12)]

NTU_25 = Layout(
    name="ntu-25", joints=_JOINTS, edges=tuple((a - 1, b - 1) for a, b in _EDGES_1),
    parts={"torso": (0, 1, 2, 3, 20), "left_arm": (4, 5, 6, 7, 21, 22), "right_arm": (8, 9, 10, 11, 23, 24),
           "left_leg": (12, 13, 14, 15), "right_leg": (16, 17, 18, 19)},
    regions={"body": tuple(range(25))}, center=20,
    description="NTU RGB+D Kinect v2 25 joints, approximated from MediaPipe body + hands",
)
