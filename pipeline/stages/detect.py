"""detect — multi-person boxes per frame (`detect.detector`: the bundled BlazePose detector via ai-edge-litert,
or YOLOX / YOLO-pose from user-supplied weights), motion- and scale-aware Hungarian tracking with short gaps
bridged, actor selection, and the identity-switch measure of the actors' tracks (`workers.track.switches`).

inputs:    frames (the clip's frames, read in order)
outputs:   arrays: tracks (K, T, 9) = score, face box xyxy, hip xy, body-circle xy (NaN where absent),
           observed (K, T) bool, actors (M,) = indices of the selected tracks, detections_per_frame (T,);
           meta: n_tracks, n_persons, expected_persons, identity_switches (int, all actors),
           switch_frames (per actor, the frames of its suspected switches)
params:    detect.*, track.*  (track.max_persons unless the adapter knows the count, e.g. NTU)
resources: 1 CPU (TFLite, 1 thread); ~25 ms per detector view per frame (whole, zoom-out, tiles)
filtered:  no person tracked
"""
from __future__ import annotations

import json

import numpy as np

from workers import models
from workers.decode.input_kind import length_rule
from workers.track.select import select_actors
from workers.track.switches import identity_switches
from workers.track.tracker import track

from ..cache import Artifact
from ..dag import Stage


def run(ctx, inputs) -> Artifact:
    d, t = ctx.cfg.detect, ctx.cfg.track
    frames = ctx.frames(inputs["frames"].arrays["src_index"])
    det = models.detector(d.detector, json.dumps(d.model_dump(mode="json"), sort_keys=True))
    per_frame = [det(frame) for frame in frames]
    min_frames = length_rule(inputs["frames"].meta.get("input_kind", "video"), "track.min_frames", t.min_frames)
    tracks, observed = track(per_frame, t.min_iou, t.max_gap, min_frames)
    want = ctx.item.expected_persons or t.max_persons
    actors = select_actors(tracks, observed, want)
    arrays = {"tracks": tracks, "observed": observed, "actors": actors.astype(np.int64),
              "detections_per_frame": np.array([len(p) for p in per_frame], dtype=np.int32)}
    switches = identity_switches(tracks, observed, actors)
    meta = {"n_tracks": int(len(tracks)), "n_persons": int(len(actors)), "expected_persons": int(want),
            "identity_switches": sum(len(s) for s in switches), "switch_frames": switches}
    if len(actors) == 0:
        return Artifact(arrays, {**meta, "status": "filtered", "reason": "no person detected", "rule": "no_person",
                                 "value": 0, "threshold": 1})
    return Artifact(arrays, meta)


STAGE = Stage(name="detect", run=run,
              params=("detect", "track.min_iou", "track.max_gap", "track.min_frames", "track.max_persons"),
              weights=lambda cfg: {cfg.detect.detector: models.detector_hash(
                  cfg.detect.detector, str(cfg.detect.weights) if cfg.detect.weights else None)},
              resources={"cpu": 1}, doc=__doc__)
