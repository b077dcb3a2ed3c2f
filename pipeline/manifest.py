"""Write and read `OUT/manifest.parquet` (atomic), with the state of the build that wrote it."""
from __future__ import annotations

import io
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from schemas.manifest import FIXED, manifest_schema

from .cache import atomic_write_bytes


def build_table(results: list[dict], stage_order: list[str]) -> pa.Table:
    fixed = {n for n, _ in FIXED}
    extra = sorted({k for r in results for k in r["row"] if k not in fixed})
    stages = [s for s in stage_order if any(s in r["stages"] for r in results)]
    rows = []
    for r in sorted(results, key=lambda r: r["row"]["clip_id"]):
        row = dict(r["row"])
        for s in stages:
            info = r["stages"].get(s)
            row[f"{s}_seconds"] = None if info is None else round(info["seconds"], 4)
            row[f"{s}_key"] = None if info is None else info["key"]
            row[f"{s}_cached"] = None if info is None else info["cached"]
        rows.append(row)
    schema = manifest_schema(extra, stages)
    return pa.Table.from_pylist(rows, schema=schema)


def write_manifest(table: pa.Table, out: Path, state: str = "complete") -> Path:
    """`state` (complete | running | interrupted | stopped | incomplete) goes into the file's metadata
    (`skelforge_build_state`): a manifest written mid-build or by an ended-early build says so itself."""
    table = table.replace_schema_metadata({**(table.schema.metadata or {}), b"skelforge_build_state": state.encode()})
    buf = io.BytesIO()
    pq.write_table(table, buf, compression="zstd")
    path = Path(out) / "manifest.parquet"
    atomic_write_bytes(path, buf.getvalue())
    return path


def read_manifest(out: Path) -> pa.Table:
    return pq.read_table(Path(out) / "manifest.parquet")


def manifest_state(out: Path) -> str | None:
    meta = pq.read_schema(Path(out) / "manifest.parquet").metadata or {}
    state = meta.get(b"skelforge_build_state")
    return state.decode() if state else None
