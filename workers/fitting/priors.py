"""Loss terms of the SMPL-X fit (torch, batched over frames); each returns a per-frame (B,) tensor.

Contract: `gmof` = Geman-McClure robustifier; `reprojection` = confidence-weighted robust 2D error of projected
joints (pixels^2); `joint_angle_limits` = SMPLify's exp penalty on elbows (y axis) and knees (x axis) bending the
wrong way; `acceleration` = squared second differences of consecutive frames within a sequence (a constant-velocity
prior: zero for uniform motion, so it smooths jitter without pulling a moving person towards standing still).
The body pose prior is a plain L2 (Gaussian, zero mean) on the axis-angle body pose: SMPLify-X uses VPoser,
which needs learned weights that are not available here.
"""
from __future__ import annotations

import torch


def gmof(sq_residual: torch.Tensor, sigma: float) -> torch.Tensor:
    """Geman-McClure on squared residuals: sigma^2 r^2 / (sigma^2 + r^2)."""
    s2 = sigma ** 2
    return s2 * sq_residual / (s2 + sq_residual)


def project(points: torch.Tensor, fx: float, fy: float, cx: float, cy: float) -> torch.Tensor:
    """Pinhole projection of camera-frame points (..., 3) -> pixels (..., 2); z clamped away from 0."""
    z = points[..., 2].clamp(min=1e-3)
    return torch.stack([fx * points[..., 0] / z + cx, fy * points[..., 1] / z + cy], dim=-1)


def reprojection(joints: torch.Tensor, keypoints: torch.Tensor, intrinsics, sigma: float,
                 joint_weights: torch.Tensor | None = None) -> torch.Tensor:
    """sum_j w_j c_j gmof(|proj(J_j) - x_j|^2) per frame; keypoints (B, J, 3) = x, y, confidence."""
    proj = project(joints, *intrinsics)
    sq = ((proj - keypoints[..., :2]) ** 2).sum(-1)
    w = keypoints[..., 2] if joint_weights is None else keypoints[..., 2] * joint_weights
    return (w * gmof(sq, sigma)).sum(-1)


# (index in the 63-D body pose, sign): left elbow y, right elbow y, left knee x, right knee x
_LIMITS = ((17 * 3 + 1, 1.0), (18 * 3 + 1, -1.0), (3 * 3 + 0, -1.0), (4 * 3 + 0, -1.0))


def joint_angle_limits(body_pose: torch.Tensor) -> torch.Tensor:
    """SMPLify's penalty exp(sign * angle)^2 on the four one-way hinges (body_pose (B, 63))."""
    idx = torch.tensor([i for i, _ in _LIMITS], device=body_pose.device)
    sign = torch.tensor([s for _, s in _LIMITS], device=body_pose.device, dtype=body_pose.dtype)
    return torch.exp(body_pose[:, idx] * sign).pow(2).sum(-1)


def acceleration(x: torch.Tensor, same_seq_next: torch.Tensor) -> torch.Tensor:
    """Per frame t: |x_{t+1} - 2 x_t + x_{t-1}|^2 where t-1, t, t+1 are consecutive frames of one sequence (else 0);
    `same_seq_next[t]` = 1 when frame t+1 continues frame t's sequence."""
    if x.shape[0] < 3:
        return x.new_zeros(x.shape[0])
    inner = same_seq_next[:-1] * same_seq_next[1:]                       # t-1 -> t and t -> t+1 both continue
    d = ((x[2:] - 2 * x[1:-1] + x[:-2]) ** 2).flatten(1).sum(-1) * inner
    z = d.new_zeros(1)
    return torch.cat([z, d, z])
