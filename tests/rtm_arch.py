"""RTMPose / RTMW-size networks with random weights, exported to ONNX with the released exports' I/O:
input (B, 3, H, W) -> simcc_x (B, K, 2W), simcc_y (B, K, 2H), B a dynamic batch axis (as mmdeploy's
`pose-detection_simcc_onnxruntime_dynamic` export makes it). SYNTHETIC weights (the real files are downloads
this machine cannot make), real-size architecture: onnxruntime's cost per crop, on CPU or CUDA, is that of the
released networks, and rtmlib runs its real code path on them. Their keypoints mean nothing.

The architecture follows the RTMPose paper and mmpose's configs (written here, not copied): a CSPNeXt backbone
(P5: stem of three 3x3 convs, four stages of a stride-2 conv + CSP layer of CSPNeXt blocks — 3x3 conv, then a
depthwise 5x5 + pointwise conv — with channel attention, SPP in the last stage; BN + SiLU) and the RTMCC head
(7x7 conv to K maps, flattened, ScaleNorm + linear to 256, one gated attention unit over the K keypoint tokens,
linear SimCC classifiers at split ratio 2).

- `rtmpose-m`: CSPNeXt deepen 0.67 / widen 0.75 (768 channels), 256x192, K = 17 (mmpose's rtmpose-m COCO config;
  the published model has 13.59 M parameters — `parameters()` of this one is compared in the GPU check's output).
- `rtmw-l`: CSPNeXt deepen 1 / widen 1 (1024 channels), 384x288, K = 133: RTMW-l's backbone and head size; RTMW's
  CSPNeXtPAFPN neck is left out, so this costs somewhat less than the released RTMW-l.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn


def _cba(cin: int, cout: int, k: int, stride: int = 1, groups: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, k, stride, k // 2, groups=groups, bias=False),
                         nn.BatchNorm2d(cout), nn.SiLU())


class _NeXtBlock(nn.Module):
    def __init__(self, c: int, identity: bool):
        super().__init__()
        self.conv = _cba(c, c, 3)
        self.dw, self.pw = _cba(c, c, 5, groups=c), _cba(c, c, 1)
        self.identity = identity

    def forward(self, x):
        y = self.pw(self.dw(self.conv(x)))
        return x + y if self.identity else y


class _CSP(nn.Module):
    def __init__(self, c: int, blocks: int, identity: bool):
        super().__init__()
        mid = c // 2
        self.main, self.short = _cba(c, mid, 1), _cba(c, mid, 1)
        self.blocks = nn.Sequential(*[_NeXtBlock(mid, identity) for _ in range(blocks)])
        self.attention = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Conv2d(2 * mid, 2 * mid, 1), nn.Hardsigmoid())
        self.final = _cba(2 * mid, c, 1)

    def forward(self, x):
        y = torch.cat([self.blocks(self.main(x)), self.short(x)], 1)
        return self.final(y * self.attention(y))


class _SPP(nn.Module):
    def __init__(self, c: int, kernels=(5, 9, 13)):
        super().__init__()
        self.reduce = _cba(c, c // 2, 1)
        self.pools = nn.ModuleList(nn.MaxPool2d(k, 1, k // 2) for k in kernels)
        self.out = _cba(c // 2 * (len(kernels) + 1), c, 1)

    def forward(self, x):
        x = self.reduce(x)
        return self.out(torch.cat([x, *(p(x) for p in self.pools)], 1))


def cspnext(deepen: float, widen: float) -> nn.Sequential:
    # (in, out, blocks, identity, spp) per stage, P5
    stages = [(64, 128, 3, True, False), (128, 256, 6, True, False), (256, 512, 6, True, False),
              (512, 1024, 3, False, True)]
    c0 = int(64 * widen)
    layers = [_cba(3, c0 // 2, 3, 2), _cba(c0 // 2, c0 // 2, 3), _cba(c0 // 2, c0, 3)]
    for cin, cout, n, identity, spp in stages:
        cin, cout = int(cin * widen), int(cout * widen)
        layers.append(_cba(cin, cout, 3, 2))
        if spp:
            layers.append(_SPP(cout))
        layers.append(_CSP(cout, max(round(n * deepen), 1), identity))
    return nn.Sequential(*layers)


class _ScaleNorm(nn.Module):
    def __init__(self, dim: int, eps: float = 1e-5):
        super().__init__()
        self.scale, self.eps = dim ** -0.5, eps
        self.g = nn.Parameter(torch.ones(1))

    def forward(self, x):
        return x / (x.norm(dim=-1, keepdim=True) * self.scale).clamp(min=self.eps) * self.g


class _GAU(nn.Module):
    """Gated attention unit over the keypoint tokens (self-attention, squared-ReLU kernel, residual scale)."""

    def __init__(self, dim: int = 256, expansion: int = 2, s: int = 128):
        super().__init__()
        self.e, self.s = dim * expansion, s
        self.norm = _ScaleNorm(dim)
        self.uv = nn.Linear(dim, 2 * self.e + s, bias=False)
        self.gamma, self.beta = nn.Parameter(torch.rand(2, s)), nn.Parameter(torch.rand(2, s))
        self.o = nn.Linear(self.e, dim, bias=False)
        self.res = nn.Parameter(torch.ones(dim))

    def forward(self, x):
        u, v, base = torch.split(nn.functional.silu(self.uv(self.norm(x))), [self.e, self.e, self.s], dim=2)
        q, k = torch.unbind(base.unsqueeze(2) * self.gamma + self.beta, dim=2)
        kernel = torch.square(torch.relu(q @ k.transpose(1, 2) / math.sqrt(self.s)))
        return x * self.res + self.o(u * (kernel @ v))


class SimCCPose(nn.Module):
    def __init__(self, deepen: float, widen: float, k: int, w: int, h: int, hidden: int = 256):
        super().__init__()
        self.backbone = cspnext(deepen, widen)
        self.final = nn.Conv2d(int(1024 * widen), k, 7, 1, 3)
        flat = (w // 32) * (h // 32)
        self.mlp = nn.Sequential(_ScaleNorm(flat), nn.Linear(flat, hidden, bias=False))
        self.gau = _GAU(hidden)
        self.cls_x, self.cls_y = nn.Linear(hidden, 2 * w, bias=False), nn.Linear(hidden, 2 * h, bias=False)

    def forward(self, x):
        f = self.gau(self.mlp(torch.flatten(self.final(self.backbone(x)), 2)))
        return self.cls_x(f), self.cls_y(f)


@dataclass(frozen=True)
class Arch:
    deepen: float
    widen: float
    k: int
    w: int
    h: int


ARCHS = {"rtmpose-m": Arch(0.67, 0.75, 17, 192, 256), "rtmw-l": Arch(1.0, 1.0, 133, 288, 384)}


def build(name: str, seed: int = 0) -> SimCCPose:
    a = ARCHS[name]
    torch.manual_seed(seed)
    return SimCCPose(a.deepen, a.widen, a.k, a.w, a.h).eval()


def parameters(name: str) -> int:
    return sum(p.numel() for p in build(name).parameters())


def export(name: str, path: Path, seed: int = 0) -> Path:
    """The network with random weights as an ONNX file with the OpenMMLab export's names and shapes."""
    import warnings
    a = ARCHS[name]
    model = build(name, seed)
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (torch.zeros(1, 3, a.h, a.w),), str(path), dynamo=False, opset_version=17,
                          input_names=["input"], output_names=["simcc_x", "simcc_y"],
                          dynamic_axes={n: {0: "batch"} for n in ("input", "simcc_x", "simcc_y")})
    return Path(path)
