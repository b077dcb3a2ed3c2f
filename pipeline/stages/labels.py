"""labels — merge labels with a many-to-one map, give dense stable class ids, and (optionally) re-split.

inputs:    every clip's manifest row (after the per-clip stages)
outputs:   rows updated in place (always: cheap); classes.json rewritten only when it changes: label_name (merged), label (dense id over sorted merged names), split;
           source_label_name keeps the adapter's name; OUT/classes.json = [{id, name, sources, clips}, ...]
params:    labels.*, splits.*
resources: the client process, milliseconds
errors:    a source label missing from the map, or a map entry matching nothing, stops the build before any
           compute (checked right after discovery) with both lists
"""
from __future__ import annotations

import json
from pathlib import Path

from workers.curation.labels import merged, read_map, stratified_split

from ..cache import atomic_write_bytes
from ..dag import Stage


def run(dctx, results: list[dict]) -> dict:
    cfg = dctx.cfg
    mapping = read_map(cfg.labels.map) if cfg.labels.map else None
    rows = [r["row"] for r in results]
    for row in rows:
        row.setdefault("source_label_name", row["label_name"])
        row["label_name"] = merged(row["source_label_name"], mapping)
    names = sorted({row["label_name"] for row in rows})
    ids = {n: i for i, n in enumerate(names)}
    if not (cfg.labels.map is None and cfg.labels.keep_adapter_ids):
        for row in rows:
            row["label"] = ids[row["label_name"]]
    if cfg.splits.method == "stratified":
        kept = [row for row in rows if row["status"] == "ok"]
        fractions = {"train": 1 - cfg.splits.val_fraction - cfg.splits.test_fraction, "val": cfg.splits.val_fraction}
        if cfg.splits.test_fraction:
            fractions["test"] = cfg.splits.test_fraction
        split = stratified_split([r["clip_id"] for r in kept], [r["label_name"] for r in kept], fractions,
                                 cfg.splits.seed)
        for row in kept:
            row["split"] = split[row["clip_id"]]
    classes = []
    for n in names:
        members = [row for row in rows if row["label_name"] == n]
        classes.append({"id": members[0]["label"], "name": n,
                        "sources": sorted({row["source_label_name"] for row in members}),
                        "clips": sum(row["status"] == "ok" for row in members)})
    classes.sort(key=lambda c: (c["id"], c["name"]))
    body = json.dumps(classes, indent=1).encode()
    path = Path(dctx.out) / "classes.json"
    cached = path.exists() and path.read_bytes() == body
    if not cached:
        atomic_write_bytes(path, body)
    return {"cached": cached, "classes": len(classes), "merged": mapping is not None}


STAGE = Stage(name="labels", run=run, scope="dataset", params=("labels", "splits"), doc=__doc__)
