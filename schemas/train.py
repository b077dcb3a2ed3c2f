"""The `train:` config section: one training run of an action model on a build's shards. The same fields are
`skelforge train`'s options; `train.enabled: true` makes the DAG's `train` stage run it after `shards`."""
from __future__ import annotations

from typing import Literal, Optional

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from .marks import EXECUTION

MODEL_NAMES = ("stgcn", "unik", "posec3d", "deepacts")
MODALITIES = ("body", "hands", "face", "bones", "flow")        # Deep Action Stamps (workers/action/stamps.py)
MODALITY_REGIONS = {"body": ("body",), "hands": ("left_hand", "right_hand"), "face": ("face",), "bones": ("body",),
                    "flow": ("body",)}                         # the layout regions each stamp is made from


def modality_fits(modality: str, regions) -> bool:
    """Whether a layout with these regions holds every joint the stamp `modality` is made from."""
    return all(r in regions for r in MODALITY_REGIONS[modality])


STREAMS = ("joint", "bone", "motion")
REGIONS = ("body", "left_hand", "right_hand", "face")


class TrainConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, protected_namespaces=())

    enabled: bool = Field(False, description="run the DAG's train stage after shards (OUT/runs/<run>)")
    run: str = Field("default", description="run name under OUT/runs (the DAG stage) ")
    layout: Optional[str] = Field(None, description="layout whose shards to train on (default: the first built)")
    regions: Optional[tuple[Literal["body", "left_hand", "right_hand", "face"], ...]] = Field(
        None, description="train on these regions of the layout only (e.g. [body] of ntu-x-118 = 25 joints)")
    model: Literal["stgcn", "unik", "posec3d", "deepacts"] = "stgcn"
    modalities: Optional[tuple[Literal[MODALITIES], ...]] = Field(
        None, description="deepacts: the stamps to use (default: every one the layout and the build have; "
                          "flow needs a build with flow.enabled)")
    stamp_size: Optional[int] = Field(None, ge=64, description="deepacts: side of the square image each stamp is "
                                      "resized to for the CNN branches (default: the paper's 224; below 64 the "
                                      "EfficientNet's last stages are 1 x 1 and its BatchNorm fails in evaluation)")
    stream: Literal["joint", "bone", "motion", "all"] = Field(
        "joint", description="input stream; all = one model per stream, softmax scores fused")
    width: Optional[int] = Field(None, ge=1, description="base channel width (default: the paper's; smaller = faster)")
    dropout: Optional[float] = Field(None, ge=0, lt=1, description="dropout (default: the model's paper setting)")
    frames: Optional[int] = Field(None, ge=1, description="frames sampled per clip (default: the model's)")
    max_persons: int = Field(2, ge=1)
    epochs: int = Field(30, ge=1)
    batch_size: int = Field(16, ge=1)
    lr: float = Field(0.1, gt=0)
    weight_decay: float = Field(5e-4, ge=0)
    warmup_epochs: int = Field(0, ge=0)
    seed: int = 0
    device: str = Field("auto", description="auto (cuda when present) | cpu | cuda | cuda:N",
                        json_schema_extra=EXECUTION)
    amp: bool = Field(True, description="mixed precision on CUDA")
    num_workers: int = Field(0, ge=0, description="DataLoader worker processes", json_schema_extra=EXECUTION)
    train_split: str = "train"
    eval_split: str = "val"
    init_from: Optional[str] = Field(None, description="a run directory whose backbone weights start this run")
    freeze_backbone: bool = Field(False, description="with init_from: train the classifier only (linear probe)")
    hierarchy: tuple[int, ...] = Field((), description="superclass levels, e.g. [2, 4]: a second pass with "
                                                       "auxiliary classifiers over groups from the first pass's confusion")
    hierarchy_weight: float = Field(0.5, ge=0, description="loss weight of each auxiliary classifier")
    prune: bool = Field(False, description="then prune the lowest-L2 filters iteratively until accuracy drops twice")
    prune_ratio: float = Field(0.1, gt=0, lt=1)
    prune_epochs: int = Field(2, ge=1, description="fine-tuning epochs after each pruning round")
    prune_max_rounds: int = Field(20, ge=1, description="stop after this many rounds even without two drops")

    @field_validator("device")
    @classmethod
    def _device(cls, v):
        if v not in ("auto", "cpu", "cuda") and not (v.startswith("cuda:") and v[5:].isdigit()):
            raise ValueError("device must be auto, cpu, cuda or cuda:N")
        return v

    @field_validator("hierarchy")
    @classmethod
    def _levels(cls, v):
        if any(n < 2 for n in v):
            raise ValueError("each hierarchy level needs at least 2 groups")
        return v

    @model_validator(mode="after")
    def _combos(self):
        if self.freeze_backbone and not self.init_from:
            raise ValueError("freeze_backbone needs init_from (a pre-trained run)")
        if self.model == "unik" and self.dropout:
            raise ValueError("unik has no dropout (as in the paper); leave train.dropout unset")
        if self.model == "posec3d" and self.stream in ("motion", "all"):
            raise ValueError("posec3d takes stream joint (joint heatmaps) or bone (limb heatmaps)")
        if self.model != "deepacts" and (self.modalities is not None or self.stamp_size is not None):
            raise ValueError("modalities and stamp_size are deepacts options (its Deep Action Stamps)")
        if self.model == "deepacts":
            if self.stream in ("bone", "motion"):
                raise ValueError("deepacts takes stamps, not streams: leave stream as joint (its bones are the "
                                 "`bones` modality)")
            if self.hierarchy or self.prune:
                raise ValueError("deepacts has no hierarchical or pruning pass (they need a single backbone)")
            mods = self.modalities
            if mods is not None and (not mods or len(set(mods)) != len(mods)):
                raise ValueError("modalities: name each stamp once, at least one")
        return self
