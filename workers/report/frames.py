"""The report's source frames: a worst clip's window of output frames, decoded once from the source video
(upright, as the build saw them: `workers.decode.spool.open_frames`), shrunk to the drawing width and kept as
JPEG bytes. Everything the report draws on a clip (thumbnail, viewer animation) is drawn on these frames, so a
redraw with other skeletons needs the bytes (a cache entry), never the video.

contract:
  decode_window(video, src_index, scratch) -> Window | None   (None: the source cannot be had — absent,
                                                              unreadable or truncated; an error is data here)
  Window.pack() / Window.unpack(arrays, meta)                 (to and from named uint8/int64 arrays + JSON)
  Window.images()                                             RGB frames decoded from the JPEG bytes (what is
                                                              drawn on, fresh or cached alike: same pixels)
Width WIDTH (a narrower source keeps its width); JPEG quality QUALITY; deterministic for the same bytes.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import cv2
import numpy as np

from workers.decode.probe import VideoError
from workers.decode.spool import open_frames

WIDTH = 320
QUALITY = 92


@dataclass
class Window:
    jpegs: list[bytes]
    source_hw: tuple[int, int]          # (height, width) of the upright source frames the points refer to

    def images(self) -> list[np.ndarray]:
        return [cv2.cvtColor(cv2.imdecode(np.frombuffer(b, np.uint8), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
                for b in self.jpegs]

    def pack(self) -> tuple[dict[str, np.ndarray], dict]:
        offsets = np.cumsum([0, *[len(b) for b in self.jpegs]]).astype(np.int64)
        data = np.frombuffer(b"".join(self.jpegs), np.uint8)
        return {"jpeg": data, "offsets": offsets}, {"source_hw": list(self.source_hw)}

    @classmethod
    def unpack(cls, arrays: dict[str, np.ndarray], meta: dict) -> "Window":
        data, off = arrays["jpeg"].tobytes(), arrays["offsets"]
        return cls([data[off[i]:off[i + 1]] for i in range(len(off) - 1)], tuple(meta["source_hw"]))


def shrink(img: np.ndarray, width: int = WIDTH) -> np.ndarray:
    if img.shape[1] <= width:
        return img
    return cv2.resize(img, (width, int(round(img.shape[0] * width / img.shape[1]))), interpolation=cv2.INTER_AREA)


def encode(img: np.ndarray) -> bytes:
    ok, buf = cv2.imencode(".jpg", cv2.cvtColor(img, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, QUALITY])
    return buf.tobytes()


def decode_window(video: Optional[str], src_index: np.ndarray, scratch: Path) -> Optional[Window]:
    """The source frames `src_index` (in that order), shrunk and JPEG-encoded; None when they cannot be had."""
    if not video or not Path(video).exists() or not len(src_index):
        return None
    try:
        source = open_frames(video, np.asarray(src_index, np.int64), scratch)
        with source:
            jpegs = [encode(shrink(f)) for f in source]
            hw = tuple(int(v) for v in source.size)
    except (VideoError, OSError, ValueError):
        return None
    except Exception as e:                       # PyAV's errors (av.error.FFmpegError and kin) are data too
        if type(e).__module__.startswith("av"):
            return None
        raise
    return Window(jpegs, hw)
