"""Skeleton graphs for the action models, built from a `schemas.layouts.Layout` (numpy only).

Contract:
- `hop_distance(num_joints, edges)` -> (V, V) float array of shortest-path hop counts over the undirected
  edges, `inf` between joints that no path links.
- `component_roots(layout)` -> (V,) int: the joint each joint's graph distances are measured from. That is
  `layout.center` for every joint connected to it. A joint in a component that does not hold the centre gets
  that component's lowest-index joint as its own root (ntu-x-118, NTU-X's released graph, has 5 such face
  chains; it keeps partitions and bones defined instead of failing).
- `parents(layout)` -> (V,) int: each joint's parent in the breadth-first tree grown from its root, i.e. the
  neighbour one hop closer to the root (edges directed away from the centre). A root is its own parent.
  Where cycles give a joint several such neighbours (ntu-x-118's closed eye and lip chains, coco-17's head triangles)
  the lowest-index one is taken, so the tree is deterministic.
- `spatial_adjacency(layout)` -> (3, V, V) float32, ST-GCN's "spatial" partitioning (Yan et al. 2018), in the
  orientation of its reference code: `A[k, v, w]` weights source joint v when aggregating into target joint w
  (`out[w] = sum_k sum_v x_k[v] A[k, v, w]`). Subsets: k=0 root (w itself), k=1 centripetal (neighbours v
  strictly closer to the root than w), k=2 centrifugal (neighbours at the same or a larger distance; the
  reference code also lumps equal-distance neighbours in with the farther ones). Each entry is divided by the
  target's degree counting its self-loop, so for every target w, `A[:, :, w].sum() == 1` (a mean over w's
  closed neighbourhood), and `A.sum(0)` is the symmetric 1-hop adjacency with columns normalised.
- `region_graph(layout, regions)` -> a `Layout` of those regions' joints only (in region order, as Deep Action
  Stamps stack them), the edges among them, centred on the layout's centre when kept, else on the graph centre
  of the largest component (DeepActsNet's hands-only and face-only graph branches).
"""
from __future__ import annotations

import numpy as np
from scipy.sparse.csgraph import shortest_path

from schemas.layouts import Layout


def adjacency(num_joints: int, edges) -> np.ndarray:
    """(V, V) bool symmetric adjacency without self-loops."""
    a = np.zeros((num_joints, num_joints), bool)
    e = np.asarray(edges, int).reshape(-1, 2)
    if e.size and (e.min() < 0 or e.max() >= num_joints):
        raise ValueError(f"edge index out of range for {num_joints} joints")
    a[e[:, 0], e[:, 1]] = True
    a[e[:, 1], e[:, 0]] = True
    np.fill_diagonal(a, False)
    return a


def hop_distance(num_joints: int, edges) -> np.ndarray:
    """(V, V) hop counts along the undirected edges; inf where no path exists."""
    return shortest_path(adjacency(num_joints, edges).astype(float), method="D", unweighted=True)


def component_roots(layout: Layout) -> np.ndarray:
    """(V,) root per joint: the layout centre, or its own component's lowest-index joint if unreachable."""
    reach = np.isfinite(hop_distance(layout.num_joints, layout.edges))
    own = reach.argmax(axis=1)                    # first (lowest-index) joint of each joint's component
    return np.where(reach[layout.center], layout.center, own)


def root_distance(layout: Layout) -> np.ndarray:
    """(V,) hop count from each joint to its root (see `component_roots`); always finite."""
    hop = hop_distance(layout.num_joints, layout.edges)
    roots = component_roots(layout)
    return hop[np.arange(layout.num_joints), roots].astype(int)


def parents(layout: Layout) -> np.ndarray:
    """(V,) parent of each joint in the BFS tree from its root (roots are their own parents)."""
    adj = adjacency(layout.num_joints, layout.edges)
    dist = root_distance(layout)
    closer = adj & (dist[None, :] == dist[:, None] - 1)      # closer[j, i]: i is a neighbour one hop nearer
    return np.where(closer.any(axis=1), closer.argmax(axis=1), np.arange(layout.num_joints))


def spatial_adjacency(layout: Layout) -> np.ndarray:
    """(3, V, V) float32 ST-GCN spatial partition (root, centripetal, centrifugal), degree-normalised."""
    V = layout.num_joints
    adj = adjacency(V, layout.edges)
    dist = root_distance(layout)
    closed = adj | np.eye(V, dtype=bool)
    norm = closed / closed.sum(axis=0, keepdims=True)        # column w divided by deg(w) + 1
    src, dst = dist[:, None], dist[None, :]                  # [v, w]: v the source, w the target
    masks = np.stack([np.eye(V, dtype=bool), adj & (src < dst), adj & (src >= dst)])
    return (masks * norm[None]).astype(np.float32)


def region_graph(layout: Layout, regions: tuple[str, ...]) -> Layout:
    """The graph of `regions`' joints alone, in region order (the order stamps stack them), with the layout's
    edges among them. Its centre is the layout's when kept, else the joint whose farthest reachable joint is
    nearest (the graph centre; lowest index on ties), so a hands-only or face-only graph has roots too."""
    joints = [j for r in regions for j in layout.regions[r]]
    at = {j: i for i, j in enumerate(joints)}
    edges = tuple((at[a], at[b]) for a, b in layout.edges if a in at and b in at)
    if layout.center in at:
        center = at[layout.center]
    else:                                   # graph centre of the largest connected component
        hop = hop_distance(len(joints), edges)
        reach = np.isfinite(hop)
        ecc = np.where(reach, hop, -1).max(axis=1)
        ecc[reach.sum(axis=1) < reach.sum(axis=1).max()] = np.inf
        center = int(np.argmin(ecc))
    return Layout(f"{layout.name}[{'+'.join(regions)}]", tuple(layout.joints[j] for j in joints), edges,
                  {}, {r: tuple(at[j] for j in layout.regions[r]) for r in regions}, center,
                  f"{layout.description} (graph of {', '.join(regions)})")
