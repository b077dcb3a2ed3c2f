"""A clip's output frames, upright, in bounded memory and bounded scratch at any clip length.

`open_frames(video, src_index, scratch)` decodes the video once through the last source frame that
`src_index` (output frame k -> source frame) names, and raises `Truncated` (a `VideoError`) when the data stops
earlier. It returns a `FrameSource`, the one shape that stages use:

    len(source)        output frames T
    source.size        (height, width) of the upright frames
    source.rotation    clockwise degrees (0, 90, 180, 270) applied to the decoded pixels to stand them upright,
                       from the stream's display matrix (phone clips shot in portrait: 90 or 270)
    source.frame(k)    output frame k: (H, W, 3) uint8 RGB, C-contiguous, read-only. Cheapest read in increasing k
                       (every stage does); reading backwards is allowed and costs a re-decode when streaming
    iter(source)       frame(0), frame(1), ...
    source.close()     frees everything (also `with open_frames(...) as source:`)

Frames are byte-identical to `frame.to_ndarray(format="rgb24")` of the decoded source frame, resized
(`cv2.INTER_AREA`) to the first needed frame's size when the stream changes size mid-way, then rotated with
`np.rot90`.

A still image (workers/decode/image.py) gives `StillFrames`, the same shape over its one decoded picture.

Where frames come from (chosen when the first needed frame is decoded, never visible in the frames themselves):
- spooled: when the distinct needed frames fit in `budget` bytes (default `SPOOL_BUDGET`, 1 GiB: a 1080p clip
  of about 5.7 s, 720p 12 s, 340x256 2 min), the opening pass writes them raw to an *unnamed* scratch file
  (`tempfile.TemporaryFile`, unlinked at creation), read back with `os.preadv` (not mapped, so reads do not grow
  the RSS). The kernel frees it when it is closed or the process dies, SIGKILL included: no exit path leaves it
  behind. A write that fails (ENOSPC, quota, an unwritable scratch dir) drops the partial spool at once and the
  clip is streamed instead: same frames, logged as a warning.
- streamed: otherwise each frame is decoded from the video on demand by a sequential decoder that restarts from
  the first frame when asked for a frame behind it; the last `RECENT` frames are kept. Scratch: none; memory: a
  few frames plus the decoder's. Cost: the opening pass decodes without converting (5 ms per 1080p frame on the
  2-core dev machine) and every later pass decodes and converts again (19 ms per 1080p frame).
"""
from __future__ import annotations

import logging
import os
import tempfile
from collections import OrderedDict
from pathlib import Path
from typing import Iterator, Optional

import av
import numpy as np

from .image import StillFrames, image_format
from .probe import VideoError

SPOOL_BUDGET = 1 << 30      # bytes of scratch one clip may spool
RECENT = 4                  # decoded frames kept for repeated / slightly backward reads

log = logging.getLogger(__name__)


class Truncated(VideoError):
    """The decoder stopped before the last needed source frame."""

    def __init__(self, decoded: int, needed: int):
        super().__init__(f"truncated: decoding stopped after {decoded} of {needed} frames")
        self.decoded, self.needed = decoded, needed


class _Upright:
    """Decoded frame -> the frame stages see: rgb24, first needed frame's size, display rotation applied."""

    def __init__(self, first: av.VideoFrame):
        self.hw = (first.height, first.width)
        self.turns = int(round((first.rotation or 0) / 90)) % 4     # counter-clockwise quarter turns to display
        self.shape = (self.hw[1], self.hw[0], 3) if self.turns % 2 else (self.hw[0], self.hw[1], 3)

    @property
    def rotation(self) -> int:
        return (-90 * self.turns) % 360

    def __call__(self, frame: av.VideoFrame) -> np.ndarray:
        arr = frame.to_ndarray(format="rgb24")
        if arr.shape[:2] != self.hw:     # mid-stream size change: keep the first size
            import cv2
            arr = cv2.resize(arr, (self.hw[1], self.hw[0]), interpolation=cv2.INTER_AREA)
        if self.turns:
            arr = np.rot90(arr, self.turns)
        return np.ascontiguousarray(arr)


class _Spool:
    """Upright frames appended in order to an unnamed scratch file; row r read back by `pread`."""

    def __init__(self, directory: Path, shape: tuple[int, int, int]):
        directory.mkdir(parents=True, exist_ok=True)
        self._file = tempfile.TemporaryFile(dir=directory, prefix="skelforge-spool-", buffering=0)
        self.shape = shape
        self.row_bytes = int(np.prod(shape))
        self.rows = 0

    def append(self, arr: np.ndarray) -> None:
        view = memoryview(arr).cast("B")
        while view:
            view = view[self._file.write(view):]
        self.rows += 1

    def read(self, row: int) -> np.ndarray:
        out = np.empty(self.shape, np.uint8)
        got = os.preadv(self._file.fileno(), [memoryview(out).cast("B")], row * self.row_bytes)
        if got != self.row_bytes:
            raise OSError(f"frame spool: short read of row {row} ({got} of {self.row_bytes} bytes)")
        return out

    @property
    def disk_bytes(self) -> int:
        return os.fstat(self._file.fileno()).st_blocks * 512

    def close(self) -> None:
        self._file.close()


class _Stream:
    """Source frames decoded on demand, in order; a request behind the decoder restarts it from frame 0."""

    def __init__(self, video: str, upright: _Upright):
        self.video, self.upright = video, upright
        self._container = self._frames = None
        self._next = 0              # index of the next frame the decoder yields
        self.restarts = 0

    def get(self, s: int) -> np.ndarray:
        if self._frames is None or s < self._next:
            self._open()
        while True:
            try:
                frame = next(self._frames)
            except (StopIteration, av.error.FFmpegError):
                raise Truncated(self._next, s + 1) from None
            self._next += 1
            if self._next - 1 == s:
                return self.upright(frame)

    def _open(self) -> None:
        self.close()
        self._container = av.open(self.video)
        stream = self._container.streams.video[0]
        stream.thread_type = "AUTO"
        self._frames = self._container.decode(stream)
        self._next = 0
        self.restarts += 1

    def close(self) -> None:
        if self._container is not None:
            self._frames = None
            self._container.close()
            self._container = None


class FrameSource:
    """Output frames k = 0..T-1 of one clip (see the module docstring). Made by `open_frames`."""

    def __init__(self, video: str, src_index: np.ndarray, upright: Optional[_Upright], spool: Optional[_Spool]):
        self._src = src_index
        self._upright = upright
        self._spool = spool
        self._row = {int(s): r for r, s in enumerate(np.unique(src_index))} if spool else None
        self._stream = _Stream(video, upright) if spool is None and upright is not None else None
        self._recent: OrderedDict[int, np.ndarray] = OrderedDict()

    def __len__(self) -> int:
        return len(self._src)

    def __iter__(self) -> Iterator[np.ndarray]:
        return (self.frame(k) for k in range(len(self)))

    def __enter__(self) -> "FrameSource":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @property
    def size(self) -> tuple[int, int]:
        """(height, width) of the upright frames."""
        return self._upright.shape[:2] if self._upright else (0, 0)

    @property
    def rotation(self) -> int:
        return self._upright.rotation if self._upright else 0

    @property
    def spooled(self) -> bool:
        return self._spool is not None

    @property
    def scratch_bytes(self) -> int:
        """Disk blocks the spool holds now (0 when streaming)."""
        return self._spool.disk_bytes if self._spool else 0

    @property
    def restarts(self) -> int:
        """Times the streaming decoder was (re)started (0 when spooled)."""
        return self._stream.restarts if self._stream else 0

    def frame(self, k: int) -> np.ndarray:
        s = int(self._src[k])
        arr = self._recent.get(s)
        if arr is not None:
            self._recent.move_to_end(s)
            return arr
        arr = self._spool.read(self._row[s]) if self._spool else self._stream.get(s)
        arr.setflags(write=False)
        self._recent[s] = arr
        if len(self._recent) > RECENT:
            self._recent.popitem(last=False)
        return arr

    def close(self) -> None:
        self._recent.clear()
        if self._spool is not None:
            self._spool.close()
            self._spool = None
        if self._stream is not None:
            self._stream.close()


def open_frames(video: str, src_index: np.ndarray, scratch: Path, budget: Optional[int] = None
                ) -> FrameSource | StillFrames:
    """Decode `video` through the last source frame `src_index` needs (spooling the needed frames when they fit
    in `budget` bytes, default `SPOOL_BUDGET`, under `scratch`); raise `Truncated` when the decoder stops first."""
    if image_format(video):                 # a still: one decoded picture (workers/decode/image.py)
        return StillFrames(video, src_index)
    budget = SPOOL_BUDGET if budget is None else budget
    src_index = np.asarray(src_index, dtype=np.int64)
    needed = np.unique(src_index)
    wanted = set(needed.tolist())
    last = int(needed[-1]) if len(needed) else -1
    upright: Optional[_Upright] = None
    spool: Optional[_Spool] = None
    decoded = 0
    try:
        with av.open(video) as container:
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            try:
                for i, frame in enumerate(container.decode(stream)):
                    decoded = i + 1
                    if i in wanted:
                        if upright is None:
                            upright = _Upright(frame)
                            if len(needed) * int(np.prod(upright.shape)) <= budget:
                                spool = _new_spool(Path(scratch), upright.shape)
                        if spool is not None:
                            arr = upright(frame)
                            try:
                                spool.append(arr)
                            except OSError as e:
                                spool.close()
                                spool = None
                                _fall_back(scratch, e)
                    if i >= last:
                        break
            except av.error.FFmpegError:
                pass  # a corrupt tail: what was decoded is compared with what is needed below
        if decoded <= last:
            raise Truncated(decoded, last + 1)
    except BaseException:
        if spool is not None:
            spool.close()
        raise
    return FrameSource(video, src_index, upright, spool)


def _new_spool(scratch: Path, shape: tuple[int, int, int]) -> Optional[_Spool]:
    try:
        return _Spool(scratch, shape)
    except OSError as e:
        _fall_back(scratch, e)
        return None


def _fall_back(scratch, err: OSError) -> None:
    log.warning("frame spool in %s: %s; streaming the clip from the video instead", scratch, err)
