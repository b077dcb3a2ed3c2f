"""Figures of a run and of a comparison (matplotlib, Agg, PNG files beside the metrics).

plot_run:     RUN/curves.png (loss and top-1 per epoch, per stream; evaluation top-1 when there is a split)
              and RUN/per_class.png (per-class accuracy, worst first)
plot_gains:   per-class accuracy gain of run B over run A, sorted (NTU-X Figs. 4-5)
"""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from ..io.atomic import atomic_target  # noqa: E402


def _save(fig, path: Path) -> None:
    with atomic_target(path, suffix=".png") as tmp:
        fig.savefig(tmp, dpi=110, bbox_inches="tight")
    plt.close(fig)


def plot_run(run_dir: Path, metrics: dict) -> None:
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 3.5))
    for stream, s in metrics["streams"].items():
        passes = [("", s.get("history", []))]
        if "hierarchy" in s:
            passes.append((" (hierarchical)", s["hierarchy"]["history"]))
        offset = 0
        for label, hist in passes:
            ep = [offset + h["epoch"] + 1 for h in hist]
            a1.plot(ep, [h["loss"] for h in hist], label=f"{stream}{label}")
            a2.plot(ep, [h["train_top1"] for h in hist], "--", label=f"{stream}{label} train")
            if hist and "eval_top1" in hist[0]:
                a2.plot(ep, [h["eval_top1"] for h in hist], label=f"{stream}{label} eval")
            offset = ep[-1] if ep else offset
    a1.set(xlabel="epoch", ylabel="loss", title="training loss")
    a2.set(xlabel="epoch", ylabel="top-1", title="accuracy", ylim=(0, 1.02))
    for a in (a1, a2):
        a.legend(fontsize=7)
    _save(fig, Path(run_dir) / "curves.png")
    present = [p for p in metrics.get("per_class", []) if p["accuracy"] is not None]
    if present:
        present.sort(key=lambda p: (p["accuracy"], p["class"]))
        fig, ax = plt.subplots(figsize=(6, 0.25 * len(present) + 1))
        ax.barh([p["class"] for p in present], [p["accuracy"] for p in present], color="#4c72b0")
        ax.set(xlabel="accuracy", xlim=(0, 1), title=f"per-class accuracy (top-1 {metrics['top1']:.3f})")
        ax.invert_yaxis()
        _save(fig, Path(run_dir) / "per_class.png")


def plot_gains(gains: list[dict], label_a: str, label_b: str, path: Path) -> None:
    """gains: [{class, gain}] sorted; bars green for gains, red for losses."""
    fig, ax = plt.subplots(figsize=(6, 0.25 * len(gains) + 1.2))
    ax.barh([g["class"] for g in gains], [g["gain"] for g in gains],
            color=["#55a868" if g["gain"] >= 0 else "#c44e52" for g in gains])
    ax.axvline(0, color="k", lw=0.6)
    ax.set(xlabel=f"accuracy gain: {label_b} − {label_a}", title="per-class gain")
    ax.invert_yaxis()
    _save(fig, path)
