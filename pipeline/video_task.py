"""A clip's group tasks: walk the per-video stages of one or more consecutive DAG groups (pipeline/dag.py), each
from cache or computed, and return the clip's result so far (manifest row + per-stage keys/timings). Runs
inside a Dask worker or in-process. `run_groups` is one task: the first group's task hashes the file; a later
one gets the earlier result (`prior`: row, digest, stage keys; no arrays) and loads the cached inputs it needs
by key, so the cache must be one folder every worker sees. `run_video` runs every group back to back.

Every outcome is data, and nothing raises out of `run_video`:
- a stage's VideoError becomes a cached `failed` result (same bytes, same code -> same failure);
- a filtered result stops the chain;
- an unexpected exception in a stage, or outside one (hashing the file, cache I/O, permissions), becomes a
  failed row that is *not* cached, so a fix and a re-run retry it. Such rows carry `failure_kind`
  (`<stage>:<ExceptionType>`) so the client can tell one systemic fault repeated on every clip from clips
  that are bad on their own;
- an input an earlier group stored that is gone from the cache (not shared, removed, corrupt) is a failed
  row that is not cached (`<stage>:input-not-cached`);
- `final` says whether the result is a pure function of the content (ok, filtered, or a cached failure): only
  final results are reused from the journal by a later build.
"""
from __future__ import annotations

import copy
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
    """The whole clip in this process: every group back to back (in-process builds, `skelforge eval`)."""
    return run_groups(item, cfg, dag, plan, cache_dir, scratch, [g.name for g in dag.active_groups(plan)],
                      known_digest=known_digest)


def run_groups(item: VideoItem, cfg, dag, plan: dict, cache_dir: str, scratch: str, groups: list[str],
               prior: Optional[dict] = None, known_digest: Optional[tuple[str, str]] = None) -> dict:
    """One task: the stages of `groups` (consecutive in the DAG). `prior` is the clip's result after its earlier
    groups (None for the first); the result returned continues it, so the last group's result is the clip's."""
    out = copy.deepcopy(prior) if prior else new_result(item)
    row = out["row"]
    where = "probe" if prior is None else "cache"
    store = None
    try:
        if prior is None:
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
        nodes = [dag.nodes[s] for g in groups for s in dag.group(g).stages]
        _run_stages(item, cfg, nodes, plan, store, Path(scratch), out["digest"][1], out,
                    prior is None or prior["final"])
    except Exception as e:      # outside any stage: cache I/O, permissions, a bug in the runner
        row.update(status="failed", stage=row.get("stage") or where,
                   reason=f"internal error: {type(e).__name__}: {e}")
        out.update(final=False, failure_kind=f"{where}:{type(e).__name__}")
        out["traceback"] = traceback.format_exc(limit=8)
    finally:
        if store is not None:
            out["refs"] = sorted({tuple(r) for r in out["refs"]} | store.touched)
            out["cache_repaired"] += store.repaired
    return out


def _run_stages(item, cfg, nodes: list, plan, store: Store, scratch: Path, digest: str, out: dict,
                final: bool) -> None:
    row = out["row"]
    keys: dict[str, str] = {s: info["key"] for s, info in out["stages"].items()}    # earlier groups' stages
    ctx = VideoContext(item, cfg, scratch / f"spool-{os.getpid()}", store, keys)
    arts: dict[str, Artifact] = {}
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
                missing = [d for d in node.needs if d not in arts and not _load_input(d, keys, store, arts)]
                if missing:
                    art = Artifact.failed(f"internal error: the cached {', '.join(missing)} result this stage needs "
                                          f"is not in the cache at {store.root} (an earlier group task stored it: "
                                          f"every worker must see the same cache.dir)")
                    out["failure_kind"] = f"{st.name}:input-not-cached"
                    final = False
                else:
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
                    arts.pop(d, None)
            out["stages"][st.name] = {"key": key, "cached": cached, "seconds": time.perf_counter() - t0}
            _fill_row(row, st.name, art)
            if art.status != "ok":
                row.update(status=art.status, stage=st.name, reason=art.meta.get("reason"))
                break
    finally:
        ctx.close()
    out["final"] = final


def _load_input(name: str, keys: dict, store: Store, arts: dict) -> bool:
    """An input an earlier group task stored: loaded from the cache by its key into `arts`; False when absent."""
    art = store.load(name, keys[name]) if name in keys else None
    if art is not None:
        arts[name] = art
    return art is not None


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
