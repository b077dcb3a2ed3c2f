"""DeepActsNet (Asif et al., AAAI 2021): per modality of the Deep Action Stamps a CNN branch and a graph branch,
every branch's class scores summed before the softmax.

Contract:
- `DeepActsNet(num_classes, layout, modalities, num_persons=2, width=None, dropout=None, image_size=224)`;
  `forward(stamps)` maps {modality: (N, 3, T, persons x joints) scaled stamps in [0, 255]} (as
  `workers.data.stamp_dataset.StampDataset` batches them) to logits (N, num_classes).
- CNN branch (the paper's EfficientNet): the stamp resized to image_size x image_size (`stamps.to_images`, on
  the batch's device), mapped to [-1, 1], through torchvision's EfficientNet-B0 trunk (its block table, built
  without downloaded weights), global average pooling, dropout 0.2 and a linear layer. At the paper's width a
  branch has exactly the parameters of `torchvision.models.efficientnet_b0(num_classes=K)` (tested).
- Graph branch (ST-GCN-style convolution with learnable edge masks): `workers.action.stgcn.STGCN` on the
  modality's own graph (`graph.region_graph`): body 25 for body and flow, the two hands' 42 joints for hands,
  the face landmarks for face, and the body graph for bones with each bone on its target joint (the root
  joint's is missing). Input: the same scaled stamp reshaped to (N, 3, T, joints, persons), mapped to [-1, 1]
  as the CNN's. At the paper's width a branch has exactly the parameters of `STGCN(K, graph)` (tested).
- `width`: None = the paper's (EfficientNet-B0, ST-GCN base 64); w scales both: ST-GCN base w, EfficientNet
  width multiplier w / 64 (depth kept).
- `dropout`: None = each backbone's own (0.2 before the CNN branch's linear layer as EfficientNet-B0, 0.5 in
  ST-GCN blocks as its NTU config); a value sets both.
- Every branch's last linear layer lives in `classifier` (an `nn.ModuleDict`, keys `cnn_<modality>` and
  `graph_<modality>`), so `--init-from` / `--freeze-backbone` treat DeepActsNet like the other models.
"""
from __future__ import annotations

from typing import Iterable, Optional

import torch
from torch import nn

from schemas.layouts.base import Layout

from .graph import region_graph
from .stamps import REGIONS, body_edges, check_modalities, to_images
from .stgcn import STGCN

# EfficientNet-B0's stages (Tan & Le 2019, Table 1): expand ratio, kernel, stride, in, out, layers
B0_STAGES = ((1, 3, 1, 32, 16, 1), (6, 3, 2, 16, 24, 2), (6, 5, 2, 24, 40, 2), (6, 3, 2, 40, 80, 3),
             (6, 5, 1, 80, 112, 3), (6, 5, 2, 112, 192, 4), (6, 3, 1, 192, 320, 1))
PAPER_WIDTH = 64


def efficientnet_trunk(width_mult: float) -> tuple[nn.Module, int]:
    """EfficientNet-B0's features + global pooling (no classifier), and its output width (1280 at 1.0)."""
    from torchvision.models.efficientnet import EfficientNet, MBConvConfig
    net = EfficientNet([MBConvConfig(*s, width_mult=width_mult, depth_mult=1.0) for s in B0_STAGES], dropout=0.0)
    return nn.Sequential(net.features, net.avgpool, nn.Flatten(1)), net.classifier[-1].in_features


class DeepActsNet(nn.Module):
    def __init__(self, num_classes: int, layout: Layout, modalities: Iterable[str], num_persons: int = 2,
                 width: Optional[int] = None, dropout: Optional[float] = None, image_size: int = 224):
        super().__init__()
        self.modalities = check_modalities(layout, modalities)
        if not self.modalities:
            raise ValueError("DeepActsNet needs at least one modality")
        width = width or PAPER_WIDTH
        self.num_persons, self.image_size = num_persons, image_size
        self.cnn, self.graph = nn.ModuleDict(), nn.ModuleDict()
        self.classifier = nn.ModuleDict()
        self._nodes: dict[str, int] = {}
        for m in self.modalities:
            trunk, dim = efficientnet_trunk(width / PAPER_WIDTH)
            self.cnn[m] = trunk
            self.classifier[f"cnn_{m}"] = nn.Sequential(nn.Dropout(0.2 if dropout is None else dropout),
                                                        nn.Linear(dim, num_classes))
            g = region_graph(layout, REGIONS[m])
            st = STGCN(num_classes, g, in_channels=3, num_persons=num_persons, base_channels=width,
                       dropout=0.5 if dropout is None else dropout)
            self.classifier[f"graph_{m}"], st.classifier = st.classifier, nn.Identity()
            self.graph[m] = st
            self._nodes[m] = g.num_joints
        # bones: the stamp's columns are bones in target order; on the graph each sits on its target joint
        self.register_buffer("bone_targets", torch.tensor([t for _, t in body_edges(layout)], dtype=torch.long),
                             persistent=False)

    def _graph_input(self, m: str, s: torch.Tensor) -> torch.Tensor:
        """(N, 3, T, persons x n) scaled stamp -> (N, 3, T, joints, persons) in [-1, 1]."""
        N, C, T, _ = s.shape
        x = s.reshape(N, C, T, self.num_persons, -1) / 127.5 - 1.0
        if m == "bones":
            full = x.new_full((N, C, T, self.num_persons, self._nodes[m]), -1.0)   # as missing values
            full[..., self.bone_targets] = x
            x = full
        return x.permute(0, 1, 2, 4, 3)

    def branch_logits(self, stamps: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Each branch's logits: {"cnn_<modality>": (N, K), "graph_<modality>": (N, K)}."""
        out = {}
        for m in self.modalities:
            s = stamps[m]
            if s.shape[-1] % self.num_persons:
                raise ValueError(f"stamp {m!r} has {s.shape[-1]} rows, not a multiple of {self.num_persons} persons")
            img = to_images(s, self.image_size) / 127.5 - 1.0
            out[f"cnn_{m}"] = self.classifier[f"cnn_{m}"](self.cnn[m](img))
            out[f"graph_{m}"] = self.classifier[f"graph_{m}"](self.graph[m](self._graph_input(m, s)))
        return out

    def forward(self, stamps: dict[str, torch.Tensor]) -> torch.Tensor:
        return torch.stack(list(self.branch_logits(stamps).values())).sum(0)
