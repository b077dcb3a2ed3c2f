"""Presentation-timestamp resampling to a fixed output rate.

Output frame k is the source frame *shown* at time t0 + k/fps: the last source frame whose presentation time
is <= that instant (t0 = the first frame's time). Output frames exist for every k with k/fps < the clip's
end time (last presentation time + one frame interval). Works for any source rate (25, 29.97, 50, 60) and
for variable frame rate, since only timestamps are used.

Timestamps come from the demuxer's packet pts, sorted: decoders emit frames in presentation order, so the i-th
decoded frame is shown at the i-th smallest packet pts. This is right for B-frame MP4s and for AVI, whose
decoded-frame pts are not in display order. The frame rate a container *declares* (avg/r_frame_rate, packet
durations) is never used when timestamps exist: it may be nonsense (0, 90000) while the timestamps are right.
The last frame lasts the median interval between frames (its own packet duration only when it is the only
frame), since a packet duration is just the declared rate again.

Raw elementary streams (`.h264`, `.hevc`: no container, so no timestamps) are timed by the frame rate the
bitstream itself declares (H.264/HEVC VUI timing, `codec_context.framerate`): frame i at i / rate, the frames
counted by decoding. A raw stream that declares no rate raises `VideoError` saying so (the demuxer's made-up
25 fps is not used). Everything is exact rational arithmetic (Fractions).

`check_timing` turns timing no real camera produces into a `VideoError`: timestamps that do not advance, or
more frames per second (by the timestamps) than `max_fps`.
"""
from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

import av
import numpy as np

from .probe import VideoError


@dataclass(frozen=True)
class FrameTiming:
    times: list[Fraction]     # sorted presentation times (s), relative to the first frame
    end: Fraction             # the clip's end: last time + one frame interval
    source: str               # "timestamps", or how a stream without timestamps was timed


def frame_timing(path: str) -> FrameTiming:
    """When each source frame is shown (see the module doc). Raises VideoError for an untimed raw stream."""
    with av.open(path) as container:
        stream = container.streams.video[0]
        tb = stream.time_base
        pts, durs, untimed = [], [], 0
        for packet in container.demux(stream):
            if packet.size == 0:
                continue
            if packet.pts is None:
                untimed += 1
                continue
            pts.append(packet.pts)
            durs.append(packet.duration or 0)
        if not pts and untimed:
            return _stream_rate_timing(path, stream)
    if not pts:
        return FrameTiming([], Fraction(0), "timestamps")
    order = np.argsort(np.asarray(pts, dtype=np.int64), kind="stable")
    pts_sorted = [pts[i] for i in order]
    t0 = pts_sorted[0]
    times = [Fraction(p - t0) * tb for p in pts_sorted]
    deltas = np.diff(np.asarray(pts_sorted, dtype=np.int64))
    last_dur = int(np.median(deltas)) if len(deltas) else durs[order[-1]]
    return FrameTiming(times, times[-1] + Fraction(last_dur) * tb, "timestamps")


def _stream_rate_timing(path: str, stream) -> FrameTiming:
    """Frame i at i / (the bitstream's declared rate); frames counted by decoding."""
    codec = stream.codec_context.name
    rate = stream.codec_context.framerate
    if not rate:
        raise VideoError(f"raw {codec} stream with no timestamps and no declared frame rate (no container, no "
                         "timing in the bitstream): re-mux it into MP4/MKV with its real frame rate")
    rate = Fraction(rate)
    n = 0
    with av.open(path) as container:
        try:
            for _ in container.decode(container.streams.video[0]):
                n += 1
        except av.error.FFmpegError:
            pass          # a corrupt tail: the frames before it are the clip
    times = [Fraction(i) / rate for i in range(n)]
    return FrameTiming(times, Fraction(n) / rate,
                       f"raw {codec} stream: no timestamps, timed by its declared {_fps(rate)} fps")


def _fps(rate: Fraction) -> str:
    return f"{float(rate):.6g}"


def check_timing(timing: FrameTiming, max_fps: int) -> None:
    """VideoError when the timing is not a real recording's: frames that never advance in time, or a mean
    source rate above `max_fps`."""
    n = len(timing.times)
    if n < 2:
        return
    span = timing.times[-1]
    if span == 0:
        raise VideoError(f"frame timestamps do not advance: all {n} frames are stamped at one instant")
    rate = Fraction(n - 1) / span
    if rate > max_fps:
        raise VideoError(f"implausible frame timing: the file's timestamps put {n} frames in {float(span):.4g} s "
                         f"({_fps(rate)} fps, above frames.max_source_fps {max_fps}); re-mux it with its real "
                         "frame rate, or raise frames.max_source_fps for genuine high-speed footage")


def presentation_times(path: str) -> tuple[list[Fraction], Fraction]:
    """Sorted presentation times (seconds, relative to the first) of the video stream and the clip's end time."""
    timing = frame_timing(path)
    return timing.times, timing.end


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
