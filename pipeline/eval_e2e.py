"""`skelforge eval`: the whole per-clip pipeline on ground-truth images, scored per ground-truth set, with the
oracle-crop number (what `eval-experts` computes: the configured experts' fusion on crops cut from the
ground-truth boxes) beside each end-to-end one.

Every image of a set (workers/eval/gt.py reads any keypoint file; `--gt DIR` every .json under it) is a
one-frame clip (input_kind image, workers/decode/input_kind.py) that runs the DAG's per-video stages up to
refine — probe, frames, detect (+ tracking, actor selection), pose, refine — through `video_task.run_video`,
the code a build runs, with the build's config, cache and keys, except `track.max_persons`, set to
`max_persons` so actor selection keeps every person the detector tracked (recall then measures the pipeline's
detection, not the build's actor budget). The refined persons (canonical points) are matched to the ground
truth and scored as `workers/eval/score.py` documents (generalised OKS, Hungarian, PCK@0.2 per part, face NME).

Clips that end filtered (no person detected, no pose) score as no persons; a failed clip is counted and
listed (`failed`) and also scores as no persons.
"""
from __future__ import annotations

import tempfile
from collections import defaultdict
from pathlib import Path

import numpy as np

from schemas.config import BuildConfig
from schemas.experts import settings_json, used_experts
from workers import models
from workers.eval.gt import GtSet, load_sets
from workers.eval.score import left_right_votes, match, oriented, score

from .adapters import VideoItem
from .cache import Store
from .eval_experts import fuse_predictions, predict
from .video_task import run_video

PARTS = ("body", "hands", "face")


def eval_config(cfg: BuildConfig, max_persons: int) -> BuildConfig:
    data = cfg.model_dump(mode="json")
    data["track"]["max_persons"] = max_persons
    return BuildConfig.model_validate(data)


def clip_plan(dag) -> dict[str, str]:
    """Every per-video stage up to refine from cache or computed; the rest skipped."""
    keep = dag.upstream({"refine"}) | {"refine"}
    return {n: "use" if n in keep else "skip" for n in dag.order}


def run_image(image: Path, gt_set: GtSet, cfg, dag, plan, cache_dir: Path, scratch: Path
              ) -> tuple[list[np.ndarray], dict]:
    """The pipeline's refined persons (each (145, 3) canonical) on one image, and its manifest row."""
    rel = image.relative_to(gt_set.path.parent).with_suffix("").as_posix()
    item = VideoItem(clip_id=rel, path=str(image), label=0, label_name=gt_set.name, split="eval",
                     extra={"input_kind": "image"})
    res = run_video(item, cfg, dag, plan, str(cache_dir), str(scratch))
    row = res["row"]
    if row["status"] != "ok":
        return [], row
    art = Store(cache_dir).load("refine", res["stages"]["refine"]["key"])
    return [p[0] for p in art.arrays["points"]], row


def _acc():
    return {"pck": defaultdict(lambda: [0, 0, 0]), "nme": [], "lr": [0, 0]}


def _add(acc: dict, s: dict) -> None:
    for part, v in s.items():
        if part == "nme":
            acc["nme"].append(v)
        else:
            a = acc["pck"][part]
            for k in range(3):
                a[k] += v[k]


def _summary(acc: dict) -> dict:
    out = {}
    for part in PARTS:
        if part in acc["pck"]:
            h, n, k = acc["pck"][part]
            out[f"{part}_pck"] = round(h / n, 4) if n else None
            out[f"{part}_points"] = {"labelled": n, "predicted": k}
    if acc["nme"]:
        e = np.concatenate(acc["nme"])
        have = np.isfinite(e)
        out["face_nme"] = round(float(e[have].mean()), 4) if have.any() else None
        out["face_nme_points"] = {"labelled": int(len(e)), "predicted": int(have.sum())}
    agree, n = acc["lr"]
    out["left_right_agreement"] = round(agree / n, 4) if n else None
    return out


def evaluate_set(gt_set: GtSet, cfg, dag, cache_dir: Path, scratch: Path, experts: dict, listed: dict,
                 min_oks: float) -> dict:
    plan = clip_plan(dag)
    by_image = defaultdict(list)
    for inst in gt_set.instances:
        by_image[inst.image].append(inst)
    e2e, oracle = _acc(), _acc()
    n_gt = n_pred = recalled = false = 0
    statuses: dict[str, int] = defaultdict(int)
    failed = []
    for image in gt_set.images:
        insts = by_image.get(image, [])
        preds, row = run_image(image, gt_set, cfg, dag, plan, cache_dir, scratch)
        statuses[row["status"]] += 1
        if row["status"] == "failed":
            failed.append(f"{image.name}: {row['stage']}: {row['reason']}")
        pairs = {j: (i, o) for i, j, o in match(preds, insts, min_oks)}
        matched_preds = {i for i, _ in pairs.values()}
        n_pred += len(preds)
        false += sum(1 for i in range(len(preds)) if i not in matched_preds)
        for j, inst in enumerate(insts):
            if inst.ignore:
                continue
            n_gt += 1
            pred = oriented(preds[pairs[j][0]], inst) if j in pairs else None
            recalled += pred is not None
            _add(e2e, score(pred, inst))
            if pred is not None:
                _add_lr(e2e, pred, inst)
            o = oracle_prediction(inst, experts, listed, cfg)
            _add(oracle, score(o, inst))
            _add_lr(oracle, o, inst)
    return {"set": gt_set.name, "file": str(gt_set.path), "layout": gt_set.layout, "images": len(gt_set.images),
            "gt_persons": n_gt, "predicted_persons": n_pred, "recalled": recalled,
            "recall": round(recalled / n_gt, 4) if n_gt else None, "false_persons": false,
            "clips": dict(statuses), "failed": failed, "end_to_end": _summary(e2e), "oracle": _summary(oracle)}


def _add_lr(acc: dict, pred: np.ndarray, inst) -> None:
    a, n = left_right_votes(pred, inst)
    acc["lr"][0] += a
    acc["lr"][1] += n


def oracle_prediction(inst, experts: dict, listed: dict, cfg) -> np.ndarray:
    """The configured experts' fusion on the crop cut from the ground-truth box (eval-experts' 'fusion')."""
    preds = predict(inst, experts, listed)
    return preds[next(iter(preds))] if len(preds) == 1 else fuse_predictions(preds, cfg, cfg.refine.expert_weights)


def evaluate(gt: Path, cfg: BuildConfig, dag, max_persons: int = 20, min_oks: float = 0.5,
             cache_dir: Path | None = None) -> dict:
    """Raises workers.eval.gt.GtError (naming the file) for any ground truth it cannot read, before compute."""
    sets = load_sets(gt)
    cfg = eval_config(cfg, max_persons)
    listed = used_experts(cfg)
    experts = {n: models.expert(n, settings_json(cfg, n)) for n in listed}
    with tempfile.TemporaryDirectory(prefix="skelforge-eval-") as tmp:
        cache = Path(cache_dir) if cache_dir else Path(tmp) / "cache"
        rows = [evaluate_set(s, cfg, dag, cache, Path(tmp) / "scratch", experts, listed, min_oks) for s in sets]
    return {"gt": str(gt), "sets": rows, "experts": {n: list(p) for n, p in listed.items()},
            "matching": {"rule": "generalised OKS (KAPPA 0.1 x box long side), Hungarian", "min_oks": min_oks},
            "max_persons": max_persons,
            "versions": {n: models.expert_version(n, settings_json(cfg, n)) for n in listed}}


def _cell(row: dict, key: str, fmt: str = "{:.3f}") -> str:
    e, o = row["end_to_end"].get(key), row["oracle"].get(key)
    if e is None and o is None:
        return ""
    f = lambda v: "—" if v is None else fmt.format(v)       # noqa: E731
    return f"{f(e)} / {f(o)}"


COLUMNS = ("set", "layout", "images (ok/filtered/failed)", "GT persons", "recall", "false persons", "body PCK@0.2", "hands PCK@0.2",
           "face PCK@0.2", "face NME")


def table_rows(result: dict) -> list[list[str]]:
    out = []
    for r in result["sets"]:
        rec = "—" if r["recall"] is None else f"{r['recall']:.3f} ({r['recalled']}/{r['gt_persons']})"
        c = r["clips"]
        clips = f"{r['images']} ({c.get('ok', 0)}/{c.get('filtered', 0)}/{c.get('failed', 0)})"
        out.append([r["set"], r["layout"], clips, str(r["gt_persons"]), rec, str(r["false_persons"]),
                    _cell(r, "body_pck"), _cell(r, "hands_pck"), _cell(r, "face_pck"),
                    _cell(r, "face_nme", "{:.4f}")])
    return out


def markdown(result: dict) -> str:
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    lines += ["| " + " | ".join(r) + " |" for r in table_rows(result)]
    return "\n".join(lines)
