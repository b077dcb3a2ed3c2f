"""NTU-X whole-body layouts: `ntu-x-118` (BODY_25 + 2x21 fingers + 51 face) and `ntu-x-67` (its first 67).

Order = smplify-x `smpl_to_openpose(model_type='smplx', use_hands=True, use_face=True, use_face_contour=False)`
(../shared/notes/layouts.md). Graph = NTU-X's released graph, edge for edge (skelemoa/ntu-x at
bb51200efc4e81530ba6d995cc48453177922d0b: PA-ResGCN `src/dataset/graph.py` 'ntu_ax' (118) / 'ntu_hx' (67), the same
list as the 67-joint `graph/ntu_rgb_d.py` of MS-G3D, CTR-GCN, DSTA-Net and 4s-Shift-GCN, whose commented face
part equals ntu_ax's): BODY_25 bones, each hand a tree from its wrist hung off the body wrist (left hand off
joint 7 LWrist, right off joint 4 RWrist), the face as iBUG chains (brows, nose bridge, nose base, eyes and lips,
the last four closed) with three links to the body: Nose - nose bridge top (iBUG 27), REye - right eye outer
corner (iBUG 36), LEye - left eye outer corner (iBUG 42). The brows, the nose base and both lips stay detached,
so ntu-x-118 has 6 components (the body with eyes and nose bridge, plus those 5); the action models handle that
(`workers/action/graph.py`: a detached component is rooted at its lowest-index joint).
"""
from __future__ import annotations

from .base import Joint, Layout, chain, direct, mean, src
from .mediapipe import B, HAND_21, HAND_EDGES, IBUG68_NAMES

_SMALL_TOE = ("the {side} small toe when an expert gives one (COCO-WholeBody models); else MediaPipe's foot index "
              "point (tip of the foot, big-toe side), as MediaPipe has no small toe")


def _body25() -> list[Joint]:
    return [
        direct("Nose", "body", B["nose"]),
        Joint("Neck", (mean(src("body", B["left_shoulder"]), src("body", B["right_shoulder"])),), "interpolated",
              "mean of the shoulders"),
        direct("RShoulder", "body", B["right_shoulder"]),
        direct("RElbow", "body", B["right_elbow"]),
        direct("RWrist", "body", B["right_wrist"]),
        direct("LShoulder", "body", B["left_shoulder"]),
        direct("LElbow", "body", B["left_elbow"]),
        direct("LWrist", "body", B["left_wrist"]),
        Joint("MidHip", (mean(src("body", B["left_hip"]), src("body", B["right_hip"])),), "interpolated",
              "mean of the hips"),
        direct("RHip", "body", B["right_hip"]),
        direct("RKnee", "body", B["right_knee"]),
        direct("RAnkle", "body", B["right_ankle"]),
        direct("LHip", "body", B["left_hip"]),
        direct("LKnee", "body", B["left_knee"]),
        direct("LAnkle", "body", B["left_ankle"]),
        direct("REye", "body", B["right_eye"]),
        direct("LEye", "body", B["left_eye"]),
        direct("REar", "body", B["right_ear"]),
        direct("LEar", "body", B["left_ear"]),
        Joint("LBigToe", (src("body", B["left_foot_index"]),), "approximated",
              "MediaPipe's foot index point (tip of the foot, big-toe side)"),
        Joint("LSmallToe", (src("body", B["left_small_toe"]), src("body", B["left_foot_index"])),
              "approximated", _SMALL_TOE.format(side="left")),
        direct("LHeel", "body", B["left_heel"]),
        Joint("RBigToe", (src("body", B["right_foot_index"]),), "approximated",
              "MediaPipe's foot index point (tip of the foot, big-toe side)"),
        Joint("RSmallToe", (src("body", B["right_small_toe"]), src("body", B["right_foot_index"])),
              "approximated", _SMALL_TOE.format(side="right")),
        direct("RHeel", "body", B["right_heel"]),
    ]


def _hand(side: str) -> list[Joint]:
    prefix = "L" if side == "left" else "R"
    return [direct(f"{prefix}Hand_{name}", f"{side}_hand", i) for i, name in enumerate(HAND_21)]


def _face51() -> list[Joint]:
    """iBUG points 17..67 of the canonical face (experts with a face mesh map into it via MESH_TO_IBUG68)."""
    return [direct(f"Face_{IBUG68_NAMES[i]}", "face", i) for i in range(17, 68)]


BODY25_EDGES = [(1, 8), (1, 2), (1, 5), (2, 3), (3, 4), (5, 6), (6, 7), (8, 9), (9, 10), (10, 11), (8, 12),
                (12, 13), (13, 14), (1, 0), (0, 15), (15, 17), (0, 16), (16, 18), (14, 19), (19, 20), (14, 21),
                (11, 22), (22, 23), (11, 24)]


def _face_edges(base: int) -> list[tuple[int, int]]:
    f = lambda i: base + i - 17  # iBUG index -> layout index  # noqa: E731
    e = []
    e += chain([f(i) for i in range(17, 22)])                 # right brow
    e += chain([f(i) for i in range(22, 27)])                 # left brow
    e += chain([f(i) for i in range(27, 31)])                 # nose bridge
    e += chain([f(i) for i in range(31, 36)])                 # nose base
    e += chain([f(i) for i in range(36, 42)], closed=True)    # right eye
    e += chain([f(i) for i in range(42, 48)], closed=True)    # left eye
    e += chain([f(i) for i in range(48, 60)], closed=True)    # outer lip
    e += chain([f(i) for i in range(60, 68)], closed=True)    # inner lip
    # NTU-X's three face-body links (released graph: (78, 1), (87, 16), (93, 17) 1-based)
    e += [(0, f(27)), (15, f(36)), (16, f(42))]
    return e


def _build(num: int) -> Layout:
    joints = _body25() + _hand("left") + _hand("right") + (_face51() if num == 118 else [])
    edges = list(BODY25_EDGES)
    for base, wrist in ((25, 7), (46, 4)):
        edges += [(base + a, base + b) for a, b in HAND_EDGES]
        edges.append((wrist, base))
    if num == 118:
        edges += _face_edges(67)
    parts = {
        "left_arm": (5, 6, 7), "right_arm": (2, 3, 4),
        "left_leg": (12, 13, 14, 19, 20, 21), "right_leg": (9, 10, 11, 22, 23, 24),
        "torso": (1, 8), "head": (0, 15, 16, 17, 18),
        "left_fingers": tuple(range(25, 46)), "right_fingers": tuple(range(46, 67)),
    }
    regions = {"body": tuple(range(25)), "left_hand": tuple(range(25, 46)), "right_hand": tuple(range(46, 67))}
    if num == 118:
        parts["face"] = tuple(range(67, 118))
        regions["face"] = tuple(range(67, 118))
    return Layout(
        name=f"ntu-x-{num}", joints=tuple(joints), edges=tuple(edges), parts=parts, regions=regions, center=1,
        description=("NTU60-X/NTU120-X whole body: OpenPose BODY_25, left then right hand (21 each), "
                     "51 iBUG face points (17..67)" if num == 118 else
                     "NTU-X 67: BODY_25 + left and right hands (the NTU-X paper's best variant)"),
        edge_notes=("NTU-X's released graph: face chains (brows, nose bridge, nose base, eyes and lips closed) "
                    "linked to the body only by Nose - nose bridge top, REye - right eye outer corner and "
                    "LEye - left eye outer corner; brows, nose base and lips are detached components"
                    if num == 118 else ""),
    )


NTU_X_118 = _build(118)
NTU_X_67 = _build(67)
