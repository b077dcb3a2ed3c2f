"""quality — per-clip quality scores from the refined skeletons, computed once and kept (workers/curation).

inputs:    detect (expected actor count), refine
outputs:   meta: scores = n_frames, n_persons, pose_ratio, actors_ratio, confidence, parts.{body, left_hand,
           right_hand, face}.{confidence, present} and {left_hand, right_hand, face}.violations (refine's
           part_violations: person-frames where the part was dropped for lying off its body), so they land in
           the manifest's `quality` column; identity_switches (detect's) and part_violation_share (the largest
           share of person-frames a part was dropped in), for the filter's max_* rules
params:    none (the thresholds live in `filter`, so changing them never recomputes scores)
resources: 1 CPU, milliseconds
"""
from __future__ import annotations

from workers.curation.quality import quality_scores

from ..cache import Artifact
from ..dag import Stage


def run(ctx, inputs) -> Artifact:
    refine = inputs["refine"]
    det = inputs["detect"].meta
    scores = quality_scores(refine.arrays["points"], det["expected_persons"], refine.meta["part_violations"],
                            det.get("identity_switches", 0))
    return Artifact(meta={"scores": scores})


STAGE = Stage(name="quality", run=run, doc=__doc__)
