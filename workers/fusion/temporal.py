"""Temporal clean-up: short-gap interpolation and smoothing (One-Euro or Savitzky-Golay), vectorised over
persons and joints. Arrays are (M, T, V, 2) positions with a (M, T, V) validity mask."""
from __future__ import annotations

import numpy as np


def interpolate_gaps(P: np.ndarray, valid: np.ndarray, max_gap: int) -> tuple[np.ndarray, np.ndarray]:
    """Linear interpolation inside runs of <= max_gap missing frames bounded by valid frames on both sides.
    Returns (positions, filled mask)."""
    M, T, V = valid.shape
    idx = np.arange(T)[None, :, None]
    prev = np.maximum.accumulate(np.where(valid, idx, -1), axis=1)
    nxt = np.flip(np.minimum.accumulate(np.flip(np.where(valid, idx, T), 1), axis=1), 1)
    gap = nxt - prev - 1
    fill = ~valid & (prev >= 0) & (nxt < T) & (gap <= max_gap)
    p0 = np.take_along_axis(P, np.clip(prev, 0, T - 1)[..., None], 1)
    p1 = np.take_along_axis(P, np.clip(nxt, 0, T - 1)[..., None], 1)
    w = ((idx - prev) / np.maximum(nxt - prev, 1))[..., None]
    out = np.where(fill[..., None], p0 + w * (p1 - p0), P)
    return out, fill


def one_euro(P: np.ndarray, valid: np.ndarray, fps: float, min_cutoff: float, beta: float,
             d_cutoff: float = 1.0) -> np.ndarray:
    """One-Euro filter (Casiez et al. 2012) along time; restarts after every missing frame."""
    def alpha(cutoff):
        tau = 1.0 / (2 * np.pi * cutoff)
        return 1.0 / (1.0 + tau * fps)

    out = P.copy()
    x_prev = P[:, 0].copy()
    dx_prev = np.zeros_like(x_prev)
    ok_prev = valid[:, 0].copy()
    ad = alpha(d_cutoff)
    for t in range(1, P.shape[1]):
        x = P[:, t]
        ok = valid[:, t]
        cont = (ok & ok_prev)[..., None]
        dx = np.where(cont, (x - x_prev) * fps, 0.0)
        dx_hat = ad * dx + (1 - ad) * dx_prev
        cutoff = min_cutoff + beta * np.linalg.norm(dx_hat, axis=-1, keepdims=True)
        a = alpha(cutoff)
        x_hat = np.where(cont, a * x + (1 - a) * x_prev, x)
        out[:, t] = np.where(ok[..., None], x_hat, P[:, t])
        x_prev = np.where(ok[..., None], x_hat, x_prev)
        dx_prev = np.where(cont, dx_hat, 0.0)
        ok_prev = ok
    return out


def savgol(P: np.ndarray, valid: np.ndarray, window: int, order: int) -> np.ndarray:
    """Savitzky-Golay along time; missing frames are bridged linearly for the filter, then left missing."""
    from scipy.signal import savgol_filter
    T = P.shape[1]
    if T < window:
        return P
    filled, _ = interpolate_gaps(P, valid, T)
    filled = np.where(np.isfinite(filled), filled, 0.0)
    sm = savgol_filter(filled, window, order, axis=1, mode="interp")
    return np.where(valid[..., None], sm, P)
