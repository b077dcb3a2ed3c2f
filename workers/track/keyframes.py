"""Keyframe detection: the person detector runs where tracking needs it, not on every frame.

The clip is cut into windows of `stride` frames. The detector runs on each window's last frame (and on frame 0),
then on the window's midpoint, and the window is *vouched for* — the frames in between are left to the
tracker's interpolation (`Tracker.step(t, None)`, bridged in `result()`) — when the midpoint's detections are
where the straight line between the window's ends puts them (`linear`):

  - the same number of people at both ends and at the midpoint, matched one to one;
  - each midpoint person within TOLERANCE body radii of its interpolated position (hip, body-circle point and
    face-box centre) and within TOLERANCE in log body size;
  - nobody crowded (another body's centre inside one's radius, `follow.crowded`) at the ends or the midpoint:
    where people overlap the tracker needs every frame (its association, `track.follow`'s landmarks).

A window starting while the tracker follows someone by their landmarks (`Tracker.following`: the detector
lost a person among others, `track.follow`) is detected on every frame: following goes frame to frame.

A window that fails is split at its midpoint and each half checked the same way, down to single frames; so a
person who enters, leaves, is missed by the detector, turns sharply, or meets someone gets every frame's
detection around that moment, while people apart who move smoothly cost two detector runs per window (one at
its end, one at its midpoint). Frames with nobody cost the same, which also skips the zoom-out fallback there.

Why the midpoint and not the ends only: a check needs an observation the line did not use; the midpoint is where
the interpolation error of a smooth motion is largest, and a detector run there is already on the frames the
detector visits every half window, so nobody present for half a window or more goes unseen.

TOLERANCE = 0.1 body radii: an actor's crop is the body circle x 1.25 (`pose.roi_scale`), a margin of 0.25
radius all round; an error of 0.1 leaves most of that margin, and is a small fraction of the one-frame ROI lag
MediaPipe's own video mode accepts when it crops a frame from the previous frame's landmarks.

The windows are read in order, one at a time (at most `stride` + 1 frames held), so a streamed source (no spool)
is never asked to seek backwards. The result depends on the frames and the detector alone: not on the batch
size (each round's frames go to the detector in calls of at most `batch_size` frames).
"""
from __future__ import annotations

from typing import Callable, Iterator, Optional, Sequence

import numpy as np
from scipy.optimize import linear_sum_assignment

from .follow import crowded

TOLERANCE = 0.1
HIP, CIRCLE = slice(5, 7), slice(7, 9)

Detect = Callable[[list[np.ndarray]], list[np.ndarray]]


def _points(rows: np.ndarray) -> np.ndarray:
    """(N, 3, 2): hip, body-circle point and face-box centre of detector rows (N, 9)."""
    face = (rows[:, 1:3] + rows[:, 3:5]) / 2
    return np.stack([rows[:, HIP], rows[:, CIRCLE], face], 1)


def _radius(rows: np.ndarray) -> np.ndarray:
    return np.maximum(np.linalg.norm(rows[:, CIRCLE] - rows[:, HIP], axis=1), 1e-6)


def _distance(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(len(a), len(b)): the larger of the worst point distance in a's body radii and the log size ratio."""
    ra, rb = _radius(a), _radius(b)
    pts = np.linalg.norm(_points(a)[:, None] - _points(b)[None], axis=-1).max(-1) / ra[:, None]
    return np.maximum(pts, np.abs(np.log(rb[None] / ra[:, None])))


def _match(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One-to-one pairing of rows a with rows b (same count) minimising `_distance`: (index into b per a, the
    pairs' distances)."""
    d = _distance(a, b)
    r, c = linear_sum_assignment(d)
    order = np.empty(len(a), int)
    order[r] = c
    return order, d[r, c][np.argsort(r)]


def _alone(rows: np.ndarray) -> bool:
    return not any(crowded(rows[i], np.delete(rows, i, 0)) for i in range(len(rows)))


def linear(start: np.ndarray, mid: np.ndarray, end: np.ndarray, w: float, tolerance: float = TOLERANCE) -> bool:
    """Whether detections `mid` (N, 9), at fraction w of the way from `start` to `end`, are where the straight
    line between start and end puts them (the module docstring's three conditions)."""
    if not len(start) == len(mid) == len(end):
        return False
    if len(start) == 0:
        return True
    if not (_alone(start) and _alone(mid) and _alone(end)):
        return False
    to_end, _ = _match(start, end)
    line = start.copy()
    line[:, 1:] = start[:, 1:] + w * (end[to_end, 1:] - start[:, 1:])
    _, err = _match(line, mid)
    return bool((err <= tolerance).all())


class _Counts:
    """People found at the frames the detector ran on so far, to tell a window whether someone seen within the
    last `horizon` frames is missing at its start (a miss the tracker may still bridge, not an exit)."""

    def __init__(self, horizon: int):
        self.horizon, self.at = horizon, {}

    def add(self, t: int, dets: np.ndarray) -> None:
        self.at[t] = len(dets)

    def forget(self, t: int) -> None:
        """Drop the frames no later question reaches (before t - horizon)."""
        self.at = {f: n for f, n in self.at.items() if f >= t - self.horizon}

    def missing(self, t: int) -> bool:
        return any(n > self.at[t] for f, n in self.at.items() if t - self.horizon <= f < t)


def _window(frames: list[np.ndarray], first: int, found: dict[int, np.ndarray], detect: Detect, counts: _Counts,
            tolerance: float, every: bool) -> None:
    """Detections for one window, frames[i] being frame first + i, frame `first`'s already in `found`: the last
    frame's and what the checks need (`every`: all frames), added to `found` (and `counts`)."""
    def run(ts: list[int]) -> None:
        for t, d in zip(ts, detect([frames[t - first] for t in ts])):
            found[t] = d
            counts.add(t, d)

    last = first + len(frames) - 1
    if every:
        run(list(range(first + 1, last + 1)))
        return
    run([last])
    todo = [(first, last)] if last - first > 1 else []
    while todo:
        mids = [(a + b) // 2 for a, b in todo]
        run(mids)
        todo = [half for (a, b), m in zip(todo, mids)
                if counts.missing(a) or not linear(found[a], found[m], found[b], (m - a) / (b - a), tolerance)
                for half in ((a, m), (m, b)) if half[1] - half[0] > 1]


def detections(frames: Sequence, detect: Detect, stride: int, batch_size: int, horizon: int,
               every: Callable[[], bool] = lambda: False, tolerance: float = TOLERANCE
               ) -> Iterator[tuple[int, np.ndarray, Optional[np.ndarray]]]:
    """(t, frame, detections or None where the detector did not run) for every frame t of `frames` (len, and
    `frame(t)`), in order. stride 1: the detector on every frame, `batch_size` frames per `detect` call; else
    keyframes (the module docstring), a window not vouched for while someone seen in the `horizon` frames
    before its start is missing there (`track.max_gap`: the tracker would still bridge them), and detected on
    every frame when `every()` says so at its start (asked once the caller has taken the frames before: the
    tracker, while it follows someone by their landmarks, `Tracker.following`)."""
    n = len(frames)
    if stride <= 1:
        for start in range(0, n, batch_size):
            batch = [frames.frame(k) for k in range(start, min(start + batch_size, n))]
            yield from ((k, f, d) for k, (f, d) in enumerate(zip(batch, detect(batch)), start))
        return
    if n == 0:
        return

    def batched(fs: list[np.ndarray]) -> list[np.ndarray]:
        return [d for i in range(0, len(fs), batch_size) for d in detect(fs[i:i + batch_size])]

    counts = _Counts(horizon)
    prev = frames.frame(0)
    found = {0: batched([prev])[0]}
    counts.add(0, found[0])
    yield 0, prev, found[0]
    for a in range(0, n - 1, stride):
        window = [prev] + [frames.frame(k) for k in range(a + 1, min(a + stride, n - 1) + 1)]
        _window(window, a, found, batched, counts, tolerance, every())
        for k in range(1, len(window)):
            yield a + k, window[k], found.get(a + k)
        last = a + len(window) - 1
        prev, found = window[-1], {last: found[last]}
        counts.forget(last - stride)
