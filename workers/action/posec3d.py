"""PoseConv3D (Duan et al., CVPR 2022): the Pose-SlowOnly 3D-CNN over pseudo heatmap volumes (torch).

Contract:
- `PoseSlowOnly(in_channels=17, base_channels=32, stage_blocks=(4, 6, 3), ...)`: pyskl's `ResNet3dSlowOnly` as
  the PoseConv3D configs use it (`configs/posec3d/slowonly_r50_*`: depth 50 truncated to res3-res5, i.e.
  num_stages=3, stage_blocks=(4, 6, 3), conv1 kernel (1, 7, 7) with stride 1 and no spatial pooling stride,
  inflate=(0, 1, 1) in the 3x1x1 style, spatial_strides=(2, 2, 2), temporal_strides=(1, 1, 2), dilations 1),
  with bottleneck blocks (1x1x1 or 3x1x1 -> 1x3x3 (strided) -> 1x1x1, expansion 4; projection shortcut conv +
  BN where the shape changes). Input (N, C, T, H, W) for any C (17 / 67 / 118 joints, or limbs); output the
  last stage's feature map (N, `feat_dim`, T', H', W'), `feat_dim` = 4 * base_channels * 2 ** (stages - 1)
  = 512 by default; 48x56x56 -> 24x7x7. Initialised as pyskl: Kaiming-normal (fan_out) convs, BN weight 1 /
  bias 0, and the last BN of every block zeroed (zero_init_residual).
  Size at the paper's setting (in_channels=17, 48x56x56; paper: 2.0M parameters, 15.9 GFLOPs): 1,994,080
  parameters; 15.63 G multiply-adds in the convolutions, 15.85 G once BN (x2, affine), ReLU and max-pool
  element operations are added the way mmcv's counter (used by pyskl and the paper) adds them. pyskl/mmcv
  report multiply-adds as "FLOPs"; `torch.utils.flop_counter.FlopCounterMode` counts 2 FLOPs per multiply-add
  (convolutions and matmuls only), so `backbone_gmacs` halves its total.
- `PoseC3D(num_classes, layout, mode="joint" | "limb", ...)`: skeleton batch -> class logits. It takes the
  same skeleton tensors the GCNs take, (N, C, T, V, M) with channels (x, y, score) as
  `workers.data.dataset.ShardDataset` yields them (or (N, M, T, V, C) with `input_format="nmtvc"`), builds the
  pseudo heatmap volumes internally (`workers.action.heatmaps.pseudo_heatmaps`, on the input's device, without
  gradients; random frame offsets in training mode from a seeded generator that advances one step per call,
  segment centres in eval mode) and classifies them with the I3D-style head: global average pooling, dropout,
  a linear classifier. Channels: V joint heatmaps (`mode="joint"`) or one per layout edge (`mode="limb"`).
  Coordinates are expected in pixels (`ShardDataset(normalize="none")`): the crop's minimal box `min_size` is in
  input units (pyskl's 10 px); pass `min_size=0` for coordinates already normalised.
  `features(x)` -> (N, feat_dim) pooled embeddings, `classifier` the final `nn.Linear` (linear probing),
  `freeze_backbone()` stops the backbone's gradients and BN statistics. `base_channels` / `stage_blocks` shrink
  the network (tests).
"""
from __future__ import annotations

from typing import Sequence, Union

import torch
from torch import nn

from schemas.layouts import Layout, get_layout

from .heatmaps import nctvm_to_nmtvc, pseudo_heatmaps


class ConvBN(nn.Sequential):
    """Conv3d (no bias) + BatchNorm3d (+ ReLU): mmcv's ConvModule as pyskl configures it."""

    def __init__(self, cin: int, cout: int, kernel, stride=1, padding=0, relu: bool = True):
        super().__init__()
        self.conv = nn.Conv3d(cin, cout, kernel, stride=stride, padding=padding, bias=False)
        self.bn = nn.BatchNorm3d(cout)
        if relu:
            self.relu = nn.ReLU(inplace=True)


class Bottleneck3d(nn.Module):
    """ResNet bottleneck in 3D; `inflate` makes the first conv 3x1x1 (temporal), else 1x1x1."""

    expansion = 4

    def __init__(self, inplanes: int, planes: int, stride: tuple[int, int] = (1, 1), inflate: bool = False):
        super().__init__()
        st, ss = stride
        self.conv1 = ConvBN(inplanes, planes, (3, 1, 1) if inflate else 1, padding=(1, 0, 0) if inflate else 0)
        self.conv2 = ConvBN(planes, planes, (1, 3, 3), stride=(st, ss, ss), padding=(0, 1, 1))
        self.conv3 = ConvBN(planes, planes * self.expansion, 1, relu=False)
        self.downsample = None
        if st != 1 or ss != 1 or inplanes != planes * self.expansion:
            self.downsample = ConvBN(inplanes, planes * self.expansion, 1, stride=(st, ss, ss), relu=False)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        return self.relu(self.conv3(self.conv2(self.conv1(x))) + identity)


class PoseSlowOnly(nn.Module):
    """The SlowOnly ResNet3d backbone of PoseConv3D (see the module docstring)."""

    def __init__(self, in_channels: int = 17, base_channels: int = 32, stage_blocks: Sequence[int] = (4, 6, 3),
                 inflate: Sequence[int] = (0, 1, 1), spatial_strides: Sequence[int] = (2, 2, 2),
                 temporal_strides: Sequence[int] = (1, 1, 2), conv1_kernel: tuple[int, int, int] = (1, 7, 7),
                 conv1_stride: tuple[int, int] = (1, 1), pool1_stride: tuple[int, int] = (1, 1),
                 zero_init_residual: bool = True):
        super().__init__()
        if not len(stage_blocks) == len(inflate) == len(spatial_strides) == len(temporal_strides):
            raise ValueError("stage_blocks, inflate, spatial_strides and temporal_strides need one entry per stage")
        self.in_channels = in_channels
        self.conv1 = ConvBN(in_channels, base_channels, conv1_kernel,
                            stride=(conv1_stride[0], conv1_stride[1], conv1_stride[1]),
                            padding=tuple((k - 1) // 2 for k in conv1_kernel))
        self.maxpool = nn.MaxPool3d((1, 3, 3), stride=(pool1_stride[0], pool1_stride[1], pool1_stride[1]),
                                    padding=(0, 1, 1))
        inplanes, stages = base_channels, []
        for i, blocks in enumerate(stage_blocks):
            planes = base_channels * 2 ** i
            layers = [Bottleneck3d(inplanes, planes, (temporal_strides[i], spatial_strides[i]), bool(inflate[i]))]
            inplanes = planes * Bottleneck3d.expansion
            layers += [Bottleneck3d(inplanes, planes, (1, 1), bool(inflate[i])) for _ in range(1, blocks)]
            stages.append(nn.Sequential(*layers))
        self.stages = nn.Sequential(*stages)
        self.feat_dim = inplanes
        self._init_weights(zero_init_residual)

    def _init_weights(self, zero_init_residual: bool) -> None:
        for m in self.modules():
            if isinstance(m, nn.Conv3d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm3d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
        if zero_init_residual:
            for m in self.modules():
                if isinstance(m, Bottleneck3d):
                    nn.init.zeros_(m.conv3.bn.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.stages(self.maxpool(self.conv1(x)))


def count_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def backbone_gmacs(backbone: nn.Module, input_shape: tuple[int, ...] = (1, 17, 48, 56, 56),
                   device: Union[str, torch.device] = "cpu") -> float:
    """Multiply-adds (G) of one forward pass, counted by FlopCounterMode (2 FLOPs per MAC) and halved.

    On `device="meta"` nothing is computed: the count comes from the same operator calls on shapes only.
    """
    from torch.utils.flop_counter import FlopCounterMode
    x = torch.zeros(input_shape, device=device)
    was_training = backbone.training
    backbone.eval()
    counter = FlopCounterMode(display=False)
    with torch.no_grad(), counter:
        backbone(x)
    backbone.train(was_training)
    return counter.get_total_flops() / 2 / 1e9


class PoseC3D(nn.Module):
    """Skeleton batch -> pseudo heatmaps -> Pose-SlowOnly -> I3D head logits (see the module docstring)."""

    def __init__(self, num_classes: int, layout: Union[str, Layout] = "coco-17", mode: str = "joint",
                 clip_len: int = 48, size: Union[int, tuple[int, int]] = 56, sigma: float = 0.6,
                 base_channels: int = 32, stage_blocks: Sequence[int] = (4, 6, 3), dropout: float = 0.5,
                 input_format: str = "nctvm", padding: float = 0.25, hw_ratio: float | None = 1.0,
                 min_size: float = 10.0, seed: int = 0):
        super().__init__()
        if mode not in ("joint", "limb"):
            raise ValueError("mode must be 'joint' or 'limb'")
        if input_format not in ("nctvm", "nmtvc"):
            raise ValueError("input_format must be 'nctvm' (GCN/dataset batches) or 'nmtvc'")
        self.layout = get_layout(layout) if isinstance(layout, str) else layout
        self.mode, self.input_format = mode, input_format
        self.heatmap_kwargs = dict(mode=mode, edges=self.layout.edges, clip_len=clip_len, size=size, sigma=sigma,
                                   padding=padding, hw_ratio=hw_ratio, min_size=min_size)
        self.seed, self._calls, self._frozen = seed, 0, False
        in_channels = self.layout.num_joints if mode == "joint" else len(self.layout.edges)
        self.backbone = PoseSlowOnly(in_channels, base_channels, stage_blocks)
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(self.backbone.feat_dim, num_classes)
        nn.init.normal_(self.classifier.weight, std=0.01)
        nn.init.zeros_(self.classifier.bias)

    def heatmaps(self, x: torch.Tensor) -> torch.Tensor:
        """(N, C_in, T, V, M) skeletons (or (N, M, T, V, C_in)) -> (N, C, clip_len, H, W) heatmap volumes."""
        skel = nctvm_to_nmtvc(x) if self.input_format == "nctvm" else x
        generator = None
        if self.training:
            generator = torch.Generator().manual_seed(self.seed + self._calls)
            self._calls += 1
        with torch.no_grad():
            return pseudo_heatmaps(skel, train=self.training, generator=generator, **self.heatmap_kwargs)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Skeletons -> (N, feat_dim) globally average-pooled backbone features."""
        return self.backbone(self.heatmaps(x)).mean(dim=(2, 3, 4))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.dropout(self.features(x)))

    def freeze_backbone(self) -> None:
        """Linear probing: no gradients into the backbone and its BN statistics fixed (eval) from now on."""
        for p in self.backbone.parameters():
            p.requires_grad_(False)
        self._frozen = True
        self.backbone.eval()

    def train(self, mode: bool = True) -> "PoseC3D":
        super().train(mode)
        if self._frozen:
            self.backbone.eval()
        return self
