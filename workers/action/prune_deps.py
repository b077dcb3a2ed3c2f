"""Prune groups: which channels of a model depend on which, from declarations or a `torch.fx` dependency
analysis (PyTorch; no Dask). Cutting the layers is `workers.action.prune_surgery`.

Contract
--------
* A *prune group* (`PruneGroup`) is a set of C coupled channels, pruned together on the same indices:
    - `producers`: Conv1d/2d/3d (groups=1) or nn.Linear layers whose output filters are these channels (e.g. the
      per-head convs whose outputs are summed, plus a residual / down-sampling conv added to them);
    - `norms`: BatchNorm1d/2d/3d over the channels;
    - `consumers`: Conv (groups=1) / Linear layers whose input channels are these channels;
    - `shortcuts`: identity paths whose (unpruned) input is added to the channels: an `nn.Identity`, or the
      `ChannelSelect` an earlier round left there; each becomes a `ChannelSelect` of the kept channels.
  Any member can be *blocked*: declared as `(name, K)`, its channel dimension is K blocks of the C channels
  (index k * C + c, i.e. viewed as (K, C), e.g. ST-GCN's 1x1 conv to K * C channels before the sum over K
  adjacency subsets), and pruning channel c removes it from every block; a plain name means K = 1. The
  *filter norm* of channel c is the L2 norm of all the producers' filters for c, over every block, jointly.
  A group needs at least one producer; its width C is the first producer's outputs / K, and every member must
  match it (shapes and types are checked, raising `PruningError`); a layer is a producer, a consumer, a norm or
  a shortcut of at most one group, is never two members of one group, and is registered under one name only.
  `PruneGroup("conv1", "bn1", "conv2")` is the plain chain (producer, norm or None, consumer).
  Groups come from, in this order:
    1. `model.prunable_groups()` if the model defines it (and does not return None): a list of `PruneGroup`s,
       of mappings with those keyword arguments, or of (producers, norms, consumers[, shortcuts]) tuples, each
       a name, a `(name, K)` pair, a list of those, or None; names qualified within the model. The model
       vouches for the dataflow. A declared group with a protected consumer (see 2.) is left out.
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
    forward. A submodule with its own `prunable_groups()` (e.g. an ST-GCN inside a hierarchical head) is not
    traced into: its declared groups are used, under its qualified name. A model with no traceable module
    and no declared groups raises `PruningError`.
* `dependency_groups(model, protect)` -> the model's groups (declared or found as above), checked;
  `group_widths(model, groups)` -> the width C of each group after the same checks.
* `ChannelSelect(index)`: the layer a pruned identity shortcut becomes (`x[:, index]`); a later round's groups
  may name it as a shortcut.
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from numbers import Integral

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


_ROLES = ("producers", "norms", "consumers", "shortcuts")


def _entries(value, role: str) -> list[tuple[str, int]]:
    """A role's members as (name, K): from None, a name, a (name, K) pair, or a sequence of those."""
    if value is None:
        return []
    if isinstance(value, str) or (isinstance(value, tuple) and len(value) == 2 and isinstance(value[0], str)
                                  and not isinstance(value[1], str)):
        value = [value]
    out = []
    for item in value:
        name, k = (item, 1) if isinstance(item, str) else tuple(item) if len(item) == 2 else (None, 0)
        if not isinstance(name, str) or isinstance(k, bool) or not isinstance(k, Integral) or k < 1:
            raise ValueError(f"{role}: {item!r} is not a module name or a (name, blocks >= 1) pair")
        out.append((name, int(k)))
    return out


@dataclass(frozen=True, init=False)
class PruneGroup:
    """Coupled channels pruned on the same indices (see the module docstring).

    `PruneGroup(producers, norms=(), consumers=(), shortcuts=())`; each argument a name, a `(name, K)` pair
    (the member's channel dimension is K blocks of the group's channels) or a sequence of those, or None.
    """
    producers: tuple[str, ...]            # Conv / Linear layers whose output filters are the group's channels
    norms: tuple[str, ...]                # BatchNorms over the channels
    consumers: tuple[str, ...]            # Conv / Linear layers whose input channels are the group's channels
    shortcuts: tuple[str, ...]            # nn.Identity / ChannelSelect added to the channels
    blocks: tuple[tuple[str, int], ...]   # (member, K) for members laid out as K blocks of the channels (K > 1)

    def __init__(self, producers, norms=None, consumers=None, shortcuts=None):
        roles = {r: _entries(v, r) for r, v in zip(_ROLES, (producers, norms, consumers, shortcuts))}
        if not roles["producers"]:
            raise ValueError("a prune group needs at least one producer")
        names = [n for entries in roles.values() for n, _ in entries]
        if len(set(names)) != len(names):
            raise ValueError(f"a module appears twice in one prune group: {names}")
        for r, entries in roles.items():
            object.__setattr__(self, r, tuple(n for n, _ in entries))
        object.__setattr__(self, "blocks", tuple((n, k) for es in roles.values() for n, k in es if k > 1))

    @property
    def producer(self) -> str:
        """The first producer: the group's name in `prune_step`'s result."""
        return self.producers[0]

    @property
    def members(self) -> tuple[str, ...]:
        return self.producers + self.norms + self.consumers + self.shortcuts

    def blocks_of(self, name: str) -> int:
        """K of a member: its channel dimension holds K blocks of the group's channels."""
        return dict(self.blocks).get(name, 1)

    def renamed(self, rename: Callable[[str], str]) -> PruneGroup:
        """The same group with every member name mapped by `rename` (e.g. qualified with a prefix)."""
        def role(names):
            return [(rename(n), self.blocks_of(n)) for n in names]
        return PruneGroup(role(self.producers), role(self.norms), role(self.consumers), role(self.shortcuts))


class ChannelSelect(nn.Module):
    """x[:, index]: an identity shortcut once the channels it is added to have been pruned."""

    def __init__(self, index: torch.Tensor):
        super().__init__()
        self.register_buffer("index", torch.as_tensor(index, dtype=torch.long).clone())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.index_select(1, self.index)

    def extra_repr(self) -> str:
        return f"channels={self.index.numel()}"


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
        if group is None or id(modules[group.consumers[0]]) in protected:
            continue
        if all(names_per_module[id(modules[n])] == 1 for n in group.members):
            groups.append(group.renamed(lambda n: f"{prefix}.{n}" if prefix else n))
    return groups


def _as_group(entry) -> PruneGroup:
    """One `prunable_groups()` entry: a PruneGroup, a mapping of its arguments, or a tuple of them."""
    try:
        if isinstance(entry, PruneGroup):
            return entry
        if isinstance(entry, Mapping):
            return PruneGroup(**entry)
        if isinstance(entry, (tuple, list)) and len(entry) in (3, 4):
            return PruneGroup(*entry)
    except (TypeError, ValueError) as exc:
        raise PruningError(f"prunable_groups(): bad entry {entry!r}: {exc}") from exc
    raise PruningError(f"prunable_groups(): bad entry {entry!r} (want a PruneGroup, a mapping or a "
                       "(producers, norms, consumers[, shortcuts]) tuple)")


class _DeclaredLeafTracer(fx.Tracer):
    """fx tracer that does not trace into submodules declaring their own groups."""

    def __init__(self, declared: Callable[[nn.Module], list[PruneGroup] | None]):
        super().__init__()
        self._declared = declared

    def is_leaf_module(self, m: nn.Module, module_qualified_name: str) -> bool:
        return self._declared(m) is not None or super().is_leaf_module(m, module_qualified_name)


def _find_groups(model: nn.Module, protect: Iterable[str]) -> list[PruneGroup]:
    """Declared groups of the model or its submodules, fx analysis of the rest (see the module docstring)."""
    names_per_module = Counter(id(m) for _, m in model.named_modules(remove_duplicate=False))
    protected = {id(getattr(model, a)) for a in protect if isinstance(getattr(model, a, None), nn.Module)}
    named = dict(model.named_modules())
    cache: dict[int, list[PruneGroup] | None] = {}

    def declared(module: nn.Module) -> list[PruneGroup] | None:
        if id(module) not in cache:
            fn = getattr(module, "prunable_groups", None)
            entries = fn() if callable(fn) else None
            cache[id(module)] = None if entries is None else [_as_group(e) for e in entries]
        return cache[id(module)]

    tracer = _DeclaredLeafTracer(declared)
    leaf = fx.Tracer().is_leaf_module
    groups: list[PruneGroup] = []
    failures: list[str] = []
    visited: set[int] = set()

    def visit(prefix: str, module: nn.Module) -> bool:
        if id(module) in visited:
            return True
        visited.add(id(module))
        own = declared(module)
        if own is not None:
            for g in own:
                g = g.renamed(lambda n: f"{prefix}.{n}" if prefix else n)
                if not any(id(named.get(n)) in protected for n in g.consumers):
                    groups.append(g)
            return True
        if leaf(module, prefix) and not isinstance(module, (nn.ModuleList, nn.ModuleDict)):
            return False
        try:
            graph = tracer.trace(module)
        except Exception as exc:  # fx raises many kinds (TraceError, TypeError, NotImplementedError...)
            failures.append(f"{prefix or type(module).__name__}: {exc}")
            traced = [visit(f"{prefix}.{n}" if prefix else n, c) for n, c in module.named_children()]
            return any(traced)
        groups.extend(_graph_groups(graph, module, prefix, names_per_module, protected))
        for node in graph.nodes:                         # declaring submodules were kept as leaves
            if node.op == "call_module":
                sub = module.get_submodule(node.target)
                if declared(sub) is not None:
                    visit(f"{prefix}.{node.target}" if prefix else node.target, sub)
        return True

    if not visit("", model):
        raise PruningError(f"{type(model).__name__} has no torch.fx-traceable module ({failures[0]}); "
                           "declare its groups with a prunable_groups() method")
    return groups


_NORMS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)


def group_widths(model: nn.Module, groups: Iterable[PruneGroup]) -> list[int]:
    """The channel count C of every group, after checking that the groups are consistent with the model."""
    every = dict(model.named_modules(remove_duplicate=False))
    names_per_module = Counter(id(m) for m in every.values())
    widths, seen = [], {r: {} for r in _ROLES}
    for i, g in enumerate(groups):
        missing = [n for n in g.members if n not in every]
        if missing:
            raise PruningError(f"prune group {g.producer}: no modules named {missing}")
        shared = [n for n in g.members if names_per_module[id(every[n])] > 1]
        if shared:
            raise PruningError(f"prune group {g.producer}: {shared} registered under several names")
        first, k0 = every[g.producer], g.blocks_of(g.producer)
        if not _is_producer(first) or _out_size(first) % k0:
            raise PruningError(f"prune group {g.producer}: the first producer is not a Conv (groups=1) / Linear "
                               f"with outputs divisible by its {k0} blocks")
        c = _out_size(first) // k0

        def check(name: str, ok: bool, what: str) -> None:
            if not ok:
                raise PruningError(f"prune group {g.producer}: {name} ({type(every[name]).__name__}) is not {what}"
                                   f" over {g.blocks_of(name)} x {c} channels")

        for n in g.producers:
            m = every[n]
            check(n, _is_producer(m) and _out_size(m) == g.blocks_of(n) * c, "a Conv (groups=1) / Linear producer")
        for n in g.norms:
            m = every[n]
            check(n, type(m) in _NORMS and m.num_features == g.blocks_of(n) * c, "a BatchNorm")
        for n in g.consumers:
            m = every[n]
            check(n, _is_producer(m) and _in_size(m) == g.blocks_of(n) * c, "a Conv (groups=1) / Linear consumer")
        for n in g.shortcuts:
            m = every[n]
            check(n, g.blocks_of(n) == 1 and (type(m) is nn.Identity or (
                type(m) is ChannelSelect and m.index.numel() == c)), "an nn.Identity / ChannelSelect shortcut")
        for role in _ROLES:
            for n in getattr(g, role):
                other = seen[role].setdefault(id(every[n]), i)
                if other != i:
                    raise PruningError(f"{n} is one of the {role} of two prune groups ({groups[other].producer}, "
                                       f"{g.producer})")
        widths.append(c)
    return widths


def dependency_groups(model: nn.Module, protect: Iterable[str] = ("classifier",)) -> list[PruneGroup]:
    """The prune groups of `model`: declared by `prunable_groups()` methods, elsewhere found by fx analysis."""
    groups = _find_groups(model, tuple(protect))
    group_widths(model, groups)
    return groups
