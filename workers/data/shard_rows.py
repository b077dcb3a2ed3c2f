"""Row access shared by the shard datasets: one layout's shard files of a split, every row's (file, row group,
row), label and clip id, each file's decode scales, and the current row group read lazily with fresh file
handles in every worker process (`DataLoader(num_workers > 0)`)."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import pyarrow.parquet as pq

from ..io.parquet_shards import shard_split
from ..io.shard_codec import file_metadata, scales
from ..io.shard_reader import layout_files


class ShardRows:
    def __init__(self, out: Path, layout: str, split: Optional[str]):
        self.files = [f for f in layout_files(out, layout) if split is None or shard_split(f.name) == split]
        if not self.files:
            raise FileNotFoundError(f"no {layout} shards for split {split!r} in {out}")
        self.index: list[tuple[int, int, int]] = []          # (file, row group, row within group)
        self.labels: list[int] = []
        self.clip_ids: list[str] = []
        self.scales: list[dict] = []                        # each file's decode scales (None: format-1 floats)
        for fi, f in enumerate(self.files):
            pf = pq.ParquetFile(f)
            self.scales.append(scales(file_metadata(pf.schema_arrow)))
            for g in range(pf.num_row_groups):
                group = pf.read_row_group(g, columns=["label", "clip_id"])
                self.index += [(fi, g, r) for r in range(group.num_rows)]
                self.labels += group.column("label").to_pylist()
                self.clip_ids += group.column("clip_id").to_pylist()
        self._open: dict[int, pq.ParquetFile] = {}
        self._group: tuple[int, int] | None = None
        self._rows = None

    def __len__(self) -> int:
        return len(self.index)

    def __getstate__(self):
        state = dict(self.__dict__)
        state.update(_open={}, _group=None, _rows=None)
        return state

    def locate(self, i: int, columns: list[str]):
        """(row group table holding item i with those of `columns` the file has, row within it, file index)."""
        fi, g, r = self.index[i]
        if self._group != (fi, g):
            pf = self._open.setdefault(fi, pq.ParquetFile(self.files[fi]))
            self._rows = pf.read_row_group(g, columns=[c for c in columns if c in pf.schema_arrow.names])
            self._group = (fi, g)
        return self._rows, r, fi
