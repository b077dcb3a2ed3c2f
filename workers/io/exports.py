"""Exports to the formats researchers already train with (../shared/notes/formats.md).

pyskl         one pickle in pyskl's / mmaction2's format and an mmaction2 config beside it (export_pyskl.py)
ntu-x-npy     one `<clip>.npy` per sample, float32 (C=3, T=300, V, M=2): x, y, score, zero-padded (longer clips
              keep their first 300 frames, persons beyond 2 are dropped); `<split>.txt` lists the samples and
              `labels.csv` gives name,label (NTU names also carry A###)
posetics-npy  what UNIK's posetics_gendata.py writes, from skelforge's 2D and 3D (export_posetics.py)

Before writing anything each export checks its destination (`dest_guard`): DEST must not be, hold or lie inside
the build's inputs, and every file it will write (named from the shards' clip ids and splits) must land inside
DEST; otherwise UnsafeDestination (a ValueError) is raised.
"""
from __future__ import annotations

import csv
from collections import defaultdict
from pathlib import Path

import numpy as np

from .export_common import guard as _guard
from .export_common import pad as _pad
from .export_posetics import export_posetics
from .export_pyskl import export_pyskl
from .shard_reader import iter_clips


def _safe(clip_id: str) -> str:
    return clip_id.replace("/", "__")


def export_ntu_x(out: Path, layout: str, dest: Path) -> Path:
    _guard(out, layout, dest, lambda ids, splits: [f"{_safe(c)}.npy" for c in ids] + [f"{s}.txt" for s in splits]
           + ["labels.csv"])
    dest.mkdir(parents=True, exist_ok=True)
    lists, labels = defaultdict(list), []
    for c in iter_clips(out, layout):
        arr = _pad(c["keypoints"]).transpose(3, 1, 2, 0)            # (C, T, V, M)
        name = _safe(c["clip_id"])
        np.save(dest / f"{name}.npy", np.ascontiguousarray(arr, dtype=np.float32))
        lists[c["split"]].append(name)
        labels.append((name, c["label"]))
    for s, names in lists.items():
        (dest / f"{s}.txt").write_text("\n".join(names) + "\n")
    with open(dest / "labels.csv", "w", newline="") as fh:
        csv.writer(fh).writerows([("name", "label")] + labels)
    return dest


EXPORTS = {"pyskl": export_pyskl, "ntu-x-npy": export_ntu_x, "posetics-npy": export_posetics}
