"""quality — per-clip quality scores from the refined skeletons, computed once and kept (workers/curation).

inputs:    detect (expected actor count), refine
outputs:   meta: scores = n_frames, n_persons, pose_ratio, actors_ratio, confidence, parts.{body, left_hand,
           right_hand, face}.{confidence, present}
params:    none (the thresholds live in `filter`, so changing them never recomputes scores)
resources: 1 CPU, milliseconds
"""
from __future__ import annotations

from workers.curation.quality import quality_scores

from ..cache import Artifact
from ..dag import Stage


def run(ctx, inputs) -> Artifact:
    scores = quality_scores(inputs["refine"].arrays["points"], inputs["detect"].meta["expected_persons"])
    return Artifact(meta={"scores": scores})


STAGE = Stage(name="quality", run=run, resources={"cpu": 1}, doc=__doc__)
