"""`OUT/manifest.parquet`: one row per input video. Fixed columns first; adapter columns (e.g. NTU's
split_xsub/split_xview/split_xset) and per-stage `<stage>_seconds` / `<stage>_key` / `<stage>_cached` follow."""
from __future__ import annotations

import pyarrow as pa

FIXED = [
    ("clip_id", pa.string()), ("source_path", pa.string()), ("label", pa.int32()), ("label_name", pa.string()),
    ("split", pa.string()), ("status", pa.string()), ("stage", pa.string()), ("reason", pa.string()),
    ("n_frames", pa.int32()), ("n_persons", pa.int32()),
]
STATUSES = ("ok", "filtered", "failed")


def manifest_schema(extra_cols: list[str], stages: list[str]) -> pa.Schema:
    fields = [pa.field(n, t) for n, t in FIXED]
    fields += [pa.field(c, pa.string()) for c in extra_cols]
    for s in stages:
        fields += [pa.field(f"{s}_seconds", pa.float64()), pa.field(f"{s}_key", pa.string()),
                   pa.field(f"{s}_cached", pa.bool_())]
    return pa.schema(fields)
