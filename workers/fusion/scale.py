"""Person scale per frame, used to make every fusion threshold a fraction of body size."""
from __future__ import annotations

import warnings

import numpy as np


def person_scale(X: np.ndarray, S: np.ndarray, joints: np.ndarray) -> np.ndarray:
    """X (E, M, T, V, 2), S (E, M, T, V) -> (M, T): median over experts of the diagonal of the box around each
    expert's valid `joints`; frames with none take the nearest frame's value; persons with none take 1."""
    pts = np.where((S[..., joints] > 0)[..., None], X[..., joints, :], np.nan)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        diag = np.linalg.norm(np.nanmax(pts, -2) - np.nanmin(pts, -2), axis=-1)      # (E, M, T)
        enough = (S[..., joints] > 0).sum(-1) >= 2
        scale = np.nanmedian(np.where(enough & (diag > 0), diag, np.nan), axis=0)   # (M, T)
    return fill_nearest(scale, default=1.0)


def fill_nearest(a: np.ndarray, default: float) -> np.ndarray:
    """Fill NaNs along the last axis with the nearest finite value (ties: earlier); all-NaN rows -> default."""
    out = a.copy()
    T = a.shape[-1]
    ok = np.isfinite(a)
    idx = np.arange(T)
    prev = np.maximum.accumulate(np.where(ok, idx, -1), axis=-1)
    nxt = np.flip(np.minimum.accumulate(np.flip(np.where(ok, idx, T), -1), axis=-1), -1)
    use_prev = (prev >= 0) & ((nxt >= T) | (idx - prev <= nxt - idx))
    src = np.where(use_prev, prev, nxt)
    has = src < T
    src = np.clip(src, 0, T - 1)
    out = np.where(ok, a, np.where(has, np.take_along_axis(a, src, -1), default))
    return out
