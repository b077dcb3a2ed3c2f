"""frames — resample to exactly `frames.fps` (30) by presentation timestamp; open the clip's frames, upright.

inputs:    probe
outputs:   arrays: src_index (T,) int64 = source frame shown at output frame k (time k/fps);
           meta: n_frames, n_source_frames, source_duration_s, height, width (upright), rotation (clockwise
           degrees applied from the display matrix: 0, 90, 180, 270), timing (how the source frames were timed:
           "timestamps", or a raw stream's declared rate — workers/decode/resample.py)
params:    frames.fps, frames.max_frames, frames.min_decoded_ratio, frames.max_source_fps
resources: 1 CPU; decodes the clip once; scratch <= 1 GiB (an unnamed spool, only when the distinct frames fit,
           else streamed from the video by later stages), memory a few frames (workers/decode/spool.py)
fails:     no frames; truncated (fewer frames demuxed or decoded than the header declares); timing no camera
           produces (timestamps that do not advance, more than frames.max_source_fps frames per second); a raw
           stream with neither timestamps nor a declared frame rate
"""
from __future__ import annotations

from workers.decode.probe import VideoError
from workers.decode.resample import check_timing, frame_timing, resample_indices

from ..cache import Artifact
from ..dag import Stage


def run(ctx, inputs) -> Artifact:
    cfg = ctx.cfg.frames
    timing = frame_timing(ctx.item.path)
    times = timing.times
    if not times:
        raise VideoError("no video frames")
    declared = inputs["probe"].meta.get("declared_frames", 0)
    if declared and len(times) < cfg.min_decoded_ratio * declared:
        raise VideoError(f"truncated: {len(times)} of {declared} declared frames present")
    check_timing(timing, cfg.max_source_fps)
    src_index = resample_indices(times, timing.end, cfg.fps, cfg.max_frames)
    frames = ctx.frames(src_index)           # decodes now; raises VideoError when the data stops early
    h, w = frames.size
    return Artifact(arrays={"src_index": src_index},
                    meta={"n_frames": int(len(src_index)), "n_source_frames": len(times),
                          "source_duration_s": float(timing.end), "height": int(h), "width": int(w),
                          "rotation": int(frames.rotation), "timing": timing.source})


STAGE = Stage(name="frames", run=run,
              params=("frames.fps", "frames.max_frames", "frames.min_decoded_ratio", "frames.max_source_fps"),
              resources={"cpu": 1}, doc=__doc__)
