"""Choose, per clip and person, the 3D candidate that back-projects best onto the refined 2D keypoints.

inputs:  candidates {method: camera-frame 3D (M, T, V, 4) = X, Y, Z, score} on the same V points as the 2D
         keypoints (M, T, V, 3) = x, y, score in pixels; intrinsics K
outputs: per person: the chosen method, and every candidate's error = the confidence-weighted mean pixel
         distance between the projected 3D and the 2D keypoints over the points both have, divided by the
         person's body size (median over frames of the diagonal of its 2D box), so errors compare across
         resolutions and people. A candidate that covers less than half of the points the best-covering one
         covers is not eligible (it would win by omission).
"""
from __future__ import annotations

import numpy as np

from ..quiet import nan_warnings_silenced
from .direct import project


def body_size(pts2d: np.ndarray) -> np.ndarray:
    """(M, T, V, 3) -> (M,) median over frames of the 2D box diagonal of the valid points."""
    xy = np.where(pts2d[..., 2:3] > 0, pts2d[..., :2], np.nan)
    with nan_warnings_silenced():
        ext = np.nanmax(xy, axis=2) - np.nanmin(xy, axis=2)                    # (M, T, 2)
        diag = np.linalg.norm(ext, axis=-1)
        size = np.nanmedian(diag, axis=1)
    return np.where(np.isfinite(size) & (size > 0), size, np.nan)


def reprojection_error(X: np.ndarray, pts2d: np.ndarray, K) -> tuple[np.ndarray, np.ndarray]:
    """-> (normalised error (M,), weight mass (M,)) over points both have."""
    uv = project(X[..., :3], K)
    w = np.where((X[..., 3] > 0) & (pts2d[..., 2] > 0) & np.isfinite(uv).all(-1), pts2d[..., 2], 0.0)
    d = np.linalg.norm(np.nan_to_num(uv) - np.nan_to_num(pts2d[..., :2]), axis=-1)
    mass = w.sum(axis=(1, 2))
    with np.errstate(invalid="ignore", divide="ignore"):
        err = (w * d).sum(axis=(1, 2)) / mass / body_size(pts2d)
    return np.where(mass > 0, err, np.nan), mass


def choose(candidates: dict[str, np.ndarray], pts2d: np.ndarray, K) -> list[dict]:
    names = list(candidates)
    errs, mass = zip(*(reprojection_error(candidates[n], pts2d, K) for n in names))
    errs, mass = np.stack(errs), np.stack(mass)                                  # (C, M)
    eligible = np.isfinite(errs) & (mass >= 0.5 * mass.max(0, keepdims=True))
    masked = np.where(eligible, errs, np.inf)
    out = []
    for m in range(pts2d.shape[0]):
        best = int(np.argmin(masked[:, m]))
        out.append({"method": names[best] if np.isfinite(masked[best, m]) else None,
                    "errors": {n: (round(float(errs[i, m]), 5) if np.isfinite(errs[i, m]) else None)
                               for i, n in enumerate(names)}})
    return out
