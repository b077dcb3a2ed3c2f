"""Direct 3D (the ExPose role): the body's metric world landmarks placed in the camera frame, with hands and face
lifted to the same scale — one candidate for `fit3d`.

inputs:  refined canonical 2D points (M, T, 145, 3) = x, y, score in frame pixels; MediaPipe's metric world
         landmarks of the body (M, T, 33, 4) = x, y, z, score (origin between the hips, axes aligned with the
         camera's: x right, y down, z away); camera intrinsics K = (fx, fy, cx, cy)
outputs: canonical 3D (M, T, 145, 4) = X, Y, Z in metres in the camera frame, score
method:  the world landmarks are only missing a translation to be in the camera frame. Per person and frame,
         t = (tx, ty, tz) solves u = fx (X + tx) / (Z + tz) + cx, v = fy (Y + ty) / (Z + tz) + cy in the
         score-weighted least-squares sense, which is linear in t:
             fx tx - (u - cx) tz = (u - cx) Z - fx X,   fy ty - (v - cy) tz = (v - cy) Z - fy Y
         Hands and face have 2D points but no metric depth of their own: each hand is back-projected at the
         depth of its body wrist, the face at the depth of the body's nose (planar at that depth; their extent
         comes from the 2D points, so they are on the body's metric scale by construction). A 3D point's score
         is the lower of its 2D score and its depth source's score; no 2D point (e.g. refine dropped it as
         an outlier), no 3D point.
Vectorised over persons and frames (numpy).
"""
from __future__ import annotations

import numpy as np

from schemas.layouts import SOURCE_PARTS, source_offset
from schemas.layouts.mediapipe import B

MIN_POINTS = 4          # a frame needs this many body points with 2D and 3D to place the body


def default_intrinsics(width: int, height: int) -> tuple[float, float, float, float]:
    """No calibration given: focal length = the larger image side (a ~53° field of view across it, typical of
    webcams and phones, and of MediaPipe's own assumption), principal point at the image centre."""
    f = float(max(width, height))
    return f, f, width / 2.0, height / 2.0


def camera_translation(world: np.ndarray, pts2d: np.ndarray, K) -> tuple[np.ndarray, np.ndarray]:
    """world (..., J, 4), pts2d (..., J, 3) -> (translation (..., 3), ok (...)): weighted LS per frame."""
    fx, fy, cx, cy = K
    w = np.where((world[..., 3] > 0) & (pts2d[..., 2] > 0) & np.isfinite(world[..., :3]).all(-1)
                 & np.isfinite(pts2d[..., :2]).all(-1), np.minimum(world[..., 3], pts2d[..., 2]), 0.0)
    X, Y, Z = (np.nan_to_num(world[..., i]) for i in range(3))
    du, dv = np.nan_to_num(pts2d[..., 0]) - cx, np.nan_to_num(pts2d[..., 1]) - cy
    zeros = np.zeros_like(X)
    # rows for u and v: A (..., 2J, 3), b (..., 2J)
    Au = np.stack([np.full_like(X, fx), zeros, -du], -1)
    Av = np.stack([zeros, np.full_like(X, fy), -dv], -1)
    A = np.concatenate([Au, Av], -2) * np.sqrt(np.concatenate([w, w], -1))[..., None]
    b = np.concatenate([du * Z - fx * X, dv * Z - fy * Y], -1) * np.sqrt(np.concatenate([w, w], -1))
    AtA = np.einsum("...ji,...jk->...ik", A, A)
    Atb = np.einsum("...ji,...j->...i", A, b)
    ok = (w > 0).sum(-1) >= MIN_POINTS
    AtA = np.where(ok[..., None, None], AtA, np.eye(3))
    t = np.linalg.solve(AtA, np.where(ok[..., None], Atb, 0.0)[..., None])[..., 0]
    return np.where(ok[..., None], t, np.nan), ok


def back_project(pts2d: np.ndarray, depth: np.ndarray, K) -> np.ndarray:
    """pts2d (..., J, 3) at depth (...,) -> (..., J, 3) camera-frame points."""
    fx, fy, cx, cy = K
    Z = depth[..., None]
    return np.stack([(pts2d[..., 0] - cx) * Z / fx, (pts2d[..., 1] - cy) * Z / fy,
                     np.broadcast_to(Z, pts2d.shape[:-1])], -1)


def lift_direct(points: np.ndarray, world: np.ndarray, K) -> np.ndarray:
    """Canonical 2D (M, T, 145, 3) + body world (M, T, 33, 4) -> canonical camera-frame 3D (M, T, 145, 4)."""
    M, T, V, _ = points.shape
    out = np.full((M, T, V, 4), np.nan, np.float32)
    out[..., 3] = 0.0
    t, ok = camera_translation(world, points[:, :, :33], K)
    body = world[..., :3] + t[:, :, None]
    p2 = points[:, :, :33, 2]
    bscore = np.where(ok[..., None] & (world[..., 3] > 0) & (p2 > 0), np.minimum(world[..., 3], p2), 0.0)
    out[:, :, :33, :3] = body
    out[:, :, :33, 3] = bscore
    anchors = {"left_hand": B["left_wrist"], "right_hand": B["right_wrist"], "face": B["nose"]}
    for part, joint in anchors.items():
        o, n = source_offset(part), SOURCE_PARTS[part]
        depth = body[:, :, joint, 2]
        dscore = bscore[:, :, joint]
        p = points[:, :, o:o + n]
        out[:, :, o:o + n, :3] = back_project(p, depth, K)
        out[:, :, o:o + n, 3] = np.where(np.isfinite(depth)[..., None] & (p[..., 2] > 0),
                                         np.minimum(p[..., 2], dscore[..., None]), 0.0)
    gone = out[..., 3] <= 0
    out[gone, :3] = np.nan
    out[gone, 3] = 0.0
    return out


def project(X: np.ndarray, K) -> np.ndarray:
    """(..., 3) camera-frame points -> (..., 2) pixels."""
    fx, fy, cx, cy = K
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.stack([fx * X[..., 0] / X[..., 2] + cx, fy * X[..., 1] / X[..., 2] + cy], -1)
