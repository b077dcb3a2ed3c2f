"""`skelforge show`: draw one clip of a build (its shard row for a layout) on its video or a blank canvas, each
person in its own palette colour with its id (`workers.report.viewer.person_colour`).
--save must not be a source video of the build (or --video), nor lie inside the build's input folder
(UnsafeDestination, a ValueError, before anything is drawn)."""
from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Optional

import numpy as np
import pyarrow.parquet as pq

from workers.io.dest_guard import build_inputs, check_dest
from workers.io.shard_codec import read_rows
from workers.io.shard_reader import frame_sizes, layout_files
from workers.report.viewer import draw_frame, frames_at_30fps, render_3d, write


def clip_row(out: Path, layout: str, clip_id: str) -> dict:
    """The clip's shard row, keypoints decoded ((M, T, V, C) float32 arrays: `shard_codec`)."""
    for f in layout_files(out, layout):
        rows = read_rows(f, filters=[("clip_id", "=", clip_id)])
        if rows:
            return rows[0]
    raise KeyError(f"clip {clip_id!r} is not in the {layout} shards of {out} (kept clips only)")


def show(out: Path, clip_id: str, layout: str, save: Path, video: Optional[str] = None, three_d: bool = False,
         width: Optional[int] = None, size: Optional[tuple[int, int]] = None, max_frames: Optional[int] = None
         ) -> int:
    """video / size (h, w) default to the manifest's source_path and frame size; max_frames keeps the start."""
    sources, folders = build_inputs(out)
    check_dest(save, sources + [video] if video else sources, folders)
    return draw(out, clip_id, layout, save, video, three_d, width, size, max_frames)


def draw(out: Path, clip_id: str, layout: str, save: Path, video: Optional[str] = None, three_d: bool = False,
         width: Optional[int] = None, size: Optional[tuple[int, int]] = None, max_frames: Optional[int] = None
         ) -> int:
    """`show` without the check of --save, for callers that checked their destination already (the report)."""
    row = clip_row(out, layout, clip_id)
    kp = row["keypoints"]                                                                      # (M, T, V, 3)
    kp = kp[:, :max_frames] if max_frames else kp
    M, T = kp.shape[:2]
    if three_d:
        if row["keypoints_3d"] is None:
            raise ValueError(f"clip {clip_id} has no 3D keypoints")
        k3 = row["keypoints_3d"][:, :T]
        ids = [T // 2] if Path(save).suffix.lower() == ".png" else list(range(T))
        return write(render_3d(k3, layout, ids), save, width=width)
    if video is None:
        video = pq.read_table(Path(out) / "manifest.parquet", columns=["clip_id", "source_path"],
                              filters=[("clip_id", "=", clip_id)]).column("source_path").to_pylist()[0]
    h, w = size or frame_sizes(out).get(clip_id, (0, 0))
    if not (h and w):                                      # no frame size known: fit the skeleton
        ok = kp[..., 2] > 0
        w, h = int(np.nanmax(kp[..., 0][ok]) + 20), int(np.nanmax(kp[..., 1][ok]) + 20)
    with tempfile.TemporaryDirectory() as work:
        frames = (draw_frame(img, kp[:, k], layout) for k, img in enumerate(frames_at_30fps(video, T, (h, w),
                                                                                            Path(work))))
        return write(frames, save, width=width)
