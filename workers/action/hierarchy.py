"""Hierarchical classification: superclasses from a confusion matrix, auxiliary group heads, their loss.

Contract
--------
* `superclasses(confusion, n_groups, restarts, seed)` -> int64 array (C,), class -> group in [0, n_groups).
  Groups are balanced (sizes differ by at most 1) and put confusable classes together: the objective is the
  confusion mass *between* groups, sum over i < j with g_i != g_j of (n_ij + n_ji), minimised by greedy
  swaps (steepest descent: the best swap of two classes in different groups while it lowers the objective)
  from `restarts` seeded random balanced starts; the best local optimum is kept. Group ids are canonical
  (numbered by their lowest class index), so equal partitions give equal arrays. Deterministic given seed.
* `between_group_mass(confusion, groups)` is that objective; `refine(confusion, groups)` is the swap descent
  from one given start (never worse than the start).
* `build_levels(confusion, level_sizes, ...)` -> one class -> group map per level (e.g. [2, 4] groups), each
  level partitioned independently (levels are not forced to nest).
* `HierarchicalHead(backbone, maps)`: the backbone exposes `features(x)` -> (N, D) and `classifier`
  (nn.Linear D -> C); the head adds one nn.Linear D -> n_groups per level and returns
  `HierarchicalOutput(main, aux)` (main logits (N, C), aux: tuple of (N, n_groups_l)). It exposes
  `features`/`classifier` itself, so it can be used wherever a backbone is.
* `hierarchical_loss(outputs, labels, maps, weights)` = CE(main, y) + sum_l w_l * CE(aux_l, map_l[y]).

Numpy / PyTorch only; no Dask.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn


def _symmetric(confusion) -> np.ndarray:
    """W = N + N^T with a zero diagonal (self-confusion never crosses groups), float64."""
    n = np.asarray(confusion, dtype=np.float64)
    if n.ndim != 2 or n.shape[0] != n.shape[1]:
        raise ValueError(f"confusion must be a square (C, C) matrix, got shape {n.shape}")
    if not np.all(np.isfinite(n)) or np.any(n < 0):
        raise ValueError("confusion must hold finite, non-negative counts")
    w = n + n.T
    np.fill_diagonal(w, 0.0)
    return w


def between_group_mass(confusion, groups) -> float:
    """Confusion mass between groups: sum over i < j in different groups of n_ij + n_ji."""
    w = _symmetric(confusion)
    g = np.asarray(groups)
    return float(w[g[:, None] != g[None, :]].sum() / 2.0)


def _canonical(groups: np.ndarray) -> np.ndarray:
    """Renumber groups in order of their lowest class index."""
    _, first, inverse = np.unique(groups, return_index=True, return_inverse=True)
    rank = np.empty(first.size, dtype=np.int64)
    rank[np.argsort(first, kind="stable")] = np.arange(first.size)
    return rank[inverse.reshape(-1)]


def _descend(w: np.ndarray, groups: np.ndarray, n_groups: int) -> np.ndarray:
    """Steepest-descent swaps on symmetric W until no swap lowers the between-group mass.

    With S[i, g] = sum_k W_ik [g_k = g] and D_i = S[i, g_i], swapping i (group a) with j (group b) changes
    the objective by  (D_i - S[i, b]) + (D_j - S[j, a]) + 2 W_ij  (the i-j edge stays cut); all pairs at once.
    """
    g = groups.astype(np.int64).copy()
    c = g.size
    s = w @ np.eye(n_groups)[g]                            # (C, G) connection of each class to each group
    tol = 1e-12 * max(1.0, float(w.sum()))
    idx = np.arange(c)
    while True:
        a = s[:, g]                                        # a[i, j] = S[i, g_j]
        d = a[idx, idx]                                    # D_i = S[i, g_i]
        delta = d[:, None] - a + d[None, :] - a.T + 2.0 * w
        delta[g[:, None] == g[None, :]] = np.inf           # only swaps across groups
        flat = int(np.argmin(delta))
        if not delta.flat[flat] < -tol:
            return g
        i, j = divmod(flat, c)
        gi, gj = g[i], g[j]
        s[:, gi] += w[:, j] - w[:, i]
        s[:, gj] += w[:, i] - w[:, j]
        g[i], g[j] = gj, gi


def _balanced_start(c: int, n_groups: int, rng: np.random.Generator) -> np.ndarray:
    g = np.empty(c, dtype=np.int64)
    g[rng.permutation(c)] = np.arange(c) % n_groups
    return g


def refine(confusion, groups) -> np.ndarray:
    """Greedy swap descent from a given partition (sizes are preserved); canonical group ids."""
    w = _symmetric(confusion)
    g = np.asarray(groups, dtype=np.int64)
    if g.shape != (w.shape[0],):
        raise ValueError(f"groups must have shape ({w.shape[0]},), got {g.shape}")
    return _canonical(_descend(w, _canonical(g), int(np.unique(g).size)))


def superclasses(confusion, n_groups: int, restarts: int = 8, seed: int = 0) -> np.ndarray:
    """Balanced partition of the C classes into `n_groups` groups minimising the between-group confusion."""
    w = _symmetric(confusion)
    c = w.shape[0]
    if not 1 <= n_groups <= c:
        raise ValueError(f"n_groups must be in [1, {c}], got {n_groups}")
    if restarts < 1:
        raise ValueError("restarts must be >= 1")
    rng = np.random.default_rng(seed)
    best, best_cost = None, np.inf
    for _ in range(restarts):
        g = _descend(w, _balanced_start(c, n_groups, rng), n_groups)
        cost = float(w[g[:, None] != g[None, :]].sum())
        if cost < best_cost:                               # strict: the earliest restart wins ties
            best, best_cost = g, cost
    return _canonical(best)


def build_levels(confusion, level_sizes: Sequence[int], restarts: int = 8, seed: int = 0) -> list[np.ndarray]:
    """One class -> group map per level (`level_sizes` = number of groups per level, e.g. [2, 4])."""
    return [superclasses(confusion, int(n), restarts=restarts, seed=seed) for n in level_sizes]


class HierarchicalOutput(NamedTuple):
    main: torch.Tensor
    aux: tuple[torch.Tensor, ...]


class HierarchicalHead(nn.Module):
    """A backbone (`features`, `classifier`) plus one auxiliary linear group classifier per level."""

    def __init__(self, backbone: nn.Module, maps: Sequence):
        super().__init__()
        if not hasattr(backbone, "features") or not isinstance(getattr(backbone, "classifier", None), nn.Linear):
            raise TypeError("backbone must expose features(x) and a `classifier` nn.Linear")
        self.backbone = backbone
        dim = backbone.classifier.in_features
        heads = []
        for level, m in enumerate(maps):
            t = torch.as_tensor(np.asarray(m), dtype=torch.long)
            if t.shape != (backbone.classifier.out_features,):
                raise ValueError(f"map {level} must have one group per class ({backbone.classifier.out_features})")
            self.register_buffer(f"group_map_{level}", t)
            heads.append(nn.Linear(dim, int(t.max()) + 1))
        self.aux = nn.ModuleList(heads)

    @property
    def classifier(self) -> nn.Linear:
        return self.backbone.classifier

    @property
    def group_maps(self) -> list[torch.Tensor]:
        return [getattr(self, f"group_map_{level}") for level in range(len(self.aux))]

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.backbone.features(x)

    def forward(self, x: torch.Tensor) -> HierarchicalOutput:
        f = self.backbone.features(x)
        return HierarchicalOutput(self.backbone.classifier(f), tuple(head(f) for head in self.aux))


def hierarchical_loss(outputs: HierarchicalOutput, labels: torch.Tensor, maps: Sequence,
                      weights: Sequence[float] | None = None) -> torch.Tensor:
    """CE(main, y) + sum_l w_l * CE(aux_l, map_l[y]); weights default to 1 per level (mean reduction)."""
    main, aux = outputs
    weights = [1.0] * len(aux) if weights is None else list(weights)
    if not len(aux) == len(maps) == len(weights):
        raise ValueError(f"{len(aux)} aux outputs, {len(maps)} maps and {len(weights)} weights must match")
    loss = F.cross_entropy(main, labels)
    for logits, m, w in zip(aux, maps, weights):
        group = torch.as_tensor(np.asarray(m) if not torch.is_tensor(m) else m, dtype=torch.long,
                                device=labels.device)[labels]
        loss = loss + float(w) * F.cross_entropy(logits, group)
    return loss
