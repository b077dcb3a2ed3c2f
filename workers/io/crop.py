"""`skelforge crop`: per kept clip, the source video at 30 FPS cropped to its actors and resized to a square.

The crop box is the union over all frames of the kept actors' skeleton boxes (joints with score > 0) plus a
margin on each side (a fraction of the box's width / height), capped at the frame. Frames come from the same
decoder and presentation-timestamp resampler as the build's `frames` stage, so output frame k is the frame the
keypoints of frame k were computed on. A keypoint (x, y) lands at
((x - x0) · size / (x1 - x0), (y - y0) · size / (y1 - y0)) in the cropped video.
"""
from __future__ import annotations

import json
import math
import tempfile
from pathlib import Path
from typing import Callable, Iterator, Optional

import numpy as np


def crop_box(keypoints: np.ndarray, width: int, height: int, margin: float = 0.1) -> tuple[int, int, int, int]:
    """(x0, y0, x1, y1) integer pixel box (x1, y1 exclusive: the crop is img[y0:y1, x0:x1]).

    keypoints (M, T, V, 3): x, y, score. The box holds every joint with score > 0 and finite coordinates over
    all persons and frames, widened by `margin` × its width (height) on each side, rounded outwards and capped
    at the frame [0, width] × [0, height]. No valid joint -> the whole frame. Never empty (at least 1 pixel).
    """
    if width <= 0 or height <= 0:
        raise ValueError(f"frame size must be positive, got {width}x{height}")
    if margin < 0:
        raise ValueError(f"margin must be >= 0, got {margin}")
    kp = np.asarray(keypoints, np.float64).reshape(-1, np.shape(keypoints)[-1])
    ok = (kp[:, 2] > 0) & np.isfinite(kp[:, :2]).all(1) if len(kp) else np.zeros(0, bool)
    if not ok.any():
        return 0, 0, int(width), int(height)
    xy = kp[ok, :2]
    lo, hi = xy.min(0), xy.max(0)
    pad = (hi - lo) * margin
    lo, hi = lo - pad, hi + pad
    x0 = min(max(int(math.floor(lo[0])), 0), width - 1)
    y0 = min(max(int(math.floor(lo[1])), 0), height - 1)
    x1 = max(min(int(math.ceil(hi[0])), width), x0 + 1)
    y1 = max(min(int(math.ceil(hi[1])), height), y0 + 1)
    return x0, y0, x1, y1


def to_crop(xy: np.ndarray, box: tuple[int, int, int, int], size: int) -> np.ndarray:
    """Map original-frame pixel coordinates (..., 2) into the size × size cropped frame."""
    x0, y0, x1, y1 = box
    xy = np.asarray(xy, np.float64)
    return np.stack([(xy[..., 0] - x0) * size / (x1 - x0), (xy[..., 1] - y0) * size / (y1 - y0)], -1)


def source_frames(video: str, n_frames: int, work: Path) -> Iterator[np.ndarray]:
    """The clip's first `n_frames` output frames at 30 FPS (RGB), exactly as the build's frames stage saw them."""
    from workers.decode.probe import VideoError
    from workers.decode.resample import presentation_times, resample_indices
    from workers.decode.spool import open_frames
    times, end = presentation_times(video)
    if not times:
        raise VideoError("no video frames")
    idx = resample_indices(times, end, 30, n_frames)
    if len(idx) < n_frames:
        raise VideoError(f"source gives {len(idx)} frames at 30 FPS, the build kept {n_frames}")
    with open_frames(video, idx, work) as source:      # raises VideoError("truncated: ...") when data stops
        yield from source


def write_cropped(frames: Iterator[np.ndarray], box: tuple[int, int, int, int], size: int, dest: Path,
                  fps: int = 30) -> int:
    """Crop, resize (INTER_AREA) and encode frames to `dest` (workers/io/mp4.py), atomically. Returns frames written."""
    import cv2

    from .mp4 import write_mp4
    x0, y0, x1, y1 = box
    return write_mp4((cv2.resize(np.ascontiguousarray(f[y0:y1, x0:x1]), (size, size), interpolation=cv2.INTER_AREA)
                      for f in frames), Path(dest), fps)


def crop_build(out: Path, layout: str, dest: Path, size: int = 256, margin: float = 0.1,
               progress: Optional[Callable[[str, dict], None]] = None) -> dict:
    """Write DEST/<clip_id>.mp4 for every kept clip of `layout` and DEST/crops.json; returns the crops.json record.

    A clip that cannot be cropped (source video missing or unreadable) is recorded as failed with the reason;
    the others continue. Raises FileNotFoundError when OUT has no manifest or no shards for the layout, and
    UnsafeDestination (a ValueError), before writing anything, when DEST is, holds or lies inside the build's
    inputs or a clip id would put its video outside DEST (e.g. an absolute id from an old manifest).
    """
    import pyarrow.parquet as pq

    from .atomic import atomic_write_bytes
    from .dest_guard import build_inputs, check_dest, within
    from .shard_reader import iter_clips
    out, dest = Path(out), Path(dest)
    if size < 2 or size % 2:
        raise ValueError(f"--size must be an even number >= 2 (yuv420p), got {size}")
    if not (out / "manifest.parquet").exists():
        raise FileNotFoundError(f"{out} is not a skelforge build (no manifest.parquet)")
    manifest = {r["clip_id"]: r for r in pq.read_table(out / "manifest.parquet").to_pylist()}
    clips = iter_clips(out, layout)            # raises FileNotFoundError for a layout that was not built
    check_dest(dest, *build_inputs(out))
    targets = {cid: within(dest, f"{cid}.mp4") for cid, r in manifest.items() if r["status"] == "ok"}
    index = within(dest, "crops.json")
    dest.mkdir(parents=True, exist_ok=True)
    record = {"layout": layout, "size": size, "margin": margin, "fps": 30,
              "box_convention": "x0, y0, x1, y1 in source pixels; x1, y1 exclusive", "clips": {}}
    with tempfile.TemporaryDirectory(prefix="skelforge-crop-") as work:
        for clip in clips:
            cid = clip["clip_id"]
            row = manifest.get(cid, {})
            src = row.get("source_path")
            kp = clip["keypoints"]
            T = int(row.get("n_frames") or kp.shape[1])
            h, w = clip["size"]
            entry: dict = {"source_path": src, "frames": T}
            try:
                if not src:
                    raise FileNotFoundError("source video missing: the manifest has no source_path")
                if not Path(src).is_file():
                    raise FileNotFoundError(f"source video missing: {src}")
                if not (h and w):
                    from workers.decode.probe import probe_video
                    info = probe_video(src)
                    h, w = info.height, info.width
                box = crop_box(kp, w, h, margin)
                target = targets.get(cid) or within(dest, f"{cid}.mp4")
                n = write_cropped(source_frames(src, T, Path(work)), box, size, target)
                entry.update(status="ok", box=list(box), width=w, height=h, file=f"{cid}.mp4", frames=n)
            except Exception as e:   # noqa: BLE001 — one clip's failure is recorded, the rest continue
                from workers.decode.probe import VideoError
                known = isinstance(e, (FileNotFoundError, VideoError))
                entry.update(status="failed", reason=str(e) if known else f"{type(e).__name__}: {e}")
            record["clips"][cid] = entry
            if progress:
                progress(cid, entry)
    record["ok"] = sum(e["status"] == "ok" for e in record["clips"].values())
    record["failed"] = len(record["clips"]) - record["ok"]
    atomic_write_bytes(index, json.dumps(record, indent=1).encode())
    return record
