"""Worst-clip ranking: a composite of the per-clip QC measures, each term in [0, 1] (1 = worst).

  composite = mean of the terms a clip has (jerk is undefined without 4 consecutive frames of a body)

  missing_actors   1 - actors_ratio: share of frames without as many posed actors as expected (capped at the
                   actors kept). Already a share of the clip.
  absent_parts     1 - mean presence over the QC parts (torso, arms, legs, hands, face): share of part x
                   person-frames where the part is not in the data, whatever the reason. A share.
  low_confidence   1 - the actors' mean body confidence (quality's `confidence`), which is a probability-like
                   score in [0, 1] already.
  identity         share of person-frames whose identity is suspect (clipqc.identity_suspect: every segment of
                   an actor's track between suspected switches but the longest). A share: one switch in the
                   middle of a clip costs half the actor's frames, one near an end little.
  part_violations  quality's part_violation_share: the largest share of person-frames in which refine dropped a
                   hand or the face for lying off its body. A share.
  jerk             the clip's rank among the build's clips by lag-free jerk, (rank - 1) / (clips - 1) (ties share
                   their mean rank; one clip alone scores 0): jerk has no scale that holds across cameras,
                   actions and body sizes, so it is compared within the build rather than to a constant.
Equal weights: no term is known to matter more than another for every use of the data, and each is shown in
the table so a reader can re-sort by the one that matters to them. No constant was fitted to any sample.
"""
from __future__ import annotations

import numpy as np

TERMS = ("missing_actors", "absent_parts", "low_confidence", "identity", "part_violations", "jerk")


def _share(x) -> float | None:
    return None if x is None else float(np.clip(x, 0.0, 1.0))


def base_terms(clip: dict) -> dict[str, float | None]:
    """The terms that depend on the clip alone (jerk's needs the build: `rank`)."""
    parts = clip.get("parts") or {}
    presence = [p["presence"] for p in parts.values()]
    return {"missing_actors": _share(None if clip.get("actors_ratio") is None else 1 - clip["actors_ratio"]),
            "absent_parts": _share(1 - float(np.mean(presence))) if presence else None,
            "low_confidence": _share(None if clip.get("confidence") is None else 1 - clip["confidence"]),
            "identity": _share(clip.get("identity_suspect")),
            "part_violations": _share(clip.get("part_violation_share"))}


def average_ranks(x: np.ndarray) -> np.ndarray:
    """1-based ranks of x, ties sharing their mean rank (scipy.stats.rankdata's "average", whose import alone
    costs 1.6 s of a report): a value's rank is the count of smaller values plus the middle of its tie run."""
    s = np.sort(x)
    return (np.searchsorted(s, x, "left") + np.searchsorted(s, x, "right") + 1) / 2


def jerk_terms(jerks: list[float | None]) -> list[float | None]:
    """Per clip, (rank - 1) / (n - 1) among the clips with a jerk (mean rank on ties); None where undefined."""
    have = [i for i, j in enumerate(jerks) if j is not None]
    out: list[float | None] = [None] * len(jerks)
    if not have:
        return out
    ranks = average_ranks(np.array([jerks[i] for i in have], dtype=float))
    for i, r in zip(have, ranks):
        out[i] = float((r - 1) / (len(have) - 1)) if len(have) > 1 else 0.0
    return out


def rank(clips: list[dict]) -> list[dict]:
    """clips: dicts with actors_ratio, parts.{part}.presence, confidence, identity_suspect, part_violation_share,
    jerk (any may be None). Returns them with `terms` and `composite` added, worst first (ties: clip_id); clips
    with no term at all (no skeleton) last."""
    jt = jerk_terms([c.get("jerk") for c in clips])
    out = []
    for c, j in zip(clips, jt):
        terms = {**base_terms(c), "jerk": j}
        vals = [v for v in terms.values() if v is not None]
        out.append({**c, "terms": {k: None if v is None else round(v, 4) for k, v in terms.items()},
                    "composite": round(float(np.mean(vals)), 4) if vals else None})
    return sorted(out, key=lambda c: (c["composite"] is None, -(c["composite"] or 0.0), c["clip_id"]))
