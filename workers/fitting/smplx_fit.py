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
  `init` may hold `joints` (B, 118, 3) camera-frame 3D (NaN where missing; e.g. the direct candidate): an extra
  stage-0 start from their torso (`rigid_init`), and their root-relative body joints guide the early stages
  (below); or any of global_orient / body_pose / transl directly.
  `iterations` = the most L-BFGS iterations per stage; a stage stops earlier once an L-BFGS round of `ROUND`
  iterations lowers the loss by less than `FTOL` (relative).
- Loss (per frame, summed): Geman-McClure (sigma 100 px) confidence-weighted reprojection of the 118 joints
  through the pinhole camera; L2 body pose prior (stand-in for SMPLify-X's VPoser, whose learned weights are not
  available here); L2 shape prior; L2 hand PCA prior; L2 expression and jaw priors; SMPLify's exp joint-angle
  limits on elbows and knees; temporal smoothness (squared second differences -- a constant-velocity prior --
  of body/hand/jaw pose, expression, global rotation matrix and translation within a sequence); with
  `init["joints"]`, a 3D guide term in stages 1-2 (weights `guide`): squared distance of the model's BODY_25
  joints to the given ones, both relative to the mid-hip, scaled by (focal / depth)^2 so 1 cm weighs like the
  pixels it spans. Monocular 2D leaves each limb's depth direction ambiguous; the direct candidate (MediaPipe's
  learned 3D) settles it, as ExPose's regression initialised NTU-X's fits.
- Stages like SMPLify-X: (0) translation + global orientation on the torso joints, initialised from the 2D
  torso size and the focal length, trying facing-the-camera / facing-away orientations and, when given, the
  rigid fit to `init["joints"]`; the lowest torso loss per frame wins; (1-4) all parameters with annealed prior
  weights. L-BFGS (strong Wolfe), run to convergence (see `iterations`).
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from scipy.spatial.transform import Rotation
from smplx.lbs import batch_rodrigues

from . import priors
from .fast_joints import JointsOnly
from .joint_map import NUM_SMPLX_JOINTS, ROOT, SMPLX_TO_NTU_X_118, TORSO
from .rigid_init import rigid_init

SIGMA_PX = 100.0
# annealed weights of stages 1..4 (data term in pixels^2, poses in rad^2)
STAGE_WEIGHTS = [
    dict(pose=400.0, shape=100.0, hand=40.0, expr=40.0, jaw=400.0, angle=10.0, guide=1.0),
    dict(pose=40.0, shape=20.0, hand=4.0, expr=4.0, jaw=40.0, angle=5.0, guide=0.1),
    dict(pose=4.0, shape=5.0, hand=0.4, expr=0.4, jaw=4.0, angle=1.0, guide=0.0),
    dict(pose=0.4, shape=1.0, hand=0.04, expr=0.04, jaw=0.4, angle=0.1, guide=0.0),
]
ROUND = 20          # L-BFGS iterations per convergence check
HISTORY = 100       # L-BFGS curvature pairs kept (20 converged several times slower on the synthetic fits)
FTOL = 1e-6         # stop a stage when a round lowers the loss by less than this fraction
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


def _forward(model, p: dict, seq: torch.Tensor, rotation: torch.Tensor | None = None) -> torch.Tensor:
    """NTU-X 118 joints (B, 118, 3) in the camera frame (the model's joints, computed by `JointsOnly`).

    The global rotation is `rotation` (B, 3, 3) when given, else Rodrigues of `p["global_orient"]`. It is applied
    about the root joint after posing with a zero global orientation, which is what SMPL-X does (the root joint
    does not move when posing, and the pose blend shapes do not read the global orientation); the fit optimises
    a small rotation composed with a fixed one, so its parameters stay far from the axis-angle's |angle| = pi.
    """
    fast = getattr(model, "_joints_only", None)
    if fast is None or fast.v_template.device != p["transl"].device:
        fast = model._joints_only = JointsOnly(model)
    if rotation is None:
        rotation = batch_rodrigues(p["global_orient"])
    J = fast(betas=p["betas"][seq], expression=p["expression"], global_orient=torch.zeros_like(p["transl"]),
             body_pose=p["body_pose"], left_hand_pose=p["left_hand_pose"], right_hand_pose=p["right_hand_pose"],
             jaw_pose=p["jaw_pose"], transl=torch.zeros_like(p["transl"]))
    J = J[:, torch.as_tensor(SMPLX_TO_NTU_X_118, device=J.device)]
    root = J[:, ROOT:ROOT + 1]
    return (J - root) @ rotation.transpose(1, 2) + root + p["transl"][:, None]


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


def _init_translation(model, kp: torch.Tensor, rotation: torch.Tensor, intrinsics) -> torch.Tensor:
    """Depth from the ratio of 3D (model rotated by `rotation` (B, 3, 3)) to 2D torso lengths times focal; x, y from
    the 2D mid-hip."""
    fx, fy, cx, cy = intrinsics
    f = 0.5 * (fx + fy)
    B = kp.shape[0]
    with torch.no_grad():
        J = _forward(model, _zero_params(model, B, kp.dtype, kp.device),
                     torch.zeros(B, dtype=torch.long, device=kp.device), rotation)
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


def _rotvec(R: torch.Tensor) -> torch.Tensor:
    """Rotation matrices (B, 3, 3) -> axis-angle (B, 3), smplx's convention (stable near 0 and pi)."""
    rv = Rotation.from_matrix(R.detach().cpu().double().numpy().reshape(-1, 3, 3)).as_rotvec()
    return torch.as_tensor(rv, dtype=R.dtype, device=R.device).reshape(-1, 3)


def _zero_params(model, B: int, dtype, device) -> dict:
    z = lambda *s: torch.zeros(*s, dtype=dtype, device=device)  # noqa: E731
    return dict(global_orient=z(B, 3), body_pose=z(B, 63), left_hand_pose=z(B, model.num_pca_comps),
                right_hand_pose=z(B, model.num_pca_comps), jaw_pose=z(B, 3),
                expression=z(B, model.num_expression_coeffs), betas=z(B, model.num_betas), transl=z(B, 3))


def _lbfgs(params: list, closure_loss, iterations: int) -> None:
    """Minimise with L-BFGS in rounds of `ROUND` iterations (the optimiser keeps its curvature history across
    rounds) until a round gains less than `FTOL` of the loss or `iterations` are spent."""
    opt = torch.optim.LBFGS(params, lr=1.0, max_iter=ROUND, line_search_fn="strong_wolfe",
                            tolerance_grad=1e-9, tolerance_change=1e-12, history_size=HISTORY)

    def closure():
        opt.zero_grad()
        loss = closure_loss()
        loss.backward()
        return loss
    prev, done = None, 0
    while done < iterations:
        n = min(ROUND, iterations - done)
        opt.param_groups[0]["max_iter"] = n
        start = float(opt.step(closure).detach())   # the loss where this round started (= where the last ended)
        if prev is not None and prev - start <= FTOL * abs(prev):
            break
        prev, done = start, done + n


def objective(model, p: dict, R: torch.Tensor, kp: torch.Tensor, intr, seq: torch.Tensor,
              next_same: torch.Tensor, w: dict, temporal_weight: float, guide=None) -> torch.Tensor:
    """The loss of stages 1-4 (a scalar): robust reprojection + priors (weights `w`) + temporal smoothness + the
    3D guide (`guide` = (root-relative BODY_25 targets (B, 25, 3) with NaN where missing, scale (B,)) or None)."""
    J = _forward(model, p, seq, R)
    total = priors.reprojection(J, kp, intr, SIGMA_PX)
    if guide is not None and w["guide"] > 0:
        target, scale = guide
        rel = J[:, :25] - J[:, ROOT:ROOT + 1]
        sq = ((rel - torch.nan_to_num(target)) ** 2).sum(-1) * torch.isfinite(target).all(-1)
        total = total + w["guide"] * scale * sq.sum(-1)
    total = total + w["pose"] * (p["body_pose"] ** 2).sum(-1)
    total = total + w["hand"] * ((p["left_hand_pose"] ** 2).sum(-1) + (p["right_hand_pose"] ** 2).sum(-1))
    total = total + w["expr"] * (p["expression"] ** 2).sum(-1) + w["jaw"] * (p["jaw_pose"] ** 2).sum(-1)
    total = total + w["angle"] * priors.joint_angle_limits(p["body_pose"])
    if temporal_weight > 0 and len(R) > 2:
        acc = priors.acceleration
        smooth = (acc(p["body_pose"], next_same) + acc(R, next_same)
                  + 0.1 * acc(torch.cat([p["left_hand_pose"], p["right_hand_pose"], p["jaw_pose"], p["expression"]],
                                        -1), next_same)
                  + 100.0 * acc(p["transl"], next_same))
        total = total + temporal_weight * smooth
    return total.sum() + w["shape"] * (p["betas"] ** 2).sum()


@dataclass(frozen=True)
class _Observations:
    """What one fit is fitted to, on its device (see `_observations`)."""
    kp: torch.Tensor              # (B, 118, 3) pixel x, y, confidence (NaN -> 0, confidence >= 0)
    intr: tuple[float, ...]       # (fx, fy, cx, cy)
    ids: np.ndarray               # (B,) sequence index 0..S-1 of every row
    seq: torch.Tensor             # `ids` on the device
    next_same: torch.Tensor       # (B - 1,) 1.0 where row b + 1 continues row b's sequence


# the `init` entries `fit` reads, with their per-row shapes
_INIT_SHAPES = {"joints": (118, 3), "body_pose": (63,), "global_orient": (3,), "transl": (3,)}


def _observations(keypoints_2d, intrinsics, sequence_ids, frames_per_sequence, device) -> _Observations:
    """Check and clean the keypoints (NaN -> 0, negative confidence -> 0) and number the sequences."""
    kp = torch.as_tensor(np.asarray(keypoints_2d), dtype=torch.float32, device=device)
    if kp.ndim != 3 or kp.shape[1:] != (118, 3):
        raise ValueError(f"keypoints_2d must be (B, 118, 3), got {tuple(kp.shape)}")
    kp = torch.nan_to_num(kp)
    kp[..., 2] = kp[..., 2].clamp(min=0)
    ids = _sequence_ids(kp.shape[0], sequence_ids, frames_per_sequence)
    return _Observations(kp, tuple(float(v) for v in intrinsics), ids, torch.as_tensor(ids, device=device),
                         torch.as_tensor(ids[1:] == ids[:-1], dtype=kp.dtype, device=device))


def _init_tensors(init: dict | None, obs: _Observations) -> dict[str, torch.Tensor]:
    """The `init` entries `fit` reads, as (B, ...) tensors like the keypoints."""
    init = dict(init or {})
    kp = obs.kp
    return {name: torch.as_tensor(np.asarray(init[name]), dtype=kp.dtype, device=kp.device).reshape(len(kp), *shape)
            for name, shape in _INIT_SHAPES.items() if name in init}


def _start_params(model, obs: _Observations, init: dict[str, torch.Tensor]) -> dict:
    """Zero parameters (one betas row per sequence), the body pose from `init` when given."""
    kp = obs.kp
    p = _zero_params(model, len(kp), kp.dtype, kp.device)
    p["betas"] = torch.zeros(int(obs.ids.max()) + 1, model.num_betas, dtype=kp.dtype, device=kp.device)
    if "body_pose" in init:
        p["body_pose"] = init["body_pose"]
    return p


def _torso_starts(model, obs: _Observations, init: dict[str, torch.Tensor]) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Stage 0's (rotation (B, 3, 3), translation (B, 3)) starts: the given orientation, or facing the camera and
    facing away, each with the given translation or one from the torso size; plus, with `init["joints"]`, the
    rigid fit of the rest torso to them (where it succeeds; the first start elsewhere)."""
    kp, intr = obs.kp, obs.intr
    dtype, device, B = kp.dtype, kp.device, len(kp)
    if "global_orient" in init:
        orients = [batch_rodrigues(init["global_orient"])]
    else:
        front = torch.tensor([[1.0, 0, 0], [0, -1, 0], [0, 0, -1]], dtype=dtype, device=device)  # pi about x
        back = torch.tensor([[-1.0, 0, 0], [0, -1, 0], [0, 0, 1]], dtype=dtype, device=device)   # pi about z
        orients = [front.expand(B, 3, 3).clone(), back.expand(B, 3, 3).clone()]
    starts = [(R, init["transl"] if "transl" in init else _init_translation(model, kp, R, intr)) for R in orients]
    if "joints" in init:                         # rigid fit of the rest torso to the given 3D
        with torch.no_grad():
            rest = _forward(model, _zero_params(model, 1, dtype, device), torch.zeros(1, dtype=torch.long,
                                                                                      device=device))[0]
        R, transl, ok = rigid_init(rest[TORSO], rest[ROOT], init["joints"])
        if ok.any():
            starts.append((torch.where(ok[:, None, None], R, starts[0][0]),
                           torch.where(ok[:, None], transl, starts[0][1])))
    return starts


def _fit_torso(model, obs: _Observations, p: dict, starts, iterations: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Stage 0: global rotation + translation on the torso joints from every start, the other parameters `p`
    fixed; per frame the start with the lowest torso loss wins. Returns its (rotation (B, 3, 3), translation).

    Rotations are R = rodrigues(delta) @ R0 with R0 fixed per stage and the small `delta` optimised
    (well-conditioned even for bodies facing the camera, |angle| near pi)."""
    kp, intr, seq = obs.kp, obs.intr, obs.seq
    torso_w = torch.zeros(118, dtype=kp.dtype, device=kp.device)
    torso_w[TORSO] = 1.0
    zero3 = torch.zeros(len(kp), 3, dtype=kp.dtype, device=kp.device)
    best_loss, best = None, None
    for R0, transl in starts:
        q = dict(p, delta=zero3.clone().requires_grad_(True), transl=transl.clone().requires_grad_(True))
        z_init = transl[:, 2].clone()

        def loss0(q=q, R0=R0, z_init=z_init):
            J = _forward(model, q, seq, batch_rodrigues(q["delta"]) @ R0)
            data = priors.reprojection(J, kp, intr, SIGMA_PX, torso_w)
            depth = 1e2 * (q["transl"][:, 2] - z_init) ** 2       # keep the torso-size depth (SMPLify-X's depth term)
            return (data + depth).sum()
        _lbfgs([q["delta"], q["transl"]], loss0, iterations)
        with torch.no_grad():
            R = batch_rodrigues(q["delta"]) @ R0
            per_frame = priors.reprojection(_forward(model, q, seq, R), kp, intr, SIGMA_PX, torso_w)
            if best is None:
                best_loss, best = per_frame, {"R": R, "transl": q["transl"].detach().clone()}
                continue
            better = per_frame < best_loss
            best["R"][better] = R[better]
            best["transl"][better] = q["transl"].detach()[better]
            best_loss = torch.minimum(best_loss, per_frame)
    return best["R"], best["transl"]


def _guide(given: torch.Tensor | None, intr) -> tuple[torch.Tensor, torch.Tensor] | None:
    """The 3D guide term's (root-relative BODY_25 targets (B, 25, 3), NaN where missing, scale (f / depth)^2 (B,))
    from camera-frame joints (B, 118, 3); None without them."""
    if given is None:
        return None
    body = given[:, :25]
    root_z = body[:, ROOT, 2]
    usable = torch.isfinite(body[:, ROOT]).all(-1) & (root_z > 0)
    target = torch.where(usable[:, None, None], body - body[:, ROOT:ROOT + 1], torch.full_like(body, float("nan")))
    f = 0.5 * (intr[0] + intr[1])
    return target, torch.where(usable, (f / root_z.clamp(min=1e-3)) ** 2, torch.zeros_like(root_z))


def _anneal(model, obs: _Observations, p: dict, R0: torch.Tensor, guide, iterations: int,
            temporal_weight: float) -> tuple[dict, torch.Tensor]:
    """Stages 1-4: every parameter in `p` (no global_orient: the rotation is R0, re-based on each stage's
    delta) under the annealed `STAGE_WEIGHTS`. Returns the fitted parameters and rotation."""
    zero3 = torch.zeros(len(obs.kp), 3, dtype=obs.kp.dtype, device=obs.kp.device)
    for w in STAGE_WEIGHTS:
        p = {k: v.detach().clone().requires_grad_(True) for k, v in p.items()}
        p["delta"] = zero3.clone().requires_grad_(True)

        def loss_all(w=w, R0=R0):
            return objective(model, p, batch_rodrigues(p["delta"]) @ R0, obs.kp, obs.intr, obs.seq, obs.next_same, w,
                             temporal_weight, guide)
        _lbfgs(list(p.values()), loss_all, iterations)
        with torch.no_grad():
            R0 = batch_rodrigues(p.pop("delta")) @ R0
    return p, R0


def _outputs(model, obs: _Observations, p: dict, R: torch.Tensor) -> dict:
    """The fit's result (see the module docstring): parameters, joints and reprojection error as numpy."""
    kp = obs.kp
    with torch.no_grad():
        J = _forward(model, p, obs.seq, R)
        proj = priors.project(J, *obs.intr)
        dist = (proj - kp[..., :2]).norm(dim=-1)
        c = kp[..., 2]
        csum = c.sum(-1)
        err = torch.where(csum > 0, (c * dist).sum(-1) / csum.clamp(min=1e-12), torch.full_like(csum, float("nan")))
    out = {k: v.detach().cpu().numpy() for k, v in p.items()}
    out["betas"] = out["betas"][obs.ids]
    out["joints"] = J.cpu().numpy()
    out["reprojection_error"] = err.cpu().numpy()
    out["sequence_ids"] = obs.ids
    return out


def fit(model, keypoints_2d, intrinsics, init: dict | None = None, sequence_ids=None,
        frames_per_sequence: int | None = None, iterations: int = 600, temporal_weight: float = 100.0,
        device: str | torch.device = "cpu") -> dict:
    """Fit SMPL-X to (B, 118, 3) keypoints; see the module docstring for inputs and outputs."""
    device = torch.device(device)
    model = model.to(device)
    obs = _observations(keypoints_2d, intrinsics, sequence_ids, frames_per_sequence, device)
    given = _init_tensors(init, obs)
    p = _start_params(model, obs, given)
    R0, p["transl"] = _fit_torso(model, obs, p, _torso_starts(model, obs, given), iterations)
    del p["global_orient"]                           # the rotation is R0 (and each stage's delta) from here on
    p, R0 = _anneal(model, obs, p, R0, _guide(given.get("joints"), obs.intr), iterations, temporal_weight)
    p["global_orient"] = _rotvec(R0)
    return _outputs(model, obs, p, R0)
