"""frames — resample to exactly `frames.fps` (30) by presentation timestamp; open the clip's frames, upright.
A still image (probe's input_kind `image`) has no frame rate and no timestamps: its clip is one frame.

inputs:    probe
outputs:   arrays: src_index (T,) int64 = source frame shown at output frame k (time k/fps; a still: [0]);
           meta: input_kind (video | image, from probe), n_frames, n_source_frames, source_duration_s, height,
           width (upright), rotation (clockwise degrees applied from the display matrix: 0, 90, 180, 270),
           timing (how the source frames were timed: "timestamps", a raw stream's declared rate —
           workers/decode/resample.py — or "still image: one frame")
params:    frames.fps, frames.max_frames, frames.min_decoded_ratio, frames.max_source_fps
resources: 1 CPU; decodes the clip once; scratch <= 1 GiB (an unnamed spool, only when the distinct frames fit,
           else streamed from the video by later stages), memory a few frames (workers/decode/spool.py)
fails:     no frames; truncated (fewer frames demuxed or decoded than the header declares); timing no camera
           produces (timestamps that do not advance, more than frames.max_source_fps frames per second); a raw
           stream with neither timestamps nor a declared frame rate; an image that does not decode
"""
from __future__ import annotations

import numpy as np

from workers.decode.probe import VideoError
from workers.decode.resample import check_timing, frame_timing, resample_indices

from ..cache import Artifact
from ..dag import Stage


def _video_index(ctx, probe_meta: dict) -> tuple[np.ndarray, dict]:
    cfg = ctx.cfg.frames
    timing = frame_timing(ctx.item.path)
    times = timing.times
    if not times:
        raise VideoError("no video frames")
    declared = probe_meta.get("declared_frames", 0)
    if declared and len(times) < cfg.min_decoded_ratio * declared:
        raise VideoError(f"truncated: {len(times)} of {declared} declared frames present")
    check_timing(timing, cfg.max_source_fps)
    src_index = resample_indices(times, timing.end, cfg.fps, cfg.max_frames)
    return src_index, {"n_source_frames": len(times), "source_duration_s": float(timing.end),
                       "timing": timing.source}


def _still_index(ctx, probe_meta: dict) -> tuple[np.ndarray, dict]:
    return np.zeros(1, dtype=np.int64), {"n_source_frames": 1, "source_duration_s": 0.0,
                                         "timing": "still image: one frame"}


INDEXERS = {"video": _video_index, "image": _still_index}


def run(ctx, inputs) -> Artifact:
    kind = inputs["probe"].meta.get("input_kind", "video")
    src_index, timing = INDEXERS[kind](ctx, inputs["probe"].meta)
    frames = ctx.frames(src_index)           # decodes now; raises VideoError when the data stops early
    h, w = frames.size
    return Artifact(arrays={"src_index": src_index},
                    meta={"input_kind": kind, "n_frames": int(len(src_index)), **timing, "height": int(h),
                          "width": int(w), "rotation": int(frames.rotation)})


STAGE = Stage(name="frames", run=run,
              params=("frames.fps", "frames.max_frames", "frames.min_decoded_ratio", "frames.max_source_fps"),
              doc=__doc__)
