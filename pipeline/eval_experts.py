"""`skelforge eval-experts`: every configured expert, and their fusion, on real ground truth, per part.

body  PCK@0.2 of the person box (COCO, COCO-WholeBody incl. feet)
hands PCK@0.2 of the hand box (FreiHAND, OneHand10K: side-agnostic; COCO-WholeBody: left and right by the
      subject's side — the same score with sides swapped is reported as a convention check)
face  NME on the 68 iBUG points and on NTU-X's 51 (normalised by the outer inter-ocular distance; 300W,
      COCO-WholeBody)
PCK counts a ground-truth point the method did not predict as a miss; NME is over predicted points, and the
table says how many were scored.
"""
from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

import cv2
import numpy as np

from schemas.layouts import SOURCE_PARTS, source_offset
from workers import models
from workers.eval.gt import Instance, load
from workers.eval.metrics import pck_hits, point_errors
from workers.experts.base import Crop
from workers.experts.canonical import to_canonical
from workers.fusion.fuse import FusionParams, fuse
from workers.pose.crops import square_crop

from .stages.pose import settings_json, used_experts
from .stages.refine import PART_GROUPS, family_ids

FUSION = "fusion"


def _slice(part):
    o = source_offset(part)
    return np.arange(o, o + SOURCE_PARTS[part])


def _best_hand_to_left(p: np.ndarray) -> np.ndarray:
    """Side-agnostic scoring: the more confident hand moved into the left-hand slot."""
    L, R = _slice("left_hand"), _slice("right_hand")
    out = p.copy()
    if p[R, 2].max() > p[L, 2].max():
        out[L] = p[R]
    out[R] = np.nan
    out[R, 2] = 0
    return out


def instance_crop(inst: Instance) -> Crop:
    """The crop an expert gets for a ground-truth instance, as the pipeline would cut it."""
    img = cv2.cvtColor(cv2.imread(str(inst.image)), cv2.COLOR_BGR2RGB)
    cx, cy, side = inst.crop_box
    c, x0, y0, _ = square_crop(img, cx, cy, side)
    return Crop(c, x0, y0, 1.0, inst.hint, img)


def predict(inst: Instance, experts: dict, listed: dict) -> dict[str, np.ndarray]:
    crop = instance_crop(inst)
    preds = {}
    for name, e in experts.items():
        p = to_canonical(e.native, e.process([crop])[0].points)
        keep = np.zeros(p.shape[0], bool)
        for part in listed[name]:
            keep[_slice(part)] = True
        p[~keep] = np.nan
        p[~keep, 2] = 0
        preds[name] = _best_hand_to_left(p) if inst.side_agnostic else p
    names = list(preds)
    X = np.stack([preds[n][:, :2] for n in names])[:, None, None]
    S = np.stack([preds[n][:, 2] for n in names])[:, None, None]
    f = fuse(X, S, FusionParams(smoothing="none", max_gap=0), np.arange(SOURCE_PARTS["body"]),
             part_groups=PART_GROUPS, families=family_ids(names))
    preds[FUSION] = f.points[0, 0]
    return preds


def evaluate(gt_root: Path, cfg) -> dict:
    listed = used_experts(cfg)
    experts = {n: models.expert(n, settings_json(cfg, n)) for n in listed}
    acc = defaultdict(lambda: defaultdict(lambda: [0, 0, 0]))      # row -> method -> [hits, gt, predicted]
    nme = defaultdict(lambda: defaultdict(list))                   # row -> method -> errors
    instances = load(gt_root)
    fo = source_offset("face")
    for inst in instances:
        preds = predict(inst, experts, listed)
        gt = inst.gt
        for method, p in preds.items():
            rows = []
            if inst.part == "body":
                rows.append((f"body PCK@0.2 · {inst.dataset}", _slice("body"), inst.ref["body_size"], p, gt))
            if inst.part == "hands":
                rows.append((f"hand PCK@0.2 · {inst.dataset}", _slice("left_hand"), inst.ref["left_hand_size"], p, gt))
            if inst.dataset == "coco-wholebody":
                swapped = p.copy()
                L, R = _slice("left_hand"), _slice("right_hand")
                swapped[L], swapped[R] = p[R], p[L]
                for side in ("left", "right"):
                    idx = _slice(f"{side}_hand")
                    if (gt[idx, 2] > 0).any():
                        rows.append(("hand PCK@0.2 · coco-wholebody", idx, inst.ref[f"{side}_hand_size"], p, gt))
                        rows.append(("hand PCK@0.2 · coco-wholebody, sides swapped (convention check)", idx,
                                     inst.ref[f"{side}_hand_size"], swapped, gt))
            for row, idx, size, pp, g in rows:
                h, n, k = pck_hits(pp, g, idx, size)
                a = acc[row][method]
                a[0] += h
                a[1] += n
                a[2] += k
            if "interocular" in inst.ref and (gt[fo:fo + 68, 2] > 0).any():
                for label, idx in (("NME-68", np.arange(fo, fo + 68)), ("NME-51", np.arange(fo + 17, fo + 68))):
                    err = point_errors(p, gt, idx, inst.ref["interocular"])
                    nme[f"face {label} · {inst.dataset}"][method].append(err)
    table = []
    for row, per in acc.items():
        part = row.split()[0]
        for method, (h, n, k) in per.items():
            if method != FUSION and not _listed_for(part, listed[method]):
                continue
            table.append({"metric": row, "method": method, "value": round(h / n, 4) if n else None,
                          "gt_points": n, "predicted": k})
    for row, per in nme.items():
        methods = [m for m in per if m == FUSION or "face" in listed[m]]
        errs = {m: np.concatenate(per[m]) for m in methods}          # NaN where the method predicted nothing
        common = np.all([np.isfinite(e) for e in errs.values()], axis=0)
        for m in methods:
            e = errs[m]
            have = np.isfinite(e)
            table.append({"metric": row, "method": m, "value": round(float(e[have].mean()), 4) if have.any() else None,
                          "gt_points": len(e), "predicted": int(have.sum())})
            table.append({"metric": row + ", points every method predicted", "method": m,
                          "value": round(float(e[common].mean()), 4) if common.any() else None,
                          "gt_points": len(e), "predicted": int(common.sum())})
    order = list(listed) + [FUSION]
    table.sort(key=lambda r: (r["metric"], order.index(r["method"])))
    table += handedness(gt_root, cfg)
    return {"instances": len(instances), "experts": list(listed), "table": table,
            "versions": {n: models.expert_version(n, settings_json(cfg, n)) for n in listed}}


def _listed_for(part: str, parts: tuple) -> bool:
    return {"body": "body" in parts, "hand": "left_hand" in parts, "face": "face" in parts}[part]


def handedness(gt_root: Path, cfg) -> list[dict]:
    """FreiHAND's hands are all right hands (its MANO right-hand model): the share each hand expert puts on the
    subject's right side checks the left/right convention (MediaPipe's mirrored handedness labels)."""
    listed = used_experts(cfg)
    rows = []
    insts = [i for i in load(gt_root) if i.dataset == "freihand"]
    for name in [n for n in listed if "left_hand" in listed[n]]:
        e = models.expert(name, settings_json(cfg, name))
        right = found = 0
        for inst in insts:
            p = to_canonical(e.native, e.process([instance_crop(inst)])[0].points)
            sl, sr = p[_slice("left_hand"), 2].max(), p[_slice("right_hand"), 2].max()
            if max(sl, sr) > 0:
                found += 1
                right += int(sr > sl)
        rows.append({"metric": "hand side · freihand (all right hands): share put on the right",
                     "method": name, "value": round(right / found, 4) if found else None,
                     "gt_points": len(insts), "predicted": found})
    return rows


def markdown(result: dict) -> str:
    lines = ["| metric | method | value | points (predicted / ground truth) |", "|---|---|---|---|"]
    for r in result["table"]:
        v = "—" if r["value"] is None else f"{r['value']:.3f}"
        pts = f"{r['predicted']} / {r['gt_points']}" if r["gt_points"] is not None else f"{r['predicted']}"
        lines.append(f"| {r['metric']} | {r['method']} | {v} | {pts} |")
    return "\n".join(lines)


def write(result: dict, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "eval.json").write_text(json.dumps(result, indent=1))
    (out / "eval.md").write_text(markdown(result) + "\n")
