"""`posetics-npy`: the arrays UNIK's `data_gen/posetics_gendata.py` writes, from skelforge's 2D and 3D, so that UNIK's
`feeders.feeder.Feeder` (and its Posetics configs) load them unchanged. Verified by reading UNIK at commit
bf39968b46bdeb3f6027dda69838f94fef018c55 (README "Posetics / UNIK").

Files, per split: `<split>_data_joint.npy` float32 (N, C=5, T=300, V=17, M=2) and `<split>_label.pkl` =
pickle of (sample names, labels), the tuple the Feeder unpacks. Only `--layout posetics-17` (gendata's joint order).

Channels, as gendata fills them: x2d, y2d, x3d, y3d, z3d, for the first 2 persons and the first 300 frames,
zero-padded (gendata's array starts as zeros, so frames and persons it has no data for stay 0).
- 2D: gendata's `normalize_screen_coordinates(X, w=640, h=480)` = X / 640 * 2 - [1, 480 / 640], i.e.
  x / 320 - 1 and y / 320 - 0.75, on pixel coordinates, whatever the video's size (the 640 is fixed in their
  code), and every coordinate that is exactly 0 stays 0. Missing joints (skelforge: NaN, score 0) are written as
  0 first, so they stay 0 — gendata's "missing".
- 3D: gendata copies LCR-Net's `pose3d` unchanged. LCR-Net's 3D pose is root-relative (its demo places it in the
  scene by solving for a translation, `scene.compute_reproj_delta_3d`), in metres; gendata makes MHip the mean of
  the hips, so we take the root to be the pelvis = mean(LHip, RHip). ASSUMPTION (not checkable from UNIK's code):
  LCR-Net's axes are the camera's (x right, y down, z away from the camera). skelforge's `keypoints_3d` (camera
  frame with `fit3d`, MediaPipe's hip-centred metric world points without it; both camera-aligned in metres)
  have the per-person, per-frame MHip subtracted, so MHip is (0, 0, 0) as in LCR-Net. A joint without 3D, or a
  frame whose MHip has no 3D, is 0. A build without any 3D writes 0 in the three 3D channels.
- Head: Posetics' "Nose" is LCR-Net's head joint (index 12; gendata maps both 'Nose' and 'Mouth' to it, then
  sets Mouth = mean(Nose, Neck)); skelforge's `posetics-17` Nose is the detected nose (MediaPipe point 0), so
  Nose and Mouth sit lower on the face than LCR-Net's head would. Mouth = mean(Nose, Neck) as in gendata, but
  missing when either is (LCR-Net always outputs all 13 joints, so gendata never meets that case).
"""
from __future__ import annotations

import pickle
from collections import defaultdict
from pathlib import Path

import numpy as np

from schemas.layouts import get_layout

from .export_common import guard, pad
from .shard_reader import iter_clips

LAYOUT = "posetics-17"
SCREEN_W, SCREEN_H = 640, 480          # gendata's normalize_screen_coordinates(w=640, h=480)
PELVIS = get_layout(LAYOUT).index("MHip")


def screen_2d(kp: np.ndarray) -> np.ndarray:
    """(..., V, >=3) pixels x, y, score -> (..., V, 2) as gendata: X / w * 2 - [1, h / w]; missing and exact
    zeros -> 0."""
    xy = np.where((kp[..., 2] > 0)[..., None] & np.isfinite(kp[..., :2]), kp[..., :2], 0.0)
    out = xy / SCREEN_W * 2 - np.array([1.0, SCREEN_H / SCREEN_W])
    return np.where(xy == 0, 0.0, out).astype(np.float32)


def pelvis_centred_3d(k3: np.ndarray) -> np.ndarray:
    """(..., V, 4) x, y, z, score -> (..., V, 3) minus the same person's MHip in that frame; 0 where the joint or
    MHip has no 3D."""
    ok = (k3[..., 3] > 0) & np.isfinite(k3[..., :3]).all(-1)
    root_ok = ok[..., PELVIS]
    rel = k3[..., :3] - k3[..., PELVIS, None, :3]
    return np.where((ok & root_ok[..., None])[..., None], rel, 0.0).astype(np.float32)


def posetics_sample(kp: np.ndarray, k3: np.ndarray | None) -> np.ndarray:
    """(M, T, 17, 3) 2D [+ (M, T, 17, 4) 3D] -> (5, 300, 17, 2) float32, gendata's layout."""
    two = screen_2d(kp)
    three = pelvis_centred_3d(k3) if k3 is not None else np.zeros(kp.shape[:3] + (3,), np.float32)
    return pad(np.concatenate([two, three], -1)).transpose(3, 1, 2, 0)


def export_posetics(out: Path, layout: str, dest: Path) -> Path:
    if layout != LAYOUT:
        raise ValueError(f"the posetics-npy format is defined for --layout {LAYOUT}")
    guard(out, layout, dest, lambda ids, splits: [f"{s}{tail}" for s in splits
                                                  for tail in ("_data_joint.npy", "_label.pkl")])
    dest.mkdir(parents=True, exist_ok=True)
    data, names, labels = defaultdict(list), defaultdict(list), defaultdict(list)
    for c in iter_clips(out, layout):
        data[c["split"]].append(posetics_sample(c["keypoints"], c["keypoints_3d"]))
        names[c["split"]].append(c["clip_id"])
        labels[c["split"]].append(int(c["label"]))
    for s in data:
        np.save(dest / f"{s}_data_joint.npy", np.stack(data[s]).astype(np.float32))
        with open(dest / f"{s}_label.pkl", "wb") as fh:
            pickle.dump((names[s], labels[s]), fh)
    return dest
