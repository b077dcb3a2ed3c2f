"""Per-clip quality scores, computed once from the refined skeletons (cheap; the filter rules read them).

  pose_ratio        frames where some actor has a pose (at least half of the 12 limb joints: shoulders to
                    ankles) / frames — Posetics' "pose in >= 50% of frames"
  actors_ratio      frames where as many actors have a pose as the clip expects (NTU: 1 or 2) / frames
  confidence        mean joint confidence of the kept actors' body joints, over frames with a pose
  parts.<part>      per part (body, left_hand, right_hand, face): mean confidence and the share of joints
                    present, over person-frames with a pose; for the hands and the face also `violations`: the
                    person-frames where refine dropped that part for lying off its body (a hand away from its
                    wrist, a face off its head; workers/fusion/parts.py)
"""
from __future__ import annotations

import numpy as np

from schemas.layouts import SOURCE_PARTS, source_offset
from schemas.layouts.mediapipe import BODY_LIMBS


def quality_scores(points: np.ndarray, expected_persons: int, part_violations: dict[str, int],
                   identity_switches: int = 0) -> dict:
    """points (M, T, V, 3) canonical refined points, part_violations {part: count} from refine, the actors'
    suspected identity switches from detect -> scores dict (JSON-ready). `part_violation_share`: the largest
    share, over hands and face, of the actors' person-frames where the part was dropped for lying off its body."""
    M, T = points.shape[:2]
    sc = points[..., 2]
    limbs = sc[..., BODY_LIMBS] > 0                                  # (M, T, 12)
    posed = limbs.sum(-1) >= len(BODY_LIMBS) / 2                     # (M, T)
    out = {"n_frames": int(T), "n_persons": int(M),
           "pose_ratio": float(posed.any(0).mean()) if T else 0.0,
           "actors_ratio": float((posed.sum(0) >= min(expected_persons, M)).mean()) if T and M else 0.0}
    body = sc[..., source_offset("body"):source_offset("body") + SOURCE_PARTS["body"]]
    sel = posed[..., None] & (body > 0)
    out["confidence"] = float(body[sel].mean()) if sel.any() else 0.0
    parts = {}
    for part, n in SOURCE_PARTS.items():
        s = sc[..., source_offset(part):source_offset(part) + n][posed]        # (person-frames, n)
        present = s > 0
        parts[part] = {"confidence": float(s[present].mean()) if present.any() else 0.0,
                       "present": float(present.mean()) if s.size else 0.0}
        if part in part_violations:
            parts[part]["violations"] = int(part_violations[part])
    out["parts"] = parts
    out["identity_switches"] = int(identity_switches)
    out["part_violation_share"] = max((v / (M * T) for v in part_violations.values()), default=0.0) if M * T else 0.0
    return out
