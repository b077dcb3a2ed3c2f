"""What kind of input a file is, and the length rules each kind adapts.

Kinds: `video`, or `image` (a still: its content starts with an image signature, workers/decode/image.py). The
kind is read from the content, so it follows from the file digest every cache key already holds.

Length rules measure temporal support: `track.min_frames` (a track seen in fewer frames is dropped) and
`filter.min_frames` (a clip shorter than this is filtered). A still is one frame by construction — no track can
be seen twice and no clip is longer — so applied to a still these rules would drop every person and every clip
whatever the picture shows. For kind `image` they are replaced by `LENGTH_RULES["image"]` (1: any detection is
a track, a one-frame clip is long enough; a rule switched off in the config stays off). Nothing else changes:
confidence, pose-ratio and part rules apply to stills as configured. Videos keep the configured values. The
manifest records the kind (`input_kind`) and the replaced values (`length_rules`).
"""
from __future__ import annotations

import os
from typing import Optional

from .image import image_format

LENGTH_RULES: dict[str, dict[str, int]] = {
    "video": {},
    "image": {"track.min_frames": 1, "filter.min_frames": 1},
}


def input_kind(path: str | os.PathLike) -> str:
    return "image" if image_format(path) else "video"


def length_rule(kind: str, key: str, configured: Optional[int]) -> Optional[int]:
    """The value of length rule `key` (e.g. "track.min_frames") for an input of `kind`."""
    if configured is None:
        return None
    return LENGTH_RULES[kind].get(key, configured)


def length_rules_note(kind: str, cfg) -> Optional[str]:
    """'track.min_frames 5 -> 1; filter.min_frames 15 -> 1 (one-frame still)' for the manifest; None for a kind
    that keeps the configured values."""
    changed = [f"{key} {cfg.get(key)} -> {length_rule(kind, key, cfg.get(key))}" for key in LENGTH_RULES[kind]
               if cfg.get(key) is not None and length_rule(kind, key, cfg.get(key)) != cfg.get(key)]
    return "; ".join(changed) + f" ({kind}: one frame)" if changed else None
