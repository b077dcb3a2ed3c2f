"""Classification metrics of a run, from its scores on the evaluation split (numpy only).

inputs:  scores (N, C) logits or probabilities, labels (N,), class names (C)
outputs: a JSON-ready dict: top-1 / top-5, mean class accuracy, per-class accuracy and support, the bottom-5
         classes (NTU-X Tables 3-5), the most confused class pairs by n_ij + n_ji (PoseConv3D A.4.5), and the
         confusion matrix (rows = true class, columns = predicted)
Classes absent from the evaluation split have accuracy None and are left out of the class means and bottom-5.
"""
from __future__ import annotations

import numpy as np


def topk(scores: np.ndarray, labels: np.ndarray, k: int) -> float:
    if len(labels) == 0:
        return float("nan")
    k = min(k, scores.shape[1])
    top = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    return float((top == labels[:, None]).any(1).mean())


def confusion(pred: np.ndarray, labels: np.ndarray, n_classes: int) -> np.ndarray:
    return np.bincount(labels * n_classes + pred, minlength=n_classes * n_classes).reshape(n_classes, n_classes)


def confused_pairs(cm: np.ndarray, n: int = 5) -> list[tuple[int, int, int]]:
    """(i, j, n_ij + n_ji) for i < j, largest first; pairs never confused are left out."""
    sym = np.triu(cm + cm.T, k=1)
    i, j = np.nonzero(sym)
    order = np.lexsort((j, i, -sym[i, j]))[:n]
    return [(int(i[o]), int(j[o]), int(sym[i[o], j[o]])) for o in order]


def classification_metrics(scores: np.ndarray, labels: np.ndarray, names: list[str], n_worst: int = 5) -> dict:
    scores, labels = np.asarray(scores, np.float64), np.asarray(labels, np.int64)
    C = len(names)
    pred = scores.argmax(1) if len(labels) else np.zeros(0, np.int64)
    cm = confusion(pred, labels, C)
    support = cm.sum(1)
    with np.errstate(invalid="ignore", divide="ignore"):
        acc = np.where(support > 0, np.diag(cm) / np.maximum(support, 1), np.nan)
    per_class = [{"class": names[c], "id": c, "accuracy": None if np.isnan(acc[c]) else round(float(acc[c]), 4),
                  "support": int(support[c])} for c in range(C)]
    present = [p for p in per_class if p["accuracy"] is not None]
    worst = sorted(present, key=lambda p: (p["accuracy"], p["class"]))[:n_worst]
    return {
        "samples": int(len(labels)),
        "top1": round(topk(scores, labels, 1), 4) if len(labels) else None,
        "top5": round(topk(scores, labels, 5), 4) if len(labels) else None,
        "mean_class_accuracy": round(float(np.nanmean(acc)), 4) if present else None,
        "per_class": per_class,
        "bottom5": worst,
        "confused_pairs": [{"a": names[i], "b": names[j], "n": n} for i, j, n in confused_pairs(cm)],
        "confusion": cm.tolist(),
    }
