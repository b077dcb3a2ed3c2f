"""`skelforge inspect OUT`: what a build produced — clip counts by status, failure/filter reasons, frames and
persons, shards per layout — from the manifest, build record and shard metadata alone; during a build (or after
one was killed) from the journal too, with its progress (pipeline/journal.py)."""
from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pyarrow.parquet as pq

from schemas.parquet import read_metadata

from .journal import Journal
from .manifest import read_manifest


def progress(journal: Journal, st: dict, entries: dict) -> dict | None:
    """The journal's view of the last build (its state `st`; `entries` read when it was running): state, clips
    finished of total, whether it is still running."""
    if not st:
        return None
    finished = len(entries) if st.get("state") == "running" else st.get("finished")
    return {"state": st.get("state"), "build_id": st.get("build_id"), "finished": finished,
            "total": st.get("total"), "running": journal.alive(st), "started": st.get("started")}


def summarize(out: Path) -> dict:
    out = Path(out)
    journal = Journal(out)
    st = journal.state()
    # the per-clip entries are read only when the manifest may be behind them (a build running or killed)
    entries = journal.entries() if st.get("state") == "running" or not (out / "manifest.parquet").exists() else {}
    prog = progress(journal, st, entries)
    if (out / "manifest.parquet").exists():
        rows = read_manifest(out).to_pylist()
        if prog and prog["state"] == "running":     # the manifest is a periodic compaction: the journal is newer
            have = {r["clip_id"] for r in rows}
            rows += [e["row"] for c, e in entries.items() if c not in have]
    elif prog:
        rows = [e["row"] for e in entries.values()]
    else:
        raise FileNotFoundError(f"{out} has no manifest.parquet (is it a skelforge build?)")
    record = json.loads((out / "build.json").read_text()) if (out / "build.json").exists() else {}
    status = Counter(r["status"] for r in rows)
    reasons = Counter(f"{r['stage']}: {r['reason']}" for r in rows if r["status"] != "ok")
    ok = [r for r in rows if r["status"] == "ok"]
    layouts = {}
    for d in sorted((out / "shards").glob("*/")):
        files = sorted(d.glob("*.parquet"))
        if not files:
            continue
        meta = read_metadata(pq.read_schema(files[0]))
        n = sum(pq.ParquetFile(f).metadata.num_rows for f in files)
        layouts[d.name] = {"files": [f.name for f in files], "clips": n, "joints": len(meta["joint_names"]),
                           "bytes": sum(f.stat().st_size for f in files),
                           "shard_format": meta.get("shard_format", 1)}     # 2: quantised (shard_codec)
    return {
        "out": str(out),
        "progress": prog,
        "clips": len(rows),
        "status": {s: status.get(s, 0) for s in ("ok", "filtered", "failed")},
        "reasons": dict(reasons.most_common()),
        "classes": len({r["label_name"] for r in rows}),
        "splits": dict(Counter(r["split"] for r in ok)),
        "frames_kept": sum(r["n_frames"] or 0 for r in ok),
        "persons_per_clip": dict(sorted(Counter(r["n_persons"] for r in ok).items())),
        "layouts": layouts,
        "computed_last_build": record.get("computed", {}),
        "seconds_last_build": record.get("total_seconds"),
        "experts": record.get("experts", []),
        "report": str(out / "report" / "index.html") if (out / "report" / "index.html").exists() else None,
        "classes_file": str(out / "classes.json") if (out / "classes.json").exists() else None,
    }
