"""Measures of a smoother's effect on trajectories: lag (frames) and jerk (per body size).

Arrays: positions (M, T, V, 2) in pixels, NaN where missing; confidences (M, T, V), 0 where missing.

  - `lag_frames(ref, smoothed, conf)`: per joint, the shift k (|k| <= max_lag) that best aligns the smoothed
    velocities with the reference velocities, by normalised cross-correlation weighted by confidence over the
    frames both have; k > 0 means the smoothed trajectory trails the reference by k frames. Overall: the
    confidence-weighted median of the joints' lags.
  - `jerk(P, valid, size)`: mean |third difference| over the frames where 4 consecutive frames are valid,
    divided by each person's body size — smoothness to compare a smoother with its input (`jerk_ratio`).
"""
from __future__ import annotations

import warnings

import numpy as np

from .scale import person_scale


def velocities(P: np.ndarray, w: np.ndarray, span: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """(M, T-span, V, 2) velocities x[t+span] - x[t] (0 where an end is missing) and weights (min of the ends)."""
    v = P[:, span:] - P[:, :-span]
    wv = np.minimum(w[:, span:], w[:, :-span])
    wv = np.where(np.isfinite(v).all(-1), wv, 0.0)
    return np.where(wv[..., None] > 0, np.nan_to_num(v), 0.0), wv


def lag_correlations(ref: np.ndarray, smoothed: np.ndarray, conf: np.ndarray, max_lag: int = 10, span: int = 1):
    """(shifts (K,), correlations (K, M, V), weights (K, M, V)) of the velocity cross-correlation, for shifts
    -max_lag..max_lag; the correlation at shift k pairs reference frame t with smoothed frame t + k."""
    w = np.where(np.isfinite(ref).all(-1) & np.isfinite(smoothed).all(-1), conf, 0.0)
    a, wa = velocities(ref, w, span)
    b, wb = velocities(smoothed, w, span)
    n = a.shape[1]
    shifts = np.arange(-max_lag, max_lag + 1)
    corr = np.zeros((len(shifts), *a.shape[:1], a.shape[2]))
    wsum = np.zeros_like(corr)
    for i, k in enumerate(shifts):
        ia = slice(max(0, -k), n - max(0, k))
        ib = slice(max(0, k), n + min(0, k))
        ww = np.minimum(wa[:, ia], wb[:, ib])                     # (M, n-|k|, V)
        aa, bb = a[:, ia], b[:, ib]
        num = (ww * (aa * bb).sum(-1)).sum(1)
        den = np.sqrt((ww * (aa ** 2).sum(-1)).sum(1) * (ww * (bb ** 2).sum(-1)).sum(1))
        corr[i] = np.where(den > 0, num / np.where(den > 0, den, 1.0), 0.0)
        wsum[i] = ww.sum(1)
    return shifts, corr, wsum


def lag_frames(ref: np.ndarray, smoothed: np.ndarray, conf: np.ndarray, max_lag: int = 10, span: int = 4
               ) -> tuple[int, np.ndarray]:
    """(overall lag, per-joint lag (M, V)): per joint, the shift of highest velocity correlation; overall, the
    median of the joints' lags weighted by their confidence mass (a joint = one vote, so a few joints with large
    jumps do not decide). Joints without moving frames in common get -max_lag - 1 and no vote.
    `span`: velocities over `span` frames (x[t+span] - x[t]); frame-to-frame jitter correlates with any
    smoother's output at shift 0, which would hide the delay of the motion itself (4 frames = 133 ms at 30 FPS)."""
    shifts, corr, wsum = lag_correlations(ref, smoothed, conf, max_lag, span)
    w = wsum[max_lag]                                            # confidence mass at shift 0, (M, V)
    has = (w > 0) & (np.abs(corr).sum(0) > 0)
    per_joint = np.where(has, shifts[np.argmax(corr, axis=0)], -max_lag - 1)
    if not has.any():
        raise ValueError("no frames with motion in common: lag is undefined")
    lags, ws = per_joint[has], w[has]
    order = np.argsort(lags, kind="stable")
    cum = np.cumsum(ws[order])
    return int(lags[order][np.searchsorted(cum, cum[-1] / 2)]), per_joint


def body_size(points: np.ndarray, body_joints: np.ndarray) -> np.ndarray:
    """(M,) median over frames of the diagonal of the box around each person's valid body joints (pixels)."""
    s = person_scale(points[None, ..., :2], points[None, ..., 2], body_joints)
    return np.median(s, axis=1)


def jerk(P: np.ndarray, valid: np.ndarray, size: np.ndarray) -> float:
    """Mean |third difference| (per frame^3) over windows of 4 valid frames, in units of body size (M,)."""
    j = P[:, 3:] - 3 * P[:, 2:-1] + 3 * P[:, 1:-2] - P[:, :-3]
    ok = valid[:, 3:] & valid[:, 2:-1] & valid[:, 1:-2] & valid[:, :-3]
    if not ok.any():
        raise ValueError("no run of 4 valid frames: jerk is undefined")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        mag = np.linalg.norm(j, axis=-1) / np.asarray(size, float)[:, None, None]
    return float(mag[ok].mean())


def jerk_ratio(ref: np.ndarray, smoothed: np.ndarray, valid: np.ndarray, size: np.ndarray) -> float:
    """jerk(ref) / jerk(smoothed) over the same frames: how many times smoother the smoothed trajectory is."""
    return jerk(ref, valid, size) / jerk(smoothed, valid, size)
