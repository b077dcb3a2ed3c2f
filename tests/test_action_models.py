"""Action models (workers/action): graph partitions, input streams, score fusion, ST-GCN and UNIK (CPU, fast)."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from schemas.layouts import LAYOUTS, Layout, get_layout
from schemas.layouts.base import direct
from tests.conftest import fit_steps
from workers.action import graph, streams
from workers.action.stgcn import STGCN
from workers.action.unik import UNIK, dependency_bound


def tiny_layout(edges, center=0, num=4) -> Layout:
    return Layout(name=f"tiny-{num}", joints=tuple(direct(f"j{i}", "body", i) for i in range(num)),
                  edges=tuple(edges), parts={}, regions={"body": tuple(range(num))}, center=center)


def n_params(model) -> int:
    return sum(p.numel() for p in model.parameters())


# ---------------------------------------------------------------- graph


@pytest.mark.parametrize("name", sorted(LAYOUTS))
def test_spatial_partition_properties(name):
    layout = get_layout(name)
    V = layout.num_joints
    A = graph.spatial_adjacency(layout)
    adj = graph.adjacency(V, layout.edges)
    deg = adj.sum(0) + 1
    assert A.shape == (3, V, V) and A.dtype == np.float32 and (A >= 0).all()
    np.testing.assert_allclose(A.sum(axis=(0, 1)), 1.0, rtol=1e-6)        # each target: mean over neighbourhood
    np.testing.assert_allclose(A[0], np.diag(1.0 / deg), rtol=1e-6)        # root subset = self, 1/(deg+1)
    support = A[1:].sum(0) > 0
    assert (support == adj).all() and (support == support.T).all()         # neighbours only, symmetric
    assert not ((A[1] > 0) & (A[2] > 0)).any()                             # disjoint subsets
    assert ((A[1] > 0) <= (A[2] > 0).T).all()                              # centripetal v->w is centrifugal w->v
    dist = graph.root_distance(layout)
    v, w = np.nonzero(A[1])
    assert (dist[v] < dist[w]).all()
    v, w = np.nonzero(A[2])
    assert (dist[v] >= dist[w]).all()
    roots = set(graph.component_roots(layout).tolist())                    # the centre (+ ntu-x-118's face chains)
    assert (A[1].sum(0) > 0).sum() == V - len(roots)                       # every joint but a root has one


@pytest.mark.parametrize("name", sorted(LAYOUTS))
def test_layouts_connected_and_bfs_parents(name):
    layout = get_layout(name)
    V = layout.num_joints
    hop = graph.hop_distance(V, layout.edges)
    assert (hop == hop.T).all() and (np.diag(hop) == 0).all()
    roots = graph.component_roots(layout)
    # every registered layout is one component but ntu-x-118 (NTU-X's released graph: 5 face chains detached)
    uniq = np.unique(roots)                                                # one root per component, none linked
    assert len(uniq) == (6 if name == "ntu-x-118" else 1)
    assert np.isinf(hop[np.ix_(uniq, uniq)]).sum() == len(uniq) * (len(uniq) - 1)
    assert (roots[np.isfinite(hop[layout.center])] == layout.center).all()
    par, dist = graph.parents(layout), graph.root_distance(layout)
    assert (par[roots] == roots).all() and (dist[roots] == 0).all()
    others = np.arange(V) != roots
    adj = graph.adjacency(V, layout.edges)
    assert adj[np.arange(V)[others], par[others]].all()                    # parent is a neighbour ...
    assert (dist[par[others]] == dist[others] - 1).all()                   # ... one hop nearer the root


def test_tiny_chain_partition_values():
    layout = tiny_layout([(0, 1), (1, 2)], center=1, num=3)                # 0 - 1 - 2, centred on 1
    A = graph.spatial_adjacency(layout)
    assert A[1][1, 0] == pytest.approx(0.5) and A[1][1, 2] == pytest.approx(0.5)   # centre feeds the ends
    assert A[2][0, 1] == pytest.approx(1 / 3) and A[2][2, 1] == pytest.approx(1 / 3)
    assert A[1][:, 1].sum() == 0                                           # the centre has no nearer neighbour


def test_disconnected_graph_gets_own_roots():
    layout = tiny_layout([(0, 1), (2, 3), (3, 4)], center=1, num=5)        # {0, 1} and {2, 3, 4}
    assert np.isinf(graph.hop_distance(5, layout.edges)[0, 2])
    assert graph.component_roots(layout).tolist() == [1, 1, 2, 2, 2]
    assert graph.parents(layout).tolist() == [1, 1, 2, 2, 3]
    A = graph.spatial_adjacency(layout)
    np.testing.assert_allclose(A.sum(axis=(0, 1)), 1.0, rtol=1e-6)
    assert A[:, 0:2, 2:].sum() == 0 and A[:, 2:, 0:2].sum() == 0           # nothing crosses components


def test_cycle_parent_is_lowest_index():
    layout = tiny_layout([(0, 1), (0, 2), (1, 3), (2, 3)], center=0)      # square: 3 reaches 0 via 1 or 2
    assert graph.parents(layout).tolist() == [0, 0, 0, 1]


# ---------------------------------------------------------------- streams


def skeleton_batch() -> torch.Tensor:
    """(1, 3, 2, 4, 1): joint 0 centre, 1 and 3 its children, 2 child of 1; frame 1 moves everything."""
    xy = torch.tensor([[[0.0, 0.0], [1.0, 0.0], [1.0, 2.0], [-1.0, 0.5]],
                       [[0.5, 0.0], [1.5, 1.0], [1.5, 3.0], [-2.0, 0.5]]])              # (T, V, 2)
    score = torch.tensor([[1.0, 0.9, 0.8, 0.7], [1.0, 0.6, 0.5, 0.4]])                   # (T, V)
    x = torch.cat([xy, score[..., None]], -1)                                             # (T, V, 3)
    return x.permute(2, 0, 1)[None, ..., None].contiguous()


TINY = tiny_layout([(0, 1), (1, 2), (0, 3)], center=0)


def test_bone_stream_hand_made():
    x = skeleton_batch()
    par = graph.parents(TINY)
    assert par.tolist() == [0, 0, 1, 0]
    b = streams.bone(x, par)
    assert b.shape == x.shape
    vec = b[0, :2, :, :, 0].permute(1, 2, 0)                                              # (T, V, 2)
    torch.testing.assert_close(vec[0], torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.0, 2.0], [-1.0, 0.5]]))
    torch.testing.assert_close(vec[1], torch.tensor([[0.0, 0.0], [1.0, 1.0], [0.0, 2.0], [-2.5, 0.5]]))
    torch.testing.assert_close(b[0, 2, :, :, 0], torch.tensor([[1.0, 0.9, 0.8, 0.7], [1.0, 0.6, 0.5, 0.4]]))


def test_bone_stream_missing_joints_stay_zero():
    x = skeleton_batch()
    x[0, :, 1, 1, 0] = 0.0                                                                # joint 1 missing in frame 1
    b = streams.bone(x, graph.parents(TINY))
    assert (b[0, :, 1, 1, 0] == 0).all() and (b[0, :, 1, 2, 0] == 0).all()              # its bone and its child's
    assert (b[0, :2, 1, 3, 0] != 0).any()                                                 # others untouched
    # Without a score channel a joint is missing where its coordinates are all exactly 0 (the dataset's fill),
    # so shift the present joints off the origin (bones are shift-invariant) before comparing.
    shifted = x[:, :2] + 0.25 * (x[:, 2:] > 0)
    nos = streams.bone(shifted, graph.parents(TINY), has_score=False)
    assert nos.shape == (1, 2, 2, 4, 1)
    torch.testing.assert_close(nos, b[:, :2])


def test_bone_stream_real_layout_centre_zero():
    layout = get_layout("ntu-25")
    x = torch.randn(2, 3, 5, 25, 2)
    x[:, 2] = torch.rand(2, 5, 25, 2) + 0.1
    b = streams.bone(x, graph.parents(layout))
    assert (b[:, :2, :, layout.center] == 0).all()
    spine = layout.index("spine_mid")                                                     # parent: spine_shoulder
    torch.testing.assert_close(b[:, :2, :, spine], x[:, :2, :, spine] - x[:, :2, :, layout.center])


def test_motion_stream():
    x = skeleton_batch()
    m = streams.motion(x)
    torch.testing.assert_close(m[0, :2, 0, :, 0].T, torch.tensor([[0.5, 0.0], [0.5, 1.0], [0.5, 1.0], [-1.0, 0.0]]))
    assert (m[:, :, -1] == 0).all()                                                       # last frame 0
    torch.testing.assert_close(m[0, 2, 0, :, 0], torch.tensor([1.0, 0.6, 0.5, 0.4]))
    x[0, :, 0, 2, 0] = 0.0                                                                # joint 2 missing in frame 0
    assert (streams.motion(x)[0, :, 0, 2, 0] == 0).all()
    assert streams.stream("motion", x).shape == x.shape and streams.stream("joint", x) is x
    with pytest.raises(ValueError):
        streams.stream("bone", x)


def test_fuse_scores():
    a = torch.tensor([[2.0, 0.0, -1.0], [0.0, 0.0, 0.0]])
    b = torch.tensor([[-5.0, 3.0, 0.0], [1.0, 0.0, 4.0]])
    pa, pb = a.softmax(-1), b.softmax(-1)
    torch.testing.assert_close(streams.fuse_scores([a, b]), (pa + pb) / 2)
    torch.testing.assert_close(streams.fuse_scores([a, b], [1.0, 0.0]), pa)
    torch.testing.assert_close(streams.fuse_scores([a, b], [2.0, 1.0]), (2 * pa + pb) / 3)
    torch.testing.assert_close(streams.fuse_scores([a, b]).sum(-1), torch.ones(2))
    with pytest.raises(ValueError):
        streams.fuse_scores([a, b], [1.0])
    with pytest.raises(ValueError):
        streams.fuse_scores([a, b], [-1.0, 2.0])


# ---------------------------------------------------------------- models


@pytest.mark.parametrize("name", ["ntu-x-118", "ntu-x-67", "posetics-17"])
@pytest.mark.parametrize("model_cls", [STGCN, UNIK])
def test_forward_shapes(model_cls, name):
    torch.manual_seed(0)
    layout = get_layout(name)
    model = model_cls(7, layout, in_channels=3, base_channels=8)
    x = torch.randn(2, 3, 16, layout.num_joints, 2)
    out = model(x)
    assert out.shape == (2, 7) and torch.isfinite(out).all()
    model.eval()
    feats = model.features(x)
    assert feats.shape == (2, 32)
    torch.testing.assert_close(model.classifier(feats), model(x))


def test_stgcn_accepts_adjacency_and_matches_paper_size():
    A = graph.spatial_adjacency(get_layout("ntu-25"))
    model = STGCN(60, A, in_channels=3)
    assert n_params(model) == 3_098_982                              # the README's count (paper: ~3.1M)
    assert all(b.importance.requires_grad and b.importance.shape == (3, 25, 25) for b in model.blocks)


def test_unik_parameter_count_paper_setting():
    model = UNIK(60, 25, in_channels=3, num_persons=2, num_heads=3)                      # NTU-60, Kinect 25
    count = n_params(model)
    assert count == 3_466_694, count                                   # the README (paper: 3.45M, +0.5%)
    assert [b.spatial.out.out_channels for b in model.blocks] == [64] * 4 + [128] * 3 + [256] * 3
    assert [b.temporal[0].stride[0] for b in model.blocks] == [1, 1, 1, 1, 2, 1, 1, 2, 1, 1]
    assert [b.temporal[0].dilation[0] for b in model.blocks] == [1, 3, 3, 3, 3, 1, 1, 1, 1, 1]


@pytest.mark.parametrize("V", [25, 17])
def test_unik_dependency_init_distribution(V):
    torch.manual_seed(0)
    model = UNIK(10, V, base_channels=8)
    bound = math.sqrt(6 / ((1 + 5) * V))
    assert dependency_bound(V) == pytest.approx(bound)
    w = torch.cat([b.spatial.dependency.detach().flatten() for b in model.blocks])
    assert model.blocks[0].spatial.dependency.shape == (3, V, V)
    assert w.abs().max() <= bound and w.abs().max() > 0.95 * bound                       # fills +-bound
    assert abs(w.mean().item()) < 0.05 * bound
    assert w.std().item() == pytest.approx(bound / math.sqrt(3), rel=0.1)               # uniform's std


def toy_batch(V: int, n: int = 8, T: int = 16) -> tuple[torch.Tensor, torch.Tensor]:
    """Two classes: the whole skeleton drifts right (label 0) or left (label 1) over time, plus noise."""
    g = torch.Generator().manual_seed(1)
    y = torch.arange(n) % 2
    base = torch.randn(n, 2, 1, V, 1, generator=g) * 0.3
    drift = torch.linspace(-1, 1, T).view(1, 1, T, 1, 1) * (1 - 2 * y.view(n, 1, 1, 1, 1).float())
    xy = base + torch.cat([drift, torch.zeros_like(drift)], 1) + 0.05 * torch.randn(n, 2, T, V, 1, generator=g)
    x = torch.cat([xy, torch.ones(n, 1, T, V, 1)], 1)
    return torch.cat([x, torch.zeros_like(x)], -1), y                                   # second person absent


@pytest.mark.parametrize("model_cls", [STGCN, UNIK])
def test_training_steps_reduce_loss(model_cls):
    torch.manual_seed(0)
    layout = get_layout("posetics-17")
    x, y = toy_batch(layout.num_joints)
    kwargs = {"dropout": 0.0} if model_cls is STGCN else {}
    model = model_cls(2, layout, base_channels=8, **kwargs)
    losses = fit_steps(model, x, y, lr=1e-2)
    assert losses[-1] < 0.3 * losses[0], losses
    assert (model(x).argmax(-1) == y).all()


def test_linear_probe_trains_only_classifier():
    layout = get_layout("posetics-17")
    model = UNIK(2, layout, base_channels=8)
    for p in model.parameters():
        p.requires_grad_(False)
    for p in model.classifier.parameters():
        p.requires_grad_(True)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    x, y = toy_batch(layout.num_joints)
    opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.1)
    torch.nn.functional.cross_entropy(model(x), y).backward()
    opt.step()
    changed = {k for k, v in model.state_dict().items() if not torch.equal(v, before[k])}
    assert {"classifier.weight", "classifier.bias"} <= changed
    assert not any(k.endswith(("weight", "bias", "dependency")) and not k.startswith("classifier")
                   for k in changed)                                                      # only BN running stats move
