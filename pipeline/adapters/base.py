"""What an input adapter yields: one `VideoItem` per input video (or per annotated clip)."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional


@dataclass(frozen=True)
class VideoItem:
    clip_id: str
    path: str
    label: int
    label_name: str
    split: str
    expected_persons: Optional[int] = None      # NTU: from the action id; None = use track.max_persons
    extra: dict = field(default_factory=dict)   # adapter-specific manifest columns (e.g. split_xsub)


class AdapterError(ValueError):
    """The input folder / annotation file cannot be read as the chosen dataset."""


def list_videos(root: Path, extensions: tuple[str, ...]) -> list[Path]:
    exts = {e.lower() for e in extensions}
    return sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in exts)


def dense_labels(names: list[str]) -> dict[str, int]:
    """Stable dense class ids: sorted names."""
    return {n: i for i, n in enumerate(sorted(set(names)))}
