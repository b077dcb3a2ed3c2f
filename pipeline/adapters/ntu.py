"""NTU RGB+D 60/120 file names `SsssCcccPpppRrrrAaaa[_rgb].avi` -> label A-1 with the NTU-120 class name,
the xsub/xview/xset splits (../shared/notes/ntu_kinetics.md) and the expected actor count (2 for A050-A060
and A106-A120, else 1)."""
from __future__ import annotations

import re
from pathlib import Path

from schemas.labelmaps import ntu120

from .base import AdapterError, VideoItem, list_videos

NTU_NAME = re.compile(r"^S(\d{3})C(\d{3})P(\d{3})R(\d{3})A(\d{3})(?:_rgb)?$")
XSUB_TRAIN = {1, 2, 4, 5, 8, 9, 13, 14, 15, 16, 17, 18, 19, 25, 27, 28, 31, 34, 35, 38, 45, 46, 47, 49, 50, 52, 53,
              54, 55, 56, 57, 58, 59, 70, 74, 78, 80, 81, 82, 83, 84, 85, 86, 89, 91, 92, 93, 94, 95, 97, 98, 100,
              103}
TWO_PERSON = set(range(50, 61)) | set(range(106, 121))


def parse(stem: str) -> dict | None:
    m = NTU_NAME.match(stem)
    if not m:
        return None
    setup, camera, performer, replication, action = map(int, m.groups())
    return dict(setup=setup, camera=camera, performer=performer, replication=replication, action=action)


def splits(f: dict) -> dict[str, str]:
    return {
        "xsub": "train" if f["performer"] in XSUB_TRAIN else "val",
        "xview": "val" if f["camera"] == 1 else "train",
        "xset": "train" if f["setup"] % 2 == 0 else "val",
    }


def item_for(path: Path, protocol: str) -> VideoItem:
    stem = path.stem
    f = parse(stem)
    if f is None:
        raise AdapterError(f"{path.name} is not an NTU file name (SsssCcccPpppRrrrAaaa[_rgb])")
    if not 1 <= f["action"] <= 120:
        raise AdapterError(f"{path.name}: action A{f['action']:03d} is outside A001-A120")
    s = splits(f)
    clip_id = stem[:-4] if stem.endswith("_rgb") else stem
    return VideoItem(
        clip_id=clip_id, path=str(path), label=f["action"] - 1, label_name=ntu120()[f["action"] - 1],
        split=s[protocol], expected_persons=2 if f["action"] in TWO_PERSON else 1,
        extra={f"split_{k}": v for k, v in s.items()},
    )


def discover(root: Path, cfg) -> list[VideoItem]:
    return [item_for(p, cfg.dataset.split_protocol) for p in list_videos(root, cfg.dataset.extensions)]


def matches(paths: list[Path]) -> bool:
    return bool(paths) and all(NTU_NAME.match(p.stem) for p in paths)
