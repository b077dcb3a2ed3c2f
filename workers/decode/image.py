"""Still images as one-frame clips: what an image file is, how it is probed and decoded.

An input is an image when its first bytes carry an image signature (JPEG, PNG, BMP, TIFF, WebP) — the content
decides, not the name, so the kind is a function of what the cache keys already hash (the file's digest).
Images are decoded with OpenCV (`cv2.imdecode`, EXIF orientation applied as a viewer shows the picture) to RGB.
A still has no frame rate: `probe_image` reports fps 0, duration 0 and one declared frame.

`StillFrames` is the `FrameSource` shape (workers/decode/spool.py) for a still: every output frame is the one
picture (a still's clip has one output frame; the frames stage makes src_index [0]).
"""
from __future__ import annotations

import os
from typing import Iterator, Optional

import numpy as np

from .probe import ProbeInfo, VideoError

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")
_SIGNATURES = ((b"\xff\xd8\xff", "jpeg"), (b"\x89PNG\r\n\x1a\n", "png"), (b"II*\x00", "tiff"),
               (b"MM\x00*", "tiff"), (b"BM", "bmp"))


def image_format(path: str | os.PathLike) -> Optional[str]:
    """'jpeg' | 'png' | 'bmp' | 'tiff' | 'webp' when the file starts with that image signature, else None
    (also for a file that cannot be read: the video path then reports why)."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(12)
    except OSError:
        return None
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp"
    return next((name for sig, name in _SIGNATURES if head.startswith(sig)), None)


def read_image(path: str | os.PathLike) -> np.ndarray:
    """(H, W, 3) uint8 RGB, C-contiguous; VideoError when the bytes do not decode."""
    import cv2
    data = np.fromfile(str(path), dtype=np.uint8)
    img = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
    if img is None:
        raise VideoError(f"not a decodable image ({image_format(path) or 'unknown format'})")
    return np.ascontiguousarray(img[:, :, ::-1])


def probe_image(path: str | os.PathLike) -> ProbeInfo:
    size = os.path.getsize(path)
    if size == 0:
        raise VideoError("empty file (0 bytes)")
    fmt = image_format(path) or "unknown"
    h, w = read_image(path).shape[:2]
    return ProbeInfo(container=fmt, codec=fmt, width=int(w), height=int(h), fps=0.0, duration_s=0.0,
                     declared_frames=1, size_bytes=size)


class StillFrames:
    """The FrameSource shape over one decoded picture: output frame k is the picture for every k."""

    def __init__(self, path: str | os.PathLike, src_index: np.ndarray):
        if len(src_index) and int(np.max(src_index)) > 0:
            raise VideoError(f"a still image has one frame; source frame {int(np.max(src_index))} was asked for")
        self._src = np.asarray(src_index, dtype=np.int64)
        self._img: Optional[np.ndarray] = read_image(path)
        self._img.setflags(write=False)
        self._size = self._img.shape[:2]

    def __len__(self) -> int:
        return len(self._src)

    def __iter__(self) -> Iterator[np.ndarray]:
        return (self.frame(k) for k in range(len(self)))

    def __enter__(self) -> "StillFrames":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    size = property(lambda self: self._size)
    rotation = property(lambda self: 0)          # EXIF orientation is applied by the decoder
    spooled = property(lambda self: False)
    scratch_bytes = property(lambda self: 0)
    restarts = property(lambda self: 0)

    def frame(self, k: int) -> np.ndarray:
        if self._img is None:
            raise ValueError("frame source is closed")
        if not -len(self._src) <= k < len(self._src):
            raise IndexError(k)
        return self._img

    def close(self) -> None:
        self._img = None

