"""probe — container/codec/fps/duration/size of the input video (PyAV), or of a still image (OpenCV).

inputs:    the video or image file (its content hash is part of the key)
outputs:   meta: input_kind (video | image, from the file's content: workers/decode/input_kind.py), container,
           codec, width, height, fps, duration_s, declared_frames, size_bytes (a still: its format as container
           and codec, fps 0, duration 0, one declared frame)
params:    none
resources: 1 CPU, reads the file header and first frame
fails:     empty file, not a media file, no video stream, no decodable frame, an image that does not decode
note:      fps is the declared rate (raw .h264: the bitstream's, 0 when none); frames are timed by their pts
"""
from __future__ import annotations

from workers.decode.image import probe_image
from workers.decode.input_kind import input_kind
from workers.decode.probe import probe_video

from ..cache import Artifact
from ..dag import Stage

PROBES = {"video": probe_video, "image": probe_image}


def run(ctx, inputs) -> Artifact:
    kind = input_kind(ctx.item.path)
    return Artifact(meta={"input_kind": kind, **PROBES[kind](ctx.item.path).to_dict()})


STAGE = Stage(name="probe", run=run, doc=__doc__)
