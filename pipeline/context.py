"""What a per-video stage sees: the clip, the config, and the clip's output frames (`ctx.frames`).

The frames are opened at most once per clip task, lazily, by the first stage that asks (frames, or the first
stage that runs when frames came from the cache), and shared by every later stage of the task; `close()` frees
them (spool, decoder) and runs on every exit path of the task. See `workers.decode.spool` for the
`FrameSource` shape and its memory/scratch bounds."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import numpy as np

from schemas.config import BuildConfig
from workers.decode.spool import FrameSource, open_frames

from .adapters import VideoItem
from .cache import Store


@dataclass
class VideoContext:
    item: VideoItem
    cfg: BuildConfig
    scratch: Path                                        # where a clip's spool may go (an unnamed file)
    store: Optional["Store"] = None                       # for stages that cache sub-results (per expert)
    keys: dict = field(default_factory=dict)             # cache keys of the stages run so far for this clip
    _frames: Optional[FrameSource] = field(default=None, repr=False)

    def frames(self, src_index: np.ndarray) -> FrameSource:
        """The clip's output frames (decoding the video now if no stage of this task has yet); raises
        `VideoError` ("truncated: ...") when the video's data stops before the last needed frame."""
        if self._frames is None:
            self._frames = open_frames(self.item.path, src_index, self.scratch)
        return self._frames

    def close(self) -> None:
        if self._frames is not None:
            self._frames.close()
            self._frames = None
