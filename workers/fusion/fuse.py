"""Multi-expert fusion per person, per joint, per frame — SSTA-PRS generalised to any number of experts and to
any joint set (body, hands, face), vectorised (../shared/notes/refinement.md).

  1. scales make every threshold a fraction of a size: agreement and consensus use each part's own size
     (`part_groups`: body, each hand, face — half a hand apart is not agreement on a finger), motion and
     smoothing use body size (a hand moves with its arm);
  2. agreement between experts + temporal continuity choose one candidate per joint and frame (Viterbi);
  3. the refined point is the weighted mean of the candidates within `consensus_radius` of the chosen one
     (weight = score x reliability, shared among the near candidates of one model family: experts running the
     same network are one observation); provenance = the chosen expert; joint confidence = its score x
     (0.5 + 0.5 x agreement) when other experts were there to agree, its score alone otherwise;
  4. outliers by bone-length consistency are removed; left/right swaps repaired;
  5. gaps of <= max_gap frames interpolated (provenance INTERPOLATED, confidence = 0.5 x min of the ends);
  6. temporal smoothing (One-Euro or Savitzky-Golay);
  7. per-frame confidence as SSTA-PRS: C = exp(-mean over experts of their normalised MPJPE to the refined
     pose), set to 0 below `min_frame_confidence` (the pose is kept).
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np

from .repair import apply_swaps, bone_outliers, find_swaps
from .scale import person_scale
from .select import EPS, agreement, pairwise_distance, viterbi
from .temporal import interpolate_gaps, one_euro, savgol

NONE = -1
INTERPOLATED = -2
JOINT_CHUNK = 16        # joints per selection pass (memory: the pairwise arrays scale with it, not with V)


@dataclass(frozen=True)
class FusionParams:
    """Fusion settings. No defaults here: the config's `refine:` section (schemas.config.RefineConfig) is the
    one place they are set; `pipeline.stages.refine.fusion_params(cfg, **overrides)` builds this from it."""
    agreement_sigma: float
    temporal_sigma: float
    temporal_weight: float
    max_jump: float
    consensus_radius: float
    bone_tolerance: float
    swap_ratio: float
    max_gap: int
    smoothing: str
    one_euro_min_cutoff: float
    one_euro_beta: float
    savgol_window: int
    savgol_order: int
    min_frame_confidence: float
    fps: float


@dataclass
class Fused:
    points: np.ndarray          # (M, T, V, 3) x, y, confidence; missing: NaN, 0
    provenance: np.ndarray      # (M, T, V) int8: expert index, NONE (-1) or INTERPOLATED (-2)
    frame_confidence: np.ndarray  # (M, T)
    stats: dict = field(default_factory=dict)


def fuse(X: np.ndarray, S: np.ndarray, p: FusionParams, scale_joints: np.ndarray,
         bones: np.ndarray = np.zeros((0, 2), int), swap_groups: list = (), limb_joints: np.ndarray | None = None,
         part_groups: list | None = None, families: np.ndarray | None = None,
         reliability: np.ndarray | None = None) -> Fused:
    """X (E, M, T, V, 2) candidate positions, S (E, M, T, V) scores (0 = missing). scale_joints: the joints
    whose extent is the body size; part_groups: joint index arrays measured in their own size for agreement
    (joints in no group use body size); families: (E, V) model-family ids — agreement between experts of one
    family is not counted."""
    E, M, T, V = S.shape
    S = np.where(np.isfinite(X).all(-1), S, 0.0)
    valid = S > 0
    S_raw = S
    if reliability is not None:
        S = S * np.asarray(reliability, dtype=np.float64)[:, None, None, :]
    scale = person_scale(X, S, scale_joints)                                  # (M, T) body size
    part_scale = np.repeat(scale[..., None], V, axis=-1)                      # (M, T, V)
    for group in part_groups or []:
        g = np.asarray(group)
        if (S[..., g] > 0).any():
            part_scale[..., g] = person_scale(X[..., g, :], S[..., g], np.arange(len(g)))[..., None]

    # 2-3. per joint (each joint's selection and consensus are its own), a chunk of joints at a time: the
    # pairwise arrays are (E, E, M, T, V), so memory stays bounded on long clips
    P = np.zeros((M, T, V, 2))
    conf = np.zeros((M, T, V))
    sel = np.zeros((M, T, V), dtype=np.int64)
    for j in range(0, V, JOINT_CHUNK):
        c = slice(j, min(V, j + JOINT_CHUNK))
        P[:, :, c], conf[:, :, c], sel[:, :, c] = _select_and_merge(
            X[..., c, :], S[..., c], S_raw[..., c], scale, part_scale[..., c], p,
            None if families is None else families[:, c])
    any_valid = valid.any(0)
    prov = np.where(any_valid, sel, NONE).astype(np.int8)
    ok = any_valid.copy()
    del sel

    # 4. outliers and swaps
    out = bone_outliers(P, ok, bones, p.bone_tolerance) if len(bones) else np.zeros_like(ok)
    ok &= ~out
    swapped = find_swaps(P, ok, list(swap_groups), p.swap_ratio) if len(swap_groups) else np.zeros((M, T, 0), bool)
    if swapped.any():
        P = apply_swaps(P, swapped, list(swap_groups))
        conf = apply_swaps(conf, swapped, list(swap_groups))
        prov = apply_swaps(prov, swapped, list(swap_groups))
        ok = apply_swaps(ok, swapped, list(swap_groups))

    # 5. short gaps: each joint's gaps are its own, so a chunk of joints at a time (the temporaries scale with
    # the chunk, not with V, on long clips)
    n_filled = 0
    for j in range(0, V, JOINT_CHUNK):
        c = slice(j, min(V, j + JOINT_CHUNK))
        P[:, :, c], conf[:, :, c], prov[:, :, c], ok[:, :, c], filled = _fill_gaps(
            P[:, :, c], ok[:, :, c], conf[:, :, c], prov[:, :, c], p.max_gap)
        n_filled += int(filled.sum())

    # 6. smoothing, in body-size units so its parameters do not depend on resolution; over all joints at once
    # (joints sharing a valid run are filtered together), scaled in place
    s_clip = np.nanmedian(scale, axis=1)[:, None, None, None]
    if p.smoothing == "one_euro":
        P /= s_clip
        P = one_euro(P, ok, p.fps, p.one_euro_min_cutoff, p.one_euro_beta)
        P *= s_clip
    elif p.smoothing == "savgol":
        P = savgol(P, ok, p.savgol_window, p.savgol_order)
    conf[~ok] = 0.0
    P[~ok] = np.nan

    # 7. per-frame confidence (SSTA-PRS), over the limb joints
    limbs = np.arange(V) if limb_joints is None else limb_joints
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        err = np.linalg.norm(X[..., limbs, :] - P[None][..., limbs, :], axis=-1) / scale[None, :, :, None]
        err = np.where(valid[..., limbs] & ok[None][..., limbs], err, np.nan)
        mpjpe = np.nanmean(err, axis=-1)                                          # (E, M, T)
        fc = np.exp(-np.nanmean(mpjpe, axis=0))
    fc = np.where(np.isfinite(fc), fc, 0.0)
    fc = np.where(fc < p.min_frame_confidence, 0.0, fc)

    pts = np.concatenate([P, conf[..., None]], -1).astype(np.float32)
    stats = {"outliers_removed": int(out.sum()), "swaps_repaired": int(swapped.sum()),
             "interpolated": n_filled}
    return Fused(pts, prov, fc.astype(np.float32), stats)


def _select_and_merge(X, S, S_raw, scale, part_scale, p: FusionParams, families):
    """Steps 2-3 for a chunk of joints: (consensus points (M, T, v, 2), confidence (M, T, v), chosen expert)."""
    valid = S > 0
    # 2. selection: agreement in part units, continuity in body units
    D = pairwise_distance(X / part_scale[None, ..., None])                    # (E, E, M, T, v)
    same = None if families is None else families[:, None, :] == families[None, :, :]
    agree = agreement(D, S, p.agreement_sigma, same)
    unary = np.where(valid, -np.log(S + EPS) - np.log(agree + EPS), np.inf)
    sel = viterbi(unary, X / scale[None, :, :, None, None], p.temporal_weight, p.temporal_sigma, p.max_jump)
    del unary

    # 3. consensus around the chosen candidate
    d_sel = np.take_along_axis(D, sel[None, None], 1)[:, 0]                    # (E, M, T, v): each e to chosen
    del D
    near = valid & (np.nan_to_num(d_sel, nan=np.inf) <= p.consensus_radius)
    w = np.where(near, S, 0.0)
    if families is not None:                                                  # one family = one observation
        fam = families[:, None, None, :]
        n_fam = (near[None] & (fam[:, None] == fam[None])).sum(1)             # (E, M, T, v) near members
        w = w / np.maximum(n_fam, 1)
    P = (np.nan_to_num(X) * w[..., None]).sum(0) / np.maximum(w.sum(0), EPS)[..., None]
    s_sel = np.take_along_axis(S_raw, sel[None], 0)[0]
    a_sel = np.take_along_axis(agree, sel[None], 0)[0]
    others = valid.sum(0) > 1
    conf = np.where(others, s_sel * (0.5 + 0.5 * a_sel), s_sel)
    return P, conf, sel


def _fill_gaps(P, ok, conf, prov, max_gap: int):
    """Step 5 for a chunk of joints: short gaps interpolated (confidence half the weaker edge, provenance
    INTERPOLATED). Returns (points, NaN where not ok after filling; confidence, provenance, ok, filled)."""
    P = np.where(ok[..., None], P, np.nan)
    P, filled = interpolate_gaps(P, ok, max_gap)
    if filled.any():
        c = np.where(ok, conf, np.nan)
        c_prev = _edge_values(c, ok, forward=True)
        c_next = _edge_values(c, ok, forward=False)
        conf = np.where(filled, 0.5 * np.fmin(c_prev, c_next), conf)
        prov = np.where(filled, INTERPOLATED, prov).astype(np.int8)
    ok = ok | filled
    return P, conf, prov, ok, filled


def _edge_values(c: np.ndarray, ok: np.ndarray, forward: bool) -> np.ndarray:
    """For each frame, the value at the nearest valid frame before (forward) or after it, along axis 1."""
    T = c.shape[1]
    idx = np.arange(T)[None, :, None]
    if forward:
        src = np.maximum.accumulate(np.where(ok, idx, -1), axis=1)
    else:
        src = np.flip(np.minimum.accumulate(np.flip(np.where(ok, idx, T), 1), axis=1), 1)
    has = (src >= 0) & (src < T)
    v = np.take_along_axis(c, np.clip(src, 0, T - 1), 1)
    return np.where(has, v, np.nan)
