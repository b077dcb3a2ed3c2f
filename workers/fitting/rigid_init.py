"""Initial global orientation and translation of SMPL-X from camera-frame 3D joints (e.g. the direct candidate).

Contract: `rigid_init(model_torso (6, 3), root (3,), target (B, 118, 3) camera-frame NTU-X joints, NaN where
missing)` -> (global rotation (B, 3, 3), transl (B, 3), ok (B,) bool; identity / zero where not ok).
The rotation and translation are the least-squares rigid fit (Kabsch, no scale) of the rest-pose model's torso
joints (neck, shoulders, mid-hip, hips: `joint_map.TORSO`) onto the target's; a row needs at least 3 of them.
SMPL-X rotates about its root joint, so the translation is converted:
model(x) = R (x - root) + root + transl = R x + t  =>  transl = t - root + R root.
"""
from __future__ import annotations

import torch

from .joint_map import TORSO

MIN_TORSO = 3


def rigid_init(model_torso: torch.Tensor, root: torch.Tensor, target: torch.Tensor):
    X = model_torso                                              # (6, 3) rest model, no translation
    Y = target[:, TORSO]                                         # (B, 6, 3)
    w = torch.isfinite(Y).all(-1).to(X.dtype)                    # (B, 6)
    ok = w.sum(-1) >= MIN_TORSO
    Y = torch.nan_to_num(Y)
    ws = w.sum(-1, keepdim=True).clamp(min=1)
    mx = (w[..., None] * X).sum(1) / ws                          # (B, 3)
    my = (w[..., None] * Y).sum(1) / ws
    H = torch.einsum("bj,bjc,bjd->bcd", w, X - mx[:, None], Y - my[:, None])   # sum w x y^T
    U, _, Vt = torch.linalg.svd(H.double())
    d = torch.sign(torch.linalg.det(Vt.transpose(1, 2) @ U.transpose(1, 2)))
    D = torch.diag_embed(torch.stack([torch.ones_like(d), torch.ones_like(d), d], -1))
    R = (Vt.transpose(1, 2) @ D @ U.transpose(1, 2)).to(X.dtype)            # Y ~ R X + t
    t = my - (R @ mx[..., None])[..., 0]
    transl = t - root + (R @ root)
    eye = torch.eye(3, dtype=X.dtype, device=X.device).expand_as(R)
    R = torch.where(ok[:, None, None], R, eye)
    return R, torch.where(ok[:, None], transl, torch.zeros_like(transl)), ok
