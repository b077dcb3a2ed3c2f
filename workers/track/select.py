"""Actor selection: keep the `n` tracks with the most evidence (sum over frames of body-box side x score),
i.e. the largest and longest-lived people. Order: most evidence first."""
from __future__ import annotations

import numpy as np

from ..detect.blazepose import person_boxes


def track_evidence(tracks: np.ndarray, observed: np.ndarray) -> np.ndarray:
    K, T, _ = tracks.shape
    if K == 0:
        return np.zeros(0)
    flat = np.nan_to_num(tracks.reshape(K * T, -1))
    boxes = person_boxes(flat).reshape(K, T, 4)
    side = boxes[..., 2] - boxes[..., 0]
    return (side * flat[:, 0].reshape(K, T) * observed).sum(1)


def select_actors(tracks: np.ndarray, observed: np.ndarray, n: int) -> np.ndarray:
    """Indices of the selected tracks (at most n), most evidence first; ties broken by track order."""
    ev = track_evidence(tracks, observed)
    order = np.lexsort((np.arange(len(ev)), -ev))
    return order[:n]
