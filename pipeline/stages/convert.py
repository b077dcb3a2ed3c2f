"""convert — refined canonical points -> every configured layout (schemas/layouts), 2D and 3D, + provenance.

inputs:    refine, fit3d, flow
outputs:   arrays: kp__<layout> (M, T, V, 3) = x, y, score (frame pixels); kp3d__<layout> (M, T, V, 4) =
           x, y, z, score: with fit3d enabled, its chosen camera-frame 3D (metres); otherwise the body's metric
           world points (origin between the hips; joints without a 3D source: NaN, score 0);
           prov__<layout> (M, T, V) int8 = expert index (refine's order), -1 missing, -2 interpolated;
           frame_confidence (M, T); smplx_params (M, T, P) passed on from fit3d when SMPL-X ran;
           flow__<layout> (M, T, B, 2) passed on from the flow stage when flow is enabled
params:    layouts, convert.min_score
resources: 1 CPU, vectorised (milliseconds per clip)
"""
from __future__ import annotations

import numpy as np

from schemas.layouts import SOURCE_SIZE, get_layout
from workers.convert.layout_eval import apply_layout, layout_provenance

from ..cache import Artifact
from ..dag import Stage


def run(ctx, inputs) -> Artifact:
    ref = inputs["refine"].arrays
    pts, prov = ref["points"], ref["provenance"]
    M, T = pts.shape[:2]
    src3d = np.full((M, T, SOURCE_SIZE, 4), np.nan, dtype=np.float32)
    src3d[..., 3] = 0.0
    fit = inputs["fit3d"].arrays
    if "points3d" in fit:
        src3d = fit["points3d"]
    elif "world" in ref:
        src3d[:, :, :33] = ref["world"]
    arrays = {"frame_confidence": ref["frame_confidence"]}
    if "smplx_params" in fit:
        arrays["smplx_params"] = fit["smplx_params"]
    flow = inputs["flow"].arrays
    for name in ctx.cfg.layouts:
        arrays[f"kp__{name}"] = apply_layout(name, pts, ctx.cfg.convert.min_score)
        arrays[f"kp3d__{name}"] = apply_layout(name, src3d, ctx.cfg.convert.min_score)
        arrays[f"prov__{name}"] = np.where(arrays[f"kp__{name}"][..., 2] > 0,
                                           layout_provenance(name, pts, prov), -1).astype(np.int8)
        if f"flow__{name}" in flow:                 # NaN where this layout's joint is missing after min_score
            body = list(get_layout(name).regions["body"])
            present = arrays[f"kp__{name}"][:, :, body, 2:3] > 0
            arrays[f"flow__{name}"] = np.where(present, flow[f"flow__{name}"], np.nan).astype(np.float32)
    return Artifact(arrays, {"layouts": list(ctx.cfg.layouts), "experts": inputs["refine"].meta["experts"]})


STAGE = Stage(name="convert", run=run, params=("layouts", "convert"), doc=__doc__)
