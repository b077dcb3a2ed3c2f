"""filter — named, configurable rules over the quality scores (config `filter:`): too short, a pose in too
few frames (Posetics: >= 50%), poor estimates (low mean confidence of the actors), too few joints present per
part, and (off by default) upper bounds on suspected identity switches and on the share of person-frames a hand
or the face was off its body. Clips with no person (detect) or no pose (pose) are already filtered there, as
NTU-X did. `--only filter` re-applies changed thresholds to the cached scores.

inputs:    quality
outputs:   meta: passed, or status=filtered with rule, value, threshold, reason
params:    filter.*   (changing a threshold re-runs only filter and what follows; pose never re-runs)
resources: 1 CPU, microseconds
"""
from __future__ import annotations

from workers.curation.rules import apply_rules
from workers.decode.input_kind import input_kind, length_rule

from ..cache import Artifact
from ..dag import Stage


def run(ctx, inputs) -> Artifact:
    f = ctx.cfg.filter
    min_frames = length_rule(input_kind(ctx.item.path), "filter.min_frames", f.min_frames)   # stills: 1
    fail = apply_rules(inputs["quality"].meta["scores"],
                       {"min_frames": min_frames, "min_pose_ratio": f.min_pose_ratio,
                        "min_confidence": f.min_confidence, "max_identity_switches": f.max_identity_switches,
                        "max_part_violations": f.max_part_violations}, dict(f.min_part_present))
    if fail is None:
        return Artifact(meta={"passed": True})
    return Artifact(meta={"status": "filtered", **fail})    # rule, value, threshold, reason


STAGE = Stage(name="filter", run=run, params=("filter",), doc=__doc__)
