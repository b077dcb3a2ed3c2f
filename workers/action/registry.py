"""The action models `skelforge train --model` knows, and what each needs from the data.

A `ModelEntry` builds the model for a layout and class count, and says which input streams it takes, how the
shards' coordinates should be normalised for it, and how many frames a clip is sampled to.
  stgcn    ST-GCN (Yan et al. 2018) on the layout's graph — streams joint, bone, motion; dropout 0.5 in
           every block as the authors' NTU config (it sits before the next block's BatchNorm, so on tiny data
           its train/eval variance shift hurts: `train.dropout: 0` there)
  unik     UNIK (Yang et al. 2021), graph-free spatial attention — streams joint, bone, motion
  posec3d  PoseConv3D's Pose-SlowOnly on pseudo heatmaps (Duan et al. 2022) — joint heatmaps, or limb
           heatmaps for the bone stream; fed pixel coordinates (its heatmaps crop the subject themselves)
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional

from torch import nn

from schemas.layouts.base import Layout


@dataclass(frozen=True)
class ModelEntry:
    build: Callable[..., nn.Module]     # (classes, layout, in_channels, width, stream, dropout) -> model
    streams: tuple[str, ...]
    normalize: str
    frames: int
    paper_width: int


def _stgcn(n, layout, c, width, stream, dropout=None):
    from .stgcn import STGCN
    return STGCN(n, layout, in_channels=c, base_channels=width or 64, dropout=0.5 if dropout is None else dropout)


def _unik(n, layout, c, width, stream, dropout=None):
    from .unik import UNIK
    if dropout:
        raise ValueError("unik has no dropout (as in the paper)")
    return UNIK(n, layout, in_channels=c, base_channels=width or 64)


def _posec3d(n, layout, c, width, stream, dropout=None):
    from .posec3d import PoseC3D
    return PoseC3D(n, layout, mode="limb" if stream == "bone" else "joint", base_channels=width or 32,
                   dropout=0.5 if dropout is None else dropout)


MODELS: dict[str, ModelEntry] = {
    "stgcn": ModelEntry(_stgcn, ("joint", "bone", "motion"), "center", 64, 64),
    "unik": ModelEntry(_unik, ("joint", "bone", "motion"), "center", 64, 64),
    "posec3d": ModelEntry(_posec3d, ("joint", "bone"), "none", 48, 32),
}


def get_model(name: str) -> ModelEntry:
    try:
        return MODELS[name]
    except KeyError:
        raise KeyError(f"unknown model {name!r}; known: {', '.join(MODELS)}") from None
