"""frames — resample to exactly `frames.fps` (30) by presentation timestamp; open the clip's frames, upright.

inputs:    probe
outputs:   arrays: src_index (T,) int64 = source frame shown at output frame k (time k/fps);
           meta: n_frames, n_source_frames, source_duration_s, height, width (upright), rotation (clockwise
           degrees applied from the display matrix: 0, 90, 180, 270)
params:    frames.fps, frames.max_frames, frames.min_decoded_ratio
resources: 1 CPU; decodes the clip once; scratch <= 1 GiB (an unnamed spool, only when the distinct frames fit,
           else streamed from the video by later stages), memory a few frames (workers/decode/spool.py)
fails:     no frames; truncated (fewer frames demuxed or decoded than the header declares)
"""
from __future__ import annotations

from workers.decode.probe import VideoError
from workers.decode.resample import presentation_times, resample_indices

from ..cache import Artifact
from ..dag import Stage


def run(ctx, inputs) -> Artifact:
    cfg = ctx.cfg.frames
    times, end = presentation_times(ctx.item.path)
    if not times:
        raise VideoError("no video frames")
    declared = inputs["probe"].meta.get("declared_frames", 0)
    if declared and len(times) < cfg.min_decoded_ratio * declared:
        raise VideoError(f"truncated: {len(times)} of {declared} declared frames present")
    src_index = resample_indices(times, end, cfg.fps, cfg.max_frames)
    frames = ctx.frames(src_index)           # decodes now; raises VideoError when the data stops early
    h, w = frames.size
    return Artifact(arrays={"src_index": src_index},
                    meta={"n_frames": int(len(src_index)), "n_source_frames": len(times),
                          "source_duration_s": float(end), "height": int(h), "width": int(w),
                          "rotation": int(frames.rotation)})


STAGE = Stage(name="frames", version="2", run=run,
              params=("frames.fps", "frames.max_frames", "frames.min_decoded_ratio"),
              resources={"cpu": 1}, doc=__doc__)
