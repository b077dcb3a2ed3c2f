"""Compare runs trained on the same classes: per-class accuracy gains, sorted (NTU-X Figs. 4-5), the classes
that gain and lose most, and the overall top-1/top-5 of each.

inputs:  two or more run directories (their metrics.json), in order (the first is the reference)
outputs: DEST/compare.json, DEST/compare.md, DEST/gain_<b>_vs_<a>.png per consecutive pair
"""
from __future__ import annotations

import json
import re
from pathlib import Path

from ..io.atomic import atomic_write_bytes
from .plots import plot_gains


def load_metrics(run: Path) -> dict:
    path = Path(run) / "metrics.json"
    if not path.exists():
        raise FileNotFoundError(f"{run} has no metrics.json (not a finished run)")
    m = json.loads(path.read_text())
    if m.get("top1") is None:
        raise ValueError(f"{run} was trained without an evaluation split: nothing to compare")
    return m


def class_gains(a: dict, b: dict) -> list[dict]:
    """Per class present in both evaluations: accuracy of b minus a, largest gain first."""
    acc_a = {p["class"]: p["accuracy"] for p in a["per_class"] if p["accuracy"] is not None}
    acc_b = {p["class"]: p["accuracy"] for p in b["per_class"] if p["accuracy"] is not None}
    if set(p["class"] for p in a["per_class"]) != set(p["class"] for p in b["per_class"]):
        raise ValueError("the runs were trained on different class sets")
    rows = [{"class": c, "a": acc_a[c], "b": acc_b[c], "gain": round(acc_b[c] - acc_a[c], 4)}
            for c in acc_a if c in acc_b]
    return sorted(rows, key=lambda r: (-r["gain"], r["class"]))


def _slug(s: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", s).strip("-")


def compare(runs: list[Path], dest: Path, labels: list[str] | None = None, n: int = 5) -> dict:
    runs = [Path(r) for r in runs]
    labels = labels or [r.name for r in runs]
    metrics = [load_metrics(r) for r in runs]
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    result = {"runs": [{"label": l, "run": str(r), "layout": m["layout"], "num_joints": m["num_joints"],
                        "model": m["model"], "stream": m["stream"], "top1": m["top1"], "top5": m["top5"],
                        "mean_class_accuracy": m["mean_class_accuracy"]} for l, r, m in zip(labels, runs, metrics)],
              "pairs": []}
    for (la, ma), (lb, mb) in zip(zip(labels, metrics), list(zip(labels, metrics))[1:]):
        gains = class_gains(ma, mb)
        png = dest / f"gain_{_slug(lb)}_vs_{_slug(la)}.png"
        plot_gains(gains, la, lb, png)
        result["pairs"].append({"a": la, "b": lb, "top1_gain": round(mb["top1"] - ma["top1"], 4),
                                "gains": gains, "most_gained": [g for g in gains if g["gain"] > 0][:n],
                                "most_lost": [g for g in reversed(gains) if g["gain"] < 0][:n],
                                "figure": png.name})
    atomic_write_bytes(dest / "compare.json", json.dumps(result, indent=1).encode())
    atomic_write_bytes(dest / "compare.md", markdown(result).encode())
    return result


def markdown(result: dict) -> str:
    lines = ["| run | layout | joints | model | stream | top-1 | top-5 | mean class acc |", "|---|---|---|---|---|---|---|---|"]
    for r in result["runs"]:
        lines.append(f"| {r['label']} | {r['layout']} | {r['num_joints']} | {r['model']} | {r['stream']} | "
                     f"{r['top1']:.3f} | {r['top5']:.3f} | {r['mean_class_accuracy']:.3f} |")
    for p in result["pairs"]:
        lines += ["", f"**{p['b']} vs {p['a']}**: top-1 {p['top1_gain']:+.3f} (![gains]({p['figure']}))", ""]
        for title, key in (("gain most", "most_gained"), ("lose most", "most_lost")):
            items = ", ".join(f"{g['class']} ({g['gain']:+.2f})" for g in p[key]) or "none"
            lines.append(f"- classes that {title}: {items}")
    return "\n".join(lines) + "\n"
