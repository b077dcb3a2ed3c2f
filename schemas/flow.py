"""The `flow:` config section: dense optical flow between consecutive output frames, sampled at each actor's
body joints (the `flow` stage, pipeline/stages/flow.py; DeepActs' flow modality)."""
from __future__ import annotations

from typing import Literal

from pydantic import ConfigDict, Field

from .strict_numbers import NoBoolNumbers

# the names of workers.flow.dense.METHODS (tests/test_flow.py checks they agree; schemas import nothing heavy)
FLOW_METHODS = ("dis-ultrafast", "dis-fast", "dis-medium", "farneback")


class FlowConfig(NoBoolNumbers):
    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = Field(False, description="run the flow stage: a `flow` column in every shard")
    method: Literal[FLOW_METHODS] = Field("dis-medium", description="OpenCV flow method (README *Optical flow*: "
                                                                  "cost and accuracy measured per method)")
    work_side: int = Field(480, ge=64, le=4096, description="flow is computed on a grey copy of the frame "
                           "shrunk to this long side (values are returned in frame pixels)")
    radius: int = Field(1, ge=0, le=4, description="joints sample the mean flow over a (2r+1)^2 grid of "
                        "working-size pixels around them")
