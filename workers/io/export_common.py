"""What every export shares: the destination check before any write, and fixed-size (M, T) padding.

- `guard(out, layout, dest, names)`: refuse (UnsafeDestination, a ValueError) before anything is written when DEST
  is, holds or lies inside the build's inputs, or when a file the export will write — `names(clip_ids, splits)`
  lists them, named from the shards' clip ids and splits — would land outside DEST;
- `pad(a)`: (M', T', V, C) -> (M_MAX, T_MAX, V, C) float32, zero-padded / cut, NaN -> 0.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .dest_guard import build_inputs, check_dest, within
from .shard_reader import layout_files

T_MAX, M_MAX = 300, 2


def guard(out: Path, layout: str, dest: Path, names) -> None:
    import pyarrow.parquet as pq
    t = pq.read_table(layout_files(out, layout), columns=["clip_id", "split"])
    check_dest(dest, *build_inputs(out))
    for name in names(t.column("clip_id").to_pylist(), sorted(set(t.column("split").to_pylist()))):
        within(dest, name)


def pad(a: np.ndarray, T: int = T_MAX, M: int = M_MAX) -> np.ndarray:
    out = np.zeros((M, T) + a.shape[2:], np.float32)
    m, t = min(M, a.shape[0]), min(T, a.shape[1])
    out[:m, :t] = np.nan_to_num(a[:m, :t])
    return out
