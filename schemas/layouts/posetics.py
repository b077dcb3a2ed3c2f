"""`posetics-17`: the Posetics / UNIK 17-joint body (UNIK data_gen/posetics_gendata.py order).

Four joints are interpolated exactly as Posetics did: MHip = mean(LHip, RHip); Neck = mean(LShoulder, RShoulder);
Chest = mean(MHip, Neck); Mouth = mean(Nose, Neck).

Head convention: Posetics' "Nose" is LCR-Net's head joint (LCR-Net index 12; posetics_gendata.py maps both Nose and
Mouth to it before Mouth is re-set to mean(Nose, Neck)). Here Nose is the detected nose (MediaPipe point 0), so
Nose and Mouth sit lower on the face than in Posetics data; the posetics-npy export documents the rest of the
conversion (workers/io/export_posetics.py).
"""
from __future__ import annotations

from .base import Joint, Layout, direct, edges_by_name, mean, src
from .mediapipe import B

_neck = mean(src("body", B["left_shoulder"]), src("body", B["right_shoulder"]))
_mhip = mean(src("body", B["left_hip"]), src("body", B["right_hip"]))

_JOINTS = (
    direct("Nose", "body", B["nose"]),
    Joint("Mouth", (mean(src("body", B["nose"]), _neck),), "interpolated", "mean(Nose, Neck), as Posetics"),
    Joint("Neck", (_neck,), "interpolated", "mean(LShoulder, RShoulder), as Posetics"),
    Joint("Chest", (mean(_mhip, _neck),), "interpolated", "mean(MHip, Neck), as Posetics"),
    Joint("MHip", (_mhip,), "interpolated", "mean(LHip, RHip), as Posetics"),
    direct("LShoulder", "body", B["left_shoulder"]), direct("RShoulder", "body", B["right_shoulder"]),
    direct("LElbow", "body", B["left_elbow"]), direct("RElbow", "body", B["right_elbow"]),
    direct("LWrist", "body", B["left_wrist"]), direct("RWrist", "body", B["right_wrist"]),
    direct("LHip", "body", B["left_hip"]), direct("RHip", "body", B["right_hip"]),
    direct("LKnee", "body", B["left_knee"]), direct("RKnee", "body", B["right_knee"]),
    direct("LAnkle", "body", B["left_ankle"]), direct("RAnkle", "body", B["right_ankle"]),
)
_NAMES = [j.name for j in _JOINTS]

POSETICS_17 = Layout(
    name="posetics-17", joints=_JOINTS,
    edges=edges_by_name(_NAMES, [
        ("Nose", "Mouth"), ("Mouth", "Neck"), ("Neck", "Chest"), ("Chest", "MHip"),
        ("Neck", "LShoulder"), ("LShoulder", "LElbow"), ("LElbow", "LWrist"),
        ("Neck", "RShoulder"), ("RShoulder", "RElbow"), ("RElbow", "RWrist"),
        ("MHip", "LHip"), ("LHip", "LKnee"), ("LKnee", "LAnkle"),
        ("MHip", "RHip"), ("RHip", "RKnee"), ("RKnee", "RAnkle"),
    ]),
    parts={"head": (0, 1), "torso": (2, 3, 4), "left_arm": (5, 7, 9), "right_arm": (6, 8, 10),
           "left_leg": (11, 13, 15), "right_leg": (12, 14, 16)},
    regions={"body": tuple(range(17))}, center=3,
    description="Posetics / UNIK 17-joint body (13 LCR-Net joints + 4 interpolated)",
)
