"""fit3d — 3D per person in the camera frame, chosen per clip and person by back-projection (NTU-X's choice
between SMPL-X fitting and ExPose regression, made automatic).

inputs:    frames (frame size), refine (canonical 2D points, the body's metric world landmarks)
outputs:   arrays: points3d (M, T, 145, 4) = X, Y, Z metres in the camera frame + score, from the chosen
           candidate per person; direct (M, T, 145, 4) always; smplx (M, T, 145, 4) when fitting ran
           meta: camera (fx, fy, cx, cy), per person {method, errors: {candidate: normalised reprojection error}}
params:    fit3d.* (off unless fit3d.enabled; then convert writes these 3D points instead of the world frame)
weights:   sha256 of the SMPL-X model file when fitting runs
resources: 1 CPU, vectorised (direct: milliseconds per clip); Dask resources {"GPU": 1} when SMPL-X fitting
           runs with fit3d.smplx.device cuda (the `fit` group then needs a GPU worker too)
candidates: direct = workers/lift/direct.py (world landmarks translated into the camera frame by least squares,
           hands and face lifted at their wrist/nose depth); smplx = workers/fitting (when smplx.model_dir)
"""
from __future__ import annotations

import numpy as np

from workers import models
from workers.lift.choose import choose
from workers.lift.direct import default_intrinsics, lift_direct

from ..cache import Artifact
from ..dag import Stage, gpu_for


def intrinsics(cfg, width: int, height: int) -> tuple[float, float, float, float]:
    cam = cfg.fit3d.camera
    return (cam.fx, cam.fy, cam.cx, cam.cy) if cam else default_intrinsics(width, height)


def run(ctx, inputs) -> Artifact:
    cfg = ctx.cfg
    if not cfg.fit3d.enabled:
        return Artifact(meta={"enabled": False})
    ref = inputs["refine"].arrays
    fm = inputs["frames"].meta
    K = intrinsics(cfg, fm["width"], fm["height"])
    pts = ref["points"]
    M, T, V, _ = pts.shape
    if "world" not in ref:
        return Artifact(meta={"enabled": True, "camera": list(K), "choice": [], "note": "no expert gave metric 3D"})
    candidates = {"direct": lift_direct(pts, ref["world"], K)}
    extra = {}
    if cfg.fit3d.smplx.model_dir is not None:
        from workers.fitting.candidate import smplx_candidate
        candidates["smplx"], extra["smplx_params"] = smplx_candidate(cfg.fit3d.smplx, pts, K, candidates["direct"])
    picks = choose(candidates, pts, K)
    chosen = candidates["direct"].copy()
    for m, pick in enumerate(picks):
        if pick["method"] is not None:
            chosen[m] = candidates[pick["method"]][m]
    arrays = {"points3d": chosen.astype(np.float32), **{k: v.astype(np.float32) for k, v in candidates.items()},
              **extra}
    return Artifact(arrays, {"enabled": True, "camera": [round(float(k), 3) for k in K], "choice": picks})


def _weights(cfg) -> dict:
    """The SMPL-X model file's hash when fitting runs: a different model file is a different result."""
    s = cfg.fit3d.smplx
    return {"smplx": models.smplx_model_hash(str(s.model_dir), s.gender)} if cfg.fit3d.enabled and s.model_dir else {}


def _resources(cfg) -> dict:
    """A GPU when SMPL-X fitting runs and `fit3d.smplx.device` is cuda (`auto` takes what the worker sees)."""
    s = cfg.fit3d.smplx
    return gpu_for(s.device) if cfg.fit3d.enabled and s.model_dir else {}


STAGE = Stage(name="fit3d", run=run, params=("fit3d",), weights=_weights, resources=_resources, doc=__doc__)
