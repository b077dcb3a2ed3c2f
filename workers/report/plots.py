"""Report plots (matplotlib, Agg), returned as PNG data URIs so the page is self-contained. matplotlib is
imported when a plot is drawn, not with this module (every process that loads the DAG imports it)."""
from __future__ import annotations

import base64
import io

import numpy as np

from .summary import PARTS


def _plt():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def data_uri(fig) -> str:
    plt = _plt()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def retention_bars(classes: list[dict]) -> str:
    cs = sorted(classes, key=lambda c: (c["retention"], c["class"]))            # worst first
    fig, ax = _plt().subplots(figsize=(7, 0.35 * len(cs) + 1.2))
    y = np.arange(len(cs))
    kept = [c["kept"] for c in cs]
    filt = [c["filtered"] for c in cs]
    fail = [c["failed"] for c in cs]
    ax.barh(y, kept, color="#2e7d32", label="kept")
    ax.barh(y, filt, left=kept, color="#f9a825", label="filtered")
    ax.barh(y, fail, left=np.add(kept, filt), color="#c62828", label="failed")
    ax.set_yticks(y, [f"{c['class']} ({c['retention']:.0%})" for c in cs])
    ax.invert_yaxis()
    ax.set_xlabel("clips")
    ax.set_title("Retention per class (worst first)")
    ax.legend(loc="lower right", fontsize=8)
    return data_uri(fig)


def confidence_heatmap(classes: list[dict]) -> str:
    cs = sorted(classes, key=lambda c: c["class"])
    m = np.array([[np.nan if c["confidence"][p] is None else c["confidence"][p] for p in PARTS] for c in cs])
    fig, ax = _plt().subplots(figsize=(6, 0.35 * len(cs) + 1.4))
    im = ax.imshow(np.ma.masked_invalid(m), vmin=0, vmax=1, cmap="viridis", aspect="auto")
    ax.set_xticks(range(len(PARTS)), [p.replace("_", " ") for p in PARTS])
    ax.set_yticks(range(len(cs)), [c["class"] for c in cs])
    for i in range(m.shape[0]):
        for j in range(m.shape[1]):
            if np.isfinite(m[i, j]):
                ax.text(j, i, f"{m[i, j]:.2f}", ha="center", va="center", color="w" if m[i, j] < 0.6 else "k",
                        fontsize=8)
    fig.colorbar(im, ax=ax, label="mean confidence")
    ax.set_title("Mean confidence, class x part")
    return data_uri(fig)
