"""Layer surgery and iterative pruning (workers.action.prune_surgery): which filters go, inherited weights,
coupled groups, shortcuts, ST-GCN / UNIK rounds, CPU only, small models."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from schemas.layouts import get_layout
from tests.prune_models import ChainNet, FeatureNet, MLPNet, ResidualNet, ShortcutNet, make_gcn
from workers.action.prune_deps import ChannelSelect, PruneGroup, dependency_groups
from workers.action.prune_surgery import (channel_norms, count_params, filters_to_remove, iterative_prune,
                                          kept_filters, prune_step)
from workers.action.stgcn import STGCN, WIDTHS
from workers.action.unik import UNIK

pytestmark = pytest.mark.usefixtures("one_torch_thread")


# ---------------------------------------------------------------- models and helpers only the surgery tests use

class CoupledNet(FeatureNet):
    """Coupled channels as in the GCNs: a conv to K*C channels summed over K subsets (einsum), plus a head conv
    and a down conv added to it (one BN each), read by two consumers. Only a declared group can prune it."""

    def __init__(self, K: int = 3, C: int = 6):
        super().__init__()
        self.K = K
        self.register_buffer("A", torch.rand(K, 5, 5, generator=torch.Generator().manual_seed(0)))
        self.gc = nn.Conv2d(3, K * C, 1)
        self.head = nn.Conv2d(3, C, 1)
        self.bn = nn.BatchNorm2d(C)
        self.down = nn.Conv2d(3, C, 1)
        self.down_bn = nn.BatchNorm2d(C)
        self.t1 = nn.Conv2d(C, 4, (3, 1), padding=(1, 0))
        self.t2 = nn.Conv2d(C, 4, 1)
        self.classifier = nn.Linear(4, 2)

    def hidden(self, x):
        N, _, T, V = x.shape
        g = torch.einsum("nkctv,kvw->nctw", self.gc(x).view(N, self.K, -1, T, V), self.A)
        return torch.relu(self.bn(g + self.head(x)) + self.down_bn(self.down(x)))

    def features(self, x):
        y = self.hidden(x)
        return (self.t1(y) + self.t2(y)).mean(dim=(2, 3))

    def prunable_groups(self):
        return [PruneGroup([("gc", self.K), "head", "down"], ["bn", "down_bn"], ["t1", "t2"])]


class WrappedShortcut(nn.Module):
    """A traceable model around a declaring submodule: traced around it, its own groups used inside it."""

    def __init__(self):
        super().__init__()
        self.pre = nn.Conv1d(3, 6, 1)
        self.pre_bn = nn.BatchNorm1d(6)
        self.body = ShortcutNet()
        self.a = nn.Linear(2, 8)
        self.b = nn.Linear(8, 2)

    def forward(self, x):
        return self.b(F.relu(self.a(self.body(F.relu(self.pre_bn(self.pre(x)))))))


def _randomise_bn(model: nn.Module, seed: int = 0) -> None:
    g = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            with torch.no_grad():
                m.weight.copy_(torch.rand(m.num_features, generator=g) + 0.5)
                m.bias.copy_(torch.randn(m.num_features, generator=g) * 0.1)
                m.running_mean.copy_(torch.randn(m.num_features, generator=g) * 0.1)
                m.running_var.copy_(torch.rand(m.num_features, generator=g) + 0.5)


def _silence(conv: nn.Module, bn: nn.Module, idx, rows=None) -> None:
    """Zero output channels `idx` of conv (its weight/bias `rows`, default idx) and of the BatchNorm after it, so
    they contribute exactly nothing: pruning them must leave the model's output unchanged."""
    rows = idx if rows is None else rows
    conv.weight[rows] = 0.0
    if conv.bias is not None:
        conv.bias[rows] = 0.0
    bn.bias[idx] = 0.0
    bn.running_mean[idx] = 0.0


def _set_filter_norms(weight: torch.Tensor, sq_norms, gen: torch.Generator) -> None:
    """Random filters with the given squared L2 norms (one per output row)."""
    with torch.no_grad():
        w = torch.randn(weight.shape, generator=gen)
        w = w / w.flatten(1).norm(dim=1).view(-1, *[1] * (w.dim() - 1))
        weight.copy_(w * torch.tensor(sq_norms).sqrt().view(-1, *[1] * (w.dim() - 1)))


# ---------------------------------------------------------------- plain chains

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
            _silence(conv, bn, idx)
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
        _silence(res.block[0], res.block[1], 4)
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


# ---------------------------------------------------------------- coupled (declared) groups

def test_coupled_group_joint_norm_blocks_and_surgery():
    model = CoupledNet()
    _randomise_bn(model)
    gen = torch.Generator().manual_seed(3)
    # squared filter norms per producer and channel (C = 6); jointly channels 4 (7.2) and 0 (10.1) are the
    # weakest, whereas gc alone would drop 1 and 4, gc's block 0 alone 0 and 2, head alone 3 and 5
    sq_gc = [[0.1, 5, 0.1, 5, 5, 5], [4, 0.5, 4, 4, 0.5, 4], [4, 0.5, 4, 4, 0.5, 4]]
    sq_head = [1, 1, 1.5, 0.1, 1, 0.1]
    sq_down = [1, 5, 1, 1, 0.2, 1]
    _set_filter_norms(model.gc.weight, sum(sq_gc, []), gen)               # row k * C + c
    _set_filter_norms(model.head.weight, sq_head, gen)
    _set_filter_norms(model.down.weight, sq_down, gen)
    (group,) = dependency_groups(model)
    expected = torch.tensor([sum(sq_gc[k][c] for k in range(3)) + sq_head[c] + sq_down[c] for c in range(6)])
    torch.testing.assert_close(channel_norms(model, group), expected.double().sqrt(), rtol=1e-5, atol=0)

    before = {k: v.clone() for k, v in model.state_dict().items()}
    p0 = count_params(model)
    assert prune_step(model, ratio=0.34) == {"gc": 2}
    keep = torch.tensor([1, 2, 3, 5])
    rows = torch.cat([keep + 6 * k for k in range(3)])
    assert torch.equal(model.gc.weight, before["gc.weight"][rows])
    assert torch.equal(model.gc.bias, before["gc.bias"][rows])
    for name in ("head", "down"):
        assert torch.equal(getattr(model, name).weight, before[f"{name}.weight"][keep])
        assert torch.equal(getattr(model, name).bias, before[f"{name}.bias"][keep])
    for name in ("bn", "down_bn"):
        for key in ("weight", "bias", "running_mean", "running_var"):
            assert torch.equal(getattr(getattr(model, name), key), before[f"{name}.{key}"][keep])
    for name in ("t1", "t2"):
        assert torch.equal(getattr(model, name).weight, before[f"{name}.weight"][:, keep])
        assert torch.equal(getattr(model, name).bias, before[f"{name}.bias"])
    # gc: 2 channels x 3 blocks x (3 + 1); head, down: 2 x 4; BNs 2 x 2 x 2; t1: 2 x 4 x 3, t2: 2 x 4
    assert p0 - count_params(model) == 24 + 8 + 8 + 8 + 24 + 8
    assert model(torch.randn(2, 3, 4, 5)).shape == (2, 2)


def test_coupled_group_removes_zeroed_channels_exactly():
    torch.manual_seed(4)
    model = CoupledNet(K=2, C=10)
    _randomise_bn(model)
    zero = [2, 7]
    with torch.no_grad():
        for k in range(2):
            model.gc.weight[[k * 10 + c for c in zero]] = 0.0
            model.gc.bias[[k * 10 + c for c in zero]] = 0.0
        for conv, bn in ((model.head, model.bn), (model.down, model.down_bn)):
            _silence(conv, bn, zero)
    model.eval()
    x = torch.randn(3, 3, 6, 5)
    ref = model(x)
    assert prune_step(model, 0.2) == {"gc": 2}
    assert (model.gc.out_channels, model.bn.num_features, model.t1.in_channels, model.t2.in_channels) == (16, 8, 8, 8)
    torch.testing.assert_close(model(x), ref, rtol=1e-5, atol=1e-5)


def test_identity_shortcut_becomes_channel_select():
    model = ShortcutNet()
    _randomise_bn(model)
    _set_filter_norms(model.conv.weight, [1, 4, 25, 9, 36, 49], torch.Generator().manual_seed(5))
    model.eval()
    x = torch.randn(2, 6, 7)
    with torch.no_grad():
        h0 = model.hidden(x)
    assert prune_step(model, 0.34) == {"conv": 2}                            # norms 1, 2 go
    assert isinstance(model.skip, ChannelSelect) and model.skip.index.tolist() == [2, 3, 4, 5]
    torch.testing.assert_close(model.hidden(x), h0[:, [2, 3, 4, 5]])         # the same channels, both paths
    assert model.out.in_channels == 4 and model(x).shape == (2, 2)
    assert prune_step(model, 0.25) == {"conv": 1}                            # then norm 3 (channel 3)
    assert model.skip.index.tolist() == [2, 4, 5]                            # the selection composes
    torch.testing.assert_close(model.hidden(x), h0[:, [2, 4, 5]])
    assert dependency_groups(model) == [PruneGroup("conv", "bn", "out", "skip")]

    wrapped = WrappedShortcut()                                                # traced around the declared body
    assert dependency_groups(wrapped) == [PruneGroup("a", None, "b"),
                                          PruneGroup("body.conv", "body.bn", "body.out", "body.skip")]
    assert prune_step(wrapped, 0.2) == {"a": 1, "body.conv": 1}
    assert wrapped.pre.out_channels == 6 and wrapped(torch.randn(2, 3, 7)).shape == (2, 2)


# ---------------------------------------------------------------- ST-GCN and UNIK
def _expected_drop(model_cls, base: int, c_in: int = 3, heads: int = 3, K: int = 3) -> tuple[int, int]:
    """(parameters, channels) one 10% round removes, from the block widths alone."""
    params = channels = 0
    for w in WIDTHS:
        c = base * w
        k = max(1, c // 10)
        if model_cls is STGCN:       # gcn conv: k channels in each of K blocks; tcn BN; tcn 9x1 conv's inputs
            params += K * k * (c_in + 1) + 2 * k + 9 * c * k
        else:                        # heads' out conv; S-LSU BN; its down conv + BN where the width changes; T-LSU
            params += k * (heads * c_in + 1) + 2 * k + 9 * c * k + (k * (c_in + 1) + 2 * k if c_in != c else 0)
        channels += k
        c_in = c
    return params, channels


@pytest.mark.parametrize("layout", ["ntu-25", "ntu-x-67", "coco-17"])
@pytest.mark.parametrize("model_cls", [STGCN, UNIK])
def test_gcn_prune_round_shrinks_by_the_declared_channels(model_cls, layout):
    torch.manual_seed(0)
    model = make_gcn(model_cls, layout)
    groups = dependency_groups(model)
    assert len(groups) == len(WIDTHS)
    p0 = count_params(model)
    removed = prune_step(model, 0.1)
    params, channels = _expected_drop(model_cls, 10)
    assert sum(removed.values()) == channels and p0 - count_params(model) == params
    widths = [10 * w for w in WIDTHS]
    if model_cls is STGCN:
        assert [b.tcn[2].in_channels for b in model.blocks] == [c - c // 10 for c in widths]
        assert [b.gcn.conv.out_channels for b in model.blocks] == [3 * (c - c // 10) for c in widths]
        assert [b.tcn[2].out_channels for b in model.blocks] == widths                # block outputs kept
    else:
        assert [b.temporal[0].in_channels for b in model.blocks] == [c - c // 10 for c in widths]
        assert [type(b.spatial.down).__name__ for b in model.blocks] == \
            ["Sequential", "ChannelSelect", "ChannelSelect", "ChannelSelect", "Sequential", "ChannelSelect",
             "ChannelSelect", "Sequential", "ChannelSelect", "ChannelSelect"]
        assert [b.temporal[0].out_channels for b in model.blocks] == widths
    assert model.classifier.in_features == 40                                     # the embedding width D
    V = get_layout(layout).num_joints
    x = torch.randn(2, 3, 8, V, 2)
    out = model(x)
    assert out.shape == (2, 7) and torch.isfinite(out).all()
    assert model.features(x).shape == (2, 40)
    prune_step(model, 0.1)                                                        # a second round still fits
    assert model(x).shape == (2, 7)


@pytest.mark.parametrize("model_cls,layout", [(STGCN, "ntu-x-67"), (UNIK, "ntu-25")])
def test_gcn_pruning_zeroed_channels_keeps_the_output(model_cls, layout):
    """Channels made exactly zero beforehand (filters, biases, BN bias and running mean) are the ones removed,
    and the model's output does not change. Where UNIK's S-LSU adds its identity shortcut to a channel, that
    channel is not zero, so its T-LSU input column is zeroed as well."""
    torch.manual_seed(1)
    model = make_gcn(model_cls, layout)
    _randomise_bn(model)
    g = torch.Generator().manual_seed(2)
    pruned = []
    with torch.no_grad():
        for b in model.blocks:
            c = (b.tcn[0] if model_cls is STGCN else b.spatial.bn).num_features
            idx = torch.randperm(c, generator=g)[:filters_to_remove(c, 0.1)].sort().values
            pruned.append(idx)
            if model_cls is STGCN:
                rows = torch.cat([idx + k * c for k in range(b.gcn.k)])
                parts = [(b.gcn.conv, rows, b.tcn[0])]
            else:
                parts = [(b.spatial.out, idx, b.spatial.bn)]
                if isinstance(b.spatial.down, nn.Sequential):
                    parts.append((b.spatial.down[0], idx, b.spatial.down[1]))
                else:
                    b.temporal[0].weight[:, idx] = 0.0
            for conv, rows, bn in parts:
                _silence(conv, bn, idx, rows)
    model.eval()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    x = torch.randn(2, 3, 8, get_layout(layout).num_joints, 2)
    with torch.no_grad():
        ref = model(x)
    p0 = count_params(model)
    prune_step(model, 0.1)
    assert p0 - count_params(model) == _expected_drop(model_cls, 10)[0]
    for i, (b, idx) in enumerate(zip(model.blocks, pruned)):
        c = 10 * WIDTHS[i]
        keep = torch.tensor([j for j in range(c) if j not in idx.tolist()])
        bn = "tcn.0" if model_cls is STGCN else "spatial.bn"
        assert torch.equal(model.get_submodule(f"blocks.{i}.{bn}").running_var,
                           before[f"blocks.{i}.{bn}.running_var"][keep])
        if model_cls is UNIK and not isinstance(b.spatial.down, nn.Sequential):
            assert torch.equal(b.spatial.down.index, keep)
    with torch.no_grad():
        out = model(x)
    assert ref.abs().max() > 1e-2
    torch.testing.assert_close(out, ref, rtol=1e-4, atol=1e-5 * float(ref.abs().max()))


def test_iterative_prune_tiny_stgcn():
    torch.manual_seed(0)
    model = make_gcn(STGCN, "ntu-25", base=4, classes=3)
    x, y = torch.randn(4, 3, 8, 25, 2), torch.tensor([0, 1, 2, 0])
    scripted = iter([0.5, 0.6, 0.55, 0.5, 0.99])                  # drops at rounds 2 and 3
    sizes = []

    def train_fn(m):
        m.train()
        sizes.append(m.blocks[9].tcn[2].in_channels)
        F.cross_entropy(m(x), y).backward()                       # one plain SGD step on the rebuilt layers
        with torch.no_grad():
            for p in m.parameters():
                if p.grad is not None:
                    p -= 0.01 * p.grad
        m.eval()

    p0 = count_params(model)
    result = iterative_prune(model, train_fn, lambda m: next(scripted), ratio=0.1, max_drops=2)
    assert [r.accuracy for r in result.history] == [0.5, 0.6, 0.55, 0.5]
    assert [r.drop for r in result.history] == [False, False, True, True]
    assert [r.removed for r in result.history] == [0, 10, 10, 10]   # widths 4/8/16: one channel per block
    assert sizes == [15, 14, 13] and count_params(model) == p0
    params = [r.params for r in result.history]
    assert params[0] == p0 and all(a > b for a, b in zip(params, params[1:]))
    assert result.best_round == 1 and count_params(result.model) == params[1]
    assert result.model.blocks[0].tcn[0].num_features == 3
    assert result.model(x).shape == (4, 3)
