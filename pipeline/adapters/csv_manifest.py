"""A CSV manifest `path,label[,split]` (paths relative to --videos or absolute). Integer labels are kept as
class ids (label_name = the same text); text labels get dense ids over sorted names. A listed file that does
not exist still becomes a manifest row (failed at probe: file not found).

The clip id is the path relative to --videos without its extension ("sub/two.avi" -> "sub/two"); a path that
lies outside --videos (absolute elsewhere, or climbing out with "..") gets its normalised absolute path without
the leading "/" ("/data/k/x.mp4" -> "data/k/x"). So an id is never absolute and never holds "..": outputs named
after it stay inside their destination. A row whose id, label or split is unsafe (see `base`) or empty is
refused with its line number."""
from __future__ import annotations

import csv
import os
from pathlib import Path

from .base import AdapterError, VideoItem, dense_labels


def read_rows(path: Path, required: tuple[str, ...]) -> list[tuple[int, dict]]:
    """(line number, row) for each data row; every required cell is present (possibly empty)."""
    if not Path(path).is_file():
        raise AdapterError(f"dataset.csv: {path} does not exist")
    with open(path, newline="") as fh:
        reader = csv.DictReader(fh)
        cols = reader.fieldnames or []
        missing = [c for c in required if c not in cols]
        if missing:
            raise AdapterError(f"{path}: missing column(s) {missing}; found {cols}")
        rows = []
        while True:
            line = reader.line_num + 1                      # where the row starts (a quoted cell may span lines)
            try:
                row = next(reader)
            except StopIteration:
                return rows
            except csv.Error as e:                          # e.g. a NUL byte
                raise AdapterError(f"{path}: line {line}: {e}") from None
            short = [c for c in required if row.get(c) is None]
            if short:
                raise AdapterError(f"{path}: line {line}: no value for column(s) {short}")
            rows.append((line, row))


def clip_id_for(path: str, root: Path) -> str:
    base = os.path.normpath(os.path.abspath(root))
    full = os.path.normpath(os.path.join(base, path))
    rel = os.path.relpath(full, base)
    outside = rel == os.pardir or rel.startswith(os.pardir + os.sep)
    name = full.lstrip(os.sep) if outside else rel
    if name in ("", os.curdir):
        raise AdapterError("the path names a folder, not a video")
    return Path(name).with_suffix("").as_posix()


def discover(root: Path, cfg) -> list[VideoItem]:
    rows = read_rows(cfg.dataset.csv, ("path", "label"))
    labels = [r["label"].strip() for _, r in rows]
    numeric = all(l.lstrip("-").isdigit() for l in labels)
    ids = {l: int(l) for l in labels} if numeric else dense_labels(labels)
    items = []
    for (line, r), l in zip(rows, labels):
        raw = r["path"].strip()
        try:
            if not raw:
                raise AdapterError("empty path")
            full = Path(raw) if Path(raw).is_absolute() else root / raw
            items.append(VideoItem(clip_id=clip_id_for(raw, root), path=str(full), label=ids[l], label_name=l,
                                   split=(r.get("split") or "").strip() or cfg.dataset.default_split))
        except AdapterError as e:
            raise AdapterError(f"{cfg.dataset.csv}: line {line} (path {raw!r}): {e}") from None
    return items
