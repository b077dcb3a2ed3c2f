"""Map an expert's native keypoints into the canonical whole-body space, vectorised (one gather)."""
from __future__ import annotations

from functools import lru_cache

import numpy as np

from schemas.layouts import SOURCE_SIZE, source_offset
from schemas.natives import NATIVES


@lru_cache(maxsize=None)
def _compiled(native: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    n = NATIVES[native]
    P = max(len(idx) for _, idx in n.mapping)
    target = np.array([source_offset(part) + i for (part, i), _ in n.mapping], dtype=np.int64)
    idx = np.zeros((len(n.mapping), P), dtype=np.int64)
    used = np.zeros((len(n.mapping), P), dtype=bool)
    for r, (_, src) in enumerate(n.mapping):
        idx[r, :len(src)] = src
        used[r, :len(src)] = True
    return target, idx, used


def to_canonical(native: str, points: np.ndarray) -> np.ndarray:
    """points (..., N_native, C) with C = (coords..., score) -> (..., SOURCE_SIZE, C); unmapped: NaN, score 0.
    An averaged point is missing unless all its inputs are present; its score is their minimum."""
    target, idx, used = _compiled(native)
    g = points[..., idx, :]                                        # (..., R, P, C)
    sc = np.where(used, g[..., -1], np.inf).min(-1)                # (..., R)
    xy = np.where(used[..., None], g[..., :-1], 0.0).sum(-2) / used.sum(-1)[:, None]
    ok = (sc > 0) & np.isfinite(xy).all(-1)
    out = np.full(points.shape[:-2] + (SOURCE_SIZE, points.shape[-1]), np.nan, dtype=np.float32)
    out[..., -1] = 0.0
    out[..., target, :-1] = np.where(ok[..., None], xy, np.nan)
    out[..., target, -1] = np.where(ok, sc, 0.0)
    return out
