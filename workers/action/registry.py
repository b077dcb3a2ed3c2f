"""The action models `skelforge train --model` knows, and what each needs from the data.

A `ModelEntry` builds the model for a layout and class count, and says which input streams it takes, how the
shards' coordinates should be normalised for it, and how many frames a clip is sampled to.
  stgcn    ST-GCN (Yan et al. 2018) on the layout's graph — streams joint, bone, motion; dropout 0.5 in
           every block as the authors' NTU config (it sits before the next block's BatchNorm, so on tiny data
           its train/eval variance shift hurts: `train.dropout: 0` there)
  unik     UNIK (Yang et al. 2021), graph-free spatial attention — streams joint, bone, motion
  posec3d  PoseConv3D's Pose-SlowOnly on pseudo heatmaps (Duan et al. 2022) — joint heatmaps, or limb
           heatmaps for the bone stream; fed pixel coordinates (its heatmaps crop the subject themselves)
  deepacts DeepActsNet (Asif et al. 2021): a CNN and a graph branch per Deep Action Stamp modality, scores
           summed; fed stamps (`inputs="stamps"`: body, hands, face, bones, flow) instead of streams; T = 60
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional

from torch import nn

from schemas.layouts.base import Layout


@dataclass(frozen=True)
class BuildArgs:
    """What a model is built from: the run's class count and layout, and its TrainConfig's choices."""
    classes: int
    layout: Layout
    in_channels: int = 3
    width: Optional[int] = None
    stream: str = "joint"
    dropout: Optional[float] = None
    persons: int = 2
    modalities: tuple[str, ...] = ()     # deepacts: the stamps it takes
    stamp_size: int = 224                # deepacts: the CNN branches' image side


@dataclass(frozen=True)
class ModelEntry:
    build: Callable[[BuildArgs], nn.Module]
    streams: tuple[str, ...]
    normalize: str
    frames: int
    inputs: str = "skeleton"             # skeleton: (C, T, V, M) tensors through a stream; stamps: Deep Action Stamps
    streamed: bool = True                # the stream transform is applied to the batch (else the model takes it raw)


def _stgcn(a: BuildArgs):
    from .stgcn import STGCN
    return STGCN(a.classes, a.layout, in_channels=a.in_channels, base_channels=a.width or 64,
                 dropout=0.5 if a.dropout is None else a.dropout)


def _unik(a: BuildArgs):
    from .unik import UNIK
    if a.dropout:
        raise ValueError("unik has no dropout (as in the paper)")
    return UNIK(a.classes, a.layout, in_channels=a.in_channels, base_channels=a.width or 64)


def _posec3d(a: BuildArgs):
    from .posec3d import PoseC3D
    return PoseC3D(a.classes, a.layout, mode="limb" if a.stream == "bone" else "joint", base_channels=a.width or 32,
                   dropout=0.5 if a.dropout is None else a.dropout)


def _deepacts(a: BuildArgs):
    from .deepacts import DeepActsNet
    return DeepActsNet(a.classes, a.layout, a.modalities, num_persons=a.persons, width=a.width, dropout=a.dropout,
                       image_size=a.stamp_size)


MODELS: dict[str, ModelEntry] = {
    "stgcn": ModelEntry(_stgcn, ("joint", "bone", "motion"), "center", 64),
    "unik": ModelEntry(_unik, ("joint", "bone", "motion"), "center", 64),
    "posec3d": ModelEntry(_posec3d, ("joint", "bone"), "none", 48, streamed=False),
    "deepacts": ModelEntry(_deepacts, ("joint",), "none", 60, inputs="stamps", streamed=False),
}


def get_model(name: str) -> ModelEntry:
    try:
        return MODELS[name]
    except KeyError:
        raise KeyError(f"unknown model {name!r}; known: {', '.join(MODELS)}") from None
