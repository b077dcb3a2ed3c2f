"""ST-GCN (Yan, Xiong & Lin, AAAI 2018) on any layout's graph, plus the input/output plumbing UNIK shares.

Contract:
- `STGCN(num_classes, graph, in_channels=3, num_persons=2, base_channels=64, dropout=0.5,
  edge_importance=True)`: `graph` is a `Layout` (its `workers.action.graph.spatial_adjacency` is used) or a
  (K, V, V) adjacency in that module's orientation (`A[k, v, w]`: source v into target w).
  `forward(x)` maps (N, C, T, V, M) to logits (N, num_classes); `features(x)` gives the pooled embedding
  (N, 4 * base_channels); `classifier` is the final `nn.Linear`, so callers can linear-probe or freeze the
  backbone (everything but `classifier`).
- Architecture as the paper and its reference code: data BN over the M·V·C input features (per person slot,
  joint and channel, as 2s-AGCN and later code do; the original normalised over V·C with persons folded into
  the batch), 10 ST-GCN blocks of widths 64,64,64,64,128,128,128,256,256,256 (x base_channels/64) with
  temporal stride 2 in the 5th and 8th, each = spatial graph conv over K partitions (1x1 conv to K·C_out
  channels, then sum_k X_k A_k) -> BN -> ReLU -> 9x1 temporal conv -> BN -> dropout, plus a residual (none
  in the first block, identity when shape is kept, else 1x1 strided conv + BN) and ReLU. Each block learns
  its own edge-importance mask (K, V, V), initialised to 1, multiplying the fixed adjacency. Global average
  pooling over T and V, then the mean over the M person slots (zero-padded slots included, as in the
  paper), then the classifier. Dropout 0.5 is the authors' NTU config; weights use PyTorch's default init.
  On ntu-25 with 60 classes and C=3 this has 3,098,982 parameters (the paper's ~3.1M).
- Pruning (`workers.action.prune_deps`): `prunable_groups()` declares one group per block, the C_out channels
  between the spatial and the temporal unit: the GraphConv's 1x1 conv (its K * C_out outputs are K blocks of
  C_out, summed over the K subsets by the einsum, so channel c is pruned in every block), the tcn BN and the
  tcn's 9x1 conv input. Block outputs stay unpruned: each is added to an identity residual (or feeds the next
  block's residual conv and the pooled embedding, whose width D the classifier needs), so those channels are
  coupled across the whole stage.
- Shared with `unik`: `DataNorm` (the data BN; reshapes to (N·M, C, T, V)) and `pool_persons` (global average
  pooling over T and V, then mean over M).
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from schemas.layouts import Layout

from .graph import spatial_adjacency
from .prune_deps import PruneGroup

WIDTHS = (1, 1, 1, 1, 2, 2, 2, 4, 4, 4)          # block widths in units of base_channels


class DataNorm(nn.Module):
    """BatchNorm1d over the M·V·C features of (N, C, T, V, M); returns (N·M, C, T, V)."""

    def __init__(self, in_channels: int, num_joints: int, num_persons: int):
        super().__init__()
        self.shape = (in_channels, num_joints, num_persons)
        self.bn = nn.BatchNorm1d(num_persons * num_joints * in_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        N, C, T, V, M = x.shape
        if (C, V, M) != self.shape:
            raise ValueError(f"expected (N, {self.shape[0]}, T, {self.shape[1]}, {self.shape[2]}), "
                             f"got {tuple(x.shape)}")
        x = self.bn(x.permute(0, 4, 3, 1, 2).reshape(N, M * V * C, T))
        return x.view(N, M, V, C, T).permute(0, 1, 3, 4, 2).reshape(N * M, C, T, V)


def pool_persons(x: torch.Tensor, num_persons: int) -> torch.Tensor:
    """(N·M, C, T, V) -> (N, C): mean over T and V, then over the M person slots."""
    return x.mean(dim=(2, 3)).view(-1, num_persons, x.shape[1]).mean(dim=1)


class GraphConv(nn.Module):
    """Spatial graph convolution over K adjacency partitions: sum_k (W_k X) A_k."""

    def __init__(self, in_channels: int, out_channels: int, num_subsets: int):
        super().__init__()
        self.k = num_subsets
        self.conv = nn.Conv2d(in_channels, out_channels * num_subsets, 1)

    def forward(self, x: torch.Tensor, A: torch.Tensor) -> torch.Tensor:
        N, _, T, V = x.shape
        x = self.conv(x).view(N, self.k, -1, T, V)
        return torch.einsum("nkctv,kvw->nctw", x, A)


class STGCNBlock(nn.Module):
    def __init__(self, in_channels: int, out_channels: int, A_shape: tuple[int, int, int], stride: int = 1,
                 residual: bool = True, dropout: float = 0.0, kernel: int = 9, edge_importance: bool = True):
        super().__init__()
        self.gcn = GraphConv(in_channels, out_channels, A_shape[0])
        self.tcn = nn.Sequential(
            nn.BatchNorm2d(out_channels), nn.ReLU(inplace=True),
            nn.Conv2d(out_channels, out_channels, (kernel, 1), (stride, 1), ((kernel - 1) // 2, 0)),
            nn.BatchNorm2d(out_channels), nn.Dropout(dropout, inplace=True))
        if not residual:
            self.residual = None
        elif in_channels == out_channels and stride == 1:
            self.residual = nn.Identity()
        else:
            self.residual = nn.Sequential(nn.Conv2d(in_channels, out_channels, 1, (stride, 1)),
                                          nn.BatchNorm2d(out_channels))
        self.importance = nn.Parameter(torch.ones(A_shape), requires_grad=edge_importance)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor, A: torch.Tensor) -> torch.Tensor:
        y = self.tcn(self.gcn(x, A * self.importance))
        if self.residual is not None:
            y = y + self.residual(x)
        return self.relu(y)


class STGCN(nn.Module):
    def __init__(self, num_classes: int, graph: Layout | np.ndarray, in_channels: int = 3, num_persons: int = 2,
                 base_channels: int = 64, dropout: float = 0.5, edge_importance: bool = True):
        super().__init__()
        A = spatial_adjacency(graph) if isinstance(graph, Layout) else np.asarray(graph, np.float32)
        if A.ndim != 3 or A.shape[1] != A.shape[2]:
            raise ValueError(f"adjacency must be (K, V, V), got {A.shape}")
        self.register_buffer("A", torch.as_tensor(A, dtype=torch.float32))
        self.num_persons = num_persons
        self.data_norm = DataNorm(in_channels, A.shape[1], num_persons)
        widths = [base_channels * w for w in WIDTHS]
        blocks, c_in = [], in_channels
        for i, c_out in enumerate(widths):
            stride = 2 if i > 0 and c_out != widths[i - 1] else 1
            blocks.append(STGCNBlock(c_in, c_out, tuple(A.shape), stride, residual=i > 0,
                                     dropout=dropout, edge_importance=edge_importance))
            c_in = c_out
        self.blocks = nn.ModuleList(blocks)
        self.out_channels = c_in
        self.classifier = nn.Linear(c_in, num_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """(N, C, T, V, M) -> pooled embedding (N, 4 * base_channels)."""
        x = self.data_norm(x)
        for block in self.blocks:
            x = block(x, self.A)
        return pool_persons(x, self.num_persons)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))

    def prunable_groups(self) -> list[PruneGroup]:
        """Per block: GraphConv conv (K blocks of C) -> tcn BN -> ReLU -> tcn conv input (see the docstring)."""
        return [PruneGroup(producers=[(f"blocks.{i}.gcn.conv", block.gcn.k)], norms=f"blocks.{i}.tcn.0",
                           consumers=f"blocks.{i}.tcn.2") for i, block in enumerate(self.blocks)]
