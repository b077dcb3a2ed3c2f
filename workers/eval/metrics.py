"""PCK and NME on canonical arrays. A ground-truth point the method did not predict counts as a miss (PCK)
and is left out of NME (the table reports how many points were scored, and NME on the points every
method predicted, for a like-for-like comparison)."""
from __future__ import annotations

import numpy as np


def pck_hits(pred: np.ndarray, gt: np.ndarray, idx: np.ndarray, size: float, thr: float = 0.2):
    """(hits, scored, predicted) over gt-visible points idx."""
    vis = gt[idx, 2] > 0
    have = vis & (pred[idx, 2] > 0)
    err = np.linalg.norm(pred[idx, :2] - gt[idx, :2], axis=-1)
    hits = have & (err <= thr * size)
    return int(hits.sum()), int(vis.sum()), int(have.sum())


def point_errors(pred: np.ndarray, gt: np.ndarray, idx: np.ndarray, norm: float) -> np.ndarray:
    """Normalised error per gt-visible point of idx; NaN where the method predicted nothing."""
    vis = gt[idx, 2] > 0
    err = np.linalg.norm(pred[idx, :2] - gt[idx, :2], axis=-1) / norm
    return np.where(pred[idx, 2][vis] > 0, err[vis], np.nan)
