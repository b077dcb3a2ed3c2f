"""detect — multi-person boxes per frame (`detect.detector`: the bundled BlazePose detector via ai-edge-litert,
or YOLOX / YOLO-pose from user-supplied weights) on keyframes and where tracking needs it between
(`detect.keyframe_stride`, `workers.track.keyframes`; 1 = every frame), motion- and scale-aware Hungarian
tracking with short gaps bridged, pose-driven following of people the detector lost (`track.follow`: the body
landmark model on the ROI from the previous frame, `workers.track.follow`), identity repair across encounters by
torso colours (`track.appearance`, `workers.track.appearance`), actor selection by size x time seen, and the
identity-switch measure of the actors' tracks (`workers.track.switches`).

inputs:    frames (the clip's frames, read in order)
outputs:   arrays: tracks (K, T, 9) = score, face box xyxy, hip xy, body-circle xy (NaN where absent),
           observed (K, T) bool (detected, or inside a window keyframe detection vouched for), followed (K, T)
           bool (found by following), actors (M,) = indices of the selected tracks, detections_per_frame (T,)
           (-1 where the detector did not run); with following, the actors' landmarks found by
           it (M, T, 33, 3) x, y, visibility and landmarks_world (M, T, 33, 4), NaN/0 where none;
           meta: n_tracks, n_persons, expected_persons, identity_switches (int, all actors),
           switch_frames (per actor, the frames of its suspected switches), followed_frames (actors' person-frames
           found by following), follow_calls (landmark-model runs), detector_frames (frames the detector ran
           on), identity_repairs (list of {frame, tracks (rows of `tracks`, -1 for a dropped one), kept,
           crossed: the appearance distances of the test})
params:    detect.* (batch_size, device and weights' path are execution settings: not in the key), track.*
           (track.max_persons unless the adapter knows the count, e.g. NTU)
batching:  `detect.batch_size` frames per detector call with `keyframe_stride` 1: one model batch for yolox /
           yolo-pose, frame by frame for blazepose; with keyframes, each check round's frames, at most that many
           per call; the tracker then steps through the frames in order, so results do not depend on it
resources: 1 CPU (TFLite, 1 thread); ~12 ms per detector view per frame (whole, zoom-out, tiles), the views cut
           from one shrunk copy of the frame, plus one landmark-model run per lost track per frame while it is
           followed; Dask resources {"GPU": 1} when
           `detect.device` is cuda (yolox / yolo-pose), which puts the `sense` group on a GPU worker
filtered:  no person tracked
"""
from __future__ import annotations

import json

import numpy as np

from workers import models
from workers.decode.input_kind import length_rule
from workers.track import keyframes
from workers.track.follow import Follower
from workers.track.select import select_actors
from workers.track.switches import identity_switches
from workers.track.tracker import Tracker

from ..cache import Artifact
from ..dag import Stage, gpu_for


def run(ctx, inputs) -> Artifact:
    d, t = ctx.cfg.detect, ctx.cfg.track
    frames = ctx.frames(inputs["frames"].arrays["src_index"])
    det = load_detector(d)
    follower = Follower(models.body_landmarker(d.num_threads), t.follow_presence) if t.follow else None
    min_frames = length_rule(inputs["frames"].meta.get("input_kind", "video"), "track.min_frames", t.min_frames)
    tracker = Tracker(t.min_iou, t.max_gap, min_frames, follower, t.appearance)
    counts = []
    for k, frame, dets in keyframes.detections(frames, det.batch, d.keyframe_stride, d.batch_size, t.max_gap,
                                                  tracker.following):
        counts.append(-1 if dets is None else len(dets))
        tracker.step(k, dets, frame)
    tracks, observed, followed = tracker.result()
    seen = observed | followed
    want = ctx.item.expected_persons or t.max_persons
    actors = select_actors(tracks, seen, want)
    arrays = {"tracks": tracks, "observed": observed, "followed": followed, "actors": actors.astype(np.int64),
              "detections_per_frame": np.array(counts, dtype=np.int32)}
    if follower is not None:
        arrays["landmarks"], arrays["landmarks_world"] = tracker.landmarks(actors)
    switches = identity_switches(tracks, seen, actors)
    meta = {"n_tracks": int(len(tracks)), "n_persons": int(len(actors)), "expected_persons": int(want),
            "identity_switches": sum(len(s) for s in switches), "switch_frames": switches,
            "followed_frames": int(followed[actors].sum()), "follow_calls": follower.calls if follower else 0,
            "detector_frames": sum(c >= 0 for c in counts),
            "identity_repairs": tracker.repairs}
    if len(actors) == 0:
        return Artifact(arrays, {**meta, "status": "filtered", "reason": "no person detected", "rule": "no_person",
                                 "value": 0, "threshold": 1})
    return Artifact(arrays, meta)


def load_detector(d):
    """The configured detector, loaded once per worker process and device (`workers.models`); the batch size is
    the stage's business, not part of the detector's identity, nor is where it runs (keyframes)."""
    identity = d.model_dump(mode="json", exclude={"batch_size", "keyframe_stride"})
    return models.detector(d.detector, json.dumps(identity, sort_keys=True))


def _weights(cfg) -> dict:
    d = cfg.detect
    out = {d.detector: models.detector_hash(d.detector, str(d.weights) if d.weights else None)}
    if cfg.track.follow:
        out["body-landmarks"] = models.body_landmarker_hash()
    return out


def _resources(cfg) -> dict:
    """A GPU when the detector runs on CUDA (`detect.device`: yolox / yolo-pose; the bundled BlazePose detector
    always runs on the CPU)."""
    d = cfg.detect
    return gpu_for(d.device) if d.detector != "blazepose" else {}


STAGE = Stage(name="detect", run=run,
              params=("detect", "track.min_iou", "track.max_gap", "track.min_frames", "track.max_persons",
                      "track.follow", "track.follow_presence", "track.appearance"),
              weights=_weights, resources=_resources, doc=__doc__)
