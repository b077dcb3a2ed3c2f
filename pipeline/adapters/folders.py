"""Class folders: `<label>/<clip>.<ext>` — the label is the name of the folder holding the video (at any
depth, so a tree like `kinetics/tai_chi/x.mp4` gives `tai_chi`). Class ids are dense over sorted names. A file
or folder name that is not a safe clip id / label (see `base`, e.g. a newline in it) is refused, naming it."""
from __future__ import annotations

from pathlib import Path

from .base import AdapterError, VideoItem, dense_labels, list_videos


def discover(root: Path, cfg) -> list[VideoItem]:
    paths = list_videos(root, cfg.dataset.extensions)
    names = [p.parent.name if p.parent != root else Path(root).resolve().name for p in paths]
    ids = dense_labels(names)
    items = []
    for p, n in zip(paths, names):
        try:
            items.append(VideoItem(clip_id=p.relative_to(root).with_suffix("").as_posix(), path=str(p),
                                   label=ids[n], label_name=n, split=cfg.dataset.default_split))
        except AdapterError as e:
            raise AdapterError(f"{p}: {e}") from None
    return items
