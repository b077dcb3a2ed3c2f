"""Deep Action Stamps (DeepActsNet, Asif et al., AAAI 2021): per modality a 3-channel map with time along one
axis and joints along the other, scaled to 0–255 by statistics of the training data.

What the paper fixes, as built here (per person; `raw_stamps`):
  body    C = x, y, z of the body joints (3D from the shards' `keypoints_3d` when the clip has it)
  hands   C = x, y, x + y of the 2 x 21 finger joints (2D)
  face    C = x, y, x + y of the face landmarks (2D; NTU-X's 51 here, the paper's 68)
  bones   C = the vector from source to target joint along the body's edges (x, y, z, as body), edges
          directed away from the body centre (`body_edges`: one per non-root body joint)
  flow    C = fx, fy, fx + fy of the optical flow at the body joints (the shards' `flow` column)
  scaled: (p - c_min) / (c_max - c_min) x 255 per modality and channel, c_min / c_max over the training split
  (`StampStats`), then each map resized to 224 x 224 (`to_images`, on the model's device).

What it leaves open, and the choice made:
  - coordinates before scaling: 2D in frame pixels minus the person's body centre over the clip (so the min/max
    of the data are not dominated by where people stand in the frame); 3D in metres as stored, centred alike;
  - no 3D in a clip (fit3d off and no metric world points): body and bones take z = 0;
  - several people: their maps are stacked along the joint axis (H = persons x joints), an absent person's rows
    left missing;
  - missing values (joint not found, last frame of flow): set to 0 after scaling (the bottom of the range).
A layout without a modality's joints cannot give it: COCO-17 and Posetics-17 have body joints only (body, bones,
flow); asking them for hands or face raises `MissingModality` naming what the layout has. NTU-X 118 has all
five; NTU-X 67 all but face.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Optional

import numpy as np

from schemas.layouts.base import Layout
from schemas.train import MODALITIES
from schemas.train import MODALITY_REGIONS as REGIONS
from schemas.train import modality_fits

from ..quiet import nan_warnings_silenced



class MissingModality(ValueError):
    """A layout (or a build without the flow stage) that cannot give a requested modality."""


def check_modalities(layout: Layout, modalities: Iterable[str]) -> tuple[str, ...]:
    """The modalities, validated against the layout's regions."""
    mods = tuple(modalities)
    unknown = [m for m in mods if m not in MODALITIES]
    if unknown:
        raise MissingModality(f"unknown modalities {unknown}; known: {', '.join(MODALITIES)}")
    has = [m for m in MODALITIES if modality_fits(m, layout.regions)]
    lacking = [m for m in mods if m not in has]
    if lacking:
        raise MissingModality(f"layout {layout.name} has no joints for {lacking} (it has regions "
                              f"{sorted(layout.regions)}: modalities {has})")
    return mods


def body_edges(layout: Layout) -> list[tuple[int, int]]:
    """The body's bones as (source, target) positions within the body region: every body joint but the root,
    from its parent in the breadth-first tree grown from the centre (`graph.parents`), in target order. A tree:
    one bone per non-root joint (the bone stream's convention, so DeepActsNet's graph branch puts each bone on
    its target joint); where the body's edges close a cycle (COCO-17's head) the tree keeps one path."""
    from .graph import parents, region_graph
    par = parents(region_graph(layout, ("body",)))
    return [(int(p), v) for v, p in enumerate(par) if p != v]


def _centre(xy: np.ndarray, body_xy: np.ndarray) -> np.ndarray:
    """xy (M, T, N, C) minus each person's mean body position over the clip (NaN-aware; 0 if none)."""
    with np.errstate(invalid="ignore"), nan_warnings_silenced():
        c = np.nanmean(body_xy.reshape(body_xy.shape[0], -1, body_xy.shape[-1]), axis=1)
    return xy - np.nan_to_num(c)[:, None, None, :]


@dataclass(frozen=True)
class _Clip:
    layout: Layout
    xy: np.ndarray              # (M, T, V, 2) frame pixels, NaN where missing
    body_xy: np.ndarray         # (M, T, B, 2)
    body3: np.ndarray           # (M, T, B, 3) centred; z = 0 without 3D
    flow: Optional[np.ndarray]  # (M, T, B, 2) or None


def _planar(c: _Clip, regions: tuple[str, ...]) -> np.ndarray:
    p = _centre(c.xy[:, :, [j for r in regions for j in c.layout.regions[r]]], c.body_xy)
    return np.concatenate([p, p[..., :1] + p[..., 1:2]], axis=-1)


def _bones(c: _Clip) -> np.ndarray:
    e = np.array(body_edges(c.layout))
    return c.body3[:, :, e[:, 1]] - c.body3[:, :, e[:, 0]]


def _flow(c: _Clip) -> np.ndarray:
    if c.flow is None:
        raise MissingModality("no `flow` column in these shards: build with `flow: {enabled: true}`")
    f = c.flow.astype(np.float32)
    return np.concatenate([f, f[..., :1] + f[..., 1:2]], axis=-1)


BUILDERS = {                                           # modality -> (M, T, N, 3)
    "body": lambda c: c.body3,
    "hands": lambda c: _planar(c, ("left_hand", "right_hand")),
    "face": lambda c: _planar(c, ("face",)),
    "bones": _bones,
    "flow": _flow,
}


def raw_stamps(layout: Layout, kp: np.ndarray, kp3d: Optional[np.ndarray], flow: Optional[np.ndarray],
               modalities: Iterable[str]) -> dict[str, np.ndarray]:
    """One clip's unscaled stamps: kp (M, T, V, 3) x, y, score; kp3d (M, T, V, 4) or None; flow (M, T, B, 2) at
    the body joints or None -> {modality: (3, T, M x N) float32, NaN where missing}."""
    mods = check_modalities(layout, modalities)
    T = kp.shape[1]
    body = list(layout.regions["body"])
    xy = np.where((kp[..., 2:3] > 0), kp[..., :2], np.nan).astype(np.float32)
    body_xy = xy[:, :, body]
    if kp3d is not None and np.isfinite(kp3d[:, :, body, :3]).any():
        b3 = np.where(kp3d[:, :, body, 3:4] > 0, kp3d[:, :, body, :3], np.nan).astype(np.float32)
        b3 = _centre(b3, b3)
    else:
        flat = _centre(body_xy, body_xy)
        b3 = np.concatenate([flat, np.where(np.isfinite(flat[..., :1]), 0.0, np.nan)], axis=-1).astype(np.float32)
    clip = _Clip(layout, xy, body_xy, b3, flow)
    out: dict[str, np.ndarray] = {}
    for m in mods:
        v = BUILDERS[m](clip)
        # (M, T, N, 3) -> (3, T, M x N): persons stacked along the joint axis
        out[m] = np.ascontiguousarray(v.transpose(3, 1, 0, 2).reshape(3, T, -1)).astype(np.float32)
    return out


@dataclass
class StampStats:
    """Per modality and channel, the min and max over the training data (finite values only)."""
    low: dict[str, list[float]] = field(default_factory=dict)
    high: dict[str, list[float]] = field(default_factory=dict)

    def update(self, stamps: dict[str, np.ndarray]) -> None:
        for m, v in stamps.items():
            flat = v.reshape(3, -1)
            ok = np.isfinite(flat)
            if not ok.any():
                continue
            lo = np.where(ok, flat, np.inf).min(1)
            hi = np.where(ok, flat, -np.inf).max(1)
            old_lo, old_hi = self.low.get(m), self.high.get(m)
            self.low[m] = np.minimum(lo, old_lo if old_lo is not None else np.inf).tolist()
            self.high[m] = np.maximum(hi, old_hi if old_hi is not None else -np.inf).tolist()

    def scale(self, stamps: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """(p - c_min) / (c_max - c_min) x 255, clipped to [0, 255] (values outside the training range), missing
        values 0; a channel constant in the training data maps to 0."""
        out = {}
        for m, v in stamps.items():
            if m not in self.low:
                raise KeyError(f"no statistics for modality {m!r} (computed on the training split: "
                               f"{sorted(self.low)})")
            lo = np.asarray(self.low[m], np.float32)[:, None, None]
            span = np.asarray(self.high[m], np.float32)[:, None, None] - lo
            s = np.where(span > 0, (v - lo) / np.where(span > 0, span, 1.0) * 255.0, 0.0)
            out[m] = np.nan_to_num(np.clip(s, 0.0, 255.0), nan=0.0).astype(np.float32)
        return out

    def save(self, path: Path) -> None:
        """Atomically (a resumed run reads it back)."""
        from ..io.atomic import atomic_write_bytes
        atomic_write_bytes(Path(path), json.dumps({"low": self.low, "high": self.high}, indent=1,
                                                  sort_keys=True).encode())

    @classmethod
    def load(cls, path: Path) -> "StampStats":
        d = json.loads(Path(path).read_text())
        return cls(low=d["low"], high=d["high"])


def to_images(stamps, size: int = 224):
    """A batch of scaled stamps (B, 3, T, H) torch tensor -> (B, 3, size, size), bilinear, on its own device
    (the GPU when the batch is there)."""
    import torch.nn.functional as F
    return F.interpolate(stamps, size=(size, size), mode="bilinear", align_corners=False)
