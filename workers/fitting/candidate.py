"""SMPL-X fitting as a `fit3d` candidate: refined canonical 2D -> NTU-X 118 keypoints -> SMPL-X fit per person
track (shape shared over the track, temporal term between consecutive frames) -> camera-frame 3D back in the
canonical whole-body space, so every layout with 3D can be made from it.

inputs:  canonical 2D (M, T, 145, 3) pixels + score, intrinsics K, the fit3d.smplx config, and the direct
         candidate's canonical 3D (M, T, 145, 4) when there is one (the fit's start and 3D guide)
outputs: canonical 3D (M, T, 145, 4) = X, Y, Z metres (camera frame), score, and the fitted parameters
         (M, T, P) in PARAMS order (NaN where a frame was not fitted); points SMPL-X has no joint for
         (MediaPipe's eye corners, mouth corners, hand points on the body model, the face contour) are NaN
         with score 0; a point's score is its 2D score (no 2D point, no 3D point), frames with fewer than
         `MIN_JOINTS` confident NTU-X joints are not fitted
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np

from schemas.layouts import get_layout, source_offset

from ..convert.layout_eval import apply_layout
from .smplx_fit import fit, load_model

MIN_JOINTS = 8
# the parameter vector per person and frame (load_model's defaults: 12 PCA hand components, 10 betas/expression)
PARAMS: tuple[tuple[str, int], ...] = (("global_orient", 3), ("body_pose", 63), ("left_hand_pose", 12),
                                       ("right_hand_pose", 12), ("jaw_pose", 3), ("expression", 10),
                                       ("betas", 10), ("transl", 3))
PARAM_SIZE = sum(n for _, n in PARAMS)


@lru_cache(maxsize=1)
def ntu_x_to_canonical() -> tuple[np.ndarray, np.ndarray]:
    """(NTU-X joint indices, canonical indices) of the NTU-X joints that are one canonical point directly."""
    src, dst = [], []
    for j, joint in enumerate(get_layout("ntu-x-118").joints):
        if joint.kind == "direct" and len(joint.candidates) == 1 and len(joint.candidates[0]) == 1:
            (part, index), _ = joint.candidates[0][0]
            src.append(j)
            dst.append(source_offset(part) + index)
    return np.array(src), np.array(dst)


@lru_cache(maxsize=2)
def _model(model_dir: str, gender: str, device: str):
    return load_model(model_dir, gender=gender, device=device)


def _device(name: str) -> str:
    import torch
    return ("cuda" if torch.cuda.is_available() else "cpu") if name == "auto" else name


def smplx_candidate(scfg, points: np.ndarray, K, direct: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    M, T, V, _ = points.shape
    out = np.full((M, T, V, 4), np.nan, np.float32)
    out[..., 3] = 0.0
    params = np.full((M, T, PARAM_SIZE), np.nan, np.float32)
    kp = apply_layout("ntu-x-118", points)                                    # (M, T, 118, 3)
    rows = (kp[..., 2] > 0).sum(-1) >= MIN_JOINTS                              # (M, T)
    if not rows.any():
        return out, params
    device = _device(scfg.device)
    model = _model(str(scfg.model_dir), scfg.gender, device)
    m_idx, t_idx = np.nonzero(rows)
    init = None
    if direct is not None:                         # the direct candidate starts the fit and guides its body (see fit)
        d = apply_layout("ntu-x-118", direct)[m_idx, t_idx]                   # (B, 118, 4)
        init = {"joints": np.where(d[..., 3:] > 0, d[..., :3], np.nan)}
    res = fit(model, kp[m_idx, t_idx], K, init=init, sequence_ids=m_idx, iterations=scfg.iterations, device=device)
    src, dst = ntu_x_to_canonical()
    J = np.asarray(res["joints"], np.float32)                                 # (B, 118, 3)
    score = kp[m_idx, t_idx][:, src, 2]
    ok = score > 0
    block = out[m_idx, t_idx]                                                  # (B, 145, 4) copy
    block[:, dst, :3] = np.where(ok[..., None], J[:, src], np.nan)
    block[:, dst, 3] = np.where(ok, score, 0.0)
    out[m_idx, t_idx] = block
    params[m_idx, t_idx] = np.concatenate([np.asarray(res[name], np.float32).reshape(len(m_idx), n)
                                           for name, n in PARAMS], -1)
    return out, params
