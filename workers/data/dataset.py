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
import pyarrow.parquet as pq

from ..io.parquet_shards import shard_split
from ..io.shard_codec import decode, file_metadata, scales
from ..io.shard_reader import frame_sizes, layout_files
from ..quiet import nan_warnings_silenced


class ShardDataset:
    def __init__(self, out: Path, layout: str, split: Optional[str] = None, length: int = 64, max_persons: int = 2,
                 normalize: str = "center", channels: tuple[str, ...] = ("x", "y", "score"),
                 joints: Optional[Sequence[int]] = None):
        if normalize not in ("none", "screen", "center"):
            raise ValueError("normalize must be none, screen or center")
        self.files = [f for f in layout_files(out, layout) if split is None or shard_split(f.name) == split]
        if not self.files:
            raise FileNotFoundError(f"no {layout} shards for split {split!r} in {out}")
        self.length, self.max_persons, self.normalize = length, max_persons, normalize
        self.channels = [("x", "y", "score").index(c) for c in channels]
        self.joints = None if joints is None else np.asarray(joints, dtype=np.int64)
        self.sizes = frame_sizes(out) if normalize == "screen" else {}
        self.index: list[tuple[int, int, int]] = []          # (file, row group, row within group)
        self.labels: list[int] = []
        self.scales: list = []                              # each file's keypoints scale (None: format-1 floats)
        for fi, f in enumerate(self.files):
            pf = pq.ParquetFile(f)
            self.scales.append(scales(file_metadata(pf.schema_arrow))["keypoints"])
            for g in range(pf.num_row_groups):
                labels = pf.read_row_group(g, columns=["label"]).column("label").to_pylist()
                self.index += [(fi, g, r) for r in range(len(labels))]
                self.labels += labels
        self._open: dict[int, pq.ParquetFile] = {}
        self._group: tuple[int, int] | None = None
        self._rows = None

    def __len__(self) -> int:
        return len(self.index)

    def __getstate__(self):                   # fresh file handles in every worker process
        state = dict(self.__dict__)
        state.update(_open={}, _group=None, _rows=None)
        return state

    def _row(self, i: int) -> dict:
        fi, g, r = self.index[i]
        if self._group != (fi, g):
            pf = self._open.setdefault(fi, pq.ParquetFile(self.files[fi]))
            self._rows = pf.read_row_group(g, columns=["clip_id", "label", "keypoints", "keypoints_shape"])
            self._group = (fi, g)
        row = {k: self._rows.column(k)[r].as_py() for k in ("clip_id", "label", "keypoints_shape")}
        return row | {"keypoints": decode(self._rows.column("keypoints")[r].values, row["keypoints_shape"],
                                          self.scales[fi])}

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

