"""The Kinetics annotation CSV (`label,youtube_id,time_start,time_end,split`); clips are found under --videos
(any depth) as `{youtube_id}_{time_start:06d}_{time_end:06d}.<ext>`. Class ids are dense over the sorted
label names of the CSV (for the full Kinetics-400 CSV this is the standard alphabetical class order). Clips in
the CSV but not on disk become failed rows (file not found), as downloads are usually incomplete. A row whose
clip id, label or split is unsafe (see `base`) or whose times are not numbers is refused with its line number."""
from __future__ import annotations

from pathlib import Path

from .base import AdapterError, VideoItem, dense_labels, list_videos
from .csv_manifest import read_rows

COLUMNS = ("label", "youtube_id", "time_start", "time_end", "split")


def clip_name(row: dict) -> str:
    try:
        start, end = int(float(row["time_start"])), int(float(row["time_end"]))
    except ValueError:
        raise AdapterError(f"time_start/time_end {row['time_start']!r}/{row['time_end']!r} are not numbers") from None
    return f"{row['youtube_id']}_{start:06d}_{end:06d}"


def discover(root: Path, cfg) -> list[VideoItem]:
    rows = read_rows(cfg.dataset.csv, COLUMNS)
    on_disk = {p.stem: p for p in list_videos(root, cfg.dataset.extensions)}
    ids = dense_labels([r["label"] for _, r in rows])
    items = []
    for line, r in rows:
        try:
            name = clip_name(r)
            path = on_disk.get(name, root / f"{name}.mp4")
            items.append(VideoItem(clip_id=name, path=str(path), label=ids[r["label"]], label_name=r["label"],
                                   split=r["split"].strip() or cfg.dataset.default_split))
        except AdapterError as e:
            raise AdapterError(f"{cfg.dataset.csv}: line {line} (youtube_id {r['youtube_id']!r}): {e}") from None
    return items


def looks_like(csv_path: Path) -> bool:
    with open(csv_path, newline="") as fh:
        header = fh.readline().strip().split(",")
    return all(c in header for c in COLUMNS)
