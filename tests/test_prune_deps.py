"""Prune groups (workers.action.prune_deps): the torch.fx dependency analysis, declared groups and their
validation, CPU only, small models."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from tests.prune_models import ChainNet, FeatureNet, MLPNet, ResidualNet, ShortcutNet, make_gcn
from workers.action.hierarchy import HierarchicalHead
from workers.action.prune_deps import PruneGroup, PruningError, dependency_groups
from workers.action.prune_surgery import prune_step
from workers.action.stgcn import STGCN, WIDTHS

pytestmark = pytest.mark.usefixtures("one_torch_thread")


# ---------------------------------------------------------------- models only the analysis tests use

class EinsumNet(FeatureNet):
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

    def prunable_groups(self):
        if not self.declare:
            raise AttributeError
        return [("conv1", "bn", "conv2")]


class Untraceable(ChainNet):
    def forward(self, x):
        if x.sum() > 0:                                   # data-dependent control flow
            return self.classifier(self.features(x))
        return self.classifier(self.features(-x))


class ShapeCheckedNet(FeatureNet):
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


# ---------------------------------------------------------------- fx analysis and declared groups

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


def test_declared_groups_prune_through_einsum():
    model = EinsumNet(declare=True).eval()
    x = torch.randn(2, 3, 4, 5)
    prune_step(model, 0.2)
    assert (model.conv1.out_channels, model.bn.num_features, model.conv2.in_channels) == (8, 8, 8)
    assert model(x).shape == (2, 2)


def test_group_construction_and_validation():
    g = PruneGroup([("gc", 3), "head"], "bn", ["t1", ("t2", 2)], "skip")
    assert g.producers == ("gc", "head") and g.norms == ("bn",) and g.consumers == ("t1", "t2")
    assert g.shortcuts == ("skip",) and g.blocks == (("gc", 3), ("t2", 2)) and g.producer == "gc"
    assert g.blocks_of("gc") == 3 and g.blocks_of("head") == 1
    assert PruneGroup("a", None, "b") == PruneGroup(["a"], [], ("b",)) == PruneGroup(("a", 1), (), "b")
    assert PruneGroup(("gc", 3), "bn", "t") == PruneGroup([("gc", 3)], ["bn"], ["t"])
    assert g.renamed(lambda n: "m." + n).blocks == (("m.gc", 3), ("m.t2", 2))
    for bad in (dict(producers=[]), dict(producers="a", consumers="a"), dict(producers=[("a", 0)])):
        with pytest.raises(ValueError):
            PruneGroup(**bad)

    model = ShortcutNet()
    bad_groups = [
        [PruneGroup("conv", "bn", "classifier")],                          # consumer width 4 != 6
        [PruneGroup("conv", "bn", "out"), PruneGroup("conv", None, "out")],  # producer in two groups
        [PruneGroup("conv", "bn", "nope")],                                # no such module
        [PruneGroup(("conv", 4), "bn", "out")],                            # 6 outputs are not 4 blocks
        [PruneGroup("conv", "bn", "out", shortcuts="classifier")],         # not an identity shortcut
        [PruneGroup("bn", None, "out")],                                   # a BN is no producer
        [PruneGroup("conv", "classifier", "out")],                         # not a BN
    ]
    for groups in bad_groups:
        with pytest.raises(PruningError):
            prune_step(model, 0.2, groups=groups)
    assert model.conv.out_channels == 6                                    # nothing touched

    class BadDeclaration(ShortcutNet):
        def prunable_groups(self):
            return [("conv", "bn")]
    with pytest.raises(PruningError):
        dependency_groups(BadDeclaration())


def test_gcn_declared_groups_found_inside_a_hierarchical_head():
    model = HierarchicalHead(make_gcn(STGCN, "ntu-25", base=4, classes=4), [np.array([0, 0, 1, 1])])
    groups = dependency_groups(model)
    assert [g.producer for g in groups] == [f"backbone.blocks.{i}.gcn.conv" for i in range(len(WIDTHS))]
    assert groups[0] == PruneGroup(("backbone.blocks.0.gcn.conv", 3), "backbone.blocks.0.tcn.0",
                                   "backbone.blocks.0.tcn.2")
    prune_step(model, 0.1)
    out = model(torch.randn(2, 3, 8, 25, 2))
    assert out.main.shape == (2, 4) and out.aux[0].shape == (2, 2)
