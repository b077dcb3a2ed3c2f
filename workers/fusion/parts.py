"""Part-to-body consistency: a hand hangs from its own body wrist, a face sits on its own body's head.

Canonical layout (schemas.layouts.base): body 35 (MediaPipe Pose 33 + small toes) | left hand 21 | right hand 21
| face 68 (iBUG). Hand experts that look at a whole person crop (MediaPipe Hands' palm detector) can put a hand on a
foot or on the other person; face experts can lock on a neighbour's face. Fusion cannot see it (a lone expert is
not outvoted), so every part candidate is checked against the fused body before fusion, and the fused output once
more after gap interpolation and smoothing.

A candidate is one expert's part for one person and frame. Its anchor point:
  hand: its root = hand point 0 (the hand model's wrist; the mean of its present points where the root is absent);
  face: its centre = the mean of its present nose and eye points (iBUG 27-47; all its present points if none).
Scale-free limits, in the person's own lengths (each measured over the whole clip on the fused body, as the 90th
percentile of per-frame values: in 2D foreshortening only shortens, as in repair.bone_outliers):
  forearm L = elbow-wrist length, both sides pooled; where the clip never shows a forearm, the hand length (wrist
              to middle fingertip along the finger, the median of the candidates: one misplaced hand does not move it);
  head size H = diagonal of the box around the body's face joints (nose, eyes, ears, mouth); where the clip never
              shows two of them, the median diagonal of the face candidates.
Rules (`PartLimits`: hand in forearm lengths, face in head sizes; refine.hand_limit / refine.face_limit):
  hand  consistent iff |root - wrist of its side| <= hand x L; side-consistent: where the two body wrists are more
        than hand x L apart (so position can tell the sides), the root must also be nearer its own wrist than the
        other one. Body wrist missing in that frame: the elbow of its side anchors it, and the hand is kept iff
        |root - elbow| <= (1 + hand) x L (within a forearm plus the limit of its elbow: the reach of the forearm,
        whatever its direction — without a wrist there is no direction to compare). Wrist and elbow missing: dropped,
        nothing anchors it.
  face  consistent iff |centre - body head centre| <= face x H, the head centre being the mean of the body's
        present nose and eyes (ears and mouth corners where none of those). No head joint: dropped.
A candidate that violates is removed from fusion (score 0: it never wins, never joins a consensus, never ends a
gap that interpolation bridges; a removed span longer than refine.max_gap stays empty). `fuse_consistent` counts,
per part, the person-frames where a candidate or the fused output was dropped (refine's `part_violations`).
`hand_points_off_wrist` is the audit measure of the output, in a different unit (hand lengths) than the rule.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass, replace

import numpy as np

from schemas.layouts import SOURCE_PARTS, source_offset
from schemas.layouts.mediapipe import B

from .fuse import NONE, fuse

HANDS = {"left_hand": ("left", "right"), "right_hand": ("right", "left")}   # part -> (own side, other side)
PARTS = ("left_hand", "right_hand", "face")
ROOT = 0                                         # hand point 0: the wrist of the hand model
MIDDLE_FINGER = [0, 9, 10, 11, 12]               # wrist -> middle MCP -> PIP -> DIP -> tip
FACE_CORE = np.arange(27, 48)                    # iBUG nose bridge, nose base, both eyes
HEAD_CORE = [B[n] for n in ("nose", "left_eye_inner", "left_eye", "left_eye_outer", "right_eye_inner",
                            "right_eye", "right_eye_outer")]
HEAD_OUTER = [B[n] for n in ("left_ear", "right_ear", "mouth_left", "mouth_right")]
HEAD_ALL = HEAD_CORE + HEAD_OUTER


@dataclass(frozen=True)
class PartLimits:
    hand: float                                  # forearm lengths between a hand's root and its body wrist
    face: float                                  # head sizes between a face's centre and its body's head


def part_slice(part: str) -> slice:
    o = source_offset(part)
    return slice(o, o + SOURCE_PARTS[part])


def _mean_present(X: np.ndarray, ok: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """X (..., K, 2), ok (..., K) -> mean of the present points (..., 2) (NaN where none) and whether any."""
    n = ok.sum(-1)
    s = np.where(ok[..., None], np.nan_to_num(X), 0.0).sum(-2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.where((n > 0)[..., None], s / n[..., None], np.nan), n > 0


def _p90(values: np.ndarray, axes: tuple) -> np.ndarray:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanpercentile(values, 90, axis=axes)


def _median(values: np.ndarray, axes: tuple) -> np.ndarray:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmedian(values, axis=axes)


def _dist(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.linalg.norm(a - b, axis=-1)


def hand_root(X: np.ndarray, ok: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Hand points X (..., 21, 2), ok (..., 21) -> root (..., 2) and present (...)."""
    centre, any_ = _mean_present(X, ok)
    return np.where(ok[..., ROOT, None], X[..., ROOT, :], centre), any_


def hand_length(X: np.ndarray, ok: np.ndarray) -> np.ndarray:
    """Hand points X (..., 21, 2) -> wrist-to-middle-fingertip length along the finger (...), NaN where a point
    of that chain is missing."""
    seg = _dist(X[..., MIDDLE_FINGER[1:], :], X[..., MIDDLE_FINGER[:-1], :]).sum(-1)
    return np.where(ok[..., MIDDLE_FINGER].all(-1), seg, np.nan)


def face_centre(X: np.ndarray, ok: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Face points X (..., 68, 2) -> centre of its present nose/eye points (all present points if none)."""
    core, has_core = _mean_present(X[..., FACE_CORE, :], ok[..., FACE_CORE])
    allp, has_any = _mean_present(X, ok)
    return np.where(has_core[..., None], core, allp), has_any


def _box_diag(X: np.ndarray, ok: np.ndarray) -> np.ndarray:
    pts = np.where(ok[..., None], X, np.nan)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        d = _dist(np.nanmax(pts, -2), np.nanmin(pts, -2))
    return np.where(ok.sum(-1) >= 2, d, np.nan)


@dataclass
class BodyAnchors:
    """What the fused body offers to anchor parts, per person (M) and frame (T)."""
    xy: np.ndarray               # (M, T, 35, 2) fused body
    ok: np.ndarray               # (M, T, 35)
    forearm: np.ndarray          # (M,) clip forearm length; NaN where never measured
    head: np.ndarray             # (M,) clip head size; NaN where never measured
    head_centre: np.ndarray      # (M, T, 2)
    has_head: np.ndarray         # (M, T)


def body_anchors(body: np.ndarray) -> BodyAnchors:
    """body (M, T, 35, 3) fused body points (x, y, confidence; missing: confidence 0)."""
    xy, ok = body[..., :2].astype(np.float64), body[..., 2] > 0
    fore = np.stack([np.where(ok[..., B[f"{s}_elbow"]] & ok[..., B[f"{s}_wrist"]],
                              _dist(xy[..., B[f"{s}_elbow"], :], xy[..., B[f"{s}_wrist"], :]), np.nan)
                     for s in ("left", "right")], -1)                               # (M, T, 2)
    core, has_core = _mean_present(xy[..., HEAD_CORE, :], ok[..., HEAD_CORE])
    outer, has_outer = _mean_present(xy[..., HEAD_OUTER, :], ok[..., HEAD_OUTER])
    return BodyAnchors(xy, ok, _p90(fore, (1, 2)), _p90(_box_diag(xy[..., HEAD_ALL, :], ok[..., HEAD_ALL]), (1,)),
                       np.where(has_core[..., None], core, outer), has_core | has_outer)


def hand_consistent(root: np.ndarray, body: BodyAnchors, part: str, L: np.ndarray, limit: float) -> np.ndarray:
    """root (..., M, T, 2) of `part` candidates, L (M,) forearm -> (..., M, T) True where consistent (see module)."""
    own, other = HANDS[part]
    w, e, w2 = B[f"{own}_wrist"], B[f"{own}_elbow"], B[f"{other}_wrist"]
    lim = (limit * L)[:, None]                                                      # (M, 1)
    d_own = _dist(root, body.xy[..., w, :])
    d_other = _dist(root, body.xy[..., w2, :])
    apart = body.ok[..., w2] & (_dist(body.xy[..., w, :], body.xy[..., w2, :]) > lim)
    at_wrist = (d_own <= lim) & ~(apart & (d_other < d_own))
    by_elbow = _dist(root, body.xy[..., e, :]) <= (1 + limit) * L[:, None]
    return np.where(body.ok[..., w], at_wrist, body.ok[..., e] & by_elbow)


def face_consistent(centre: np.ndarray, body: BodyAnchors, H: np.ndarray, limit: float) -> np.ndarray:
    """centre (..., M, T, 2) of face candidates, H (M,) head size -> (..., M, T) True where consistent."""
    return body.has_head & (_dist(centre, body.head_centre) <= limit * H[:, None])


def _scale(clip_value: np.ndarray, fallback: np.ndarray) -> np.ndarray:
    """Per person: the body's clip measure where the clip has one, else the part's own median size; NaN when
    neither exists, and then every candidate of that part is dropped (nothing scales the rule)."""
    return np.where(np.isfinite(clip_value), clip_value, fallback)


def consistency(X: np.ndarray, ok: np.ndarray, body: BodyAnchors, limits: PartLimits) -> dict[str, np.ndarray]:
    """Candidates X (..., M, T, 145, 2) with presence ok (..., M, T, 145) -> {part: (..., M, T) violation mask}:
    True where that part's candidate exists and breaks its rule. Leading axes (experts) are pooled for the
    fallback sizes."""
    lead = tuple(range(X.ndim - 4))
    out = {}
    hands = {p: (X[..., part_slice(p), :], ok[..., part_slice(p)]) for p in HANDS}
    own_len = np.stack([hand_length(*hands[p]) for p in HANDS], -1)                 # (..., M, T, 2)
    L = _scale(body.forearm, _median(own_len, lead + (-2, -1)))
    for part, (Xh, okh) in hands.items():
        root, present = hand_root(Xh, okh)
        good = hand_consistent(root, body, part, L, limits.hand) & np.isfinite(L)[:, None]
        out[part] = present & ~good
    Xf, okf = X[..., part_slice("face"), :], ok[..., part_slice("face")]
    centre, present = face_centre(Xf, okf)
    H = _scale(body.head, _median(_box_diag(Xf, okf), lead + (-1,)))
    out["face"] = present & ~(face_consistent(centre, body, H, limits.face) & np.isfinite(H)[:, None])
    return out


def gate_candidates(X: np.ndarray, S: np.ndarray, body: BodyAnchors,
                    limits: PartLimits) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """X (E, M, T, 145, 2), S (E, M, T, 145) -> (S with every violating part candidate zeroed, {part: (E, M, T)
    violations})."""
    bad = consistency(X, (S > 0) & np.isfinite(X).all(-1), body, limits)
    S = S.copy()
    for part, v in bad.items():
        S[..., part_slice(part)] = np.where(v[..., None], 0.0, S[..., part_slice(part)])
    return S, bad


def drop_inconsistent(points: np.ndarray, limits: PartLimits) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Fused points (M, T, 145, 3) -> (points with every violating part cleared: NaN, confidence 0; {part: (M, T)
    violations}). Checks the output itself: interpolated and smoothed parts against the body they end up with."""
    body = body_anchors(points[..., part_slice("body"), :])
    bad = consistency(points[..., :2].astype(np.float64), points[..., 2] > 0, body, limits)
    out = points.copy()
    for part, v in bad.items():
        sl = out[:, :, part_slice(part)]
        sl[v] = np.concatenate([np.full(sl.shape[2:-1] + (2,), np.nan), np.zeros(sl.shape[2:-1] + (1,))], -1)
        out[:, :, part_slice(part)] = sl
    return out, bad


def hand_points_off_wrist(points: np.ndarray) -> int:
    """Audit measure of fused canonical points (M, T, 145, 3): the number of hand points that belong to a hand
    lying farther than one hand length from its wrist — its root (hand point 0; the mean of its points where
    absent) more than one hand length from the body wrist of its side, in frames where that wrist exists. Every
    present point of such a hand counts, so the number says how much hand data is misplaced.

    Hand length = the person's wrist-to-middle-fingertip length along the finger, 90th percentile over the clip
    of its fused hands (both sides; a clip value, so foreshortened frames do not shrink it; a hand misplaced on a
    foot still has a hand's length); a person whose hands never show the whole middle finger takes the clip's
    value over all persons. It is measured from the root, not point by point: the pose model's wrist sits up to
    a few tenths of a forearm up the arm from the hand model's wrist, so the fingertips of a hand correctly on its
    wrist are routinely 1.3-1.5 hand lengths from the body wrist, which says nothing about misplacement. The
    unit differs from refine's rule (forearm lengths, `refine.hand_limit`), so it checks the rule rather than
    restating it."""
    xy, ok = points[..., :2].astype(np.float64), points[..., 2] > 0
    lens = np.stack([hand_length(xy[..., part_slice(p), :], ok[..., part_slice(p)]) for p in HANDS], -1)
    Lh = _p90(lens, (1, 2))                                                         # (M,)
    Lh = np.where(np.isfinite(Lh), Lh, _p90(lens, (0, 1, 2)))
    n = 0
    for part, (own, _) in HANDS.items():
        w = B[f"{own}_wrist"]
        okh = ok[..., part_slice(part)]
        root, present = hand_root(xy[..., part_slice(part), :], okh)
        off = present & ok[..., w] & (_dist(root, xy[..., w, :]) > Lh[:, None])      # (M, T); NaN Lh: never
        n += int(okh[off].sum())
    return n


def fuse_consistent(X: np.ndarray, S: np.ndarray, p, limits: PartLimits, scale_joints: np.ndarray, **kw):
    """`fuse` with part-to-body consistency. X (E, M, T, 145, 2), S (E, M, T, 145); kw as `fuse` (families and
    reliability (E, 145)). Three steps:
      1. the body alone is fused, unsmoothed (its anchors must be where the raw candidates are, not behind them);
      2. every hand and face candidate is checked against it and the violating ones are removed from S;
      3. everything is fused from the remaining candidates, and the output is checked once more (an interpolated
         or smoothed part that ends off its body is cleared: interpolation never carries a part off its anchor).
    Returns (Fused, {part: (M, T) bool}: person-frames where a candidate or the output part was dropped)."""
    body = part_slice("body")
    bkw = {k: (v[:, body] if k in ("families", "reliability") and v is not None else v) for k, v in kw.items()
           if k != "part_groups"}
    first = fuse(X[..., body, :], S[..., body], replace(p, smoothing="none"), scale_joints, **bkw)
    S, bad = gate_candidates(X, S, body_anchors(first.points), limits)
    fused = fuse(X, S, p, scale_joints, **kw)
    points, late = drop_inconsistent(fused.points, limits)
    cleared = (fused.points[..., 2] > 0) & ~(points[..., 2] > 0)
    fused.points = points
    fused.provenance = np.where(cleared, NONE, fused.provenance).astype(np.int8)
    return fused, {part: bad[part].any(0) | late[part] for part in PARTS}
