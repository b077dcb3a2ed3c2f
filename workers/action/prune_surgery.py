"""Iterative filter pruning with inherited weights: cutting the layers of the prune groups, round after round
(PyTorch; no Dask). Which channels belong together (`PruneGroup`, `dependency_groups`) is
`workers.action.prune_deps`.

Contract
--------
* `prune_step(model, ratio)`: in place, for every group removes the floor(ratio * C) channels (at least 1,
  always keeping 1) with the lowest filter norm (ties: lower index first), all norms taken before any
  surgery. Layers are physically rebuilt smaller with the kept slices of weight, bias and BN affine / running
  statistics copied (inherited weights); consumers keep their kept input columns. Returns {the group's first
  producer: channels removed} (a blocked producer loses K filters per channel). Rebuilt layers keep device,
  dtype, requires_grad and train/eval mode; forward hooks on them and optimizer state are not carried (build
  the optimizer in train_fn).
* `iterative_prune(model, train_fn, eval_fn, ratio, max_drops)`: round 0 evaluates a deep copy of the
  (already trained) model; each later round prunes the current model, fine-tunes it (`train_fn(model)`,
  in place, or returning the model to use) and evaluates it (`eval_fn(model)` -> accuracy). A round whose
  accuracy is strictly below the best accuracy of all earlier rounds is a *drop*; drops are counted over
  the whole run (not necessarily consecutive), pruning always continues from the latest model, and the run
  stops right after the `max_drops`-th drop, when nothing is left to prune, or after `max_rounds`. A round
  at least as accurate as the best so far becomes the best (ties favour the smaller, later model).
  Returns `PruneResult(model=deep copy of the best round's model, history=[PruneRound...], best_round)`.
"""
from __future__ import annotations

import copy
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import NamedTuple

import torch
from torch import nn

from .prune_deps import ChannelSelect, PruneGroup, dependency_groups, group_widths


@dataclass(frozen=True)
class PruneRound:
    round: int             # 0 = the model as given
    params: int            # parameter count after this round's pruning
    accuracy: float        # eval_fn after fine-tuning
    removed: int           # filters removed this round
    drop: bool             # accuracy < best of the earlier rounds


class PruneResult(NamedTuple):
    model: nn.Module
    history: list[PruneRound]
    best_round: int


def count_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def filters_to_remove(n_out: int, ratio: float) -> int:
    """floor(ratio * n_out), at least 1, never all: how many filters one round removes."""
    if n_out <= 1:
        return 0
    return min(n_out - 1, max(1, math.floor(ratio * n_out + 1e-9)))


def _kept(norms: torch.Tensor, n_remove: int) -> torch.Tensor:
    order = torch.argsort(norms, stable=True)            # ties: lower index removed first
    keep = torch.ones(norms.numel(), dtype=torch.bool, device=norms.device)
    keep[order[:n_remove]] = False
    return keep.nonzero().flatten()


def kept_filters(weight: torch.Tensor, n_remove: int) -> torch.Tensor:
    """Indices (ascending) of the output filters kept after dropping the `n_remove` lowest-L2-norm ones."""
    return _kept(weight.detach().flatten(1).norm(dim=1), n_remove)


def channel_norms(model: nn.Module, group: PruneGroup) -> torch.Tensor:
    """(C,) float64 on the CPU: the L2 norm of every producer's filters for each channel, all blocks jointly."""
    modules = dict(model.named_modules())
    c = group_widths(model, [group])[0]
    total = torch.zeros(c, dtype=torch.float64)
    for name in group.producers:
        w = modules[name].weight.detach()
        total += w.reshape(group.blocks_of(name), c, -1).double().pow(2).sum(dim=(0, 2)).cpu()
    return total.sqrt()


def _blocked(keep: torch.Tensor, c: int, k: int) -> torch.Tensor:
    """The kept indices in a dimension of k blocks of c channels (index b * c + i)."""
    return keep if k == 1 else torch.cat([keep + b * c for b in range(k)])


def _rebuilt_layer(m: nn.Module, out_idx: torch.Tensor | None, in_idx: torch.Tensor | None) -> nn.Module:
    w = m.weight.detach()
    out_idx = None if out_idx is None else out_idx.to(w.device)
    w = w if out_idx is None else w.index_select(0, out_idx)
    w = w if in_idx is None else w.index_select(1, in_idx.to(w.device))
    has_bias = m.bias is not None
    kw = dict(bias=has_bias, device=w.device, dtype=w.dtype)
    if type(m) is nn.Linear:
        new = nn.Linear(w.shape[1], w.shape[0], **kw)
    else:
        new = type(m)(w.shape[1], w.shape[0], m.kernel_size, stride=m.stride, padding=m.padding,
                      dilation=m.dilation, groups=1, padding_mode=m.padding_mode, **kw)
    with torch.no_grad():
        new.weight.copy_(w)
        if has_bias:
            new.bias.copy_(m.bias if out_idx is None else m.bias.index_select(0, out_idx))
    new.weight.requires_grad_(m.weight.requires_grad)
    if has_bias:
        new.bias.requires_grad_(m.bias.requires_grad)
    return new.train(m.training)


def _rebuilt_norm(m: nn.modules.batchnorm._BatchNorm, idx: torch.Tensor) -> nn.Module:
    ref = m.weight if m.affine else m.running_mean
    new = type(m)(idx.numel(), eps=m.eps, momentum=m.momentum, affine=m.affine,
                  track_running_stats=m.track_running_stats,
                  device=None if ref is None else ref.device, dtype=None if ref is None else ref.dtype)
    idx = idx if ref is None else idx.to(ref.device)
    with torch.no_grad():
        if m.affine:
            new.weight.copy_(m.weight.index_select(0, idx))
            new.bias.copy_(m.bias.index_select(0, idx))
            new.weight.requires_grad_(m.weight.requires_grad)
            new.bias.requires_grad_(m.bias.requires_grad)
        if m.track_running_stats:
            new.running_mean.copy_(m.running_mean.index_select(0, idx))
            new.running_var.copy_(m.running_var.index_select(0, idx))
            new.num_batches_tracked.copy_(m.num_batches_tracked)
    return new.train(m.training)


def _replace(model: nn.Module, name: str, new: nn.Module) -> None:
    parent, _, child = name.rpartition(".")
    setattr(model.get_submodule(parent) if parent else model, child, new)


def prune_step(model: nn.Module, ratio: float = 0.1, groups: list[PruneGroup] | None = None,
               protect: Iterable[str] = ("classifier",)) -> dict[str, int]:
    """Remove the lowest-norm `ratio` of channels of every prune group, in place; {first producer: removed}."""
    if not 0.0 < ratio < 1.0:
        raise ValueError(f"ratio must be in (0, 1), got {ratio}")
    groups = dependency_groups(model, protect) if groups is None else list(groups)
    widths = group_widths(model, groups)
    modules = dict(model.named_modules())
    out_keep: dict[str, torch.Tensor] = {}
    in_keep: dict[str, torch.Tensor] = {}
    norm_keep: dict[str, torch.Tensor] = {}
    shortcut_keep: dict[str, tuple[torch.Tensor, torch.device]] = {}
    removed: dict[str, int] = {}
    for g, c in zip(groups, widths):                     # every norm from the unpruned weights
        k = filters_to_remove(c, ratio)
        if k == 0:
            continue
        keep = _kept(channel_norms(model, g), k)
        for role, target in (("producers", out_keep), ("consumers", in_keep), ("norms", norm_keep)):
            for name in getattr(g, role):
                target[name] = _blocked(keep, c, g.blocks_of(name))
        for name in g.shortcuts:
            shortcut_keep[name] = (keep, modules[g.producer].weight.device)
        removed[g.producer] = k
    for name in sorted(set(out_keep) | set(in_keep)):
        _replace(model, name, _rebuilt_layer(modules[name], out_keep.get(name), in_keep.get(name)))
    for name, keep in norm_keep.items():
        _replace(model, name, _rebuilt_norm(modules[name], keep))
    for name, (keep, device) in shortcut_keep.items():
        old = modules[name]
        index = keep.to(device) if type(old) is nn.Identity else old.index[keep.to(old.index.device)]
        _replace(model, name, ChannelSelect(index).train(old.training))
    return removed


def iterative_prune(model: nn.Module, train_fn: Callable[[nn.Module], nn.Module | None],
                    eval_fn: Callable[[nn.Module], float], ratio: float = 0.1, max_drops: int = 2,
                    max_rounds: int | None = None, protect: Iterable[str] = ("classifier",)) -> PruneResult:
    """Prune -> fine-tune -> evaluate until the `max_drops`-th accuracy drop; the best round's model."""
    if max_drops < 1:
        raise ValueError("max_drops must be >= 1")
    protect = tuple(protect)
    current = copy.deepcopy(model)
    best_acc = float(eval_fn(current))
    best_model, best_round = copy.deepcopy(current), 0
    history = [PruneRound(0, count_params(current), best_acc, 0, False)]
    drops = 0
    while drops < max_drops and (max_rounds is None or len(history) <= max_rounds):
        removed = sum(prune_step(current, ratio, protect=protect).values())
        if removed == 0:
            break
        tuned = train_fn(current)
        current = tuned if isinstance(tuned, nn.Module) else current
        acc = float(eval_fn(current))
        drop = acc < best_acc
        history.append(PruneRound(len(history), count_params(current), acc, removed, drop))
        if drop:
            drops += 1
        else:
            best_acc, best_model, best_round = acc, copy.deepcopy(current), history[-1].round
    return PruneResult(best_model, history, best_round)
