"""SMPL-X fitting to 2D whole-body keypoints (the SMPLify-X role), batched over frames x persons, in torch.

Contract:
- `load_model(model_dir, gender, num_betas, num_expression, num_pca_comps, device)` -> the `smplx` SMPL-X module
  (PCA hands, no face contour: 127 output joints, checked). `model_dir` is a folder holding
  `smplx/SMPLX_<GENDER>.npz` (the `smplx.create` layout) or `SMPLX_<GENDER>.npz` directly, or the npz itself.
  The model is licence-gated (https://smpl-x.is.tue.mpg.de) and user-supplied: a missing folder or file raises
  `FileNotFoundError` naming the path and the expected file.
- `fit(model, keypoints_2d (B, 118, 3) pixel x, y, confidence in NTU-X 118 order, intrinsics (fx, fy, cx, cy),
  init=None, sequence_ids / frames_per_sequence, iterations, temporal_weight, device)` -> dict of numpy arrays:
  global_orient (B, 3), body_pose (B, 63), left_hand_pose / right_hand_pose (B, num_pca_comps) PCA coefficients,
  jaw_pose (B, 3), expression (B, E), betas (B, num_betas) (one shape per sequence, repeated on its frames),
  transl (B, 3), joints (B, 118, 3) metres in the camera frame (OpenCV: x right, y down, z forward; the camera
  is at the origin with identity rotation), reprojection_error (B,) confidence-weighted mean pixel distance
  (NaN where a frame has no confident joint), sequence_ids (B,).
  B = frames x persons; rows with the same sequence id are one person's track, consecutive rows = consecutive
  frames: the shape is shared and the temporal term links them. Default: every row its own sequence.
- Loss (per frame, summed): Geman-McClure (sigma 100 px) confidence-weighted reprojection of the 118 joints
  through the pinhole camera; L2 body pose prior (stand-in for SMPLify-X's VPoser, whose learned weights are not
  available here); L2 shape prior; L2 hand PCA prior; L2 expression and jaw priors; SMPLify's exp joint-angle
  limits on elbows and knees; temporal smoothness (squared consecutive differences of body/hand/jaw pose,
  expression, global rotation matrix and translation within a sequence).
- Stages like SMPLify-X: (0) translation + global orientation on the torso joints, initialised from the 2D
  torso size and the focal length (or from `init`), trying facing-the-camera / facing-away orientations from
  the shoulders' left-right order; (1-3) all parameters with annealed prior weights. L-BFGS (strong Wolfe).
"""
from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
import torch
from smplx.lbs import batch_rodrigues

from . import priors
from .fast_joints import JointsOnly
from .joint_map import NUM_SMPLX_JOINTS, SMPLX_TO_NTU_X_118, TORSO

SIGMA_PX = 100.0
# annealed weights of stages 1..3 (data term in pixels^2, poses in rad^2)
STAGE_WEIGHTS = [
    dict(pose=400.0, shape=100.0, hand=40.0, expr=40.0, jaw=400.0, angle=10.0),
    dict(pose=40.0, shape=20.0, hand=4.0, expr=4.0, jaw=40.0, angle=5.0),
    dict(pose=4.0, shape=5.0, hand=0.4, expr=0.4, jaw=4.0, angle=1.0),
]
_TORSO_PAIRS = ((2, 9), (5, 12), (1, 8), (2, 5), (9, 12))  # shoulder-hip diagonals, neck-midhip, shoulders, hips


def resolve_model_file(model_dir: str | os.PathLike, gender: str) -> Path:
    name = f"SMPLX_{gender.upper()}.npz"
    p = Path(model_dir)
    hint = (f"expected {name} (the licence-gated SMPL-X model, https://smpl-x.is.tue.mpg.de, supplied by the user) "
            f"in {p}/smplx/ or {p}/")
    if p.is_file():
        return p
    if not p.is_dir():
        raise FileNotFoundError(f"SMPL-X model directory {p} does not exist: {hint}")
    for cand in (p / "smplx" / name, p / name):
        if cand.is_file():
            return cand
    raise FileNotFoundError(f"SMPL-X model file missing under {p}: {hint}")


def load_model(model_dir: str | os.PathLike, gender: str = "neutral", num_betas: int = 10,
               num_expression: int = 10, num_pca_comps: int = 12, device: str | torch.device = "cpu"):
    """The SMPL-X body model (PCA hands, static face landmarks only) on `device`."""
    import smplx
    path = resolve_model_file(model_dir, gender)
    model = smplx.create(str(path), model_type="smplx", gender=gender, use_pca=True, num_pca_comps=num_pca_comps,
                         num_betas=num_betas, num_expression_coeffs=num_expression, use_face_contour=False,
                         flat_hand_mean=False, batch_size=1, ext="npz").to(device)
    with torch.no_grad():
        n = model().joints.shape[1]
    if n != NUM_SMPLX_JOINTS:
        raise ValueError(f"{path}: the SMPL-X model gives {n} joints, expected {NUM_SMPLX_JOINTS}")
    return model


def _forward(model, p: dict, seq: torch.Tensor) -> torch.Tensor:
    """NTU-X 118 joints (B, 118, 3) in the camera frame (the model's joints, computed by `JointsOnly`)."""
    fast = getattr(model, "_joints_only", None)
    if fast is None or fast.v_template.device != p["transl"].device:
        fast = model._joints_only = JointsOnly(model)
    J = fast(betas=p["betas"][seq], expression=p["expression"], global_orient=p["global_orient"],
             body_pose=p["body_pose"], left_hand_pose=p["left_hand_pose"], right_hand_pose=p["right_hand_pose"],
             jaw_pose=p["jaw_pose"], transl=p["transl"])
    return J[:, torch.as_tensor(SMPLX_TO_NTU_X_118, device=J.device)]


def _sequence_ids(B: int, sequence_ids, frames_per_sequence) -> np.ndarray:
    if sequence_ids is not None:
        ids = np.asarray(sequence_ids)
        if ids.shape != (B,):
            raise ValueError(f"sequence_ids must have shape ({B},), got {ids.shape}")
    elif frames_per_sequence:
        ids = np.arange(B) // int(frames_per_sequence)
    else:
        ids = np.arange(B)
    _, inv = np.unique(ids, return_inverse=True)
    return inv


def _init_translation(model, kp: torch.Tensor, orient: torch.Tensor, intrinsics) -> torch.Tensor:
    """Depth from the ratio of 3D (model at `orient`) to 2D torso lengths times focal; x, y from the 2D mid-hip."""
    fx, fy, cx, cy = intrinsics
    f = 0.5 * (fx + fy)
    B = kp.shape[0]
    with torch.no_grad():
        J = _forward(model, _zero_params(model, B, kp.dtype, kp.device) | {"global_orient": orient},
                     torch.zeros(B, dtype=torch.long, device=kp.device))
    transl = kp.new_zeros(B, 3)
    xy, c = kp[..., :2], kp[..., 2] > 0
    for b in range(B):
        ratios = [float((J[b, i, :2] - J[b, j, :2]).norm() / (xy[b, i] - xy[b, j]).norm().clamp(min=1.0))
                  for i, j in _TORSO_PAIRS if c[b, i] and c[b, j]]
        if not ratios and c[b].sum() >= 2:   # fall back on the extent of whatever is visible
            v = c[b]
            ratios = [float((J[b, v, :2].amax(0) - J[b, v, :2].amin(0)).norm()
                            / (xy[b, v].amax(0) - xy[b, v].amin(0)).norm().clamp(min=1.0))]
        depth = f * float(np.median(ratios)) if ratios else 3.0
        vis = [k for k in (8, 1, 9, 12, 2, 5) if c[b, k]]
        anchor = vis[0] if vis else None
        if anchor is None and c[b].any():
            anchor = int(torch.nonzero(c[b])[0])
        if anchor is None:
            transl[b] = kp.new_tensor([0.0, 0.0, depth])
            continue
        u, v = xy[b, anchor]
        target = torch.stack([(u - cx) * depth / fx, (v - cy) * depth / fy, kp.new_tensor(depth)])
        transl[b] = target - J[b, anchor]
    return transl


def _zero_params(model, B: int, dtype, device) -> dict:
    z = lambda *s: torch.zeros(*s, dtype=dtype, device=device)  # noqa: E731
    return dict(global_orient=z(B, 3), body_pose=z(B, 63), left_hand_pose=z(B, model.num_pca_comps),
                right_hand_pose=z(B, model.num_pca_comps), jaw_pose=z(B, 3),
                expression=z(B, model.num_expression_coeffs), betas=z(B, model.num_betas), transl=z(B, 3))


def _lbfgs(params: list, closure_loss, iterations: int) -> None:
    opt = torch.optim.LBFGS(params, lr=1.0, max_iter=iterations, line_search_fn="strong_wolfe",
                            tolerance_grad=1e-7, tolerance_change=1e-9, history_size=20)

    def closure():
        opt.zero_grad()
        loss = closure_loss()
        loss.backward()
        return loss
    opt.step(closure)


def fit(model, keypoints_2d, intrinsics, init: dict | None = None, sequence_ids=None,
        frames_per_sequence: int | None = None, iterations: int = 30, temporal_weight: float = 100.0,
        device: str | torch.device = "cpu") -> dict:
    """Fit SMPL-X to (B, 118, 3) keypoints; see the module docstring for inputs and outputs."""
    device = torch.device(device)
    model = model.to(device)
    dtype = torch.float32
    kp = torch.as_tensor(np.asarray(keypoints_2d), dtype=dtype, device=device)
    if kp.ndim != 3 or kp.shape[1:] != (118, 3):
        raise ValueError(f"keypoints_2d must be (B, 118, 3), got {tuple(kp.shape)}")
    kp = torch.nan_to_num(kp)
    kp[..., 2] = kp[..., 2].clamp(min=0)
    B = kp.shape[0]
    intr = tuple(float(v) for v in intrinsics)
    ids = _sequence_ids(B, sequence_ids, frames_per_sequence)
    seq = torch.as_tensor(ids, device=device)
    S = int(ids.max()) + 1
    next_same = torch.as_tensor(ids[1:] == ids[:-1], dtype=dtype, device=device)
    init = dict(init or {})

    p = _zero_params(model, B, dtype, device)
    p["betas"] = torch.zeros(S, model.num_betas, dtype=dtype, device=device)
    if "body_pose" in init:
        p["body_pose"] = torch.as_tensor(np.asarray(init["body_pose"]), dtype=dtype, device=device).reshape(B, 63)

    # ---- stage 0: global orientation + translation on the torso
    torso_w = torch.zeros(118, dtype=dtype, device=device)
    torso_w[TORSO] = 1.0
    if "global_orient" in init:
        candidates = [torch.as_tensor(np.asarray(init["global_orient"]), dtype=dtype, device=device).reshape(B, 3)]
    else:
        front = torch.tensor([math.pi, 0.0, 0.0], dtype=dtype, device=device).expand(B, 3)
        back = torch.tensor([0.0, 0.0, math.pi], dtype=dtype, device=device).expand(B, 3)
        candidates = [front.clone(), back.clone()]
    best_loss, best = None, None
    for orient in candidates:
        if "transl" in init:
            transl = torch.as_tensor(np.asarray(init["transl"]), dtype=dtype, device=device).reshape(B, 3)
        else:
            transl = _init_translation(model, kp, orient, intr)
        q = dict(p, global_orient=orient.clone().requires_grad_(True), transl=transl.clone().requires_grad_(True))
        z_init = transl[:, 2].clone()

        def loss0():
            J = _forward(model, q, seq)
            data = priors.reprojection(J, kp, intr, SIGMA_PX, torso_w)
            depth = 1e2 * (q["transl"][:, 2] - z_init) ** 2       # keep the torso-size depth (SMPLify-X's depth term)
            return (data + depth).sum()
        _lbfgs([q["global_orient"], q["transl"]], loss0, iterations)
        with torch.no_grad():
            J = _forward(model, q, seq)
            per_frame = priors.reprojection(J, kp, intr, SIGMA_PX, torso_w)
        if best is None:
            best_loss, best = per_frame, {k: q[k].detach().clone() for k in ("global_orient", "transl")}
        else:
            better = per_frame < best_loss
            for k in ("global_orient", "transl"):
                best[k][better] = q[k].detach()[better]
            best_loss = torch.minimum(best_loss, per_frame)
    p.update(best)

    # ---- stages 1-3: everything, annealed priors
    for k in p:
        p[k] = p[k].detach().clone().requires_grad_(True)
    for w in STAGE_WEIGHTS:
        def loss_all(w=w):
            J = _forward(model, p, seq)
            total = priors.reprojection(J, kp, intr, SIGMA_PX)
            total = total + w["pose"] * (p["body_pose"] ** 2).sum(-1)
            total = total + w["hand"] * ((p["left_hand_pose"] ** 2).sum(-1) + (p["right_hand_pose"] ** 2).sum(-1))
            total = total + w["expr"] * (p["expression"] ** 2).sum(-1) + w["jaw"] * (p["jaw_pose"] ** 2).sum(-1)
            total = total + w["angle"] * priors.joint_angle_limits(p["body_pose"])
            if temporal_weight > 0 and B > 1:
                R = batch_rodrigues(p["global_orient"])
                smooth = (priors.temporal(p["body_pose"], next_same) + priors.temporal(R, next_same)
                          + 0.1 * priors.temporal(torch.cat([p["left_hand_pose"], p["right_hand_pose"],
                                                             p["jaw_pose"], p["expression"]], -1), next_same)
                          + 100.0 * priors.temporal(p["transl"], next_same))
                total = total + temporal_weight * smooth
            return total.sum() + w["shape"] * (p["betas"] ** 2).sum()
        _lbfgs(list(p.values()), loss_all, iterations)

    with torch.no_grad():
        J = _forward(model, p, seq)
        proj = priors.project(J, *intr)
        dist = (proj - kp[..., :2]).norm(dim=-1)
        c = kp[..., 2]
        csum = c.sum(-1)
        err = torch.where(csum > 0, (c * dist).sum(-1) / csum.clamp(min=1e-12), torch.full_like(csum, float("nan")))
    out = {k: v.detach().cpu().numpy() for k, v in p.items()}
    out["betas"] = out["betas"][ids]
    out["joints"] = J.cpu().numpy()
    out["reprojection_error"] = err.cpu().numpy()
    out["sequence_ids"] = ids
    return out
