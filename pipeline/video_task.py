"""One clip's task: walk the DAG's per-video stages in order, each from cache or computed, and return the
clip's result (manifest row + per-stage keys/timings). Runs inside a Dask worker or in-process.

Every outcome is data, and nothing raises out of `run_video`:
- a stage's VideoError becomes a cached `failed` result (same bytes, same code -> same failure);
- a filtered result stops the chain;
- an unexpected exception in a stage, or outside one (hashing the file, cache I/O, permissions), becomes a
  failed row that is *not* cached, so a fix and a re-run retry it. Such rows carry `failure_kind`
  (`<stage>:<ExceptionType>`) so the client can tell one systemic fault repeated on every clip from clips
  that are bad on their own;
- `final` says whether the result is a pure function of the content (ok, filtered, or a cached failure): only
  final results are reused from the journal by a later build.
"""
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
from .cache import Artifact, Store
from .context import VideoContext
from .hashing import file_digest, file_stamp
from .keys import stage_key


def adapter_fields(item: VideoItem) -> dict:
    """What discovery says about a clip (identity, label, split, adapter extras): not computed, never cached."""
    return {"clip_id": item.clip_id, "source_path": item.path, "label": item.label, "label_name": item.label_name,
            "split": item.split, **item.extra}


def base_row(item: VideoItem) -> dict:
    return {**adapter_fields(item), "status": "ok", "stage": None, "reason": None, "n_frames": 0, "n_persons": 0}


def new_result(item: VideoItem) -> dict:
    return {"row": base_row(item), "digest": None, "stages": {}, "final": False, "failure_kind": None,
            "refs": [], "cache_repaired": 0}


def failed_result(item: VideoItem, stage: str, reason: str, kind: Optional[str] = None) -> dict:
    """A failed row made outside the clip's task (by the client: worker lost, timed out, build stopped)."""
    out = new_result(item)
    out["row"].update(status="failed", stage=stage, reason=reason)
    out["failure_kind"] = kind
    return out


def run_video(item: VideoItem, cfg, dag, plan: dict, cache_dir: str, scratch: str,
              known_digest: Optional[tuple[str, str]] = None) -> dict:
    out = new_result(item)
    row = out["row"]
    where = "probe"
    store = None
    try:
        if not os.path.isfile(item.path):
            row.update(status="failed", stage="probe", reason=missing_reason(item.path))
            return out
        try:
            stamp = file_stamp(item.path)
            digest = known_digest[1] if known_digest and known_digest[0] == stamp else file_digest(item.path)
        except OSError as e:
            row.update(status="failed", stage="probe", reason=f"cannot read the file: {e.strerror or e}")
            out["failure_kind"] = f"read:{type(e).__name__}"
            return out
        out["digest"] = (stamp, digest)
        where = "cache"
        store = Store(Path(cache_dir))
        _run_stages(item, cfg, dag, plan, store, Path(scratch), digest, out)
    except Exception as e:      # outside any stage: cache I/O, permissions, a bug in the runner
        row.update(status="failed", stage=row.get("stage") or where,
                   reason=f"internal error: {type(e).__name__}: {e}")
        out.update(final=False, failure_kind=f"{where}:{type(e).__name__}")
        out["traceback"] = traceback.format_exc(limit=8)
    finally:
        if store is not None:
            out["refs"] = sorted(store.touched)
            out["cache_repaired"] = store.repaired
    return out


def _run_stages(item, cfg, dag, plan, store: Store, scratch: Path, digest: str, out: dict) -> None:
    row = out["row"]
    keys: dict[str, str] = {}
    ctx = VideoContext(item, cfg, scratch / f"spool-{os.getpid()}", store, keys)
    arts: dict[str, Artifact] = {}
    final = True
    nodes = dag.video_stages()
    last_use = {d: i for i, node in enumerate(nodes) for d in node.needs}   # a result is held until its last reader
    try:
        for i, node in enumerate(nodes):
            st = node.stage
            mode = plan[st.name]
            if mode == "skip":
                continue
            key = keys[st.name] = stage_key(node, cfg, keys, digest)
            t0 = time.perf_counter()
            art = store.load(st.name, key) if mode in ("use", "load") else None
            cached = art is not None
            if art is None and mode == "load":
                art = Artifact.failed(f"no cached {st.name} result (run a full build before --only)")
                out["failure_kind"] = f"{st.name}:not-cached"
                final = False
            elif art is None:
                try:
                    art = st.run(ctx, {d: arts[d] for d in node.needs})
                except VideoError as e:
                    art = Artifact.failed(str(e))
                except Exception as e:  # a bug or resource problem: reported, not cached
                    art = Artifact.failed(f"internal error: {type(e).__name__}: {e}")
                    art.meta["traceback"] = traceback.format_exc(limit=8)
                    out["failure_kind"] = f"{st.name}:{type(e).__name__}"
                    final = False
                if final:
                    store.save(st.name, key, art)
            arts[st.name] = art
            for d in node.needs:
                if last_use[d] == i:
                    del arts[d]
            out["stages"][st.name] = {"key": key, "cached": cached, "seconds": time.perf_counter() - t0}
            _fill_row(row, st.name, art)
            if art.status != "ok":
                row.update(status=art.status, stage=st.name, reason=art.meta.get("reason"))
                break
    finally:
        ctx.close()
    out["final"] = final


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
        row["rotation"] = meta.get("rotation", 0)
        row["frame_timing"] = meta.get("timing")
    if stage == "detect" and "identity_switches" in meta:
        row["identity_switches"] = meta["identity_switches"]
        row["switch_frames"] = json.dumps(meta.get("switch_frames", []))
        row["identity_repairs"] = json.dumps(meta.get("identity_repairs", []), sort_keys=True)
    if stage == "fit3d" and meta.get("choice"):
        row["fit3d_method"] = json.dumps([c["method"] for c in meta["choice"]])
        row["fit3d_errors"] = json.dumps([c["errors"] for c in meta["choice"]], sort_keys=True)
    if "scores" in meta:
        sc = meta["scores"]
        row.update(pose_ratio=sc["pose_ratio"], actors_ratio=sc["actors_ratio"], confidence=sc["confidence"],
                   quality=json.dumps(sc["parts"], sort_keys=True))
    if meta.get("status") == "filtered" and "rule" in meta:
        row.update(filter_rule=meta["rule"], filter_value=meta.get("value"), filter_threshold=meta.get("threshold"))
