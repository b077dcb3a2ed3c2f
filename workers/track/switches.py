"""Identity-switch measure: frames where a track's body box jumps in centre or scale beyond what the track's own
recent motion predicts — the signature of a track hopping from one person to another.

A track is followed over its *observed* frames only (bridged frames are interpolations, they cannot jump).
For each observed frame t1 after the previous observed frame t0 (gap g = t1 - t0 >= 1), the body box
(`person_boxes`: centre = hip, side = 2 x hip-to-body-circle distance) is predicted from the last `HISTORY`
observations by a least-squares line through centre and log side against frame number (constant velocity,
constant scale rate), and the observation is compared with the prediction:

  centre error = |centre - predicted centre| / predicted side        (scale-free: body sizes, not pixels)
  scale error  = |log side - predicted log side|                     (scale-free: log of a ratio)

A switch is suspected where either error exceeds its allowance, which grows with the gap:

  centre: CENTRE_JUMP + CENTRE_PER_GAP x (g - 1)      scale: SCALE_JUMP + SCALE_PER_GAP x (g - 1)

Rationale (physics and anatomy at the pipeline's 30 fps, not any one clip):
 - CENTRE_JUMP = 0.2 body sizes. A body's hip deviates from its constant-velocity path by ~0.5 a dt^2: even at
   2 g (jumping, falling) that is under 0.01 body heights per frame, and the detector's hip jitter is a few
   hundredths. Two people's hips cannot be closer than about a torso width apart, ~0.25 of the body height
   (and the box side is at least the body height), so a hop to even the nearest neighbour exceeds 0.2.
 - SCALE_JUMP = log(4/3). Apparent size changes with depth by v/Z per second: running at 3 m/s, 2 m from the
   camera (closest a whole body fits the frame) is 5% per frame. The detector's body circle encloses the
   extended limbs, so a pose change (arms raised overhead) may enlarge it by up to about a third of the body
   height within a frame. A larger ratio is not one body; it is another person nearer or farther away.
 - per frame of gap, the prediction may drift by what a frame of unmodelled motion allows: CENTRE_PER_GAP =
   0.05 body sizes (a walking person's hip moves ~0.03 body heights per frame; the velocity estimate is no
   better than that), SCALE_PER_GAP = 0.05 (the depth rate above).
After a suspected switch the history restarts at that frame: the track is now following someone else, and
their own motion is what predicts the next frames (so one swap is counted once, not at every later frame) —
unless the next observation is back on the old prediction: a one-frame excursion, counted once.
"""
from __future__ import annotations

import math

import numpy as np

from ..detect.blazepose import person_boxes

CENTRE_JUMP = 0.2
CENTRE_PER_GAP = 0.05
SCALE_JUMP = math.log(4 / 3)
SCALE_PER_GAP = 0.05
HISTORY = 4


def body_points(dets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Detections (N, 9) -> hip and face-box centres (N, 2, 2) and body-box log sides (N,)."""
    boxes = person_boxes(dets)
    side = np.maximum(boxes[:, 2] - boxes[:, 0], 1e-6)
    face = (dets[:, 1:3] + dets[:, 3:5]) / 2
    return np.stack([dets[:, 5:7], face], 1), np.log(side)


def predict(frames: np.ndarray, points: np.ndarray, log_sides: np.ndarray, t: int) -> tuple[np.ndarray, float]:
    """Hip and face centres (2, 2) and log side at frame t from the last HISTORY observations (frames
    ascending, all < t): a least-squares line per coordinate (constant velocity; one observation predicts
    itself) and the median log side (no scale trend: the depth rate is within the per-frame allowance, and
    extrapolating the pose-driven wobble of the body circle would only add noise)."""
    f, p = frames[-HISTORY:].astype(np.float64), points[-HISTORY:].reshape(-1, 4).astype(np.float64)
    if len(f) < 2:
        centre = p[-1]
    else:
        fc = f - f.mean()
        slope = (fc[:, None] * (p - p.mean(0))).sum(0) / (fc ** 2).sum()
        centre = p.mean(0) + slope * (t - f.mean())
    return centre.reshape(2, 2), float(np.median(log_sides[-HISTORY:]))


def allowances(gap: int) -> tuple[float, float]:
    """(centre in body sizes, |log scale|) a track may deviate from its prediction after `gap` frames."""
    extra = max(gap - 1, 0)
    return CENTRE_JUMP + CENTRE_PER_GAP * extra, SCALE_JUMP + SCALE_PER_GAP * extra


def errors(pred_points: np.ndarray, pred_log_side: float, points: np.ndarray, log_sides: np.ndarray
           ) -> tuple[np.ndarray, np.ndarray]:
    """Centre error and scale error of observations (N,): the smaller of the hip's and the face's distance
    from their predictions, in predicted body sizes, and |log side ratio|."""
    dist = np.linalg.norm(points - pred_points, axis=-1).min(-1)
    return dist / math.exp(pred_log_side), np.abs(log_sides - pred_log_side)


def suspected_switches(track: np.ndarray, observed: np.ndarray) -> list[int]:
    """One track (T, 9) and its observed mask (T,) -> the frames where a switch is suspected, ascending."""
    frames = np.flatnonzero(observed)
    if len(frames) < 2:
        return []
    points, log_sides = body_points(track[frames])
    keep = [0]                              # indices of the observations the current identity is predicted from
    found: list[int] = []
    i = 1
    while i < len(frames):
        if _fits(frames, points, log_sides, keep, i):
            keep.append(i)
            i += 1
            continue
        found.append(int(frames[i]))
        if i + 1 < len(frames) and _fits(frames, points, log_sides, keep, i + 1):
            keep.append(i + 1)              # a one-frame excursion: the next frame is back on the prediction
            i += 2
        else:
            keep = [i]                      # the track follows someone else from here
            i += 1
    return found


def _fits(frames: np.ndarray, points: np.ndarray, log_sides: np.ndarray, keep: list[int], i: int) -> bool:
    """Whether observation i is within the allowances of the prediction from observations `keep`."""
    h = np.array(keep[-HISTORY:])
    t = int(frames[i])
    pp, ps = predict(frames[h], points[h], log_sides[h], t)
    ce, se = errors(pp, ps, points[i:i + 1], log_sides[i:i + 1])
    c_max, s_max = allowances(t - int(frames[h[-1]]))
    return bool(ce[0] <= c_max and se[0] <= s_max)


def identity_switches(tracks: np.ndarray, observed: np.ndarray, actors: np.ndarray) -> list[list[int]]:
    """tracks (K, T, 9), observed (K, T), actors (M,) track indices -> per actor, its suspected switch frames."""
    return [suspected_switches(tracks[int(a)], observed[int(a)]) for a in actors]
