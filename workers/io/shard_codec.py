"""How shard keypoints are stored and read back (shard format 2); every in-repo reader decodes through here.

Stored (`keypoints`, `keypoints_3d`): flat `list<int32>` in (M, T, V, C) order, channel c of each point as
round(value * scale[c]) (half to even), the per-channel `scale` in the shard's `skelforge` metadata:
  keypoints     (x, y, score)    [16, 16, 255]          -> 1/16 px, scores in 1/255 steps
  keypoints_3d  (x, y, z, score) [1000, 1000, 1000, 255] -> 1 mm, scores in 1/255 steps
A non-finite value (a missing joint's NaN coordinates) is a Parquet null; a positive score that would round to 0
is stored as 1, so `score > 0` (present) survives. Columns written with BYTE_STREAM_SPLIT + zstd, no dictionary.
Decode: float32(value) / scale[c] along the last axis, null -> NaN. Error bound: |decoded - original| <= 0.5 /
scale[c] (1/32 px, 0.5 mm, 1/510), plus float32 rounding of the quotient; a positive score below 1/510 reads 1/255.
Shards of format 1 (no `keypoints_scale` in the metadata: float32 columns) decode as stored.

- `encode(a, scale)` -> pa.Array int32 with nulls (ValueError if a value does not fit int32);
- `decode(values, shape, scale)` -> np.ndarray float32 of `shape` (scale None: format 1, as stored);
- `codec_metadata()` -> the keys the writer adds to the `skelforge` metadata; `scales(meta)` reads them back;
- `decode_row(row, meta)` -> the row with `keypoints` / `keypoints_3d` as decoded (M, T, V, C) arrays (or None);
- `read_rows(path, columns=None, filters=None)` -> a shard file's rows, decoded.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from schemas.parquet import read_metadata

SHARD_FORMAT = 2
KEYPOINTS_SCALE = (16, 16, 255)
KEYPOINTS_3D_SCALE = (1000, 1000, 1000, 255)
ENCODED = {"keypoints": KEYPOINTS_SCALE, "keypoints_3d": KEYPOINTS_3D_SCALE}
ENCODING = "BYTE_STREAM_SPLIT"
DECODE_RULE = ("keypoints / keypoints_3d: list<int32>, flat (M, T, V, C) order; decoded = float32(value) / "
               "scale[c] for channel c (last axis) with keypoints_scale / keypoints_3d_scale; null = NaN "
               "(missing). Precision: 1/16 px (2D x, y), 1 mm (3D x, y, z), 1/255 (scores; a positive score "
               "below 1/510 is stored as 1/255)")
_INT32 = np.iinfo(np.int32)


def codec_metadata() -> dict:
    return {"shard_format": SHARD_FORMAT, "keypoints_scale": list(KEYPOINTS_SCALE),
            "keypoints_3d_scale": list(KEYPOINTS_3D_SCALE), "decode": DECODE_RULE}


def scales(meta: dict) -> dict[str, tuple | None]:
    """column -> its per-channel scale; None for a format-1 shard (float32 columns, read as stored)."""
    return {c: (tuple(meta[f"{c}_scale"]) if f"{c}_scale" in meta else None) for c in ENCODED}


def encode(a: np.ndarray, scale) -> pa.Array:
    """(..., C) float array -> flat int32 pyarrow array (nulls where the value is not finite)."""
    v = np.asarray(a, np.float64) * np.asarray(scale, np.float64)
    ok = np.isfinite(v)
    q = np.round(np.where(ok, v, 0.0))
    q[..., -1] = np.where((v[..., -1] > 0) & ok[..., -1], np.maximum(q[..., -1], 1), q[..., -1])
    if q.size and (q.min() < _INT32.min or q.max() > _INT32.max):
        raise ValueError(f"a keypoint value exceeds int32 at scale {list(scale)} (|value| up to "
                         f"{np.abs(np.where(ok, a, 0)).max():g})")
    return pa.array(q.astype(np.int32).ravel(), pa.int32(), mask=None if ok.all() else ~ok.ravel())


def decode(values, shape, scale) -> np.ndarray:
    """values: a list (None = null), a numpy array or a pyarrow array -> float32 array of `shape`."""
    if isinstance(values, (pa.Array, pa.ChunkedArray)):
        values = values.to_numpy(zero_copy_only=False)               # nulls -> NaN (float64)
    a = np.asarray(values, np.float32).reshape(shape)
    return a if scale is None else a / np.asarray(scale, np.float32)


def decode_row(row: dict, meta: dict) -> dict:
    s = scales(meta)
    out = dict(row)
    for col in ENCODED:
        if col in row:
            out[col] = None if row[col] is None else decode(row[col], row[f"{col}_shape"], s[col])
    return out


def read_rows(path: Path, columns: list[str] | None = None, filters=None) -> list[dict]:
    """A shard file's rows as dicts, keypoints decoded (a decoded column needs its `_shape` column: added)."""
    if columns is not None:
        columns = list(dict.fromkeys(columns + [f"{c}_shape" for c in ENCODED if c in columns]))
    t = pq.read_table(path, columns=columns, filters=filters)
    meta = file_metadata(t.schema)
    enc = [c for c in ENCODED if c in t.column_names]
    rows = t.drop_columns(enc).to_pylist()
    for col in enc:
        lists = t.column(col)
        for r, v in zip(rows, lists):
            r[col] = v.values if v.is_valid else None              # the row's values as a pyarrow array
    return [decode_row(r, meta) for r in rows]


def file_metadata(schema: pa.Schema) -> dict:
    """The `skelforge` metadata of a shard's schema ({} where there is none)."""
    return read_metadata(schema) if schema.metadata and b"skelforge" in schema.metadata else {}
