"""Point names of the canonical body (MediaPipe Pose 33 + small toes) and hands, and the face-mesh -> iBUG-68 map.

Face mesh -> iBUG/300W 68 (0-based iBUG index -> mesh vertex or pair of vertices averaged). Chosen from the
canonical face-mesh topology (mediapipe/modules/face_geometry/data/canonical_face_model_uv_visualization.png):
 - jaw 0-16 follows the mesh silhouette from the subject's right ear top, through the chin (152), to the left;
 - brows 17-26 average the upper and lower brow contour vertices (70+46 .. 107+55 on the subject's right,
   outer -> inner; 336+285 .. 300+276 on the left, inner -> outer), as iBUG runs image-left to image-right;
 - nose bridge 27-30 runs down the midline 168 -> 4, nose base 31-35 = right alar 98, 97, subnasale 2, 326, 327;
 - eyes 36-47: corners 33/133 (right) and 362/263 (left), lids as the 1/3 and 2/3 points of the mesh lid contour;
 - outer lip 48-59 from the right corner 61 clockwise in the image; inner lip 60-67 from 78.
"Right" is the subject's right (image left for a frontal face), as in iBUG. The map is checked against the
300W ground truth in tests/test_face_mapping.py. Measured (FaceMesh on the two 300W sample images, NME over the
51 NTU-X points normalised by the outer inter-ocular distance): 0.035 and 0.043. Evidence behind two choices:
averaged brows 0.050/0.070 vs upper contour only 0.050/0.079; nose tip vertex 4 (0.018/0.036 at point 30) vs
vertex 1 (0.057/0.090). The jaw (not used by NTU-X) is the weakest group, 0.12-0.13.
"""
from __future__ import annotations

BODY_33 = [
    "nose", "left_eye_inner", "left_eye", "left_eye_outer", "right_eye_inner", "right_eye", "right_eye_outer",
    "left_ear", "right_ear", "mouth_left", "mouth_right", "left_shoulder", "right_shoulder", "left_elbow",
    "right_elbow", "left_wrist", "right_wrist", "left_pinky", "right_pinky", "left_index", "right_index",
    "left_thumb", "right_thumb", "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle",
    "left_heel", "right_heel", "left_foot_index", "right_foot_index",
]
# Canonical body (schemas.layouts.base.SOURCE_PARTS["body"]): MediaPipe's 33 + the two small toes.
CANON_BODY = BODY_33 + ["left_small_toe", "right_small_toe"]
B = {name: i for i, name in enumerate(CANON_BODY)}

HAND_21 = [
    "wrist", "thumb_cmc", "thumb_mcp", "thumb_ip", "thumb_tip", "index_mcp", "index_pip", "index_dip", "index_tip",
    "middle_mcp", "middle_pip", "middle_dip", "middle_tip", "ring_mcp", "ring_pip", "ring_dip", "ring_tip",
    "pinky_mcp", "pinky_pip", "pinky_dip", "pinky_tip",
]
HAND_EDGES = [(0, 1), (1, 2), (2, 3), (3, 4), (0, 5), (5, 6), (6, 7), (7, 8), (0, 9), (9, 10), (10, 11), (11, 12),
              (0, 13), (13, 14), (14, 15), (15, 16), (0, 17), (17, 18), (18, 19), (19, 20)]

# iBUG-68 index -> face-mesh vertices (averaged when two).
MESH_TO_IBUG68: list[tuple[int, ...]] = [
    # jaw 0-16
    (127,), (234,), (93,), (132,), (58,), (136,), (150,), (176,), (152,), (400,), (379,), (365,), (288,), (361,),
    (323,), (454,), (356,),
    # right brow 17-21, left brow 22-26: mean of the upper and lower brow contour vertices
    (70, 46), (63, 53), (105, 52), (66, 65), (107, 55), (336, 285), (296, 295), (334, 282), (293, 283), (300, 276),
    # nose bridge 27-30, nose base 31-35
    (168,), (197,), (5,), (4,), (98,), (97,), (2,), (326,), (327,),
    # right eye 36-41, left eye 42-47
    (33,), (160,), (158,), (133,), (153,), (144,), (362,), (385,), (387,), (263,), (373,), (380,),
    # outer lip 48-59, inner lip 60-67
    (61,), (40,), (37,), (0,), (267,), (270,), (291,), (321,), (314,), (17,), (84,), (91,),
    (78,), (81,), (13,), (311,), (308,), (402,), (14,), (178,),
]
assert len(MESH_TO_IBUG68) == 68

IBUG68_NAMES = (
    [f"jaw_{i}" for i in range(17)] + [f"right_brow_{i}" for i in range(5)] + [f"left_brow_{i}" for i in range(5)]
    + [f"nose_bridge_{i}" for i in range(4)] + [f"nose_base_{i}" for i in range(5)]
    + [f"right_eye_{i}" for i in range(6)] + [f"left_eye_{i}" for i in range(6)]
    + [f"outer_lip_{i}" for i in range(12)] + [f"inner_lip_{i}" for i in range(8)]
)

# Canonical-body bones used by refinement's bone-length outlier test (proximal, distal).
BODY_BONES = [(B[a], B[b]) for a, b in [
    ("left_shoulder", "left_elbow"), ("left_elbow", "left_wrist"), ("right_shoulder", "right_elbow"),
    ("right_elbow", "right_wrist"), ("left_hip", "left_knee"), ("left_knee", "left_ankle"),
    ("right_hip", "right_knee"), ("right_knee", "right_ankle"), ("left_ankle", "left_heel"),
    ("left_ankle", "left_foot_index"), ("right_ankle", "right_heel"), ("right_ankle", "right_foot_index"),
    ("left_shoulder", "left_hip"), ("right_shoulder", "right_hip")]]
# Left/right groups whose labels refinement may swap back when an expert mixes them up.
BODY_SWAP_GROUPS = [
    ([B[f"left_{j}"] for j in ("shoulder", "elbow", "wrist")], [B[f"right_{j}"] for j in ("shoulder", "elbow", "wrist")]),
    ([B[f"left_{j}"] for j in ("hip", "knee", "ankle", "heel", "foot_index")],
     [B[f"right_{j}"] for j in ("hip", "knee", "ankle", "heel", "foot_index")]),
]
# Joints that define a person's scale and the SSTA-PRS per-frame confidence (shoulders to ankles).
BODY_LIMBS = [B[n] for n in ("left_shoulder", "right_shoulder", "left_elbow", "right_elbow", "left_wrist",
                             "right_wrist", "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle",
                             "right_ankle")]
