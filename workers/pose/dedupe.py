"""Two tracked actors can end up on the same person (a hug: one detector box held over the other person's
crop). Per frame, when two actors' body poses are closer than `ratio` x body size, the pose is kept only for
the actor whose track box centre is nearest to the pose's hip centre; the other actor is set missing there."""
from __future__ import annotations

import numpy as np

from ..quiet import nan_warnings_silenced


def body_size(body: np.ndarray) -> np.ndarray:
    """(…, 33, 3) -> (…) diagonal of the box around the visible body points."""
    xy = np.where(body[..., 2:3] > 0, body[..., :2], np.nan)
    with np.errstate(invalid="ignore"), nan_warnings_silenced():
        lo, hi = np.nanmin(xy, -2), np.nanmax(xy, -2)
    return np.linalg.norm(hi - lo, axis=-1)



def drop_duplicates(points: np.ndarray, box_centres: np.ndarray, ratio: float) -> np.ndarray:
    """points (M, T, 543, 3), box_centres (M, T, 2). Returns the (M, T) mask of person-frames dropped (and
    clears them in `points` in place)."""
    M, T = points.shape[:2]
    dropped = np.zeros((M, T), dtype=bool)
    body = points[:, :, :33]
    size = body_size(body)                                    # (M, T)
    hip = (body[:, :, 23, :2] + body[:, :, 24, :2]) / 2        # (M, T, 2)
    for a in range(M):
        for b in range(a + 1, M):
            both = (body[a, :, :, 2] > 0) & (body[b, :, :, 2] > 0)               # (T, 33)
            d = np.linalg.norm(body[a, :, :, :2] - body[b, :, :, :2], axis=-1)    # (T, 33)
            with nan_warnings_silenced():
                mean_d = np.nanmean(np.where(both, d, np.nan), axis=1)
            ref = np.fmin(size[a], size[b])
            dup = (mean_d < ratio * ref) & ~dropped[a] & ~dropped[b]
            if not dup.any():
                continue
            da = np.linalg.norm(hip[a] - box_centres[a], axis=-1)
            db = np.linalg.norm(hip[b] - box_centres[b], axis=-1)
            drop_a = dup & (da > db)
            drop_b = dup & ~(da > db)
            dropped[a] |= drop_a
            dropped[b] |= drop_b
    points[dropped] = np.nan
    points[..., 2][dropped] = 0.0
    return dropped
