"""shards — one Parquet dataset per layout: `OUT/shards/<layout>/<split>-<i:05d>-of-<n:05d>.parquet`.

inputs:    every ok clip's convert result (+ its label/split from the manifest row)
outputs:   the shard files; `OUT/shards/_state.json` records the key they were built from
params:    layouts, shards.*, frames.fps, experts (names in the provenance metadata)
resources: the client computes the assignment of clips to files (sorted ids, `shards.clips_per_shard` per file:
           `workers.io.parquet_shards.shard_plan`, from the manifest rows alone); each file is then one task
           (`write_shard_task`: on the build's Dask workers, in this process for --workers 0) that loads its
           clips' convert arrays from the cache by key, a row group at a time, and writes the file atomically.
           The client never loads an array; the bytes are the same wherever and in whatever order files are written
cache:     the key covers the sorted (clip id, label, split, convert key) list: unchanged -> nothing rewritten
errors:    a clip whose convert entry is gone or corrupt by shard time: its shard is not written, the others
           are, and the stage fails naming the clips (a re-run recomputes them: the journal does not trust a
           clip whose convert entry cannot be read); temporary files of a writer killed mid-write are removed;
           a file a worker wrote that this process does not see (OUT not shared with the workers) fails the stage
"""
from __future__ import annotations

import json
import socket
from pathlib import Path

from schemas.parquet import layout_metadata, schema_with_metadata
from workers.io.parquet_shards import remove_partial, remove_stale, shard_plan, write_shard

from .. import __version__
from ..cache import CacheCorrupt, Store, atomic_write_bytes, make_key
from ..dag import Stage

MEMBERS = ("kp__{layout}", "kp3d__{layout}", "prov__{layout}", "frame_confidence", "smplx_params", "flow__{layout}")
SHOWN_ERRORS = 5


def run(dctx, results: list[dict]) -> dict:
    cfg = dctx.cfg
    clips = sorted(({**{k: r["row"][k] for k in ("clip_id", "label", "label_name", "split")},
                     "convert_key": r["stages"]["convert"]["key"]}
                    for r in results if r["row"]["status"] == "ok" and "convert" in r["stages"]),
                   key=lambda c: c["clip_id"])
    params = {p: cfg.key_value(p) for p in STAGE.params}
    experts = [{k: v for k, v in e.items() if k != "settings"} for e in dctx.experts]   # settings: via params
    key = make_key(STAGE.name, STAGE.code, params, {"clips": clips, "experts": experts}, {})
    root = Path(dctx.out) / "shards"
    state_path = root / "_state.json"
    try:
        state = json.loads(state_path.read_text())
    except (FileNotFoundError, ValueError):
        state = {}
    files = [root / f for f in state.get("files", [])]
    if dctx.mode == "use" and state.get("key") == key and all(f.exists() for f in files):
        return {"key": key, "cached": True, "files": [str(f) for f in files], "clips": len(clips)}

    jobs = []                                  # (cache dir, file, layout, its clips, schema, row group, level)
    for layout in cfg.layouts:
        dest = root / layout
        schema = schema_with_metadata(layout_metadata(layout, cfg.frames.fps, dctx.experts, __version__,
                                                      dctx.fused_experts, cfg.fit3d.enabled, _smplx_meta(cfg),
                                                      _flow_meta(cfg, layout)))
        for split in sorted({c["split"] for c in clips}):
            dest.mkdir(parents=True, exist_ok=True)
            for name, chunk in shard_plan(split, [c for c in clips if c["split"] == split],
                                          cfg.shards.clips_per_shard):
                jobs.append((str(dctx.cache_dir), str(dest / name), layout, chunk, schema,
                             cfg.shards.row_group_clips, cfg.shards.compression_level))
    try:
        done = dctx.tasks.map("shard", write_shard_task, jobs)
    finally:
        for layout in cfg.layouts:
            remove_partial(root / layout)
    errors = [d["error"] for d in done if d["error"]]
    errors += [f"{job[1]} was written on {d['host']} but is not here (every worker must see OUT at the same path)"
               for job, d in zip(jobs, done) if not d["error"] and _size(job[1]) != d["bytes"]]
    if errors:
        more = f" (and {len(errors) - SHOWN_ERRORS} more)" if len(errors) > SHOWN_ERRORS else ""
        return {"key": key, "cached": False, "status": "failed", "clips": len(clips),
                "reason": "; ".join(errors[:SHOWN_ERRORS]) + more}
    written = [Path(job[1]) for job in jobs]
    for layout in cfg.layouts:
        remove_stale(root / layout, [p for p in written if p.parent.name == layout])
    for stale in root.iterdir() if root.exists() else []:
        if stale.is_dir() and stale.name not in cfg.layouts:
            for f in stale.glob("*.parquet"):
                f.unlink()
            stale.rmdir()
    rel = [str(p.relative_to(root)) for p in written]
    atomic_write_bytes(state_path, json.dumps({"key": key, "files": rel}, indent=1).encode())
    return {"key": key, "cached": False, "files": [str(p) for p in written], "clips": len(clips),
            "tasks": len(jobs), "where": dctx.tasks.where}


def write_shard_task(cache_dir: str, path: str, layout: str, clips: list[dict], schema, row_group_clips: int,
                     level: int) -> dict:
    """One shard file (a task): its clips' convert arrays for `layout`, loaded by key a row group at a time.
    Returns {error, bytes, host}; `error` names the clip whose convert entry is gone or corrupt (no file then)."""
    path = Path(path)
    if not path.parent.is_dir():        # the client made it: a worker that does not see OUT must not write elsewhere
        raise FileNotFoundError(f"{path.parent} does not exist on {socket.gethostname()}: every worker must see "
                                f"OUT at the same path as the build")
    store = Store(Path(cache_dir))
    names = [m.format(layout=layout) for m in MEMBERS]

    def load(c: dict) -> tuple:
        try:
            z = store.load_arrays("convert", c["convert_key"], names)
        except FileNotFoundError:
            raise _Unreadable(f"{c['clip_id']}: its convert entry {store.path('convert', c['convert_key'])} "
                              f"is gone from the cache") from None
        except CacheCorrupt as e:
            raise _Unreadable(f"{c['clip_id']}: {e}") from None
        return tuple(z.get(n) for n in names)

    try:
        write_shard(path, clips, load, schema, row_group_clips, level)
    except _Unreadable as e:
        return {"error": f"{path.name} not written: {e}", "bytes": 0, "host": socket.gethostname()}
    return {"error": None, "bytes": path.stat().st_size, "host": socket.gethostname()}


class _Unreadable(Exception):
    """A clip's convert entry cannot be read at shard time."""


def _size(path: str) -> int:
    try:
        return Path(path).stat().st_size
    except FileNotFoundError:
        return -1


def _flow_meta(cfg, layout: str) -> dict | None:
    if not cfg.flow.enabled:
        return None
    from schemas.layouts import get_layout
    return {"joints": list(get_layout(layout).regions["body"]), "method": cfg.flow.method,
            "work_side": cfg.flow.work_side, "radius": cfg.flow.radius}


def _smplx_meta(cfg) -> list | None:
    if not (cfg.fit3d.enabled and cfg.fit3d.smplx.model_dir):
        return None
    from workers.fitting.candidate import PARAMS
    return [list(p) for p in PARAMS]


STAGE = Stage(name="shards", run=run, scope="dataset",
              params=("layouts", "shards", "frames.fps", "experts", "expert_settings"), doc=__doc__)
