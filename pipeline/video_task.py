"""One clip's task: walk the DAG's per-video stages in order, each from cache or computed, and return the
clip's manifest row. Every outcome is data: a stage's VideoError becomes a cached `failed` result (same bytes,
same code -> same failure), a filtered result stops the chain, an unexpected exception becomes a failed row
that is *not* cached (so a fix and a re-run retries it). Runs inside a Dask worker or in-process."""
from __future__ import annotations

import json
import os
import time
import traceback
from pathlib import Path
from typing import Optional

from workers.decode.probe import VideoError

from .adapters import VideoItem
from .adapters.base import missing_reason
from .cache import Artifact, Store, make_key
from .context import VideoContext
from .hashing import file_digest, file_stamp


def run_video(item: VideoItem, cfg, dag, plan: dict, cache_dir: str, scratch: str,
              known_digest: Optional[tuple[str, str]] = None) -> dict:
    row = {"clip_id": item.clip_id, "source_path": item.path, "label": item.label, "label_name": item.label_name,
           "split": item.split, "status": "ok", "stage": None, "reason": None, "n_frames": 0, "n_persons": 0,
           **item.extra}
    out = {"row": row, "digest": None, "stages": {}}
    if not os.path.isfile(item.path):
        row.update(status="failed", stage="probe", reason=missing_reason(item.path))
        return out
    stamp = file_stamp(item.path)
    digest = known_digest[1] if known_digest and known_digest[0] == stamp else file_digest(item.path)
    out["digest"] = (stamp, digest)

    store = Store(Path(cache_dir))
    keys: dict[str, str] = {}
    ctx = VideoContext(item, cfg, Path(scratch) / f"spool-{os.getpid()}", store, keys)
    arts: dict[str, Artifact] = {}
    try:
        for node in dag.video_stages():
            st = node.stage
            mode = plan[st.name]
            if mode == "skip":
                continue
            inputs = {d: keys[d] for d in node.needs}
            if not node.needs:
                inputs["video"] = digest
            params = {p: cfg.get(p) for p in st.params}
            key = make_key(st.name, st.version, params, inputs, st.weights(cfg) if st.weights else {})
            keys[st.name] = key
            t0 = time.perf_counter()
            art = store.load(st.name, key) if mode in ("use", "load") else None
            cached = art is not None
            if art is None and mode == "load":
                art = Artifact.failed(f"no cached {st.name} result (run a full build before --only)")
            elif art is None:
                try:
                    art = st.run(ctx, {d: arts[d] for d in node.needs})
                    store.save(st.name, key, art)
                except VideoError as e:
                    art = Artifact.failed(str(e))
                    store.save(st.name, key, art)
                except Exception as e:  # a bug or resource problem: reported, not cached
                    art = Artifact.failed(f"internal error: {type(e).__name__}: {e}")
                    art.meta["traceback"] = traceback.format_exc(limit=8)
            arts[st.name] = art
            out["stages"][st.name] = {"key": key, "cached": cached, "seconds": time.perf_counter() - t0}
            _fill_row(row, st.name, art)
            if art.status != "ok":
                row.update(status=art.status, stage=st.name, reason=art.meta.get("reason"))
                break
    finally:
        ctx.close()
    return out


def _fill_row(row: dict, stage: str, art: Artifact) -> None:
    meta = art.meta
    if stage == "frames" and "n_frames" in meta:
        row["n_frames"] = meta["n_frames"]
    if "n_persons" in meta:
        row["n_persons"] = meta["n_persons"]
    if "provenance" in meta:
        row["provenance"] = json.dumps(meta["provenance"], sort_keys=True)
    if stage == "frames":
        row["width"], row["height"] = meta.get("width"), meta.get("height")
    if stage == "fit3d" and meta.get("choice"):
        row["fit3d_method"] = json.dumps([c["method"] for c in meta["choice"]])
        row["fit3d_errors"] = json.dumps([c["errors"] for c in meta["choice"]], sort_keys=True)
    if "scores" in meta:
        sc = meta["scores"]
        row.update(pose_ratio=sc["pose_ratio"], actors_ratio=sc["actors_ratio"], confidence=sc["confidence"],
                   quality=json.dumps(sc["parts"], sort_keys=True))
    if meta.get("status") == "filtered" and "rule" in meta:
        row.update(filter_rule=meta["rule"], filter_value=meta.get("value"), filter_threshold=meta.get("threshold"))
