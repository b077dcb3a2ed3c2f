"""One MP4 writer for every video skelforge writes (skeleton crops, `show --save X.mp4`): RGB frames -> H.264
(yuv420p) at `fps`, or MPEG-4 Part 2 where the FFmpeg build has no x264; sizes cut to even (yuv420p needs them;
the first frame's size is the video's); written to a temporary file and published atomically, so a failure
leaves no partial video."""
from __future__ import annotations

from pathlib import Path
from typing import Iterable

import numpy as np


def codec() -> str:
    import av
    try:
        av.codec.Codec("libx264", "w")
        return "libx264"
    except Exception:   # noqa: BLE001 — an FFmpeg build without x264
        return "mpeg4"


def write_mp4(frames: Iterable[np.ndarray], dest: Path, fps: int = 30) -> int:
    """Encode RGB frames (H, W, 3) uint8 to `dest`; returns the number written (0 frames: no file)."""
    import av

    from .atomic import atomic_target
    it = iter(frames)
    first = next(it, None)
    if first is None:
        return 0
    h, w = first.shape[0] // 2 * 2, first.shape[1] // 2 * 2
    n = 0
    with atomic_target(Path(dest), suffix=".mp4") as tmp, av.open(tmp, "w", format="mp4") as c:
        s = c.add_stream(codec(), rate=fps)
        s.width, s.height, s.pix_fmt = w, h, "yuv420p"
        for f in _chain(first, it):
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(f[:h, :w]), format="rgb24")
            for p in s.encode(frame):
                c.mux(p)
            n += 1
        for p in s.encode():
            c.mux(p)
    return n


def _chain(first, rest):
    yield first
    yield from rest
