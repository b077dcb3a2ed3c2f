"""Evaluate a layout's joint rules on whole-body source points, vectorised over persons, frames and joints.

Each joint has up to K candidates (fallbacks), each a weighted sum of up to P source points; they are packed
into padded (V, K, P) index/weight arrays once per layout, and evaluated in one gather: a candidate is usable
where all its points have score > 0, its score is their minimum, and the first usable candidate wins.
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np

from schemas.layouts import Layout, get_layout, source_offset


@lru_cache(maxsize=None)
def compile_layout(name: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    layout: Layout = get_layout(name)
    V = layout.num_joints
    K = max(len(j.candidates) for j in layout.joints)
    P = max(len(c) for j in layout.joints for c in j.candidates)
    idx = np.zeros((V, K, P), dtype=np.int64)
    w = np.zeros((V, K, P), dtype=np.float64)
    used = np.zeros((V, K, P), dtype=bool)        # real (non-padding) point slots
    for v, joint in enumerate(layout.joints):
        for k in range(K):
            cand = joint.candidates[min(k, len(joint.candidates) - 1)]   # pad K by repeating the last
            for p, ((part, i), weight) in enumerate(cand):
                idx[v, k, p] = source_offset(part) + i
                w[v, k, p] = weight
                used[v, k, p] = True
    return idx, w, used


def apply_layout(name: str, source: np.ndarray, min_score: float = 0.0) -> np.ndarray:
    """source (..., S, C) with C = (coords..., score) -> (..., V, C). Missing joints: NaN coords, score 0."""
    return evaluate_layout(name, source, min_score)[0]


def layout_provenance(name: str, source: np.ndarray, provenance: np.ndarray) -> np.ndarray:
    """Per layout joint, the provenance (expert index) of the first source point of the rule candidate used;
    -1 where the joint is missing. provenance: (..., S) int8."""
    out, src = evaluate_layout(name, source)
    prov = np.take_along_axis(provenance, src, axis=-1)
    return np.where(out[..., -1] > 0, prov, -1).astype(np.int8)


# Rows (person-frames) evaluated per gather: the (rows, V, K, P, C) intermediates stay near 2**22 elements, so a
# 10-minute clip costs tens of MB here instead of GBs; each row is evaluated on its own, so results do not change.
_CHUNK_ELEMENTS = 1 << 22


def evaluate_layout(name: str, source: np.ndarray, min_score: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """(joints (..., V, C), source index of each joint's chosen candidate's first point (..., V))."""
    idx = compile_layout(name)[0]
    lead, (S, C) = source.shape[:-2], source.shape[-2:]
    flat = source.reshape(-1, S, C)
    rows = max(1, _CHUNK_ELEMENTS // (idx.size * C))
    out = np.empty((flat.shape[0], idx.shape[0], C), dtype=np.float32)
    src = np.empty((flat.shape[0], idx.shape[0]), dtype=idx.dtype)
    for a in range(0, flat.shape[0], rows):
        out[a:a + rows], src[a:a + rows] = _evaluate_rows(name, flat[a:a + rows], min_score)
    return out.reshape(*lead, *out.shape[1:]), src.reshape(*lead, src.shape[-1])


def _evaluate_rows(name: str, source: np.ndarray, min_score: float) -> tuple[np.ndarray, np.ndarray]:
    idx, w, used = compile_layout(name)
    g = source[..., idx, :]                                       # (..., V, K, P, C)
    scores = np.where(used, g[..., -1], np.inf)                   # padding never limits the min
    cand_score = scores.min(-1)                                   # (..., V, K)
    coords = np.where(used[..., None], g[..., :-1], 0.0)
    cand_xy = (coords * w[..., None]).sum(-2)                     # (..., V, K, C-1)
    ok = (cand_score > 0) & np.isfinite(cand_xy).all(-1)
    first = np.argmax(ok, axis=-1)                                # first usable candidate
    any_ok = np.take_along_axis(ok, first[..., None], -1)[..., 0]
    xy = np.take_along_axis(cand_xy, first[..., None, None], -2)[..., 0, :]
    sc = np.take_along_axis(cand_score, first[..., None], -1)[..., 0]
    keep = any_ok & (sc >= min_score) & (sc > 0)
    out = np.concatenate([np.where(keep[..., None], xy, np.nan), np.where(keep, sc, 0.0)[..., None]], -1)
    src = idx[np.arange(idx.shape[0]), first, 0]                  # (..., V)
    return out.astype(np.float32), src
