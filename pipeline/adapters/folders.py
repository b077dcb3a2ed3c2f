"""Class folders: `<label>/<clip>.<ext>` — the label is the name of the folder holding the video (at any
depth, so a tree like `kinetics/tai_chi/x.mp4` gives `tai_chi`). Class ids are dense over sorted names. A file
or folder name that is not a safe clip id / label (see `base`, e.g. a newline in it) is refused, naming it.

Still images (`workers.decode.image.IMAGE_EXTENSIONS`: .jpg .jpeg .png .bmp .webp .tif .tiff) are inputs too,
each a one-frame clip. Every row says what its file is (`input_kind`: video | image, from the content, as the
probe stage reads it) and, for a still, which length rules were replaced for it (`length_rules`, e.g.
"track.min_frames 5 -> 1; filter.min_frames 15 -> 1 (image: one frame)"; workers/decode/input_kind.py)."""
from __future__ import annotations

from pathlib import Path

from workers.decode.image import IMAGE_EXTENSIONS
from workers.decode.input_kind import input_kind, length_rules_note

from .base import AdapterError, VideoItem, dense_labels, list_videos


def discover(root: Path, cfg) -> list[VideoItem]:
    paths = list_videos(root, tuple(dict.fromkeys(cfg.dataset.extensions + IMAGE_EXTENSIONS)))
    names = [p.parent.name if p.parent != root else Path(root).resolve().name for p in paths]
    ids = dense_labels(names)
    items = []
    for p, n in zip(paths, names):
        kind = input_kind(p)
        try:
            items.append(VideoItem(clip_id=p.relative_to(root).with_suffix("").as_posix(), path=str(p),
                                   label=ids[n], label_name=n, split=cfg.dataset.default_split,
                                   extra={"input_kind": kind, "length_rules": length_rules_note(kind, cfg)}))
        except AdapterError as e:
            raise AdapterError(f"{p}: {e}") from None
    return items
