"""Outlier rejection by bone-length consistency, and left/right swap repair."""
from __future__ import annotations

import warnings

import numpy as np


def bone_outliers(P: np.ndarray, valid: np.ndarray, bones: np.ndarray, tolerance: float) -> np.ndarray:
    """P (M, T, V, 2). A bone longer than (1 + tol) x its full length marks its distal joint (second index) as
    an outlier; the full length is the bone's 90th-percentile length over the clip. Only too-long bones count:
    in 2D, foreshortening (a person turning or sitting, a limb pointing at the camera) legitimately shortens
    bones for long stretches, so a median would understate them, while a misplaced point stretches one.
    Returns the (M, T, V) outlier mask."""
    if len(bones) == 0:
        return np.zeros(valid.shape, dtype=bool)
    a, b = bones[:, 0], bones[:, 1]
    ok = valid[..., a] & valid[..., b]                                       # (M, T, B)
    length = np.linalg.norm(P[..., a, :] - P[..., b, :], axis=-1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        med = np.nanpercentile(np.where(ok, length, np.nan), 90, axis=1, keepdims=True)   # (M, 1, B)
    ratio = length / np.where(med > 0, med, np.nan)
    bad = ok & np.isfinite(ratio) & (ratio > 1 + tolerance)
    onehot = np.zeros((len(bones), valid.shape[-1]), dtype=np.float32)      # bone -> its distal joint
    onehot[np.arange(len(bones)), b] = 1.0
    return (bad.astype(np.float32) @ onehot) > 0


def find_swaps(P: np.ndarray, valid: np.ndarray, groups: list[tuple[np.ndarray, np.ndarray]],
               ratio: float = 0.5) -> np.ndarray:
    """For each (left joints, right joints) group, frame t is swapped when exchanging left and right moves less
    than `ratio` x the original assignment from frame t-1 (t-1 already repaired). Sequential in t, vectorised
    over persons. Returns the swap mask (M, T, n_groups)."""
    P = P.copy()
    M, T = valid.shape[:2]
    swapped = np.zeros((M, T, len(groups)), dtype=bool)
    for t in range(1, T):
        for g, (L, R) in enumerate(groups):
            ok = (valid[:, t - 1][:, L] & valid[:, t - 1][:, R] & valid[:, t][:, L] & valid[:, t][:, R]).all(-1)
            if not ok.any():
                continue
            cur, prev = P[:, t], P[:, t - 1]
            keep = (np.linalg.norm(cur[:, L] - prev[:, L], axis=-1)
                    + np.linalg.norm(cur[:, R] - prev[:, R], axis=-1)).sum(-1)
            swap = (np.linalg.norm(cur[:, R] - prev[:, L], axis=-1)
                    + np.linalg.norm(cur[:, L] - prev[:, R], axis=-1)).sum(-1)
            do = ok & (swap < ratio * keep)
            if do.any():
                swapped[do, t, g] = True
                rows = np.flatnonzero(do)[:, None]
                P[rows, t, L], P[rows, t, R] = P[rows, t, R].copy(), P[rows, t, L].copy()
    return swapped


def apply_swaps(A: np.ndarray, swapped: np.ndarray, groups: list[tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
    """Exchange left/right joints of A (M, T, V, ...) where swapped (M, T, n_groups)."""
    A = A.copy()
    for g, (L, R) in enumerate(groups):
        m = swapped[..., g]
        if m.any():
            left, right = A[m][:, L].copy(), A[m][:, R].copy()
            sub = A[m]
            sub[:, L], sub[:, R] = right, left
            A[m] = sub
    return A
