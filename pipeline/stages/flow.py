"""flow — dense optical flow between consecutive output frames, sampled at each actor's body joints
(DeepActs' flow modality; off unless `flow.enabled`).

inputs:    frames (the clip's output frames, decoded again by this group's task only when flow is enabled),
           refine (the actors' canonical 2D points)
outputs:   arrays: flow__<layout> (M, T, B, 2) float32 for every configured layout, B = the layout's body
           joints (`regions["body"]`: 25 for NTU-X 118/67 and NTU-25, 17 for COCO-17 / Posetics-17) = the
           forward flow (frame pixels per output frame, t -> t+1) at each joint's position in frame t; NaN where
           the layout has no point and on the last frame
           meta: enabled, method, work_side, radius, frames
params:    flow.* (off: an empty result, no decoding), layouts (sampled wherever the layout has a point; convert
           then blanks the joints its `convert.min_score` drops, so that setting never recomputes the flow)
resources: 1 CPU (OpenCV, one frame pair at a time, two grey frames held); cost per frame by method in the
           README (*Optical flow*, `benchmarks/flow.py`); cached on its own key, so enabling it re-runs only
           flow, convert and the dataset stages
filtered:  never (it comes after filter in the DAG's order, so a filtered clip stops before it; filter is not
           one of its inputs, so changing a filter rule does not recompute the flow)
"""
from __future__ import annotations

import numpy as np

from schemas.layouts import get_layout
from workers.convert.layout_eval import apply_layout
from workers.flow.dense import joint_flow

from ..cache import Artifact
from ..dag import Stage


def body_joints(layout: str, points: np.ndarray) -> np.ndarray:
    """(M, T, B, 2) the layout's body joints in frame pixels, NaN where the layout has no point (every point:
    convert blanks the ones its `convert.min_score` drops)."""
    kp = apply_layout(layout, points)[:, :, list(get_layout(layout).regions["body"])]
    xy = kp[..., :2].astype(np.float32).copy()
    xy[kp[..., 2] <= 0] = np.nan
    return xy


def run(ctx, inputs) -> Artifact:
    f = ctx.cfg.flow
    if not f.enabled:
        return Artifact(meta={"enabled": False})
    pts = inputs["refine"].arrays["points"]
    layouts = list(ctx.cfg.layouts)
    joints = [body_joints(name, pts) for name in layouts]
    sizes = [j.shape[2] for j in joints]
    frames = ctx.frames(inputs["frames"].arrays["src_index"])
    # every layout's body joints in one pass over the frames: the flow of a frame pair is computed once
    flow = joint_flow(iter(frames), np.concatenate(joints, axis=2),
                      f.method, f.work_side, f.radius)
    arrays, start = {}, 0
    for name, n in zip(layouts, sizes):
        arrays[f"flow__{name}"] = flow[:, :, start:start + n]
        start += n
    return Artifact(arrays, {"enabled": True, "method": f.method, "work_side": f.work_side, "radius": f.radius,
                             "frames": int(pts.shape[1])})


STAGE = Stage(name="flow", run=run, params=("flow", "layouts"), doc=__doc__)
