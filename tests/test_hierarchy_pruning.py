"""Hierarchical superclasses / loss and iterative filter pruning (workers.action), CPU only, small models."""
from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from workers.action.hierarchy import (HierarchicalHead, between_group_mass, build_levels, hierarchical_loss,
                                      refine, superclasses)
from workers.action.pruning import (PruneGroup, PruningError, count_params, dependency_groups, iterative_prune,
                                    kept_filters, prune_step)


# ---------------------------------------------------------------- models with the features/classifier interface

class ChainNet(nn.Module):
    """conv1 -> bn1 -> relu -> pool -> conv2 -> bn2 -> relu -> conv3 -> pool -> embedding -> classifier."""

    def __init__(self, num_classes: int = 5):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 10, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(10)
        self.conv2 = nn.Conv2d(10, 20, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(20)
        self.conv3 = nn.Conv2d(20, 8, 1)
        self.classifier = nn.Linear(8, num_classes)

    def features(self, x):
        x = F.max_pool2d(F.relu(self.bn1(self.conv1(x))), 2)
        x = torch.relu(self.bn2(self.conv2(x)))
        return self.conv3(x).mean(dim=(2, 3))

    def forward(self, x):
        return self.classifier(self.features(x))


class ResidualNet(nn.Module):
    """stem feeds a residual block; only the block's first conv can be pruned on its own."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 3, padding=1)
        self.block = nn.Sequential(nn.Conv2d(8, 10, 3, padding=1), nn.BatchNorm2d(10), nn.ReLU(inplace=True),
                                   nn.Conv2d(10, 8, 3, padding=1), nn.BatchNorm2d(8))
        self.head = nn.Conv2d(8, 8, 1)
        self.classifier = nn.Linear(8, 4)

    def features(self, x):
        x = self.stem(x)
        x = F.relu(x + self.block(x))
        return self.head(x).mean(dim=(2, 3))

    def forward(self, x):
        return self.classifier(self.features(x))


class MLPNet(nn.Module):
    """Hidden Linear layers; the last one feeds the classifier (the embedding width D is protected)."""

    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(6, 20)
        self.fc2 = nn.Linear(20, 10)
        self.drop = nn.Dropout(0.0)
        self.classifier = nn.Linear(10, 3)

    def features(self, x):
        return F.relu(self.fc2(self.drop(F.gelu(self.fc1(x)))))

    def forward(self, x):
        return self.classifier(self.features(x))


class EinsumNet(nn.Module):
    """A graph conv (einsum) between convs: fx cannot prove it is channel-wise, the model declares it."""

    def __init__(self, declare: bool):
        super().__init__()
        self.declare = declare
        self.register_buffer("A", torch.eye(5))
        self.conv1 = nn.Conv2d(3, 10, 1)
        self.bn = nn.BatchNorm2d(10)
        self.conv2 = nn.Conv2d(10, 6, 1)
        self.classifier = nn.Linear(6, 2)

    def features(self, x):
        x = torch.einsum("nctv,vw->nctw", self.bn(self.conv1(x)), self.A)
        return self.conv2(x).mean(dim=(2, 3))

    def forward(self, x):
        return self.classifier(self.features(x))

    def prunable_groups(self):
        if not self.declare:
            raise AttributeError
        return [("conv1", "bn", "conv2")]


class Untraceable(ChainNet):
    def forward(self, x):
        if x.sum() > 0:                                   # data-dependent control flow
            return self.classifier(self.features(x))
        return self.classifier(self.features(-x))


class ShapeCheckedNet(nn.Module):
    """The root cannot be traced (shape unpacking), its blocks can: their chains are still found."""

    def __init__(self):
        super().__init__()
        self.blocks = nn.ModuleList([nn.Sequential(nn.Conv1d(3, 10, 3, padding=1), nn.BatchNorm1d(10), nn.ReLU(),
                                                   nn.Conv1d(10, 6, 1)),
                                     nn.Sequential(nn.Conv1d(6, 10, 1), nn.ReLU(), nn.Conv1d(10, 6, 1))])
        self.classifier = nn.Linear(6, 2)

    def features(self, x):
        n, c, t = x.shape
        for block in self.blocks:
            x = block(x) + x if c == 6 else block(x)
            c = x.shape[1]
        return x.mean(dim=2)

    def forward(self, x):
        return self.classifier(self.features(x))


def _randomise_bn(model: nn.Module, seed: int = 0) -> None:
    g = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            with torch.no_grad():
                m.weight.copy_(torch.rand(m.num_features, generator=g) + 0.5)
                m.bias.copy_(torch.randn(m.num_features, generator=g) * 0.1)
                m.running_mean.copy_(torch.randn(m.num_features, generator=g) * 0.1)
                m.running_var.copy_(torch.rand(m.num_features, generator=g) + 0.5)


# ---------------------------------------------------------------- superclasses

def _block_confusion(sizes, seed=0, noise=1):
    """Confusion with heavy within-block mass and light noise, classes shuffled so blocks are not contiguous."""
    rng = np.random.default_rng(seed)
    c = sum(sizes)
    perm = rng.permutation(c)
    block = np.repeat(np.arange(len(sizes)), sizes)[np.argsort(perm)]   # block of each (shuffled) class
    n = rng.integers(0, noise + 1, size=(c, c)).astype(float)
    same = block[:, None] == block[None, :]
    n[same] += rng.integers(20, 40, size=(c, c))[same]
    np.fill_diagonal(n, 200)
    return n, block


def _same_partition(a, b) -> bool:
    return {frozenset(np.flatnonzero(a == g)) for g in np.unique(a)} == \
           {frozenset(np.flatnonzero(b == g)) for g in np.unique(b)}


def test_superclasses_recovers_blocks_and_is_balanced():
    n, block = _block_confusion([4, 4, 4], seed=1)
    groups = superclasses(n, 3, restarts=6, seed=0)
    assert _same_partition(groups, block)
    assert np.bincount(groups).tolist() == [4, 4, 4]
    assert groups[0] == 0 and set(groups.tolist()) == {0, 1, 2}     # canonical ids

    n, block = _block_confusion([5, 5, 5, 5], seed=2, noise=2)
    assert _same_partition(superclasses(n, 4, restarts=8, seed=3), block)

    rng = np.random.default_rng(0)
    sizes = np.bincount(superclasses(rng.integers(0, 9, (10, 10)), 3, seed=1))
    assert sorted(sizes.tolist()) == [3, 3, 4]


def test_swap_descent_never_worse_and_locally_optimal():
    rng = np.random.default_rng(5)
    n = rng.integers(0, 10, size=(9, 9)).astype(float)
    for trial in range(5):
        start = np.empty(9, dtype=int)
        start[rng.permutation(9)] = np.arange(9) % 3
        g = refine(n, start)
        assert between_group_mass(n, g) <= between_group_mass(n, start)
        assert sorted(np.bincount(g).tolist()) == sorted(np.bincount(start).tolist())
        # brute force: no swap of two classes in different groups lowers the objective (checks the vector gain)
        cost = between_group_mass(n, g)
        for i, j in itertools.combinations(range(9), 2):
            if g[i] != g[j]:
                s = g.copy()
                s[i], s[j] = g[j], g[i]
                assert between_group_mass(n, s) >= cost - 1e-9
    # the objective by hand on a tiny case: n_01 + n_10 + n_02 + n_20 etc. across groups
    m = np.arange(16, dtype=float).reshape(4, 4)
    g = np.array([0, 0, 1, 1])
    assert between_group_mass(m, g) == sum(m[i, j] + m[j, i] for i in (0, 1) for j in (2, 3))


def test_superclasses_deterministic_per_seed_and_best_of_restarts():
    rng = np.random.default_rng(7)
    n = rng.integers(0, 20, size=(14, 14))
    a, b = superclasses(n, 4, restarts=5, seed=11), superclasses(n, 4, restarts=5, seed=11)
    assert np.array_equal(a, b)
    one = superclasses(n, 4, restarts=1, seed=11)                        # its first start is the same
    assert between_group_mass(n, a) <= between_group_mass(n, one)
    levels = build_levels(n, [2, 4], seed=11)
    assert [sorted(np.bincount(lv).tolist()) for lv in levels] == [[7, 7], [3, 3, 4, 4]]
    assert np.array_equal(levels[1], superclasses(n, 4, restarts=8, seed=11))
    with pytest.raises(ValueError):
        superclasses(n, 15)


# ---------------------------------------------------------------- hierarchical head and loss

def test_hierarchical_head_and_loss_match_manual():
    torch.manual_seed(0)
    backbone = ChainNet(num_classes=6)
    maps = [np.array([0, 0, 0, 1, 1, 1]), np.array([0, 0, 1, 1, 2, 2])]
    head = HierarchicalHead(backbone, maps)
    x = torch.randn(4, 3, 8, 8)
    y = torch.tensor([0, 3, 5, 2])
    out = head(x)
    assert out.main.shape == (4, 6) and [a.shape for a in out.aux] == [(4, 2), (4, 3)]
    assert torch.allclose(out.main, backbone(x))
    f = backbone.features(x)
    assert torch.allclose(out.aux[1], head.aux[1](f))

    loss = hierarchical_loss(out, y, maps, [0.5, 0.25])
    manual = F.cross_entropy(out.main, y)
    for logits, m, w in zip(out.aux, maps, [0.5, 0.25]):
        groups = torch.tensor([m[int(c)] for c in y])
        p = torch.log_softmax(logits, dim=1)
        manual = manual - w * p[torch.arange(4), groups].mean()
    assert torch.allclose(loss, manual, atol=1e-6)
    assert torch.allclose(hierarchical_loss(out, y, head.group_maps, [0.5, 0.25]), loss)
    loss.backward()
    assert head.aux[0].weight.grad is not None and backbone.conv1.weight.grad is not None


# ---------------------------------------------------------------- pruning

def test_dependency_analysis_skips_coupled_layers():
    assert dependency_groups(ChainNet()) == [PruneGroup("conv1", "bn1", "conv2"), PruneGroup("conv2", "bn2", "conv3")]
    # stem feeds the residual add and the block; block.3 feeds the add; head feeds the embedding mean
    assert dependency_groups(ResidualNet()) == [PruneGroup("block.0", "block.1", "block.3")]
    # fc2 feeds the classifier: the embedding width is protected unless asked otherwise
    assert dependency_groups(MLPNet()) == [PruneGroup("fc1", None, "fc2")]
    assert PruneGroup("fc2", None, "classifier") in dependency_groups(MLPNet(), protect=())
    # through a hierarchical wrapper, the same chains are found under their qualified names
    wrapped = HierarchicalHead(ChainNet(), [np.array([0, 0, 1, 1, 1])])
    assert [g.producer for g in dependency_groups(wrapped)] == ["backbone.conv1", "backbone.conv2"]
    assert dependency_groups(EinsumNet(declare=True)) == [PruneGroup("conv1", "bn", "conv2")]
    with pytest.raises(PruningError):                     # nothing traceable below the root either
        dependency_groups(Untraceable())
    shaped = ShapeCheckedNet().eval()
    assert dependency_groups(shaped) == [PruneGroup("blocks.0.0", "blocks.0.1", "blocks.0.3"),
                                         PruneGroup("blocks.1.0", None, "blocks.1.2")]
    x = torch.randn(2, 3, 7)
    assert prune_step(shaped, 0.1) == {"blocks.0.0": 1, "blocks.1.0": 1}
    assert shaped(x).shape == (2, 2) and shaped.blocks[1][0].out_channels == 9


def test_prune_removes_lowest_norm_filters_and_inherits_weights():
    torch.manual_seed(0)
    model = ChainNet()
    _randomise_bn(model)
    norms1 = torch.tensor([5., 1., 7., 3., 9., 2., 8., 4., 6., 10.])      # conv1: remove indices 1 (1.0)
    norms2 = torch.arange(20, 0, -1).float()                               # conv2: remove 19, 18 (1.0, 2.0)
    with torch.no_grad():
        for conv, norms in ((model.conv1, norms1), (model.conv2, norms2)):
            w = torch.randn_like(conv.weight)
            conv.weight.copy_(w / w.flatten(1).norm(dim=1).view(-1, 1, 1, 1) * norms.view(-1, 1, 1, 1))
    assert kept_filters(model.conv1.weight, 1).tolist() == [0, 2, 3, 4, 5, 6, 7, 8, 9]
    before = {k: v.clone() for k, v in model.state_dict().items()}
    p0 = count_params(model)

    removed = prune_step(model, ratio=0.1)
    assert removed == {"conv1": 1, "conv2": 2}
    keep1 = torch.tensor([0, 2, 3, 4, 5, 6, 7, 8, 9])
    keep2 = torch.arange(18)
    assert (model.conv1.out_channels, model.bn1.num_features, model.conv2.in_channels) == (9, 9, 9)
    assert (model.conv2.out_channels, model.bn2.num_features, model.conv3.in_channels) == (18, 18, 18)
    assert torch.equal(model.conv1.weight, before["conv1.weight"][keep1])
    assert torch.equal(model.conv1.bias, before["conv1.bias"][keep1])
    assert torch.equal(model.conv2.weight, before["conv2.weight"][keep2][:, keep1])
    assert model.conv2.bias is None
    for key in ("weight", "bias", "running_mean", "running_var"):
        assert torch.equal(getattr(model.bn1, key), before[f"bn1.{key}"][keep1])
        assert torch.equal(getattr(model.bn2, key), before[f"bn2.{key}"][keep2])
    assert torch.equal(model.conv3.weight, before["conv3.weight"][:, keep2])
    # parameter count: conv1 loses 1 filter (27 + 1), bn1 2, conv2 2 filters (10*9 each) and 1 input column
    # of the 18 kept (18*9), bn2 2*2, conv3 2 input columns (8 each)
    expected = 28 + 2 + (2 * 90 + 18 * 9) + 4 + 16
    assert p0 - count_params(model) == expected
    assert model(torch.randn(2, 3, 8, 8)).shape == (2, 5)


def test_pruned_model_equals_original_when_pruned_filters_are_zero():
    torch.manual_seed(1)
    model = ChainNet()
    _randomise_bn(model)
    with torch.no_grad():
        for conv, bn, idx in ((model.conv1, model.bn1, [3]), (model.conv2, model.bn2, [0, 7])):
            conv.weight[idx] = 0.0
            if conv.bias is not None:
                conv.bias[idx] = 0.0
            bn.bias[idx] = 0.0
            bn.running_mean[idx] = 0.0
    model.eval()
    x = torch.randn(3, 3, 8, 8)
    ref = model(x)
    params = count_params(model)
    prune_step(model, ratio=0.1)
    assert model.conv1.out_channels == 9 and model.conv2.out_channels == 18
    assert not model.training and not model.conv1.training
    assert torch.allclose(model(x), ref, atol=1e-5)
    assert count_params(model) < params

    torch.manual_seed(2)                                  # residual block and an MLP, same check
    res = ResidualNet()
    _randomise_bn(res)
    with torch.no_grad():
        res.block[0].weight[4] = 0.0
        res.block[0].bias[4] = 0.0
        res.block[1].bias[4] = 0.0
        res.block[1].running_mean[4] = 0.0
    res.eval()
    ref = res(x)
    assert prune_step(res, 0.1) == {"block.0": 1}
    assert res.block[0].out_channels == 9 and res.stem.out_channels == 8
    assert torch.allclose(res(x), ref, atol=1e-5)

    mlp = MLPNet().eval()
    with torch.no_grad():
        mlp.fc1.weight[[2, 11]] = 0.0
        mlp.fc1.bias[[2, 11]] = 0.0
    v = torch.randn(5, 6)
    ref = mlp(v)
    assert prune_step(mlp, 0.1) == {"fc1": 2}
    assert (mlp.fc1.out_features, mlp.fc2.in_features, mlp.classifier.in_features) == (18, 18, 10)
    assert torch.allclose(mlp(v), ref, atol=1e-6)


def test_declared_groups_prune_through_einsum():
    model = EinsumNet(declare=True).eval()
    x = torch.randn(2, 3, 4, 5)
    prune_step(model, 0.2)
    assert (model.conv1.out_channels, model.bn.num_features, model.conv2.in_channels) == (8, 8, 8)
    assert model(x).shape == (2, 2)


def test_iterative_prune_stops_after_two_drops_and_returns_best():
    torch.manual_seed(0)
    model = ChainNet()
    scripted = iter([0.70, 0.72, 0.71, 0.75, 0.75, 0.74, 0.99])   # drops at rounds 2 and 5; 0.99 never reached
    trained = []

    def train_fn(m):
        trained.append(count_params(m))
        m(torch.randn(2, 3, 8, 8)).pow(2).mean().backward()     # one plain SGD step on the rebuilt layers
        with torch.no_grad():
            for p in m.parameters():
                p -= 0.01 * p.grad

    def eval_fn(m):
        return next(scripted)

    p0 = count_params(model)
    result = iterative_prune(model, train_fn, eval_fn, ratio=0.1, max_drops=2)
    accs = [r.accuracy for r in result.history]
    assert accs == [0.70, 0.72, 0.71, 0.75, 0.75, 0.74]
    assert [r.drop for r in result.history] == [False, False, True, False, False, True]
    assert len(trained) == 5 and count_params(model) == p0          # the caller's model is untouched
    params = [r.params for r in result.history]
    assert params[0] == p0 and all(a > b for a, b in zip(params, params[1:]))
    assert result.best_round == 4                                     # tie with round 3: the smaller model
    assert count_params(result.model) == params[4]
    assert result.model(torch.randn(1, 3, 8, 8)).shape == (1, 5)

    # consecutive or not, the second drop ends the run; max_rounds caps it
    scripted = iter([0.5, 0.4, 0.3])
    result = iterative_prune(ChainNet(), lambda m: None, lambda m: next(scripted))
    assert [r.round for r in result.history] == [0, 1, 2] and result.best_round == 0
    scripted = iter([0.5, 0.6, 0.7])
    assert len(iterative_prune(ChainNet(), lambda m: None, lambda m: next(scripted), max_rounds=2).history) == 3
