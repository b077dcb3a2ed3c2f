"""Storage: bytes per person-frame of skelforge's shards vs pyskl's float16 pickle of the same clips, in one run.

  build      `--videos DIR`: `skelforge build` with the default config into a temporary OUT (fresh cache, deleted
             afterwards unless --keep); or `--out OUT`: an existing build's shards as they are
  shards     per layout: the shard files' bytes, and each column's compressed bytes (Parquet metadata) — the
             build's shards hold 2D and 3D keypoints, provenance and per-frame confidence besides
  same 2D    the same clips' ids, labels and 2D keypoints + scores only (no 3D, provenance, frame confidence),
             written by the shard writer with the build's settings: the content pyskl's pickle holds
  pyskl      `export_pyskl(OUT, layout, dtype=float16)`, the pickle's bytes (pyskl's released pickles store
             keypoint / keypoint_score as float16; the config file beside it is not counted); float32 too
  person-frames = sum over clips of persons x frames (M x T); ratio = shard bytes / pyskl float16 bytes; each
  shard file also carries a fixed footer (schema, the `skelforge` metadata, statistics: about 11 KB), printed
  apart because it is spread over `clips_per_shard` (1000) clips in a real dataset

Usage: PYTHONPATH=. python benchmarks/storage.py (--videos DIR | --out OUT) [--layouts a,b] [--workers N]
       [--json FILE] [--keep]
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def column_bytes(files: list[Path]) -> dict[str, int]:
    """Compressed bytes per top-level column over the files (column chunks, all row groups)."""
    import pyarrow.parquet as pq
    out: dict[str, int] = {}
    for f in files:
        md = pq.ParquetFile(f).metadata
        for g in range(md.num_row_groups):
            for c in range(md.num_columns):
                col = md.row_group(g).column(c)
                name = col.path_in_schema.split(".")[0]
                out[name] = out.get(name, 0) + col.total_compressed_size
    return out


def measure(out: Path, layout: str, work: Path, settings: dict) -> dict:
    import numpy as np
    import pyarrow.parquet as pq

    from schemas.parquet import SHARD_SCHEMA
    from workers.io.export_pyskl import export_pyskl
    from workers.io.parquet_shards import shard_split, write_split
    from workers.io.shard_reader import iter_clips, layout_files
    files = layout_files(out, layout)
    clips = list(iter_clips(out, layout))
    person_frames = sum(c["keypoints"].shape[0] * c["keypoints"].shape[1] for c in clips)
    meta = pq.read_schema(files[0]).metadata
    schema = SHARD_SCHEMA.with_metadata(meta)
    same = work / "same2d" / layout
    arrays = {c["clip_id"]: c["keypoints"] for c in clips}
    rows = sorted(({k: c[k] for k in ("clip_id", "label", "label_name", "split")} for c in clips),
                  key=lambda r: r["clip_id"])
    same_files = []
    for split in sorted({shard_split(f.name) for f in files}):
        same_files += write_split(same, split, [r for r in rows if r["split"] == split],
                                  lambda r: (arrays[r["clip_id"]], None, None, None), schema,
                                  settings["clips_per_shard"], settings["row_group_clips"],
                                  settings["compression_level"])
    t0 = time.perf_counter()
    pkl16 = export_pyskl(out, layout, work / "pyskl16" / layout, dtype=np.float16)
    export_s = time.perf_counter() - t0
    pkl32 = export_pyskl(out, layout, work / "pyskl32" / layout)
    shard_b = sum(f.stat().st_size for f in files)
    same_b = sum(f.stat().st_size for f in same_files)
    p16, p32 = pkl16.stat().st_size, pkl32.stat().st_size
    from schemas.parquet import read_metadata
    fmt = read_metadata(pq.read_schema(files[0])).get("shard_format", 1)
    cols = column_bytes(files)
    footer = sum(pq.ParquetFile(f).metadata.serialized_size + 8 for f in same_files)   # schema, metadata, stats
    per = lambda b: round(b / max(person_frames, 1), 2)        # noqa: E731
    return {"layout": layout, "joints": int(clips[0]["keypoints"].shape[2]) if clips else 0, "clips": len(clips),
            "person_frames": person_frames, "shard_format": fmt,
            "shard_bytes": shard_b, "same_2d_shard_bytes": same_b, "pyskl_f16_bytes": p16, "pyskl_f32_bytes": p32,
            "bpf_shard": per(shard_b), "bpf_same_2d_shard": per(same_b), "bpf_pyskl_f16": per(p16),
            "bpf_pyskl_f32": per(p32), "ratio_same_2d_vs_pyskl_f16": round(same_b / p16, 3),
            "ratio_shard_vs_pyskl_f16": round(shard_b / p16, 3), "same_2d_footer_bytes": footer,
            "bpf_same_2d_shard_without_footer": per(same_b - footer),
            "bpf_columns": {k: per(v) for k, v in sorted(cols.items(), key=lambda kv: -kv[1])},
            "pyskl_export_seconds": round(export_s, 2)}


def main() -> None:
    ap = argparse.ArgumentParser()
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--videos", type=Path, help="build these with the default config first")
    src.add_argument("--out", type=Path, help="an existing build")
    ap.add_argument("--layouts", help="comma-separated (default: every layout the build wrote)")
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--json", type=Path, help="also write the figures here")
    ap.add_argument("--keep", action="store_true", help="keep the temporary build (its path is printed)")
    a = ap.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="skelforge-storage-"))
    try:
        build_s = None
        if a.videos:
            from rich.console import Console

            from dagfile import DAG
            from pipeline.build import build
            from schemas.config import BuildConfig
            out = tmp / "out"
            t0 = time.perf_counter()
            build(DAG, a.videos, out, BuildConfig(), a.workers, None, None, None, False, Console(quiet=True))
            build_s = round(time.perf_counter() - t0, 1)
        else:
            out = a.out
        record = json.loads((out / "build.json").read_text())
        settings = record["config"]["shards"]
        layouts = a.layouts.split(",") if a.layouts else sorted(p.name for p in (out / "shards").iterdir()
                                                                  if p.is_dir())
        figs = {"videos": str(a.videos) if a.videos else None, "out": str(out), "build_seconds": build_s,
                "counts": record["counts"], "shards_settings": settings,
                "layouts": [measure(out, layout, tmp / "work", settings) for layout in layouts]}
    finally:
        if not a.keep:
            shutil.rmtree(tmp, ignore_errors=True)
    print(json.dumps(figs, indent=1))
    print(f"\nbytes per person-frame ({figs['counts']}; shard format {figs['layouts'][0]['shard_format']})")
    print(f"{'layout':12s} {'V':>4s} {'pf':>6s} {'pyskl f16':>10s} {'pyskl f32':>10s} {'shard 2D':>9s} "
          f"{'ratio':>6s} {'shard all':>10s} {'ratio':>6s}")
    for m in figs["layouts"]:
        print(f"{m['layout']:12s} {m['joints']:4d} {m['person_frames']:6d} {m['bpf_pyskl_f16']:10.1f} "
              f"{m['bpf_pyskl_f32']:10.1f} {m['bpf_same_2d_shard']:9.1f} {m['ratio_same_2d_vs_pyskl_f16']:6.3f} "
              f"{m['bpf_shard']:10.1f} {m['ratio_shard_vs_pyskl_f16']:6.3f}")
    print("shard 2D = the same clips' 2D keypoints + scores written as shards (pyskl's content); shard all = the "
          "build's shards (adds 3D, provenance, frame confidence); ratio = shard / pyskl float16")
    print("shard 2D without the per-file footer: " + ", ".join(
        f"{m['layout']} {m['bpf_same_2d_shard_without_footer']:.1f} ({m['same_2d_footer_bytes']} B footer)"
        for m in figs["layouts"]))
    if a.keep:
        print(f"kept {tmp}")
    if a.json:
        a.json.write_text(json.dumps(figs, indent=1))


if __name__ == "__main__":
    main()
