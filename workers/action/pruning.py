"""Iterative filter pruning with inherited weights, for any model (PyTorch; no Dask).

Contract
--------
* A *prune group* is (producer, norm, consumer): a Conv1d/2d/3d (groups=1) or a hidden nn.Linear whose
  output filters are pruned, the BatchNorm over those channels (or None), and the next Conv / Linear whose
  input channels follow. Groups come from, in this order:
    1. `model.prunable_groups()` if the model defines it: an explicit list of (producer, norm|None, consumer)
       qualified module names. The model vouches for the dataflow; shapes and types are checked here.
    2. otherwise a dependency analysis on the `torch.fx` symbolic trace of `model.forward`. A producer is
       pruned only when its output reaches exactly one consumer of the same family (conv -> conv of the same
       dimensionality, Linear -> Linear) along a *single-use chain* of channel-preserving ops: elementwise
       activations / dropout, at most one BatchNorm of the matching kind, and (conv chains only) channel-wise
       pooling / channel dropout. Every other use is coupled and the producer is *skipped*: an output used
       twice (residual branches, concatenation, returned tensors), reaching an add / cat / mul / einsum /
       view / flatten / mean, a grouped or depthwise conv, a module called more than once or registered
       under two names, a subclass of these layers, or a layer whose input is the embedding of the model's
       `classifier` (the names in `protect`), so `features(x)` keeps its width D.
    Where a module cannot be traced (data- or shape-dependent Python, e.g. `N, C, T, V = x.shape`), each of
    its children is analysed on its own, recursively, so the chains inside traceable blocks (e.g. ResNet
    bottlenecks) are still found; this assumes a block's layers are only called through the block's own
    forward. A model with no traceable module and no declared groups raises `PruningError`.
* `prune_step(model, ratio)`: in place, for every group removes the floor(ratio * C_out) output filters (at
  least 1, always keeping 1) with the lowest L2 weight norm (ties: lower index first), all norms taken
  before any surgery. Layers are physically rebuilt smaller with the kept slices of weight, bias and BN
  affine / running statistics copied (inherited weights); the consumer keeps its kept input columns.
  Returns {producer: filters removed}. Rebuilt layers keep device, dtype, requires_grad and train/eval
  mode; forward hooks on them and optimizer state are not carried (build the optimizer in train_fn).
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
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import fx, nn

_CONVS = (nn.Conv1d, nn.Conv2d, nn.Conv3d)
_NORM_FOR = {nn.Conv1d: nn.BatchNorm1d, nn.Conv2d: nn.BatchNorm2d, nn.Conv3d: nn.BatchNorm3d}

# channel-preserving ops that act on each element independently (safe after a Linear or a conv)
_ELEMENTWISE_MODULES = (nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.ELU, nn.SELU, nn.CELU, nn.GELU, nn.SiLU, nn.Mish,
                        nn.Sigmoid, nn.Tanh, nn.Hardswish, nn.Hardsigmoid, nn.Hardtanh, nn.Softplus,
                        nn.Identity, nn.Dropout, nn.AlphaDropout)
# per-channel ops on (N, C, ...) tensors (safe between convs only)
_CHANNEL_MODULES = (nn.Dropout1d, nn.Dropout2d, nn.Dropout3d, nn.MaxPool1d, nn.MaxPool2d, nn.MaxPool3d,
                    nn.AvgPool1d, nn.AvgPool2d, nn.AvgPool3d, nn.AdaptiveAvgPool1d, nn.AdaptiveAvgPool2d,
                    nn.AdaptiveAvgPool3d, nn.AdaptiveMaxPool1d, nn.AdaptiveMaxPool2d, nn.AdaptiveMaxPool3d)
_ELEMENTWISE_FUNCTIONS = {F.relu, F.relu_, torch.relu, torch.relu_, F.relu6, F.leaky_relu, F.elu, F.selu, F.celu,
                          F.gelu, F.silu, F.mish, torch.sigmoid, F.sigmoid, torch.tanh, F.tanh, F.hardswish,
                          F.hardsigmoid, F.hardtanh, F.softplus, F.dropout, F.alpha_dropout}
_MAX_POOL_FUNCTIONS = {F.max_pool1d, F.max_pool2d, F.max_pool3d, F.adaptive_max_pool1d, F.adaptive_max_pool2d,
                       F.adaptive_max_pool3d}
_CHANNEL_FUNCTIONS = _MAX_POOL_FUNCTIONS | {F.avg_pool1d, F.avg_pool2d, F.avg_pool3d, F.adaptive_avg_pool1d,
                                            F.adaptive_avg_pool2d, F.adaptive_avg_pool3d, F.dropout1d,
                                            F.dropout2d, F.dropout3d}
_ELEMENTWISE_METHODS = {"relu", "relu_", "sigmoid", "sigmoid_", "tanh", "tanh_", "contiguous", "clone"}


class PruningError(RuntimeError):
    """The model's structure cannot be analysed (not fx-traceable, or inconsistent declared groups)."""


@dataclass(frozen=True)
class PruneGroup:
    producer: str          # Conv / Linear whose output filters are pruned
    norm: str | None       # BatchNorm over the producer's channels
    consumer: str          # next Conv / Linear whose input channels follow


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


def _out_size(m: nn.Module) -> int:
    return m.out_features if isinstance(m, nn.Linear) else m.out_channels


def _in_size(m: nn.Module) -> int:
    return m.in_features if isinstance(m, nn.Linear) else m.in_channels


def _is_producer(m: nn.Module) -> bool:
    return type(m) is nn.Linear or (type(m) in _CONVS and m.groups == 1)


def _is_consumer_for(m: nn.Module, producer: nn.Module) -> bool:
    if type(m) is not type(producer) or _in_size(m) != _out_size(producer):
        return False
    return type(m) is nn.Linear or m.groups == 1


def _passes_through(node: fx.Node, modules: dict[str, nn.Module], conv_chain: bool) -> bool:
    """An op that maps channel c of its only tensor input to channel c of its output."""
    if node.op == "call_module":
        m = modules[node.target]
        if type(m) is nn.PReLU:
            return m.num_parameters == 1
        if isinstance(m, _ELEMENTWISE_MODULES):
            return True
        return conv_chain and isinstance(m, _CHANNEL_MODULES) and not getattr(m, "return_indices", False)
    if node.op == "call_function":
        if node.target in _ELEMENTWISE_FUNCTIONS:
            return True
        if not conv_chain or node.target not in _CHANNEL_FUNCTIONS:
            return False
        # max pools may return (values, indices): only the plain form, with no positional flags
        return node.target not in _MAX_POOL_FUNCTIONS or (
            not node.kwargs.get("return_indices", False) and not any(a is True for a in node.args[1:]))
    return node.op == "call_method" and node.target in _ELEMENTWISE_METHODS


def _follow(node: fx.Node, modules: dict[str, nn.Module], calls: Counter) -> PruneGroup | None:
    """Walk the single-use chain after a producer node to its consumer; None if the output is coupled."""
    producer = modules[node.target]
    conv_chain = type(producer) in _CONVS
    norm_type = _NORM_FOR.get(type(producer))
    norm, cur = None, node
    while True:
        users = list(cur.users)
        if len(users) != 1:
            return None
        nxt = users[0]
        if nxt.all_input_nodes != [cur] or not nxt.args or nxt.args[0] is not cur:
            return None
        if nxt.op == "call_module":
            if calls[nxt.target] != 1:
                return None
            m = modules[nxt.target]
            if _is_consumer_for(m, producer):
                return PruneGroup(node.target, norm, nxt.target)
            if norm is None and norm_type is not None and type(m) is norm_type \
                    and m.num_features == _out_size(producer):
                norm, cur = nxt.target, nxt
                continue
        if not _passes_through(nxt, modules, conv_chain):
            return None
        cur = nxt


def _graph_groups(graph: fx.Graph, root: nn.Module, prefix: str, names_per_module: Counter,
                  protected: set[int]) -> list[PruneGroup]:
    """Prune groups inside one traced module (names qualified with `prefix`)."""
    modules = dict(root.named_modules())
    calls = Counter(n.target for n in graph.nodes if n.op == "call_module")
    groups = []
    for node in graph.nodes:
        if node.op != "call_module" or calls[node.target] != 1 or not _is_producer(modules[node.target]):
            continue
        group = _follow(node, modules, calls)
        if group is None or id(modules[group.consumer]) in protected:
            continue
        local = [group.producer, group.consumer] + ([group.norm] if group.norm else [])
        if all(names_per_module[id(modules[n])] == 1 for n in local):
            q = (lambda n: f"{prefix}.{n}" if prefix and n else n)
            groups.append(PruneGroup(q(group.producer), q(group.norm), q(group.consumer)))
    return groups


def _traced_groups(model: nn.Module, protect: Iterable[str]) -> list[PruneGroup]:
    """fx analysis of the model, or, where a module cannot be traced, of each of its children separately."""
    names_per_module = Counter(id(m) for _, m in model.named_modules(remove_duplicate=False))
    protected = {id(getattr(model, a)) for a in protect if isinstance(getattr(model, a, None), nn.Module)}
    leaf = fx.Tracer().is_leaf_module
    groups: list[PruneGroup] = []
    failures: list[str] = []

    def visit(prefix: str, module: nn.Module) -> bool:
        if leaf(module, prefix) and not isinstance(module, (nn.ModuleList, nn.ModuleDict)):
            return False
        try:
            graph = fx.symbolic_trace(module).graph
        except Exception as exc:  # fx raises many kinds (TraceError, TypeError, NotImplementedError...)
            failures.append(f"{prefix or type(module).__name__}: {exc}")
            traced = [visit(f"{prefix}.{n}" if prefix else n, c) for n, c in module.named_children()]
            return any(traced)
        groups.extend(_graph_groups(graph, module, prefix, names_per_module, protected))
        return True

    if not visit("", model):
        raise PruningError(f"{type(model).__name__} has no torch.fx-traceable module ({failures[0]}); "
                           "declare its groups with a prunable_groups() method")
    return groups


def _declared_groups(model: nn.Module) -> list[PruneGroup]:
    modules = dict(model.named_modules())
    groups = []
    for entry in model.prunable_groups():
        producer, norm, consumer = entry
        missing = [n for n in (producer, norm, consumer) if n is not None and n not in modules]
        if missing:
            raise PruningError(f"prunable_groups(): no modules named {missing}")
        p, c = modules[producer], modules[consumer]
        if not _is_producer(p) or not _is_consumer_for(c, p):
            raise PruningError(f"prunable_groups(): {producer} -> {consumer} is not a conv->conv (groups=1) or "
                               "Linear->Linear pair of matching width")
        if norm is not None and (type(modules[norm]) is not _NORM_FOR.get(type(p))
                                 or modules[norm].num_features != _out_size(p)):
            raise PruningError(f"prunable_groups(): {norm} is not a BatchNorm over {producer}'s channels")
        groups.append(PruneGroup(producer, norm, consumer))
    for role in ("producer", "consumer"):
        seen = Counter(getattr(g, role) for g in groups)
        if any(v > 1 for v in seen.values()):
            raise PruningError(f"prunable_groups(): a {role} appears in more than one group")
    return groups


def dependency_groups(model: nn.Module, protect: Iterable[str] = ("classifier",)) -> list[PruneGroup]:
    """The prune groups of `model`: declared by `model.prunable_groups()`, else found by fx analysis."""
    if callable(getattr(model, "prunable_groups", None)):
        return _declared_groups(model)
    return _traced_groups(model, protect)


def filters_to_remove(n_out: int, ratio: float) -> int:
    """floor(ratio * n_out), at least 1, never all: how many filters one round removes."""
    if n_out <= 1:
        return 0
    return min(n_out - 1, max(1, math.floor(ratio * n_out + 1e-9)))


def kept_filters(weight: torch.Tensor, n_remove: int) -> torch.Tensor:
    """Indices (ascending) of the output filters kept after dropping the `n_remove` lowest-L2-norm ones."""
    norms = weight.detach().flatten(1).norm(dim=1)
    order = torch.argsort(norms, stable=True)            # ties: lower index removed first
    keep = torch.ones(norms.numel(), dtype=torch.bool, device=norms.device)
    keep[order[:n_remove]] = False
    return keep.nonzero().flatten()


def _rebuilt_layer(m: nn.Module, out_idx: torch.Tensor | None, in_idx: torch.Tensor | None) -> nn.Module:
    w = m.weight.detach()
    w = w if out_idx is None else w.index_select(0, out_idx)
    w = w if in_idx is None else w.index_select(1, in_idx)
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
    """Remove the lowest-norm `ratio` of output filters of every prune group, in place; {producer: removed}."""
    if not 0.0 < ratio < 1.0:
        raise ValueError(f"ratio must be in (0, 1), got {ratio}")
    groups = dependency_groups(model, protect) if groups is None else groups
    modules = dict(model.named_modules())
    out_keep: dict[str, torch.Tensor] = {}
    in_keep: dict[str, torch.Tensor] = {}
    norm_keep: dict[str, torch.Tensor] = {}
    removed: dict[str, int] = {}
    for g in groups:                                     # every norm from the unpruned weights
        producer = modules[g.producer]
        k = filters_to_remove(_out_size(producer), ratio)
        if k == 0:
            continue
        keep = kept_filters(producer.weight, k)
        out_keep[g.producer] = in_keep[g.consumer] = keep
        if g.norm is not None:
            norm_keep[g.norm] = keep
        removed[g.producer] = k
    for name in sorted(set(out_keep) | set(in_keep)):
        _replace(model, name, _rebuilt_layer(modules[name], out_keep.get(name), in_keep.get(name)))
    for name, keep in norm_keep.items():
        _replace(model, name, _rebuilt_norm(modules[name], keep))
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
