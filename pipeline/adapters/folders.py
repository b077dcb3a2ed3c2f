"""Class folders: `<label>/<clip>.<ext>` — the label is the name of the folder holding the video (at any
depth, so a tree like `kinetics/tai_chi/x.mp4` gives `tai_chi`). Class ids are dense over sorted names."""
from __future__ import annotations

from pathlib import Path

from .base import VideoItem, dense_labels, list_videos


def discover(root: Path, cfg) -> list[VideoItem]:
    paths = list_videos(root, cfg.dataset.extensions)
    names = [p.parent.name if p.parent != root else root.name for p in paths]
    ids = dense_labels(names)
    return [VideoItem(clip_id=p.relative_to(root).with_suffix("").as_posix(), path=str(p), label=ids[n],
                      label_name=n, split=cfg.dataset.default_split) for p, n in zip(paths, names)]
