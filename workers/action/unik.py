"""UNIK (Yang et al., "UNIK: A Unified Framework for Real-world Skeleton-based Action Recognition", BMVC 2021).

Contract:
- `UNIK(num_classes, joints, in_channels=3, num_persons=2, num_heads=3, base_channels=64, embed_ratio=4,
  dilations=DILATIONS)`: `joints` is a `Layout` or a joint count; UNIK is topology-free, so only V is used.
  `forward(x)` maps (N, C, T, V, M) to logits (N, num_classes); `features(x)` gives the pooled embedding
  (N, 4 * base_channels); `classifier` is the final `nn.Linear` (linear probe / frozen backbone as for ST-GCN).
- Architecture, as the paper and the authors' code (github.com/YangDi666/UNIK, model/backbone_unik.py):
  data BN over M·V·C; K=10 ST-LS blocks of widths 64,64,64,64,128,128,128,256,256,256 (x base_channels/64)
  with temporal stride 2 where the width grows (blocks 5 and 8). A block is relu(T-LSU(S-LSU(x)) + res(x)),
  res = none in block 1, identity when the shape is kept, else 1x1 strided conv + BN.
  * S-LSU, N heads: head i aggregates the input over joints with (W_i + A_i), where W_i (V x V) is a learned
    dependency matrix initialised Uniform(+-sqrt(6 / ((1 + a^2) V))), a = sqrt(5), i.e. +-1/sqrt(V): the
    paper's formula, fan-in V per head (the released code calls kaiming_uniform_ on the stacked (N, V, V)
    tensor, for which PyTorch takes fan-in V², giving +-1/V), and A_i = softmax over source joints of theta_i(x)^T phi_i(x) / (C_e T),
    theta/phi 1x1 convs to C_e = C_out / embed_ratio channels, flattened over (C_e, T) as in the code. The
    aggregated input goes through a 1x1 conv to C_out, heads are summed, then BN (weight initialised to 1e-6
    as in the code, so each unit starts close to its residual), + residual (identity, or 1x1 conv + BN when
    the width changes), ReLU. The per-head 1x1 output convs are one conv over the heads' concatenated
    aggregates: the same function as summing N convs, with one bias vector instead of N redundant ones.
  * T-LSU: 9x1 temporal conv (stride as above, dilation per block) + BN. `DILATIONS` = 1,3,3,3,3,1,1,1,1,1;
    the released code passes dilation 1 to every block (comments "#3" on blocks 2-4), so
    `dilations=(1,) * 10` reproduces it exactly. Dilation does not change the parameter count.
  Global average pooling over T and V, mean over the M person slots, then the classifier.

Pruning (`workers.action.prune_deps`): `prunable_groups()` declares one group per block, the S-LSU's C_out output
channels that feed the T-LSU: producers the heads' output conv (`spatial.out`, all heads in one conv) and, where
the width changes, the S-LSU's own down conv (`spatial.down.0`), whose outputs are summed channel by channel;
norms `spatial.bn` (and `spatial.down.1`); consumer the T-LSU's 9x1 conv. Where the S-LSU's down path is the
identity, it becomes a `ChannelSelect` of the kept channels of the block input. Block outputs stay unpruned:
each is added to an identity residual (or feeds the next block's residual unit and the pooled embedding, whose
width D the classifier needs), so those channels are coupled across the whole stage. The attention embeddings
(theta/phi) are not pruned.

Parameter count in the paper's setting (the paper reports 3.45M; it leaves the setting open, so these are the
assumptions): NTU-60 (60 classes, the authors' NTU config; the classifier is only 15,420 of the total),
V=25 Kinect joints, C_in=3 (x, y, z; their NTU config), M=2 (data BN counted, 300 parameters), N=3 heads (the
paper's N and the code's default), C_e = C_out/4 (the code's `coff_embedding=4`). This module then has
3,466,694 parameters (+0.5%); the released code has 3,469,760 (+0.6%: 2,816 redundant per-head output biases
and an unused per-block bias vector of V). With the authors' NTU config's `num_heads: 4` (block 1 keeps 3 in
their code) it would be ~3.80M (+10.2%), off the paper's figure, so N=3 is taken; nothing was tuned to fit.
On other layouts only W_i (N·V² per block), the data BN and the classifier change size.
"""
from __future__ import annotations

import math

import torch
from torch import nn

from schemas.layouts import Layout

from .prune_deps import PruneGroup
from .stgcn import WIDTHS, DataNorm, pool_persons

DILATIONS = (1, 3, 3, 3, 3, 1, 1, 1, 1, 1)


def dependency_bound(num_joints: int, a: float = math.sqrt(5)) -> float:
    """Half-width of W_i's uniform initialisation: sqrt(6 / ((1 + a^2) V))."""
    return math.sqrt(6.0 / ((1.0 + a * a) * num_joints))


class SpatialLSU(nn.Module):
    """S-LSU: multi-head aggregation over joints with learned dependencies plus self-attention."""

    def __init__(self, in_channels: int, out_channels: int, num_joints: int, num_heads: int = 3,
                 embed_ratio: int = 4):
        super().__init__()
        self.heads, self.embed = num_heads, max(1, out_channels // embed_ratio)
        bound = dependency_bound(num_joints)
        self.dependency = nn.Parameter(torch.empty(num_heads, num_joints, num_joints).uniform_(-bound, bound))
        self.theta = nn.Conv2d(in_channels, num_heads * self.embed, 1)
        self.phi = nn.Conv2d(in_channels, num_heads * self.embed, 1)
        self.out = nn.Conv2d(num_heads * in_channels, out_channels, 1)
        self.bn = nn.BatchNorm2d(out_channels)
        self.down = nn.Identity() if in_channels == out_channels else nn.Sequential(
            nn.Conv2d(in_channels, out_channels, 1), nn.BatchNorm2d(out_channels))
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out")
                nn.init.zeros_(m.bias)
        nn.init.normal_(self.out.weight, 0.0, math.sqrt(2.0 / self.out.weight[0].numel() / out_channels))
        nn.init.constant_(self.bn.weight, 1e-6)

    def attention(self, x: torch.Tensor) -> torch.Tensor:
        """(N, C, T, V) -> (N, heads, V, V) attention maps, softmax over the source joint (dim -2)."""
        N, _, T, V = x.shape
        th = self.theta(x).view(N, self.heads, self.embed * T, V)
        ph = self.phi(x).view(N, self.heads, self.embed * T, V)
        return torch.softmax(th.transpose(-1, -2) @ ph / (self.embed * T), dim=-2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        N, C, T, V = x.shape
        adj = self.attention(x) + self.dependency                                     # (N, H, V, V)
        agg = torch.einsum("nctv,nhvw->nhctw", x, adj).reshape(N, self.heads * C, T, V)
        return torch.relu(self.bn(self.out(agg)) + self.down(x))


def temporal_unit(in_channels: int, out_channels: int, kernel: int = 9, stride: int = 1,
                  dilation: int = 1) -> nn.Sequential:
    """T-LSU: kernel x 1 temporal conv (same padding) + BN."""
    conv = nn.Conv2d(in_channels, out_channels, (kernel, 1), (stride, 1), ((kernel - 1) * dilation // 2, 0),
                     (dilation, 1))
    nn.init.kaiming_normal_(conv.weight, mode="fan_out")
    nn.init.zeros_(conv.bias)
    return nn.Sequential(conv, nn.BatchNorm2d(out_channels))


class STLSBlock(nn.Module):
    def __init__(self, in_channels: int, out_channels: int, num_joints: int, num_heads: int, embed_ratio: int,
                 stride: int = 1, dilation: int = 1, residual: bool = True):
        super().__init__()
        self.spatial = SpatialLSU(in_channels, out_channels, num_joints, num_heads, embed_ratio)
        self.temporal = temporal_unit(out_channels, out_channels, stride=stride, dilation=dilation)
        if not residual:
            self.residual = None
        elif in_channels == out_channels and stride == 1:
            self.residual = nn.Identity()
        else:
            self.residual = temporal_unit(in_channels, out_channels, kernel=1, stride=stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.temporal(self.spatial(x))
        if self.residual is not None:
            y = y + self.residual(x)
        return torch.relu(y)


class UNIK(nn.Module):
    def __init__(self, num_classes: int, joints: Layout | int, in_channels: int = 3, num_persons: int = 2,
                 num_heads: int = 3, base_channels: int = 64, embed_ratio: int = 4,
                 dilations: tuple[int, ...] = DILATIONS):
        super().__init__()
        V = joints.num_joints if isinstance(joints, Layout) else int(joints)
        if len(dilations) != len(WIDTHS):
            raise ValueError(f"need {len(WIDTHS)} dilations, got {len(dilations)}")
        self.num_persons = num_persons
        self.data_norm = DataNorm(in_channels, V, num_persons)
        widths = [base_channels * w for w in WIDTHS]
        blocks, c_in = [], in_channels
        for i, (c_out, dil) in enumerate(zip(widths, dilations)):
            stride = 2 if i > 0 and c_out != widths[i - 1] else 1
            blocks.append(STLSBlock(c_in, c_out, V, num_heads, embed_ratio, stride, dil, residual=i > 0))
            c_in = c_out
        self.blocks = nn.Sequential(*blocks)
        self.out_channels = c_in
        self.classifier = nn.Linear(c_in, num_classes)
        nn.init.normal_(self.classifier.weight, 0.0, math.sqrt(2.0 / num_classes))

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """(N, C, T, V, M) -> pooled embedding (N, 4 * base_channels)."""
        return pool_persons(self.blocks(self.data_norm(x)), self.num_persons)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))

    def prunable_groups(self) -> list[PruneGroup]:
        """Per block: S-LSU output (out conv + down conv or identity, BNs) -> T-LSU conv input (see docstring)."""
        groups = []
        for i, block in enumerate(self.blocks):
            s = f"blocks.{i}.spatial"
            if isinstance(block.spatial.down, nn.Sequential):
                down = dict(producers=[f"{s}.out", f"{s}.down.0"], norms=[f"{s}.bn", f"{s}.down.1"])
            else:                                    # identity (or the channel selection it became)
                down = dict(producers=f"{s}.out", norms=f"{s}.bn", shortcuts=f"{s}.down")
            groups.append(PruneGroup(consumers=f"blocks.{i}.temporal.0", **down))
        return groups
