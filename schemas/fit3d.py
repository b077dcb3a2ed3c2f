"""The `fit3d:` config section: 3D per person after `refine` — direct lifting always, SMPL-X fitting when a
model directory is given — and the automatic choice between them by back-projection."""
from __future__ import annotations

from pathlib import Path
from typing import Literal, Optional

from pydantic import BaseModel, ConfigDict, Field

from .marks import EXECUTION


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CameraConfig(_Section):
    fx: float = Field(..., gt=0, description="focal length in pixels (x)")
    fy: float = Field(..., gt=0, description="focal length in pixels (y)")
    cx: float = Field(..., description="principal point x in pixels")
    cy: float = Field(..., description="principal point y in pixels")


class SmplxConfig(_Section):
    model_dir: Optional[Path] = Field(None, description="folder with SMPLX_NEUTRAL.npz (licence-gated, "
                                                        "user-supplied); null = no SMPL-X fitting",
                                      json_schema_extra=EXECUTION)
    gender: Literal["neutral", "male", "female"] = "neutral"
    iterations: int = Field(600, ge=1, description="most L-BFGS iterations per fitting stage (a stage stops "
                                                   "earlier when it has converged)")
    device: str = Field("auto", description="auto (cuda when present) | cpu | cuda", json_schema_extra=EXECUTION)


class Fit3dConfig(_Section):
    enabled: bool = Field(False, description="run fit3d: 3D in the camera frame for every layout with 3D")
    camera: Optional[CameraConfig] = Field(None, description="intrinsics; null = focal length = larger image "
                                                             "side, principal point at the centre")
    smplx: SmplxConfig = SmplxConfig()
