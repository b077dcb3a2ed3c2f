"""pose — MediaPipe Holistic on each selected actor's crop, per frame, mapped back to frame pixels.

inputs:    frames (the spool), detect (actor tracks)
outputs:   arrays: points (M, T, 543, 3) = x, y, score in frame pixels for body 33 | left hand 21 |
           right hand 21 | face 468 (schemas.layouts.SOURCE_PARTS); world (M, T, 33, 4) = metric 3D of the
           body (MediaPipe world frame: metres, origin between the hips), score; duplicate (M, T) bool =
           person-frames dropped because two actors landed on one person;
           meta: n_persons, frames_with_pose, person_frames
params:    pose.*  (mask_other_faces: other tracked people's face boxes, enlarged by this factor, are blanked in
           each crop so Holistic's face-anchored detector cannot pick the wrong person; 0 = off)
resources: 1 CPU; ~60-90 ms per person-crop on one core
filtered:  no pose found in any frame
"""
from __future__ import annotations

import numpy as np

from workers import models
from workers.detect.blazepose import person_boxes
from workers.pose.crops import mask_boxes, square_crop
from workers.pose.dedupe import drop_duplicates
from workers.pose.holistic import WHOLE_BODY

from ..cache import Artifact
from ..dag import Stage


def run(ctx, inputs) -> Artifact:
    p = ctx.cfg.pose
    spool = ctx.frames(inputs["frames"].arrays["src_index"])
    det = inputs["detect"].arrays
    all_tracks = det["tracks"]                                  # (K, T, 9), bystanders included
    tracks = all_tracks[det["actors"]]                        # (M, T, 9)
    M, T = tracks.shape[:2]
    holistic = models.holistic(p.model_complexity, p.min_pose_score, p.refine_face_landmarks)
    points = np.full((M, T, WHOLE_BODY, 3), np.nan, dtype=np.float32)
    points[..., 2] = 0.0
    world = np.full((M, T, 33, 4), np.nan, dtype=np.float32)
    world[..., 3] = 0.0
    boxes = person_boxes(np.nan_to_num(tracks.reshape(M * T, -1))).reshape(M, T, 4)
    present = ~np.isnan(tracks[..., 0])
    for k in range(T):
        frame = None
        for m in range(M):
            if not present[m, k]:
                continue
            frame = spool.frame(k) if frame is None else frame
            x1, y1, x2, y2 = boxes[m, k]
            crop, x0, y0, side = square_crop(frame, (x1 + x2) / 2, (y1 + y2) / 2, (x2 - x1) * p.roi_scale)
            if p.mask_other_faces > 0:
                others = np.delete(all_tracks[:, k, 1:5], det["actors"][m], axis=0)
                mask_boxes(crop, x0, y0, others[~np.isnan(others[:, 0])], p.mask_other_faces)
            points[m, k], world[m, k] = holistic(crop, x0, y0, side)
    dup = drop_duplicates(points, tracks[..., 5:7], p.duplicate_ratio)
    world[dup] = np.nan
    world[..., 3][dup] = 0.0
    has_pose = points[:, :, :33, 2].max(-1) > 0                # (M, T)
    meta = {"n_persons": int(M), "frames_with_pose": int(has_pose.any(0).sum()),
            "person_frames": int(has_pose.sum()), "duplicates_dropped": int(dup.sum())}
    arrays = {"points": points, "world": world, "duplicate": dup}
    if not has_pose.any():
        return Artifact(arrays, {**meta, "status": "filtered", "reason": "no pose found in any frame"})
    return Artifact(arrays, meta)


STAGE = Stage(name="pose", version="1", run=run, params=("pose",),
              weights=lambda cfg: {"holistic": models.holistic_hash(cfg.pose.model_complexity),
                                   "mediapipe": _mediapipe_version()},
              resources={"cpu": 1}, doc=__doc__)


def _mediapipe_version() -> str:
    from importlib.metadata import version
    return version("mediapipe")
