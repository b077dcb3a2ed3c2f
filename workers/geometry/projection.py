"""Fit and apply a pinhole projection u = cx·X/Z + bx, v = cy·Y/Z + by from paired 3D and 2D points.

X, Y, Z are camera-frame 3D coordinates (e.g. Kinect metres); (cx, cy) are the focal lengths in pixels and
(bx, by) the principal point. The two image axes are independent linear least-squares problems in
(X/Z, 1) -> u and (Y/Z, 1) -> v, optionally weighted (e.g. by the 2D detector's score).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Optional

import numpy as np


@dataclass(frozen=True)
class Projection:
    cx: float
    cy: float
    bx: float
    by: float
    rms_px: float   # weighted RMS reprojection error (pixels) over the points used
    n: int          # points used

    def to_dict(self) -> dict:
        return asdict(self)


def _flatten(X3, x2, weights):
    X3 = np.asarray(X3, np.float64)
    x2 = np.asarray(x2, np.float64)
    if X3.shape[-1] != 3 or x2.shape[-1] != 2:
        raise ValueError(f"expected 3D points (..., 3) and 2D points (..., 2); got {X3.shape} and {x2.shape}")
    if X3.shape[:-1] != x2.shape[:-1]:
        raise ValueError(f"3D points {X3.shape[:-1]} and 2D points {x2.shape[:-1]} do not pair up")
    X3, x2 = X3.reshape(-1, 3), x2.reshape(-1, 2)
    if weights is None:
        w = np.ones(len(X3))
    else:
        w = np.asarray(weights, np.float64)
        if w.size != len(X3):
            raise ValueError(f"weights have {w.size} values for {len(X3)} points")
        w = w.reshape(-1)
    return X3, x2, w


def usable(X3: np.ndarray, x2: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Points a fit can use: finite, in front of the camera (Z > 0), positive finite weight."""
    return (np.isfinite(X3).all(1) & np.isfinite(x2).all(1) & np.isfinite(w) & (w > 0)
            & (np.nan_to_num(X3[:, 2], nan=0.0) > 0))


def _wls(a: np.ndarray, y: np.ndarray, w: np.ndarray) -> tuple[float, float]:
    """Weighted least squares y ≈ c·a + b -> (c, b)."""
    A = np.stack([a, np.ones_like(a)], 1)
    sw = np.sqrt(w)
    sol, *_ = np.linalg.lstsq(A * sw[:, None], y * sw, rcond=None)
    return float(sol[0]), float(sol[1])


def fit_projection(X3, x2, weights: Optional[np.ndarray] = None) -> Projection:
    """Least-squares (cx, cy, bx, by) from X3 (N, 3) / (..., V, 3) and x2 (N, 2) / (..., V, 2).

    Points with Z <= 0, any non-finite value, or a zero / non-finite weight are skipped. Raises ValueError when
    fewer than 2 usable points remain or their X/Z (Y/Z) values are all equal (the fit is not determined).
    """
    X3, x2, w = _flatten(X3, x2, weights)
    ok = usable(X3, x2, w)
    X3, x2, w = X3[ok], x2[ok], w[ok]
    if len(X3) < 2:
        raise ValueError(f"need at least 2 usable 3D/2D point pairs (Z > 0, finite, weight > 0); got {len(X3)}")
    a, b = X3[:, 0] / X3[:, 2], X3[:, 1] / X3[:, 2]
    if np.ptp(a) == 0 or np.ptp(b) == 0:
        raise ValueError("degenerate points: X/Z or Y/Z is constant, the focal length is not determined")
    cx, bx = _wls(a, x2[:, 0], w)
    cy, by = _wls(b, x2[:, 1], w)
    r2 = (cx * a + bx - x2[:, 0]) ** 2 + (cy * b + by - x2[:, 1]) ** 2
    rms = float(np.sqrt(np.sum(w * r2) / np.sum(w)))
    return Projection(cx=cx, cy=cy, bx=bx, by=by, rms_px=rms, n=int(len(X3)))


def project(X3, proj: Projection) -> np.ndarray:
    """(..., 3) camera-frame points -> (..., 2) pixels (NaN where Z <= 0)."""
    X3 = np.asarray(X3, np.float64)
    Z = np.where(X3[..., 2] > 0, X3[..., 2], np.nan)
    return np.stack([proj.cx * X3[..., 0] / Z + proj.bx, proj.cy * X3[..., 1] / Z + proj.by], -1)


def pairs_from_clip(keypoints: np.ndarray, keypoints_3d: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Shard arrays kp (M, T, V, 3: x, y, score) and kp3d (M, T, V, 4: x, y, z, score) -> (xyz, uv, score).

    Pairs are joints with 2D score > 0 and 3D score > 0 and finite coordinates; the 2D score is the weight.
    """
    kp = np.asarray(keypoints, np.float64)
    k3 = np.asarray(keypoints_3d, np.float64)
    if kp.shape[:-1] != k3.shape[:-1]:
        raise ValueError(f"2D {kp.shape} and 3D {k3.shape} keypoints do not pair up")
    kp, k3 = kp.reshape(-1, kp.shape[-1]), k3.reshape(-1, k3.shape[-1])
    ok = ((kp[:, 2] > 0) & (k3[:, 3] > 0) & np.isfinite(kp[:, :3]).all(1) & np.isfinite(k3[:, :4]).all(1))
    return k3[ok, :3], kp[ok, :2], kp[ok, 2]
