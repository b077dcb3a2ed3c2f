"""SMPL-X model joints -> NTU-X 118 (OpenPose BODY_25, left hand 21, right hand 21, face 51).

Contract: `SMPLX_TO_NTU_X_118` is an int array of 118 indices into the 127 joints the `smplx` package's SMPL-X
model returns with `use_face_contour=False` (55 skeleton joints; 55-59 nose, right eye, left eye, right ear,
left ear; 60-65 left big toe, small toe, heel, right big toe, small toe, heel; 66-70 left and 71-75 right
fingertips thumb, index, middle, ring, pinky; 76-126 the 51 static face landmarks = iBUG 17..67).
The table is the correspondence of SMPLify-X's `smpl_to_openpose(model_type='smplx', use_hands=True,
use_face=True, use_face_contour=False, openpose_format='coco25')`, written out here from its definition.
`TORSO` = the NTU-X indices used to place the camera (neck, shoulders, mid-hip, hips); `ROOT` = mid-hip.
"""
from __future__ import annotations

import numpy as np

NUM_SMPLX_JOINTS = 127          # smplx output joints with use_face_contour=False

# BODY_25: Nose, Neck, RShoulder, RElbow, RWrist, LShoulder, LElbow, LWrist, MidHip, RHip, RKnee, RAnkle,
# LHip, LKnee, LAnkle, REye, LEye, REar, LEar, LBigToe, LSmallToe, LHeel, RBigToe, RSmallToe, RHeel
_BODY25 = [55, 12, 17, 19, 21, 16, 18, 20, 0, 2, 5, 8, 1, 4, 7, 56, 57, 58, 59, 60, 61, 62, 63, 64, 65]


def _hand(wrist: int, first: int, tips: int) -> list[int]:
    """OpenPose hand order (wrist, thumb 1-4, index, middle, ring, pinky) from SMPL-X finger joints, which
    run index, middle, pinky, ring, thumb (3 each from `first`), and the fingertip vertices thumb..pinky."""
    index, middle, pinky, ring, thumb = (list(range(first + 3 * k, first + 3 * k + 3)) for k in range(5))
    out = [wrist]
    for k, finger in enumerate((thumb, index, middle, ring, pinky)):
        out += finger + [tips + k]
    return out


LEFT_HAND = _hand(20, 25, 66)
RIGHT_HAND = _hand(21, 40, 71)
FACE51 = list(range(76, 127))

SMPLX_TO_NTU_X_118 = np.array(_BODY25 + LEFT_HAND + RIGHT_HAND + FACE51, dtype=np.int64)
assert SMPLX_TO_NTU_X_118.shape == (118,)

TORSO = np.array([1, 2, 5, 8, 9, 12])
ROOT = 8                        # BODY_25 mid-hip = SMPL-X joint 0 (pelvis), the root the global rotation turns about
BODY = slice(0, 25)
HANDS = slice(25, 67)
FACE = slice(67, 118)
