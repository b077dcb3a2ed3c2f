"""A CSV manifest `path,label[,split]` (paths relative to --videos or absolute). Integer labels are kept as
class ids (label_name = the same text); text labels get dense ids over sorted names. A listed file that does
not exist still becomes a manifest row (failed at probe: file not found)."""
from __future__ import annotations

import csv
from pathlib import Path

from .base import AdapterError, VideoItem, dense_labels


def read_rows(path: Path, required: tuple[str, ...]) -> list[dict]:
    if not Path(path).is_file():
        raise AdapterError(f"dataset.csv: {path} does not exist")
    with open(path, newline="") as fh:
        reader = csv.DictReader(fh)
        cols = reader.fieldnames or []
        missing = [c for c in required if c not in cols]
        if missing:
            raise AdapterError(f"{path}: missing column(s) {missing}; found {cols}")
        return list(reader)


def discover(root: Path, cfg) -> list[VideoItem]:
    rows = read_rows(cfg.dataset.csv, ("path", "label"))
    labels = [r["label"].strip() for r in rows]
    numeric = all(l.lstrip("-").isdigit() for l in labels)
    ids = {l: int(l) for l in labels} if numeric else dense_labels(labels)
    items = []
    for r, l in zip(rows, labels):
        p = Path(r["path"].strip())
        full = p if p.is_absolute() else root / p
        items.append(VideoItem(clip_id=p.with_suffix("").as_posix(), path=str(full), label=ids[l], label_name=l,
                               split=(r.get("split") or "").strip() or cfg.dataset.default_split))
    return items
