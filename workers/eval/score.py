"""Scoring predicted persons against ground-truth instances (canonical arrays), for `skelforge eval`.

Matching (one image): every predicted person is compared with every ground-truth instance of the image by a
generalised OKS over the points of the instance's part (body for person sets, its hand for hand sets, the face
for face sets) that the ground truth labels:

    OKS = mean_i exp(-d_i^2 / (2 (KAPPA * s)^2)),   s = the instance box's long side, KAPPA = 0.1

(a point the prediction lacks contributes 0). KAPPA x long side is about COCO's mean per-keypoint sigma x 2 x
sqrt(area) for a person box, so for COCO-17 this is close to COCO's OKS with one sigma for every point; other
layouts have no published sigmas. For hand-only instances (side unknown) each predicted person's better hand
is used. Pairs are assigned by the Hungarian method maximising total OKS; a pair counts when its OKS >=
`min_oks` (0.5, COCO's AP@0.5 criterion). A ground-truth instance is recalled when it has a pair; a predicted
person without one is a false person, unless it is paired with an ignored instance (too few labelled points).

Per part, PCK@0.2 counts ground-truth points within 0.2 x the part's size (body: person box long side; hand:
hand box long side; face: face box long side) of the paired prediction; a point the prediction lacks, and every
point of an unrecalled instance, is a miss. Face NME is over the labelled face points the prediction has,
normalised by the outer inter-ocular distance (where the ground truth has both outer eye corners).
"""
from __future__ import annotations

import numpy as np
from scipy.optimize import linear_sum_assignment

from schemas.layouts import SOURCE_PARTS, source_offset

from .gt import Instance
from .metrics import pck_hits, point_errors

KAPPA = 0.1


def part_index(part: str) -> np.ndarray:
    o = source_offset(part)
    return np.arange(o, o + SOURCE_PARTS[part])


def hand_to_left(p: np.ndarray, side: str) -> np.ndarray:
    """p with its `side` hand in the left-hand slot (and no right hand): side-agnostic hand scoring."""
    out = p.copy()
    L, R = part_index("left_hand"), part_index("right_hand")
    out[L] = p[part_index(f"{side}_hand")]
    out[R] = np.nan
    out[R, 2] = 0
    return out


def match_points(inst: Instance) -> np.ndarray:
    """Canonical indices persons are matched on: the instance's own part."""
    part = {"body": ["body"], "hands": ["left_hand"], "face": ["face"]}[inst.part]
    return np.concatenate([part_index(p) for p in part])


def oks(pred: np.ndarray, inst: Instance) -> float:
    idx = match_points(inst)
    vis = inst.gt[idx, 2] > 0
    if not vis.any():
        return 0.0
    s = float(max(inst.box[2], inst.box[3])) or 1.0
    d2 = np.sum((pred[idx, :2] - inst.gt[idx, :2]) ** 2, axis=-1)
    sim = np.where(pred[idx, 2] > 0, np.exp(-d2 / (2 * (KAPPA * s) ** 2)), 0.0)
    return float(np.nan_to_num(sim[vis]).mean())


def oriented(pred: np.ndarray, inst: Instance) -> np.ndarray:
    """The prediction as it is scored against `inst` (hand-only: its better-matching hand in the left slot)."""
    if not inst.side_agnostic:
        return pred
    return max((hand_to_left(pred, s) for s in ("left", "right")), key=lambda p: oks(p, inst))


def match(preds: list[np.ndarray], insts: list[Instance], min_oks: float) -> list[tuple[int, int, float]]:
    """(prediction index, instance index, OKS) pairs with OKS >= min_oks, assigned by the Hungarian method."""
    if not preds or not insts:
        return []
    sim = np.array([[oks(oriented(p, g), g) for g in insts] for p in preds])
    r, c = linear_sum_assignment(-sim)
    return [(int(i), int(j), float(sim[i, j])) for i, j in zip(r, c) if sim[i, j] >= min_oks]


def face_size(inst: Instance) -> float:
    f = inst.gt[part_index("face")]
    pts = f[f[:, 2] > 0, :2]
    if not len(pts):
        return 0.0
    return float(np.ptp(pts, axis=0).max())


def scored_parts(inst: Instance) -> list[tuple[str, np.ndarray, float]]:
    """(part, canonical indices, PCK normaliser) the instance scores, where it labels points."""
    gt, out = inst.gt, []
    if inst.part == "body":
        out.append(("body", part_index("body"), inst.ref["body_size"]))
        for side in ("left", "right"):
            idx = part_index(f"{side}_hand")
            size = inst.ref.get(f"{side}_hand_size", 0)
            if size > 0 and (gt[idx, 2] > 0).any():
                out.append(("hands", idx, size))
    if inst.part == "hands":
        out.append(("hands", part_index("left_hand"), inst.ref["left_hand_size"]))
    fs = face_size(inst)
    if fs > 0:
        out.append(("face", part_index("face"), fs))
    return [(p, i, s) for p, i, s in out if (gt[i, 2] > 0).any()]


def score(pred: np.ndarray | None, inst: Instance) -> dict:
    """{part: [hits, labelled, predicted]} and 'nme': face errors (NaN where not predicted) of one instance;
    `pred` None = the instance was not recalled (every point a miss)."""
    out: dict = {}
    for part, idx, size in scored_parts(inst):
        if pred is None:
            n = int((inst.gt[idx, 2] > 0).sum())
            h = [0, n, 0]
        else:
            h = list(pck_hits(pred, inst.gt, idx, size))
        acc = out.setdefault(part, [0, 0, 0])
        for k in range(3):
            acc[k] += h[k]
    if "interocular" in inst.ref and inst.ref["interocular"] > 0:
        idx = part_index("face")
        n = int((inst.gt[idx, 2] > 0).sum())
        out["nme"] = (np.full(n, np.nan) if pred is None else
                      point_errors(pred, inst.gt, idx, inst.ref["interocular"]))
    return out


LR_PAIRS = ("shoulder", "elbow", "wrist", "hip", "knee", "ankle")


def left_right_votes(pred: np.ndarray, inst: Instance) -> tuple[int, int]:
    """(agree, pairs): over the limb joints the ground truth labels on both sides and the prediction has, how
    often the predicted left joint is nearer the ground truth's left joint than its right one (a left/right or
    joint-order mistake in a layout's mapping shows as agreement near 0)."""
    from schemas.layouts.mediapipe import B
    agree = n = 0
    for j in LR_PAIRS:
        li, ri = B[f"left_{j}"], B[f"right_{j}"]
        g, p = inst.gt, pred
        if g[li, 2] > 0 and g[ri, 2] > 0 and p[li, 2] > 0:
            n += 1
            agree += int(np.linalg.norm(p[li, :2] - g[li, :2]) < np.linalg.norm(p[li, :2] - g[ri, :2]))
    return agree, n
