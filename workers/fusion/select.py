"""Candidate selection: expert agreement (unary) + temporal continuity (pairwise), solved exactly per joint by
Viterbi over frames — the global version of SSTA-PRS's greedy rule (frame 0: the pair that agrees most; then the
point nearest the previous refined one). Vectorised over persons, joints and experts; the loop is over time.

All distances are in units of person scale (body-box diagonal):
  agreement a_e = score-weighted mean over the *other* valid experts f of exp(-d_ef^2 / 2 sigma^2)  (1 if alone)
  unary     u_e = -log(score_e) - log(a_e)
  pairwise  w * min(jump, max_jump)^2 / (2 sigma_t^2)   for moving from expert e at t-1 to e' at t
"""
from __future__ import annotations

import numpy as np

EPS = 1e-6


def pairwise_distance(Xn: np.ndarray) -> np.ndarray:
    """Xn (E, ..., 2) -> (E, E, ...)."""
    return np.linalg.norm(Xn[:, None] - Xn[None, :], axis=-1)


def agreement(D: np.ndarray, S: np.ndarray, sigma: float, same: np.ndarray | None = None) -> np.ndarray:
    """D (E, E, M, T, V) normalised distances, S (E, M, T, V) -> agreement (E, M, T, V) in [0, 1]. same:
    (E, E, V) True where two experts run the same model for that joint — they are not independent voters,
    so their agreement is not counted."""
    E = S.shape[0]
    valid = S > 0
    other = valid[None, :] & valid[:, None] & ~np.eye(E, dtype=bool)[(...,) + (None,) * (S.ndim - 1)]
    if same is not None:
        other = other & ~same[:, :, None, None, :]
    k = np.exp(-0.5 * (np.nan_to_num(D, nan=1e3) / sigma) ** 2)
    w = np.where(other, S[None, :], 0.0)
    num, den = (k * w).sum(1), w.sum(1)
    return np.where(den > 0, num / np.maximum(den, EPS), 1.0)


def viterbi(unary: np.ndarray, Xn: np.ndarray, weight: float, sigma_t: float, max_jump: float) -> np.ndarray:
    """unary (E, M, T, V) (inf = invalid), Xn (E, M, T, V, 2) -> selected expert (M, T, V) int64."""
    E, M, T, V = unary.shape
    cost = unary[:, :, 0]                                     # (E, M, V)
    back = np.zeros((T, E, M, V), dtype=np.int8)
    for t in range(1, T):
        jump = np.linalg.norm(Xn[:, None, :, t - 1] - Xn[None, :, :, t], axis=-1)      # (Ep, Ec, M, V)
        jump = np.minimum(np.nan_to_num(jump, nan=0.0), max_jump)
        prev = np.where(np.isfinite(cost).any(0, keepdims=True), cost, 0.0)          # gap: restart the chain
        total = prev[:, None] + weight * 0.5 * (jump / sigma_t) ** 2                # (Ep, Ec, M, V)
        back[t] = np.argmin(total, axis=0)
        cost = np.take_along_axis(total, back[t][None].astype(np.int64), 0)[0] + unary[:, :, t]
        cost = cost - np.where(np.isfinite(cost), cost, np.inf).min(0, keepdims=True).clip(-1e300, 1e300)
    sel = np.zeros((M, T, V), dtype=np.int64)
    last = np.where(np.isfinite(cost), cost, np.inf)
    sel[:, T - 1] = np.argmin(last, axis=0)
    for t in range(T - 1, 0, -1):
        sel[:, t - 1] = np.take_along_axis(back[t], sel[:, t][None].astype(np.int64), 0)[0]
    return sel
