"""Deterministic Parquet shards: `<split>-<i:05d>-of-<n:05d>.parquet`, clips sorted by id, a fixed number of
clips per shard, zstd, row groups of `row_group_clips` clips, each file written to a temporary name and renamed.
Same rows in -> byte-identical files out (no timestamps or random ids are written). `shard_plan` is the
assignment of clips to files; `write_shard` writes one file and needs nothing from the others, so a build writes
its shards as parallel tasks (pipeline/stages/shards.py) and `write_split` writes a split's in turn.
`keypoints` / `keypoints_3d` are stored as quantised integers (`shard_codec`: 1/16 px, 1 mm, scores in 1/255
steps; BYTE_STREAM_SPLIT, no dictionary); the writer adds the decode rule to the schema's `skelforge` metadata."""
from __future__ import annotations

import io
import json
import math
import re
from pathlib import Path
from typing import Callable, Iterable

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from .atomic import atomic_write_bytes
from .shard_codec import ENCODED, ENCODING, codec_metadata, encode, file_metadata


FLOAT_SPLIT = ("flow",)        # float32 columns stored BYTE_STREAM_SPLIT (no dictionary: values rarely repeat)


def shard_split(name: str) -> str | None:
    """The split a shard file name belongs to (a split may itself hold "-": `val-small-00000-of-00001.parquet`);
    None for a file that is not a shard."""
    m = re.fullmatch(r"(.+)-\d{5}-of-\d{5}\.parquet", name)
    return m.group(1) if m else None


def shard_names(split: str, n_clips: int, per_shard: int) -> list[str]:
    n = max(1, math.ceil(n_clips / per_shard))
    return [f"{split}-{i:05d}-of-{n:05d}.parquet" for i in range(n)]


def _row(clip: dict, kp: np.ndarray, kp3d: np.ndarray | None = None, prov: np.ndarray | None = None,
         frame_conf: np.ndarray | None = None, smplx: np.ndarray | None = None, flow: np.ndarray | None = None) -> dict:
    M, T = kp.shape[:2]
    row = {k: clip[k] for k in ("clip_id", "label", "label_name", "split")}
    row.update(n_frames=int(T), n_persons=int(M), keypoints=encode(kp, ENCODED["keypoints"]),
               keypoints_shape=list(kp.shape), keypoints_3d=None, keypoints_3d_shape=None,
               provenance=None if prov is None else prov.astype(np.int8).ravel(),
               frame_confidence=None if frame_conf is None else frame_conf.astype(np.float32).ravel(),
               smplx_params=None if smplx is None else smplx.astype(np.float32).ravel(),
               smplx_params_shape=None if smplx is None else list(smplx.shape),
               flow=None if flow is None else flow.astype(np.float32).ravel(),
               flow_shape=None if flow is None else list(flow.shape))
    if kp3d is not None and np.isfinite(kp3d[..., :3]).any():
        row.update(keypoints_3d=encode(kp3d, ENCODED["keypoints_3d"]), keypoints_3d_shape=list(kp3d.shape))
    return row


def _list_column(values: list, typ: pa.ListType) -> pa.Array:
    """Per-row pyarrow arrays (None = null row) -> one list array, without a round trip through Python lists."""
    lengths = np.array([0 if v is None else len(v) for v in values], np.int64)
    offsets = pa.array(np.concatenate([[0], np.cumsum(lengths)]).astype(np.int32))
    present = [v for v in values if v is not None]
    flat = pa.concat_arrays(present) if present else pa.array([], typ.value_type)
    mask = pa.array([v is None for v in values]) if any(v is None for v in values) else None
    return pa.ListArray.from_arrays(offsets, flat, type=typ, mask=mask)


def _table(rows: list[dict], schema: pa.Schema) -> pa.Table:
    cols = [_list_column([r[f.name] for r in rows], f.type) if f.name in ENCODED
            else pa.array([r[f.name] for r in rows], f.type) for f in schema]
    return pa.Table.from_arrays(cols, schema=schema)


def _leaf(field: pa.Field) -> str:
    """The Parquet column path of a flat or list field (what the writer's per-column options are keyed by)."""
    return f"{field.name}.list.element" if pa.types.is_list(field.type) or pa.types.is_fixed_size_list(
        field.type) else field.name


def shard_schema(schema: pa.Schema) -> pa.Schema:
    """`schema` with the codec's keys (format, scales, decode rule) merged into its `skelforge` metadata."""
    meta = file_metadata(schema) | codec_metadata()
    return schema.with_metadata({**(schema.metadata or {}), b"skelforge": json.dumps(meta, sort_keys=True)})


def shard_plan(split: str, clips: list[dict], per_shard: int) -> list[tuple[str, list[dict]]]:
    """The deterministic assignment: (file name, its clips) for each shard of a split; clips sorted by id."""
    return [(name, clips[i * per_shard:(i + 1) * per_shard])
            for i, name in enumerate(shard_names(split, len(clips), per_shard))]


def write_shard(path: Path, clips: list[dict], load: Callable[[dict], tuple], schema: pa.Schema,
                row_group_clips: int, level: int) -> Path:
    """One shard file: `clips` in order, `row_group_clips` per row group (only those loaded at a time), built in
    memory and written atomically (a failure at any point leaves no file)."""
    buf = io.BytesIO()
    schema = shard_schema(schema)
    split = (*ENCODED, *FLOAT_SPLIT)
    dictionary = [_leaf(f) for f in schema if f.name not in split]        # dictionary encoding: all but these
    with pq.ParquetWriter(buf, schema, compression="zstd", compression_level=level, write_statistics=True,
                          use_dictionary=dictionary,
                          column_encoding={f"{c}.list.element": ENCODING for c in split}) as w:
        for g in range(0, len(clips), row_group_clips):
            rows = [_row(c, *load(c)) for c in clips[g:g + row_group_clips]]
            w.write_table(_table(rows, schema))
    atomic_write_bytes(path, buf.getvalue())
    return path


def write_split(dest: Path, split: str, clips: list[dict], load: Callable[[dict], tuple], schema: pa.Schema,
                per_shard: int, row_group_clips: int, level: int) -> list[Path]:
    """Every shard of a split, one after another. clips: sorted dicts with clip_id/label/label_name/split;
    load(clip) -> (kp, kp3d, prov, frame_conf[, smplx])."""
    dest.mkdir(parents=True, exist_ok=True)
    return [write_shard(dest / name, chunk, load, schema, row_group_clips, level)
            for name, chunk in shard_plan(split, clips, per_shard)]


def remove_stale(dest: Path, keep: Iterable[Path]) -> None:
    keep = {Path(p).name for p in keep}
    for p in dest.glob("*.parquet"):
        if p.name not in keep:
            p.unlink()


def remove_partial(dest: Path) -> list[Path]:
    """Temporary files a shard writer killed mid-write left behind (atomic writes rename only complete files)."""
    gone = sorted(Path(dest).glob(".*.parquet.*.tmp"))
    for p in gone:
        p.unlink(missing_ok=True)
    return gone
