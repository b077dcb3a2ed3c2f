"""Build the per-class quality report from a build's manifest and stage cache (nothing is recomputed):
OUT/report/index.html (self-contained), OUT/report/quality.json and OUT/report/clips.csv. Every file goes inside
OUT/report, which must not hold a source video (UnsafeDestination, a ValueError, before anything is written);
every string on the page is escaped by the template (`workers.report.html`).

Per clip (`clip_record`): people detected (detect's tracks) vs kept (actors) vs expected, pose and actors ratio,
per-part presence, confidence and reasons for absence, identity switches, part violations and lag-free jerk
(`workers.report.clipqc`, from the cached refine points, detect meta and quality scores), the composite and its
terms (`workers.report.ranking`), and the worst moment: the frame where the per-frame badness peaks and the
VIEWER_FRAMES frames around it. quality.json and clips.csv hold every clip, worst first; the page shows the worst
TABLE_PER_CLASS per class, and the worst THUMBS_PER_CLASS per class as thumbnails of their worst frame linked to
the viewer's animation of their worst moment. The report's own seconds (everything but writing its files) are in
the page's and quality.json's per-stage table."""
from __future__ import annotations

import csv
import io
import json
import socket
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

from workers.convert.layout_eval import apply_layout
from workers.io.dest_guard import check_dest, within
from workers.report import plots
from workers.report.clipqc import QC_PARTS, REASONS, measure, worst_window
from workers.report.html import render
from workers.report.ranking import TERMS, rank
from workers.report.summary import PARTS, per_class, whole_build
from workers.report.thumbs import read_frame, thumbnail
from workers.report.viewer import draw_frame, frames_at_30fps, write

from .cache import Store, atomic_write_bytes
from .dataset_tasks import DatasetTasks
from .show import clip_row

THUMB_LAYOUT = "ntu-x-118"
VIEWER_FRAMES = 60          # the report's viewer GIFs show 2 s around each worst clip's worst frame
TABLE_PER_CLASS = 10        # per-clip table rows per class on the page (all clips in quality.json / clips.csv)
THUMBS_PER_CLASS = 3
RECORDS_PER_TASK = 32     # clips whose QC records one task measures


def _load(store: Store, stage: str, row: dict):
    key = row.get(f"{stage}_key")
    return store.load(stage, key) if key else None


def clip_record(store: Store, row: dict) -> tuple[dict, np.ndarray | None]:
    """One clip's QC record (JSON-ready) and its refined points (None without a refine result)."""
    det, ref, qual = _load(store, "detect", row), _load(store, "refine", row), _load(store, "quality", row)
    dmeta = det.meta if det is not None else {}
    switches = json.loads(row["switch_frames"]) if row.get("switch_frames") else dmeta.get("switch_frames", [])
    scores = qual.meta.get("scores", {}) if qual is not None else {}
    rec = {"clip_id": row["clip_id"], "class": row["label_name"], "status": row["status"],
           "why": row.get("filter_rule") or row.get("reason"), "n_frames": row.get("n_frames"),
           "tracks_detected": dmeta.get("n_tracks"), "actors_kept": dmeta.get("n_persons"),
           "actors_expected": dmeta.get("expected_persons"),
           "pose_ratio": row.get("pose_ratio"), "actors_ratio": row.get("actors_ratio"),
           "confidence": row.get("confidence"),
           "identity_switches": row.get("identity_switches", dmeta.get("identity_switches")),
           "switch_frames": switches,
           "part_violations": {p: v["violations"] for p, v in json.loads(row["quality"]).items()
                               if "violations" in v} if row.get("quality") else None,
           "part_violation_share": scores.get("part_violation_share"),
           "parts": None, "identity_suspect": None, "jerk": None, "worst": None}
    if ref is None or not row.get("width"):
        return rec, None
    points = ref.arrays["points"]
    m = measure(points, row["width"], row["height"], dmeta.get("expected_persons", points.shape[0]), switches,
                ref.arrays.get("part_violations"))
    k, start, end = worst_window(m["badness"], VIEWER_FRAMES)
    rec.update(parts=m["parts"], identity_suspect=m["identity_suspect"], jerk=m["jerk"],
               worst={"frame": k, "start": start, "end": end, "badness": round(float(m["badness"][k]), 4),
                      **{t: round(float(v[k]), 4) for t, v in m["frame_terms"].items()}})
    return rec, points


def _thumb(store: Store, row: dict, rec: dict, points: np.ndarray | None) -> dict:
    """Thumbnail of the clip's worst frame with the skeletons drawn (None when the frame cannot be had)."""
    frames = _load(store, "frames", row)
    if points is None or frames is None or rec["worst"] is None:
        return {"thumb": None}
    k = rec["worst"]["frame"]
    frame = read_frame(row["source_path"], int(frames.arrays["src_index"][k]))
    if frame is None:
        return {"thumb": None}
    return {"thumb": thumbnail(frame, apply_layout(THUMB_LAYOUT, points[:, k]), THUMB_LAYOUT)}


def _viewer_gif(out: Path, row: dict, rec: dict, layouts: list[str]) -> str | None:
    """The viewer's animation of a kept clip's worst moment (frames worst.start .. worst.end - 1)."""
    if not _has_gif(row, rec, layouts):
        return None
    layout = THUMB_LAYOUT if THUMB_LAYOUT in layouts else layouts[0]
    rel = f"clips/{row['clip_id'].replace('/', '__')}.gif"
    gif = within(out / "report", rel)
    if not gif.parent.is_dir():         # made by the client: a worker that does not see OUT must not write elsewhere
        raise FileNotFoundError(f"{gif.parent} does not exist on {socket.gethostname()}: every worker must see "
                                f"OUT at the same path as the build")
    shard = clip_row(out, layout, row["clip_id"])
    kp = shard["keypoints"]                                     # decoded by clip_row (workers/io/shard_codec.py)
    s, e = rec["worst"]["start"], rec["worst"]["end"]
    with tempfile.TemporaryDirectory() as work:
        frames = frames_at_30fps(row["source_path"], e, (row.get("height") or 0, row.get("width") or 0),
                                 Path(work), start=s)
        write((draw_frame(img, kp[:, s + i], layout) for i, img in enumerate(frames)), gif, width=320)
    return rel


def _has_gif(row: dict, rec: dict, layouts: list[str]) -> bool:
    """A kept clip with a worst moment gets a viewer animation (when the build wrote shards to draw from)."""
    return row["status"] == "ok" and bool(layouts) and rec["worst"] is not None


def clips_csv(clips: list[dict]) -> bytes:
    """Every clip, worst first, one flat row each (parts and absence reasons as columns)."""
    head = ["clip_id", "class", "status", "why", "composite", *[f"term_{t}" for t in TERMS], "n_frames",
            "tracks_detected", "actors_kept", "actors_expected", "pose_ratio", "actors_ratio", "confidence",
            "identity_switches", "switch_frames", "identity_suspect", "part_violation_share", "jerk",
            *[f"{p}_{k}" for p in QC_PARTS for k in ("presence", "confidence", *[f"absent_{r}" for r in REASONS])],
            "worst_frame", "window_start", "window_end"]
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(head)
    for c in clips:
        parts = c["parts"] or {}
        worst = c["worst"] or {}
        w.writerow([c["clip_id"], c["class"], c["status"], c["why"], c["composite"],
                    *[(c.get("terms") or {}).get(t) for t in TERMS], c["n_frames"], c["tracks_detected"],
                    c["actors_kept"], c["actors_expected"], c["pose_ratio"], c["actors_ratio"], c["confidence"],
                    c["identity_switches"], json.dumps(c["switch_frames"]), c["identity_suspect"],
                    c["part_violation_share"], c["jerk"],
                    *[v for p in QC_PARTS for v in (
                        (parts[p]["presence"], parts[p]["confidence"], *[parts[p]["absent"].get(r, 0.0) for r in REASONS])
                        if p in parts else [None] * (2 + len(REASONS)))],
                    worst.get("frame"), worst.get("start"), worst.get("end")])
    return buf.getvalue().encode()


def clip_records_task(cache_dir: str, rows: list[dict]) -> list[dict]:
    """A batch of clips' QC records (a task): each clip's detect, refine and quality entries are loaded by key
    here and dropped after its record; only the JSON-ready records are returned."""
    store = Store(Path(cache_dir))
    return [clip_record(store, r)[0] for r in rows]


def worst_clip_task(cache_dir: str, out: str, row: dict, rec: dict, layouts: list[str]) -> dict:
    """One worst clip's visuals (a task): the thumbnail of its worst frame (its refine points and frames entry
    loaded by key, one source frame decoded) as a data URI, and its viewer GIF written into OUT/report/clips."""
    store = Store(Path(cache_dir))
    ref = _load(store, "refine", row) if rec["worst"] is not None else None
    points = ref.arrays["points"] if ref is not None else None
    return {**_thumb(store, row, rec, points), "viewer": _viewer_gif(Path(out), row, rec, layouts)}


def build_report(out: Path, rows: list[dict], stages: list[str], cache_dir: Path,
                 tasks: DatasetTasks | None = None) -> dict:
    """`tasks`: where the per-clip work runs (the build's Dask workers, or this process by default): the QC
    records (RECORDS_PER_TASK clips a task) and each worst clip's thumbnail and GIF (a task each). This process
    ranks the records and writes the page from those small results."""
    t0 = time.perf_counter()
    tasks = tasks or DatasetTasks()
    out = Path(out)
    dest = out / "report"
    check_dest(dest, [r["source_path"] for r in rows if r.get("source_path")])
    page, record, table = within(dest, "index.html"), within(dest, "quality.json"), within(dest, "clips.csv")
    classes = per_class(rows)
    build = whole_build(rows, stages)
    layouts = [p.name for p in sorted((out / "shards").glob("*/")) if any(p.glob("*.parquet"))]
    by_id = {r["clip_id"]: r for r in rows}
    batches = [(str(cache_dir), rows[i:i + RECORDS_PER_TASK]) for i in range(0, len(rows), RECORDS_PER_TASK)]
    records = [rec for batch in tasks.map("report-records", clip_records_task, batches) for rec in batch]
    clips = rank(records)
    per_cls = defaultdict(list)
    for c in clips:
        if c["composite"] is not None:
            per_cls[c["class"]].append(c)
    table_rows = {cls: cs[:TABLE_PER_CLASS] for cls, cs in sorted(per_cls.items())}
    shown = [c for cs in table_rows.values() for c in cs[:THUMBS_PER_CLASS]]
    if any(_has_gif(by_id[c["clip_id"]], c, layouts) for c in shown):
        within(dest, "clips").mkdir(parents=True, exist_ok=True)       # the GIF tasks write into it, never make it
    visuals = tasks.map("report-visuals", worst_clip_task,
                        [(str(cache_dir), str(out), by_id[c["clip_id"]], c, layouts) for c in shown])
    by_clip = {c["clip_id"]: v for c, v in zip(shown, visuals)}
    worst = {cls: [{**c, **by_clip[c["clip_id"]]} for c in cs[:THUMBS_PER_CLASS]] for cls, cs in table_rows.items()}
    build["seconds_per_stage"]["report"] = round(time.perf_counter() - t0, 3)     # all but writing the files
    html = render(title=out.name, classes=classes, build=build, parts=PARTS, layout=THUMB_LAYOUT, worst=worst,
                  table=table_rows, qc_parts=list(QC_PARTS), reasons=REASONS, terms=TERMS,
                  counts={cls: len(cs) for cls, cs in per_cls.items()}, viewer_frames=VIEWER_FRAMES, table_n=TABLE_PER_CLASS,
                  plots={"retention": plots.retention_bars(classes), "heatmap": plots.confidence_heatmap(classes)})
    quality = {"classes": classes, "build": build, "clips": clips,
               "worst": {c: [{k: v for k, v in t.items() if k in ("clip_id", "status", "composite", "worst", "viewer")}
                             for t in ts] for c, ts in worst.items()}}
    atomic_write_bytes(page, html.encode())
    atomic_write_bytes(record, json.dumps(quality, indent=1).encode())
    atomic_write_bytes(table, clips_csv(clips))
    return quality
