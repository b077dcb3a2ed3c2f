"""refine — fuse the experts' candidates per person, joint and frame (workers/fusion), then clean up in time.

inputs:    pose (the per-expert results it lists)
outputs:   arrays: points (M, T, 145, 3) canonical x, y, confidence; provenance (M, T, 145) int8 = index into
           meta.experts, -1 none, -2 interpolated; frame_confidence (M, T) (SSTA-PRS); world (M, T, 33, 4)
           from the first listed body expert with metric 3D; part_violations (M, T, 3) bool = person-frames where
           the left hand, right hand, face was dropped for lying off its body;
           meta: experts (provenance order), provenance shares per part, fusion stats, part_violations
           {left_hand, right_hand, face: person-frames where that part was dropped for lying off its body}
params:    refine.* (incl. expert_weights: calibrated reliability; hand_limit, face_limit: part-to-body limits),
           experts, frames.fps
resources: 1 CPU, vectorised (well under a second per clip)
filtered:  nothing left after fusion
"""
from __future__ import annotations

import numpy as np

from schemas.layouts import SOURCE_PARTS, source_offset
from schemas.experts import used_experts
from schemas.layouts.mediapipe import BODY_BONES, BODY_LIMBS, BODY_SWAP_GROUPS
from workers.fusion.fuse import Fused, FusionParams
from workers.fusion.parts import PARTS, PartLimits, fuse_consistent

from ..cache import Artifact
from ..dag import Stage


def part_slice(part: str) -> slice:
    o = source_offset(part)
    return slice(o, o + SOURCE_PARTS[part])


PART_GROUPS = [np.arange(source_offset(p), source_offset(p) + n) for p, n in SOURCE_PARTS.items()]


def fusion_params(cfg, **overrides) -> FusionParams:
    own = {k: v for k, v in cfg.refine.model_dump().items()
           if k not in ("swap_repair", "expert_weights", "hand_limit", "face_limit")}
    return FusionParams(**{**own, "fps": float(cfg.frames.fps), **overrides})


def reliability(names: list[str], weights: dict) -> np.ndarray:
    """(E, V) score multipliers from `refine.expert_weights` ({expert: {body|hands|face: w}}), 1 where absent."""
    from schemas.experts import PART_GROUPS as CONFIG_PARTS
    r = np.ones((len(names), sum(SOURCE_PARTS.values())))
    for e, n in enumerate(names):
        for group, w in weights.get(n, {}).items():
            for part in CONFIG_PARTS[group]:
                r[e, part_slice(part)] = w
    return r


def family_ids(names: list[str]) -> np.ndarray:
    """(E, V) integer model-family ids of each expert at each canonical joint (workers.experts.base.families)."""
    from workers.experts.registry import EXPERTS
    labels = [[EXPERTS[n].family(part) for part, size in SOURCE_PARTS.items() for _ in range(size)] for n in names]
    vocab = {f: i for i, f in enumerate(sorted({f for row in labels for f in row}))}
    return np.array([[vocab[f] for f in row] for row in labels], dtype=np.int64)


def stack_candidates(points: dict[str, np.ndarray], listed: dict[str, tuple[str, ...]]) -> tuple[np.ndarray, np.ndarray]:
    """{expert: canonical points (M, T, V, 3)} -> candidates X (E, M, T, V, 2), scores S (E, M, T, V), each expert
    contributing only the parts it is listed for (0 score elsewhere), in `points`' order."""
    names = list(points)
    M, T, V, _ = points[names[0]].shape
    X = np.full((len(names), M, T, V, 2), np.nan)
    S = np.zeros((len(names), M, T, V))
    for e, n in enumerate(names):
        for part in listed[n]:
            sl = part_slice(part)
            X[e, :, :, sl] = points[n][:, :, sl, :2]
            S[e, :, :, sl] = points[n][:, :, sl, 2]
    return X, S


def run(ctx, inputs) -> Artifact:
    cfg = ctx.cfg
    listed = used_experts(cfg)                                   # expert -> parts it is used for
    names = list(listed)
    subs = {n: ctx.store.load(f"pose.{n}", inputs["pose"].meta["experts"][n]["key"]) for n in names}
    points = {n: subs[n].arrays["points"] for n in names}
    M, T = points[names[0]].shape[:2]
    limits = PartLimits(hand=cfg.refine.hand_limit, face=cfg.refine.face_limit)
    kw = dict(scale_joints=np.arange(SOURCE_PARTS["body"]), bones=np.array(BODY_BONES),
              swap_groups=BODY_SWAP_GROUPS if cfg.refine.swap_repair else [], limb_joints=np.array(BODY_LIMBS),
              part_groups=PART_GROUPS, families=family_ids(names),
              reliability=reliability(names, cfg.refine.expert_weights))
    # one person at a time: fusion is per person (every clip statistic it takes is the person's own), and the
    # candidates of one person are what memory must hold on a long clip
    each = [fuse_consistent(*stack_candidates({n: pts[m:m + 1] for n, pts in points.items()}, listed),
                            fusion_params(cfg), limits, **kw) for m in range(M)]
    fused = Fused(np.concatenate([f.points for f, _ in each]), np.concatenate([f.provenance for f, _ in each]),
                  np.concatenate([f.frame_confidence for f, _ in each]),
                  {k: sum(f.stats[k] for f, _ in each) for k in each[0][0].stats})
    dropped = {part: np.concatenate([d[part] for _, d in each]) for part in PARTS}
    arrays = {"points": fused.points, "provenance": fused.provenance, "frame_confidence": fused.frame_confidence,
              "part_violations": np.stack([dropped[p] for p in PARTS], -1)}
    world = _world(subs, [n for n in names if "body" in listed[n]], (M, T))
    if world is not None:
        arrays["world"] = world
    meta = {"experts": names, "n_persons": int(M), "stats": fused.stats,
            "provenance": provenance_shares(fused.provenance, names),
            "part_violations": {part: int(v.sum()) for part, v in dropped.items()}}
    if not (fused.points[..., 2] > 0).any():
        return Artifact(arrays, {**meta, "status": "filtered", "reason": "no joint left after fusion"})
    return Artifact(arrays, meta)


def provenance_shares(prov: np.ndarray, names: list[str]) -> dict:
    """{part: {expert | 'interpolated': share of that part's fused points}} over points that exist."""
    out = {}
    for part in SOURCE_PARTS:
        p = prov[..., part_slice(part)]
        p = p[p != -1]
        if p.size == 0:
            continue
        shares = {n: round(float((p == e).mean()), 4) for e, n in enumerate(names) if (p == e).any()}
        if (p == -2).any():
            shares["interpolated"] = round(float((p == -2).mean()), 4)
        out[part] = shares
    return out


def _world(subs: dict, body_experts: list[str], mt: tuple) -> np.ndarray | None:
    """Per frame and joint, the first listed body expert's metric 3D that exists."""
    ws = [subs[n].arrays["world"] for n in body_experts if "world" in subs[n].arrays]
    if not ws:
        return None
    W = np.stack(ws)                                             # (Ew, M, T, 33, 4)
    ok = W[..., 3] > 0
    pick = np.argmax(ok, axis=0)                                 # first with a score
    out = np.take_along_axis(W, pick[None, ..., None], 0)[0]
    none = ~ok.any(0)
    out[none] = np.nan
    out[..., 3][none] = 0.0
    return out.astype(np.float32)


STAGE = Stage(name="refine", run=run, params=("refine", "experts", "frames.fps"), doc=__doc__)
