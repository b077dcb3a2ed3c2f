"""report — per-class quality report: OUT/report/index.html (self-contained, opens from disk),
OUT/report/quality.json and OUT/report/clips.csv. Per class: clips in/kept/filtered/failed with reasons,
detection rate, mean confidence per part, expert provenance shares, clip length; per clip (worst first by a
composite, `pipeline.report`): people detected vs kept, pose ratio, per-part presence / confidence / reasons for
absence, identity switches, part violations, lag-free jerk; whole build: failure reasons, seconds per stage (the
report's own included), cache hits; plots (retention bars worst-first, class x part confidence heatmap); the
worst clips per class as a thumbnail of their worst frame linked to an animation of the 2 s around it.
`skelforge report OUT` rebuilds it from the manifest and cache alone.

inputs:    every clip's manifest row (after labels), the stage cache (detect, refine, quality, frames)
outputs:   OUT/report/index.html, OUT/report/quality.json, OUT/report/clips.csv
params:    none (rebuilt only when what it shows changes)
resources: per-clip work as tasks (`pipeline.report`; on the build's Dask workers, in this process for --workers
           0): the QC records (each clip's detect, refine and quality entries, loaded by key) and, per worst
           clip, its thumbnail and 2 s animation, read from the cache when what they draw is unchanged, else drawn
           on the clip's cached window of shrunk frames, decoding the source only for a window never decoded
           before (`pipeline.report_images`); the client ranks the small records and writes the page, loading
           no per-clip array. Returns the image entries it used (`refs`, for `cache gc`).
"""
from __future__ import annotations

import json
from pathlib import Path

from ..cache import atomic_write_bytes, make_key
from ..dag import Stage


def run(dctx, results: list[dict]) -> dict:
    from .. import report               # here, not at import: clip tasks load every stage module, not the report
    rows = []
    for r in results:
        row = dict(r["row"])
        for s, info in r["stages"].items():
            row.update({f"{s}_key": info["key"], f"{s}_seconds": info["seconds"], f"{s}_cached": info["cached"]})
        rows.append(row)
    stages = [s for s in dctx.stage_order if any(s in r["stages"] for r in results)]
    key = make_key(STAGE.name, STAGE.code, {}, {"rows": [[r.get(k) for k in CONTENT] for r in
                                                           sorted(rows, key=lambda r: r["clip_id"])]}, {})
    key_path = Path(dctx.out) / "report" / ".key"
    if dctx.mode == "use" and key_path.exists() and key_path.read_text() == key:
        return {"cached": True, "key": key, "refs": _refs(dctx.out)}
    q = report.build_report(dctx.out, rows, stages, dctx.cache_dir, dctx.tasks)
    atomic_write_bytes(key_path, key.encode())
    return {"cached": False, "key": key, "classes": len(q["classes"]), "refs": _refs(dctx.out)}


def _refs(out) -> list:
    """The cache entries the report's images came from (recorded for `cache gc`; none when unreadable)."""
    try:
        refs = json.loads((Path(out) / "report" / ".refs.json").read_text())
    except (OSError, ValueError):
        return []
    return [r for r in refs if isinstance(r, list) and len(r) == 2 and all(isinstance(x, str) for x in r)]


# What the report shows; when none of it changed, the report is not rebuilt (its timings stay those of the
# build that produced these results).
CONTENT = ("clip_id", "status", "stage", "reason", "label", "label_name", "split", "refine_key", "frames_key",
           "detect_key", "quality_key", "quality", "confidence", "actors_ratio", "pose_ratio", "provenance",
           "filter_rule", "filter_value", "n_frames", "width", "height", "identity_switches", "switch_frames",
           "fit3d_method", "fit3d_errors")


STAGE = Stage(name="report", run=run, scope="dataset", doc=__doc__)
