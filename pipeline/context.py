"""What a per-video stage sees: the clip, the config, and the clip's decoded frames (decoded at most once per
build, lazily, into a disk spool shared by every stage of the clip's task)."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import numpy as np

from schemas.config import BuildConfig
from workers.decode.probe import VideoError
from workers.decode.spool import FrameSpool, decode_to_spool

from .adapters import VideoItem
from .cache import Store


@dataclass
class VideoContext:
    item: VideoItem
    cfg: BuildConfig
    scratch: Path
    store: Optional["Store"] = None                       # for stages that cache sub-results (per expert)
    keys: dict = field(default_factory=dict)             # cache keys of the stages run so far for this clip
    _spool: Optional[FrameSpool] = field(default=None, repr=False)

    def frames(self, src_index: np.ndarray) -> FrameSpool:
        """The clip's output frames (decoding the video now if no stage of this task has yet)."""
        if self._spool is None:
            self.scratch.mkdir(parents=True, exist_ok=True)
            safe = self.item.clip_id.replace("/", "__")
            spool, decoded = decode_to_spool(self.item.path, src_index, self.scratch / f"{safe}.u8")
            if spool is None:
                needed = int(src_index.max()) + 1 if len(src_index) else 0
                raise VideoError(f"truncated: decoding stopped after {decoded} of {needed} frames")
            self._spool = spool
        return self._spool

    def close(self) -> None:
        if self._spool is not None:
            self._spool.close()
            self._spool = None
