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
from schemas.experts import settings_json, used_experts
from workers import models
from workers.eval.gt import Instance, load
from workers.eval.metrics import pck_hits, point_errors
from workers.experts.base import Crop
from workers.experts.canonical import to_canonical
from workers.fusion.fuse import fuse
from workers.pose.crops import square_crop

from .stages.refine import PART_GROUPS, family_ids, fusion_params, reliability

FUSION = "fusion"
FUSION_CALIBRATED = "fusion, calibrated"


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


def _swap_hands(p: np.ndarray) -> np.ndarray:
    out = p.copy()
    L, R = _slice("left_hand"), _slice("right_hand")
    out[L], out[R] = p[R], p[L]
    return out


def instance_crop(inst: Instance) -> Crop:
    """The crop an expert gets for a ground-truth instance, as the pipeline would cut it."""
    img = cv2.cvtColor(cv2.imread(str(inst.image)), cv2.COLOR_BGR2RGB)
    cx, cy, side = inst.crop_box
    c, x0, y0, _ = square_crop(img, cx, cy, side)
    return Crop(c, x0, y0, 1.0, inst.hint, img)


def predict(inst: Instance, experts: dict, listed: dict) -> dict[str, np.ndarray]:
    """Each expert's canonical prediction for one instance, restricted to the parts it is listed for."""
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
    return preds


def fuse_predictions(preds: dict[str, np.ndarray], cfg, weights: dict) -> np.ndarray:
    """The refine stage's fusion on one image (no temporal terms), with `weights` as refine.expert_weights."""
    names = list(preds)
    X = np.stack([preds[n][:, :2] for n in names])[:, None, None]
    S = np.stack([preds[n][:, 2] for n in names])[:, None, None]
    f = fuse(X, S, fusion_params(cfg, smoothing="none", max_gap=0), np.arange(SOURCE_PARTS["body"]),
             part_groups=PART_GROUPS, families=family_ids(names), reliability=reliability(names, weights))
    return f.points[0, 0]


def scored_points(inst: Instance) -> list[tuple[str, np.ndarray, float]]:
    """(config part, canonical indices, normaliser) of the ground truth an instance scores."""
    gt, out = inst.gt, []
    if inst.part == "body":
        out.append(("body", _slice("body"), inst.ref["body_size"]))
    if inst.part == "hands":
        out.append(("hands", _slice("left_hand"), inst.ref["left_hand_size"]))
    if inst.layout == "coco-wholebody":
        out += [("hands", _slice(f"{s}_hand"), inst.ref[f"{s}_hand_size"]) for s in ("left", "right")
                if (gt[_slice(f"{s}_hand"), 2] > 0).any()]
    if "interocular" in inst.ref:
        out.append(("face", _slice("face"), inst.ref["interocular"]))
    return out


def calibrate(pairs: list[tuple[Instance, dict]], listed: dict, min_points: int = 20) -> tuple[dict, dict]:
    """Reliability weights per expert and part from ground truth: each expert's mean normalised point error on
    the points every expert used for that part predicted (like for like), turned into inverse-variance
    weights (best error / error)^2, so the most accurate expert keeps its scores and the others are scaled
    down. Parts with fewer than `min_points` common points are left uncalibrated (weight 1).
    Returns ({expert: {part: weight}}, {part: {expert: error, "points": n}})."""
    errs: dict[str, dict[str, list]] = defaultdict(lambda: defaultdict(list))
    for inst, preds in pairs:
        for part, idx, size in scored_points(inst):
            names = [n for n in preds if _listed_for(part, listed[n])]
            if len(names) < 2:
                continue
            e = np.stack([point_errors(preds[n], inst.gt, idx, size) for n in names])
            common = np.isfinite(e).all(0)
            for n, row in zip(names, e):
                errs[part][n].append(row[common])
    weights: dict[str, dict[str, float]] = defaultdict(dict)
    report = {}
    for part, per in errs.items():
        mean = {n: np.concatenate(v) for n, v in per.items()}
        n_pts = min(len(v) for v in mean.values())
        if n_pts < min_points:
            continue
        mean = {n: float(v.mean()) for n, v in mean.items()}
        best = min(mean.values())
        report[part] = {**{n: round(m, 4) for n, m in mean.items()}, "points": n_pts}
        for n, m in mean.items():
            weights[n][part] = round(max((best / m) ** 2, 0.01), 3) if m > 0 else 1.0
    return {n: dict(w) for n, w in weights.items()}, report


def evaluate(gt_root: Path, cfg, calibrate_on: tuple[str, ...] = ()) -> dict:
    """The table. With `calibrate_on` (dataset names), reliability weights are fitted on those datasets'
    instances and a second fusion row uses them; rows of those datasets are marked as the calibration set,
    so the other rows are held-out evidence."""
    listed = used_experts(cfg)
    experts = {n: models.expert(n, settings_json(cfg, n)) for n in listed}
    instances = load(gt_root)
    unknown = sorted(set(calibrate_on) - {i.dataset for i in instances})
    if unknown:
        raise ValueError(f"--calibrate-on: no ground truth named {unknown}; have "
                         f"{sorted({i.dataset for i in instances})}")
    pairs = [(inst, predict(inst, experts, listed)) for inst in instances]
    fusions = {FUSION: cfg.refine.expert_weights}
    calibration = None
    if calibrate_on:
        weights, errors = calibrate([(i, p) for i, p in pairs if i.dataset in calibrate_on], listed)
        fusions[FUSION_CALIBRATED] = weights
        calibration = {"on": list(calibrate_on), "weights": weights, "errors": errors}
    acc = defaultdict(lambda: defaultdict(lambda: [0, 0, 0]))      # row -> method -> [hits, gt, predicted]
    nme = defaultdict(lambda: defaultdict(list))                   # row -> method -> errors
    fo = source_offset("face")
    for inst, expert_preds in pairs:
        preds = dict(expert_preds)
        for label, w in fusions.items():
            preds[label] = fuse_predictions(expert_preds, cfg, w)
        gt = inst.gt
        ds = inst.dataset + (" (calibration set)" if inst.dataset in calibrate_on else "")
        for method, p in preds.items():
            rows = []
            for part, idx, size in scored_points(inst):
                if part == "face":                                     # scored as NME below
                    continue
                label = f"{'body' if part == 'body' else 'hand'} PCK@0.2 · {ds}"
                rows.append((label, idx, size, p, gt))
                if part == "hands" and inst.layout == "coco-wholebody":
                    rows.append((f"{label}, sides swapped (convention check)", idx, size, _swap_hands(p), gt))
            for row, idx, size, pp, g in rows:
                h, n, k = pck_hits(pp, g, idx, size)
                a = acc[row][method]
                a[0] += h
                a[1] += n
                a[2] += k
            if "interocular" in inst.ref and (gt[fo:fo + 68, 2] > 0).any():
                for label, idx in (("NME-68", np.arange(fo, fo + 68)), ("NME-51", np.arange(fo + 17, fo + 68))):
                    err = point_errors(p, gt, idx, inst.ref["interocular"])
                    nme[f"face {label} · {ds}"][method].append(err)
    table = []
    for row, per in acc.items():
        part = row.split()[0]
        for method, (h, n, k) in per.items():
            if method not in fusions and not _listed_for(part, listed[method]):
                continue
            table.append({"metric": row, "method": method, "value": round(h / n, 4) if n else None,
                          "gt_points": n, "predicted": k})
    for row, per in nme.items():
        methods = [m for m in per if m in fusions or "face" in listed[m]]
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
    order = list(listed) + list(fusions)
    table.sort(key=lambda r: (r["metric"], order.index(r["method"])))
    table += handedness(gt_root, cfg)
    out = {"instances": len(instances), "experts": list(listed), "table": table,
           "versions": {n: models.expert_version(n, settings_json(cfg, n)) for n in listed}}
    if calibration:
        out["calibration"] = calibration
    return out


def _listed_for(part: str, parts: tuple) -> bool:
    return {"body": "body" in parts, "hand": "left_hand" in parts, "hands": "left_hand" in parts,
            "face": "face" in parts}[part]


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


def weights_yaml(calibration: dict) -> str:
    """A config fragment with the fitted weights, to paste or merge into a build config."""
    import yaml
    head = (f"# refine.expert_weights fitted by `skelforge eval-experts --calibrate-on {','.join(calibration['on'])}`\n"
            f"# (inverse-variance: (best mean normalised error / expert's)^2; errors: {calibration['errors']})\n")
    return head + yaml.safe_dump({"refine": {"expert_weights": calibration["weights"]}}, sort_keys=True)


def write(result: dict, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    if "calibration" in result:
        (out / "expert_weights.yaml").write_text(weights_yaml(result["calibration"]))
    (out / "eval.json").write_text(json.dumps(result, indent=1))
    (out / "eval.md").write_text(markdown(result) + "\n")
