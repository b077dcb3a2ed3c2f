"""Decode a video once into an on-disk frame spool, keeping only the source frames the output needs.

The spool is a raw uint8 file of the distinct source frames (H, W, 3, RGB) read back through `np.memmap`, so
memory stays bounded by one frame whatever the clip length; every later stage reads output frame k from it.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np


@dataclass
class FrameSpool:
    path: Path
    shape: tuple[int, int, int, int]   # (distinct frames, H, W, 3)
    slot: np.ndarray                    # output frame k -> row of the spool
    _mm: np.memmap | None = None

    def __len__(self) -> int:
        return len(self.slot)

    @property
    def size(self) -> tuple[int, int]:
        """(height, width)."""
        return self.shape[1], self.shape[2]

    def frame(self, k: int) -> np.ndarray:
        if self._mm is None:
            self._mm = np.memmap(self.path, dtype=np.uint8, mode="r", shape=self.shape)
        return self._mm[self.slot[k]]

    def close(self) -> None:
        self._mm = None
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            pass


def decode_to_spool(video: str, src_index: np.ndarray, spool_path: Path) -> tuple[FrameSpool, int]:
    """Decode `video`, writing the source frames named in `src_index`. Returns the spool and frames decoded."""
    needed = np.unique(src_index)
    row_of = {int(s): r for r, s in enumerate(needed)}
    last_needed = int(needed[-1]) if len(needed) else -1
    tmp = spool_path.with_suffix(".part")
    decoded, written, hw = 0, 0, None
    with av.open(video) as container, open(tmp, "wb") as fh:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        try:
            for i, frame in enumerate(container.decode(stream)):
                decoded = i + 1
                if i in row_of:
                    arr = frame.to_ndarray(format="rgb24")
                    if hw is None:
                        hw = arr.shape[:2]
                    elif arr.shape[:2] != hw:   # mid-stream size change: keep the first size
                        import cv2
                        arr = cv2.resize(arr, (hw[1], hw[0]), interpolation=cv2.INTER_AREA)
                    fh.write(np.ascontiguousarray(arr).tobytes())
                    written += 1
                if i >= last_needed:
                    break
        except av.error.FFmpegError:
            pass  # a corrupt tail: the caller compares what was decoded with what was needed
    if written < len(needed):
        os.unlink(tmp)
        return None, decoded
    os.replace(tmp, spool_path)
    spool = FrameSpool(spool_path, (len(needed), hw[0], hw[1], 3),
                       np.array([row_of[int(s)] for s in src_index], dtype=np.int64))
    return spool, decoded
