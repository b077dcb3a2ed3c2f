"""Probe a video container with PyAV: container, codec, frame rate, duration, size, declared frame count.

Raises `VideoError` with a human reason for anything unreadable (empty, not a media file, no video stream,
no decodable frame). `fps` is what the file declares: the container's average rate, or for a raw elementary
stream without timestamps (`.h264`) the rate its bitstream declares (0 when none: the raw demuxer's own
made-up 25 fps is not reported). The frames stage times frames by their timestamps, not by this.
"""
from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from fractions import Fraction

import av


class VideoError(RuntimeError):
    """The video cannot be used; the message is the manifest's `reason`."""


@dataclass(frozen=True)
class ProbeInfo:
    container: str
    codec: str
    width: int
    height: int
    fps: float            # declared frame rate (container; raw stream: its bitstream's; 0 when none)
    duration_s: float     # container duration (0 when unknown)
    declared_frames: int  # frames the stream header declares (0 when unknown)
    size_bytes: int

    def to_dict(self) -> dict:
        return asdict(self)


def probe_video(path: str) -> ProbeInfo:
    size = os.path.getsize(path)
    if size == 0:
        raise VideoError("empty file (0 bytes)")
    try:
        container = av.open(path)
    except av.error.FFmpegError as e:
        raise VideoError(f"not a readable media file: {e.strerror or e}") from None
    with container:
        if not container.streams.video:
            raise VideoError("no video stream")
        stream = container.streams.video[0]
        try:
            first = next(container.decode(stream), None)
        except av.error.FFmpegError as e:
            raise VideoError(f"first frame does not decode: {e.strerror or e}") from None
        if first is None:
            raise VideoError("video stream has no decodable frame")
        if first.pts is None:          # raw elementary stream: no container timing at all
            rate = stream.codec_context.framerate
        else:
            rate = stream.average_rate or stream.guessed_rate or stream.base_rate
        duration = container.duration / av.time_base if container.duration else 0.0
        return ProbeInfo(
            container=container.format.name, codec=stream.codec_context.name,
            width=int(first.width), height=int(first.height), fps=float(Fraction(rate)) if rate else 0.0,
            duration_s=float(duration), declared_frames=int(stream.frames or 0), size_bytes=size,
        )
