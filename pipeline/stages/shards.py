"""shards — one Parquet dataset per layout: `OUT/shards/<layout>/<split>-<i:05d>-of-<n:05d>.parquet`.

inputs:    every ok clip's convert result (+ its label/split from the manifest row)
outputs:   the shard files; `OUT/shards/_state.json` records the key they were built from
params:    layouts, shards.*, frames.fps, experts (names in the provenance metadata)
resources: the client process; streams one row group at a time
cache:     the key covers the sorted (clip id, label, split, convert key) list: unchanged -> nothing rewritten
"""
from __future__ import annotations

import json
from pathlib import Path

from schemas.parquet import layout_metadata, schema_with_metadata
from workers.io.parquet_shards import remove_stale, write_split

from .. import __version__
from ..cache import Store, atomic_write_bytes, make_key
from ..dag import Stage


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

    store = Store(dctx.cache_dir)
    written = []
    for layout in cfg.layouts:
        dest = root / layout
        schema = schema_with_metadata(layout_metadata(layout, cfg.frames.fps, dctx.experts, __version__,
                                                      dctx.fused_experts, cfg.fit3d.enabled, _smplx_meta(cfg)))

        def load(c, layout=layout):
            names = [f"kp__{layout}", f"kp3d__{layout}", f"prov__{layout}", "frame_confidence", "smplx_params"]
            z = store.load_arrays("convert", c["convert_key"], names)
            return tuple(z.get(n) for n in names)

        layout_files = []
        for split in sorted({c["split"] for c in clips}):
            layout_files += write_split(dest, split, [c for c in clips if c["split"] == split], load, schema,
                                        cfg.shards.clips_per_shard, cfg.shards.row_group_clips,
                                        cfg.shards.compression_level)
        remove_stale(dest, layout_files)
        written += layout_files
    for stale in root.iterdir() if root.exists() else []:
        if stale.is_dir() and stale.name not in cfg.layouts:
            for f in stale.glob("*.parquet"):
                f.unlink()
            stale.rmdir()
    rel = [str(p.relative_to(root)) for p in written]
    atomic_write_bytes(state_path, json.dumps({"key": key, "files": rel}, indent=1).encode())
    return {"key": key, "cached": False, "files": [str(p) for p in written], "clips": len(clips)}


def _smplx_meta(cfg) -> list | None:
    if not (cfg.fit3d.enabled and cfg.fit3d.smplx.model_dir):
        return None
    from workers.fitting.candidate import PARAMS
    return [list(p) for p in PARAMS]


STAGE = Stage(name="shards", run=run, scope="dataset",
              params=("layouts", "shards", "frames.fps", "experts", "expert_settings"), doc=__doc__)
