"""Presentation-timestamp resampling to a fixed output rate.

Output frame k is the source frame *shown* at time t0 + k/fps: the last source frame whose presentation time
is <= that instant (t0 = the first frame's time). Output frames exist for every k with k/fps < the clip's
end time (last presentation time + last frame's duration). Works for any source rate (25, 29.97, 50, 60) and
for variable frame rate, since only timestamps are used.

Timestamps come from the demuxer's packet pts, sorted: decoders emit frames in presentation order, so the i-th
decoded frame is shown at the i-th smallest packet pts. This is right for B-frame MP4s and for AVI, whose
decoded-frame pts are not in display order. Everything is exact rational arithmetic (Fractions).
"""
from __future__ import annotations

from fractions import Fraction

import av
import numpy as np


def presentation_times(path: str) -> tuple[list[Fraction], Fraction]:
    """Sorted presentation times (seconds, relative to the first) of the video stream and the clip's end time."""
    with av.open(path) as container:
        stream = container.streams.video[0]
        tb = stream.time_base
        pts, durs = [], []
        for packet in container.demux(stream):
            if packet.pts is None or packet.size == 0:
                continue
            pts.append(packet.pts)
            durs.append(packet.duration or 0)
    if not pts:
        return [], Fraction(0)
    order = np.argsort(np.asarray(pts, dtype=np.int64), kind="stable")
    pts_sorted = [pts[i] for i in order]
    t0 = pts_sorted[0]
    times = [Fraction(p - t0) * tb for p in pts_sorted]
    last_dur = durs[order[-1]]
    if not last_dur:
        deltas = np.diff(np.asarray(pts_sorted, dtype=np.int64))
        last_dur = int(np.median(deltas)) if len(deltas) else 0
    end = times[-1] + Fraction(last_dur) * tb
    return times, end


def resample_indices(times: list[Fraction], end: Fraction, fps: int, max_frames: int | None = None) -> np.ndarray:
    """Source frame index for each output frame (int64 array)."""
    if not times:
        return np.zeros(0, dtype=np.int64)
    n_out = int(np.ceil(end * fps)) if end > 0 else 1   # k/fps < end  <=>  k < end*fps
    if Fraction(n_out - 1, fps) >= end and n_out > 1:
        n_out -= 1
    if max_frames is not None:
        n_out = min(n_out, max_frames)
    out = np.empty(n_out, dtype=np.int64)
    j = 0
    for k in range(n_out):
        t = Fraction(k, fps)
        while j + 1 < len(times) and times[j + 1] <= t:
            j += 1
        out[k] = j
    return out
