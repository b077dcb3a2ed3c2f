"""probe — container/codec/fps/duration/size of the input video (PyAV).

inputs:    the video file (its content hash is part of the key)
outputs:   meta: container, codec, width, height, fps, duration_s, declared_frames, size_bytes
params:    none
resources: 1 CPU, reads the file header and first frame
fails:     empty file, not a media file, no video stream, no decodable frame
note:      fps is the declared rate (raw .h264: the bitstream's, 0 when none); frames are timed by their pts
"""
from __future__ import annotations

from workers.decode.probe import probe_video

from ..cache import Artifact
from ..dag import Stage


def run(ctx, inputs) -> Artifact:
    return Artifact(meta=probe_video(ctx.item.path).to_dict())


STAGE = Stage(name="probe", run=run, resources={"cpu": 1}, doc=__doc__)
