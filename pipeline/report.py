"""Build the per-class quality report from a build's manifest and stage cache (nothing is recomputed):
OUT/report/index.html (self-contained) and OUT/report/quality.json. Every file goes inside OUT/report, which
must not hold a source video (UnsafeDestination, a ValueError, before anything is written); every string on the
page is escaped by the template (`workers.report.html`)."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from workers.convert.layout_eval import apply_layout
from workers.io.dest_guard import check_dest, within
from workers.report import plots
from workers.report.html import render
from workers.report.summary import PARTS, per_class, whole_build, worst_clips
from workers.report.thumbs import read_frame, thumbnail

from .cache import Store, atomic_write_bytes

THUMB_LAYOUT = "ntu-x-118"
VIEWER_FRAMES = 60          # the report's viewer GIFs show each worst clip's first 2 s


def _thumb(store: Store, row: dict) -> dict:
    info = {"clip_id": row["clip_id"], "status": row["status"], "rule": row.get("filter_rule"),
            "confidence": row.get("confidence"), "thumb": None, "frame": None}
    ref = store.load("refine", row["refine_key"]) if row.get("refine_key") else None
    frames = store.load("frames", row["frames_key"]) if row.get("frames_key") else None
    if ref is None or frames is None:
        return info
    pts = ref.arrays["points"]                                              # (M, T, 145, 3)
    counts = (pts[..., 2] > 0).sum((0, 2))
    k = int(np.argmax(counts)) if counts.any() else 0
    frame = read_frame(row["source_path"], int(frames.arrays["src_index"][k]))
    if frame is not None:
        info["thumb"] = thumbnail(frame, apply_layout(THUMB_LAYOUT, pts[:, k]), THUMB_LAYOUT)
        info["frame"] = k
    return info


def _viewer_gif(out: Path, row: dict, layouts: list[str]) -> str | None:
    """Viewer output for a kept clip (the skeleton on every frame), linked from its thumbnail."""
    from .show import draw
    if row["status"] != "ok" or not layouts:
        return None
    layout = THUMB_LAYOUT if THUMB_LAYOUT in layouts else layouts[0]
    rel = f"clips/{row['clip_id'].replace('/', '__')}.gif"
    draw(out, row["clip_id"], layout, within(out / "report", rel), video=row["source_path"], width=320,
         size=(row.get("height") or 0, row.get("width") or 0), max_frames=VIEWER_FRAMES)
    return rel


def build_report(out: Path, rows: list[dict], stages: list[str], cache_dir: Path) -> dict:
    out = Path(out)
    dest = out / "report"
    check_dest(dest, [r["source_path"] for r in rows if r.get("source_path")])
    page, record = within(dest, "index.html"), within(dest, "quality.json")
    classes = per_class(rows)
    build = whole_build(rows, stages)
    store = Store(cache_dir)
    layouts = [p.name for p in sorted((out / "shards").glob("*/")) if any(p.glob("*.parquet"))]
    worst = {cls: [_thumb(store, r) | {"viewer": _viewer_gif(out, r, layouts)} for r in rs]
             for cls, rs in worst_clips(rows).items()}
    html = render(title=out.name, classes=classes, build=build, parts=PARTS, layout=THUMB_LAYOUT, worst=worst,
                  plots={"retention": plots.retention_bars(classes), "heatmap": plots.confidence_heatmap(classes)})
    quality = {"classes": classes, "build": build,
               "worst": {c: [{k: v for k, v in t.items() if k != "thumb"} for t in ts] for c, ts in worst.items()}}
    atomic_write_bytes(page, html.encode())
    atomic_write_bytes(record, json.dumps(quality, indent=1).encode())
    return quality
