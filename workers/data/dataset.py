"""A PyTorch `Dataset` over one layout's shards: each item is (tensor (C, T, V, M) float32, label).

- uniform temporal sampling to a fixed `length` (frame indices np.linspace over the clip; shorter clips repeat
  frames), the first `max_persons` actors kept and the rest zero-padded;
- `normalize`: "none" (frame pixels), "screen" (x / width, y / height from the manifest, centred to [-1, 1]),
  "center" (per person and clip: minus the mean of its valid joints, divided by the larger side of their box);
- missing joints are 0 with score 0 (the `score` channel tells them apart);
- `joints`: keep only these joint indices, *before* normalising (a body-only view of NTU-X 118 is centred and
  scaled by the body alone, so nothing of the dropped joints leaks in);
- files are opened lazily in each worker process, so it works with `DataLoader(num_workers > 0)`;
- keypoints are decoded by `workers.io.shard_codec` with each file's own scales (1/16 px quantised integers in
  format-2 shards, float32 as stored in format-1 ones).
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional, Sequence

import numpy as np

from ..io.shard_codec import decode
from ..io.shard_reader import frame_sizes
from .shard_rows import ShardRows
from ..quiet import nan_warnings_silenced


class ShardDataset(ShardRows):
    def __init__(self, out: Path, layout: str, split: Optional[str] = None, length: int = 64, max_persons: int = 2,
                 normalize: str = "center", channels: tuple[str, ...] = ("x", "y", "score"),
                 joints: Optional[Sequence[int]] = None):
        if normalize not in ("none", "screen", "center"):
            raise ValueError("normalize must be none, screen or center")
        super().__init__(out, layout, split)
        self.length, self.max_persons, self.normalize = length, max_persons, normalize
        self.channels = [("x", "y", "score").index(c) for c in channels]
        self.joints = None if joints is None else np.asarray(joints, dtype=np.int64)
        self.sizes = frame_sizes(out) if normalize == "screen" else {}

    def _row(self, i: int) -> dict:
        rows, r, fi = self.locate(i, ["clip_id", "label", "keypoints", "keypoints_shape"])
        row = {k: rows.column(k)[r].as_py() for k in ("clip_id", "label", "keypoints_shape")}
        return row | {"keypoints": decode(rows.column("keypoints")[r].values, row["keypoints_shape"],
                                          self.scales[fi]["keypoints"])}

    def array(self, i: int) -> np.ndarray:
        row = self._row(i)
        kp = row["keypoints"]                                                                  # (M, T, V, 3)
        if self.joints is not None:
            kp = kp[:, :, self.joints]
        M, T = kp.shape[:2]
        idx = np.linspace(0, T - 1, self.length).round().astype(int) if T > 0 else np.zeros(self.length, int)
        kp = kp[:, idx]
        valid = kp[..., 2] > 0
        xy = kp[..., :2]
        if self.normalize == "screen":
            h, w = self.sizes.get(row["clip_id"], (0, 0))
            if h and w:
                xy = (xy / np.array([w, h], np.float32)) * 2 - 1
        elif self.normalize == "center":
            pts = np.where(valid[..., None], xy, np.nan)
            with np.errstate(invalid="ignore"), nan_warnings_silenced():
                c = np.nanmean(pts, axis=(1, 2), keepdims=True)
                ext = np.nanmax(pts, axis=(1, 2), keepdims=True) - np.nanmin(pts, axis=(1, 2), keepdims=True)
            s = np.nanmax(ext, axis=-1, keepdims=True)
            xy = (xy - np.nan_to_num(c)) / np.where(np.isfinite(s) & (s > 0), s, 1.0)
        out = np.concatenate([np.where(valid[..., None], xy, 0.0), np.where(valid, kp[..., 2], 0.0)[..., None]], -1)
        padded = np.zeros((self.max_persons,) + out.shape[1:], np.float32)
        padded[:min(M, self.max_persons)] = out[:self.max_persons]
        return padded[..., self.channels].transpose(3, 1, 2, 0)                              # (C, T, V, M)

    def __getitem__(self, i: int):
        import torch
        return torch.from_numpy(np.ascontiguousarray(self.array(i))), int(self.labels[i])

