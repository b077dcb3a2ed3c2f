"""Input streams for skeleton action models, and late fusion of their class scores (torch, vectorised).

Contract: every stream takes and returns a float tensor (N, C, T, V, M) (as `workers.data.dataset` batches
it) whose coordinate channels come first and, when `has_score` (the default), whose last channel is the
joint score. A joint is *missing* where its score is 0; with `has_score=False` a joint is missing where all
its coordinates are exactly 0 (the dataset writes missing joints as 0).

- `joint(x)`: the input unchanged.
- `bone(x, parent)`: coordinates of joint v minus those of `parent[v]` (the BFS tree directed away from the
  body centre, `workers.action.graph.parents`), so the centre (its own parent) has a zero bone. Its score is
  the minimum of the two joints' scores: a bone is no surer than its less sure end, the same rule the layouts
  use for interpolated joints. A bone with a missing end is 0 in every channel.
- `motion(x)`: x[t+1] - x[t] on the coordinates, score min(score[t], score[t+1]); the last frame is 0, and so
  is any step where either frame's joint is missing.
- `stream(name, x, parent)`: the stream called `name` (one of `STREAMS`).
- `fuse_scores(logits, weights)`: the weighted mean of the streams' softmax probabilities (weights default
  to equal, are normalised to sum to 1 and must be non-negative), shape (N, num_classes).
"""
from __future__ import annotations

from typing import Optional, Sequence

import torch

STREAMS = ("joint", "bone", "motion")


def _split(x: torch.Tensor, has_score: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """(coordinates, validity-or-score (N, 1, T, V, M)); without scores, validity is 'any coordinate != 0'."""
    if x.dim() != 5:
        raise ValueError(f"expected (N, C, T, V, M), got shape {tuple(x.shape)}")
    if has_score:
        if x.shape[1] < 2:
            raise ValueError("need at least one coordinate channel before the score channel")
        return x[:, :-1], x[:, -1:]
    return x, (x != 0).any(dim=1, keepdim=True).to(x.dtype)


def _join(coords: torch.Tensor, score: torch.Tensor, has_score: bool) -> torch.Tensor:
    coords = coords * (score > 0)
    return torch.cat([coords, score], dim=1) if has_score else coords


def joint(x: torch.Tensor) -> torch.Tensor:
    return x


def bone(x: torch.Tensor, parent: Sequence[int] | torch.Tensor, has_score: bool = True) -> torch.Tensor:
    coords, score = _split(x, has_score)
    parent = torch.as_tensor(parent, dtype=torch.long, device=x.device)
    if parent.shape != (x.shape[3],):
        raise ValueError(f"parent has shape {tuple(parent.shape)}; expected ({x.shape[3]},)")
    vec = coords - coords[:, :, :, parent]
    return _join(vec, torch.minimum(score, score[:, :, :, parent]), has_score)


def motion(x: torch.Tensor, has_score: bool = True) -> torch.Tensor:
    coords, score = _split(x, has_score)
    out_c, out_s = torch.zeros_like(coords), torch.zeros_like(score)
    out_c[:, :, :-1] = coords[:, :, 1:] - coords[:, :, :-1]
    out_s[:, :, :-1] = torch.minimum(score[:, :, 1:], score[:, :, :-1])
    return _join(out_c, out_s, has_score)


_STREAM_FNS = {
    "joint": lambda x, parent, has_score: joint(x),
    "bone": lambda x, parent, has_score: bone(x, _need_parent(parent), has_score),
    "motion": lambda x, parent, has_score: motion(x, has_score),
}


def _need_parent(parent):
    if parent is None:
        raise ValueError("the bone stream needs `parent` (workers.action.graph.parents(layout))")
    return parent


def stream(name: str, x: torch.Tensor, parent: Optional[Sequence[int]] = None,
           has_score: bool = True) -> torch.Tensor:
    try:
        fn = _STREAM_FNS[name]
    except KeyError:
        raise ValueError(f"unknown stream {name!r}; known: {', '.join(STREAMS)}") from None
    return fn(x, parent, has_score)


def fuse_scores(logits: Sequence[torch.Tensor], weights: Optional[Sequence[float]] = None) -> torch.Tensor:
    if not logits:
        raise ValueError("need at least one stream's logits")
    probs = torch.stack([torch.softmax(l, dim=-1) for l in logits])            # (S, N, K)
    w = torch.ones(len(logits)) if weights is None else torch.as_tensor(weights, dtype=torch.float32)
    if w.shape != (len(logits),) or (w < 0).any() or w.sum() <= 0:
        raise ValueError("weights must be one non-negative number per stream, not all 0")
    w = (w / w.sum()).to(probs)
    return torch.einsum("s,snk->nk", w, probs)
