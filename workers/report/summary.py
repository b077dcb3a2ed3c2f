"""Per-class and whole-build summaries from the manifest rows (quality.json's content)."""
from __future__ import annotations

import json
from collections import Counter, defaultdict

import numpy as np

PARTS = ("body", "left_hand", "right_hand", "face")


def _mean(xs):
    xs = [x for x in xs if x is not None]
    return round(float(np.mean(xs)), 4) if xs else None


def per_class(rows: list[dict]) -> list[dict]:
    by = defaultdict(list)
    for r in rows:
        by[r["label_name"]].append(r)
    out = []
    for name, rs in sorted(by.items()):
        status = Counter(r["status"] for r in rs)
        kept = [r for r in rs if r["status"] == "ok"]
        scored = [r for r in rs if r.get("quality")]
        parts = {p: _mean([json.loads(r["quality"])[p]["confidence"] for r in scored]) for p in PARTS}
        prov = provenance_means([json.loads(r.get("provenance") or "{}") for r in kept])
        out.append({
            "class": name, "label": rs[0]["label"], "clips": len(rs), "kept": status.get("ok", 0),
            "filtered": status.get("filtered", 0), "failed": status.get("failed", 0),
            "retention": round(status.get("ok", 0) / len(rs), 4),
            "reasons": dict(Counter(f"{r['stage']}: {r.get('filter_rule') or r['reason']}" for r in rs
                                    if r["status"] != "ok")),
            "detection_rate": _mean([r.get("actors_ratio") for r in scored]),
            "confidence": parts,
            "provenance": prov,
            "mean_frames": _mean([r["n_frames"] for r in kept]),
            "fit3d": fit3d_summary(kept),
        })
    return out


def fit3d_summary(rows: list[dict]) -> dict | None:
    """The per-class 3D choice (NTU-X's hand-built table): persons won by each method, and each method's
    normalised reprojection error over the class's persons (median and 90th percentile)."""
    picks, errs = Counter(), defaultdict(list)
    for r in rows:
        if not r.get("fit3d_method"):
            continue
        for method, e in zip(json.loads(r["fit3d_method"]), json.loads(r["fit3d_errors"])):
            picks[method or "none"] += 1
            for m, v in e.items():
                if v is not None:
                    errs[m].append(v)
    if not picks:
        return None
    return {"won": dict(sorted(picks.items())),
            "error": {m: {"median": round(float(np.median(v)), 4), "p90": round(float(np.percentile(v, 90)), 4),
                          "persons": len(v)} for m, v in sorted(errs.items())}}


def provenance_means(clips: list[dict]) -> dict[str, float]:
    """Mean share of each part/source over the clips that have the part (a source absent from a clip's part
    counts 0 there), so each part's shares sum to 1."""
    out = {}
    for part in sorted({p for c in clips for p in c}):
        having = [c[part] for c in clips if part in c]
        for src in sorted({k for shares in having for k in shares}):
            out[f"{part}/{src}"] = round(float(np.mean([shares.get(src, 0.0) for shares in having])), 4)
    return out


def whole_build(rows: list[dict], stages: list[str]) -> dict:
    return {
        "clips": len(rows),
        "status": dict(Counter(r["status"] for r in rows)),
        "reasons": dict(Counter(f"{r['stage']}: {r['reason']}" for r in rows if r["status"] != "ok").most_common()),
        "seconds_per_stage": {s: round(sum(r.get(f"{s}_seconds") or 0 for r in rows), 3) for s in stages},
        "cache_hits": {s: sum(bool(r.get(f"{s}_cached")) for r in rows) for s in stages},
    }
