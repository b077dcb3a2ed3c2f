"""A PyTorch `Dataset` of Deep Action Stamps (workers/action/stamps.py) over one layout's shards: each item is
({modality: tensor (3, length, max_persons x N) float32 in [0, 255]}, label), built on the fly from the row's
`keypoints`, `keypoints_3d` and `flow` columns.

- uniform temporal sampling to `length` frames (the paper's T = 60 for NTU), as `ShardDataset`;
- the first `max_persons` actors, absent ones missing (0 after scaling);
- scaling statistics: `fit_stats()` over this dataset (call it on the training split only) -> `StampStats`,
  saved with the run; the evaluation split's dataset is given the training statistics;
- the 224 x 224 resize is the model's first step (`stamps.to_images`), on its device, batched;
- files are opened lazily in each worker process (`DataLoader(num_workers > 0)`);
- `flow_in_shards(out, layout)`: whether every shard of the layout was written with the flow stage on (its
  metadata's `flow`), i.e. whether the `flow` stamp can be made.
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterable, Optional

import numpy as np

from schemas.layouts import get_layout

from ..action.stamps import StampStats, check_modalities, raw_stamps
from ..io.shard_codec import decode, file_metadata
from ..io.shard_reader import layout_files
from .shard_rows import ShardRows

COLUMNS = ["label", "keypoints", "keypoints_shape", "keypoints_3d", "keypoints_3d_shape", "flow", "flow_shape"]


class StampDataset(ShardRows):
    def __init__(self, out: Path, layout: str, modalities: Iterable[str], split: Optional[str] = None,
                 length: int = 60, max_persons: int = 2, stats: Optional[StampStats] = None):
        self.layout = get_layout(layout)
        self.modalities = check_modalities(self.layout, modalities)
        super().__init__(out, layout, split)
        self.length, self.max_persons, self.stats = length, max_persons, stats

    @staticmethod
    def _column(rows, r: int, name: str, scale) -> Optional[np.ndarray]:
        if name not in rows.column_names:                # format-1 shards have no flow column
            return None
        cell = rows.column(name)[r]
        if not cell.is_valid:
            return None
        return decode(cell.values, rows.column(f"{name}_shape")[r].as_py(), scale)

    def arrays(self, i: int) -> tuple[np.ndarray, Optional[np.ndarray], Optional[np.ndarray]]:
        """keypoints (M, length, V, 3), keypoints_3d or None, flow or None: sampled in time, persons padded."""
        rows, r, fi = self.locate(i, COLUMNS)
        s = self.scales[fi]
        kp = self._column(rows, r, "keypoints", s["keypoints"])
        kp3 = self._column(rows, r, "keypoints_3d", s["keypoints_3d"])
        flow = self._column(rows, r, "flow", None)
        T = kp.shape[1]
        idx = np.linspace(0, T - 1, self.length).round().astype(int) if T > 0 else np.zeros(self.length, int)
        return tuple(None if a is None else _persons(a[:, idx], self.max_persons) for a in (kp, kp3, flow))

    def raw(self, i: int) -> dict[str, np.ndarray]:
        return raw_stamps(self.layout, *self.arrays(i), self.modalities)

    def fit_stats(self, num_workers: int = 0) -> StampStats:
        """Min / max per modality and channel over every item (use on the training split only); the items are
        read by `num_workers` DataLoader processes when > 0 (the same statistics: min and max ignore order)."""
        from torch.utils.data import DataLoader
        stats = StampStats()
        for raw in DataLoader(_Raw(self), batch_size=None, num_workers=num_workers):
            stats.update({m: np.asarray(v) for m, v in raw.items()})
        return stats

    def __getitem__(self, i: int):
        import torch
        if self.stats is None:
            raise RuntimeError("StampDataset needs the training split's statistics: stats=train.fit_stats()")
        scaled = self.stats.scale(self.raw(i))
        return {m: torch.from_numpy(v) for m, v in scaled.items()}, int(self.labels[i])


class _Raw:
    """The unscaled stamps of a StampDataset's items, as a map-style dataset (for `fit_stats`' loader)."""

    def __init__(self, ds: StampDataset):
        self.ds = ds

    def __len__(self) -> int:
        return len(self.ds)

    def __getitem__(self, i: int) -> dict[str, np.ndarray]:
        return self.ds.raw(i)


def flow_in_shards(out: Path, layout: str) -> bool:
    import pyarrow.parquet as pq
    files = layout_files(out, layout)
    return bool(files) and all(file_metadata(pq.read_schema(f)).get("flow") for f in files)


def _persons(a: np.ndarray, m: int) -> np.ndarray:
    """The first m persons of a (M, T, ...) array; a missing person is NaN throughout (its scores too, which
    count as missing: NaN > 0 is false)."""
    out = np.full((m,) + a.shape[1:], np.nan, np.float32)
    out[:min(m, len(a))] = a[:m]
    return out
