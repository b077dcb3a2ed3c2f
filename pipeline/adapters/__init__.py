"""Input adapters, chosen automatically (overridable with `dataset.adapter`):
a CSV in `dataset.csv` -> `kinetics` when it has the Kinetics columns, else `csv`; every video named like
NTU -> `ntu`; otherwise class `folders`."""
from __future__ import annotations

from pathlib import Path

from . import csv_manifest, folders, kinetics, ntu
from .base import AdapterError, VideoItem, list_videos

ADAPTERS = {"ntu": ntu.discover, "folders": folders.discover, "csv": csv_manifest.discover,
            "kinetics": kinetics.discover}


def choose(root: Path, cfg) -> str:
    if cfg.dataset.adapter != "auto":
        return cfg.dataset.adapter
    if cfg.dataset.csv is not None:
        return "kinetics" if kinetics.looks_like(cfg.dataset.csv) else "csv"
    return "ntu" if ntu.matches(list_videos(root, cfg.dataset.extensions)) else "folders"


def discover(root: Path, cfg) -> tuple[str, list[VideoItem]]:
    name = choose(root, cfg)
    if name in ("csv", "kinetics") and cfg.dataset.csv is None:
        raise AdapterError(f"dataset.adapter {name} needs dataset.csv (the annotation file)")
    items = ADAPTERS[name](Path(root), cfg)
    seen: dict[str, str] = {}
    dups = []
    for it in items:
        if it.clip_id in seen:
            dups.append(f"{it.clip_id} ({seen[it.clip_id]} and {it.path})")
        seen[it.clip_id] = it.path
    if dups:
        raise AdapterError("duplicate clip ids: " + "; ".join(dups[:5]) + (" ..." if len(dups) > 5 else ""))
    return name, sorted(items, key=lambda i: i.clip_id)


__all__ = ["ADAPTERS", "AdapterError", "VideoItem", "choose", "discover"]
