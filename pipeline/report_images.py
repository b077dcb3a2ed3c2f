"""The report's drawn images as content-addressed cache entries, so a rebuild draws only what changed and
decodes a source video only for frames it never decoded before.

Three kinds of entry in the build's cache (`pipeline.cache.Store`: checksummed .npz written atomically, nothing
unpickled; a truncated, garbled or unreadable entry is a miss: removed, redrawn and stored again):

  report-frames  a worst clip's window of source frames, shrunk and JPEG-encoded (`workers.report.frames`).
                 Key: the clip's frames-stage key (a hash of the video file's content, the frames params and
                 code), the source frame indices, and the hash of the decoding code.
  report-thumb   the thumbnail JPEG of the worst frame. Key: the report-frames key, the frame's place in the
                 window, the sha256 of the joints drawn (exact array bytes, shape and dtype), the layout, and the
                 hash of the drawing code (`workers.report.thumbs`, with what it imports).
  report-gif     the viewer animation of the window. Key: the report-frames key, the sha256 of the keypoint
                 window drawn (from the layout's shard), the layout, and the drawing code's hash.

No key holds a path. A rebuild whose skeletons, frames and code are unchanged reads the two images and opens no
source video. New skeletons (e.g. `--from refine` with other refine params) change only their own clip's image
keys; those images are redrawn on the cached frames, still without a decode. The video is decoded only when
the report-frames entry is absent. A source that cannot be read gives no thumbnail and an animation on blank
frames, neither cached (the next build tries the source again).

contract:
  clip_visuals(store, out, row, rec, points, layout) -> {"thumb": data URI | None, "viewer": rel path | None,
                                                          "refs": [[kind, key], ...]}  (the entries it used)
  `layout`: the shard layout the animation draws (None: no animation; the thumbnail needs `points`).
"""
from __future__ import annotations

import hashlib
import socket
import tempfile
from pathlib import Path
from typing import Optional

import numpy as np

from workers.convert.layout_eval import apply_layout
from workers.io.dest_guard import within
from workers.report import frames as report_frames
from workers.report.thumbs import data_uri, thumb_jpeg, viewer_gif

from .cache import Artifact, Store, atomic_write_bytes, make_key
from .codehash import code_hash

FRAMES, THUMB, GIF = "report-frames", "report-thumb", "report-gif"
THUMB_LAYOUT = "ntu-x-118"


def array_digest(a: np.ndarray) -> str:
    a = np.ascontiguousarray(a)
    h = hashlib.sha256(f"{a.dtype.str}{a.shape}".encode())
    h.update(a.reshape(-1).view(np.uint8))
    return h.hexdigest()


def frames_key(frames_stage_key: str, src_index: np.ndarray) -> str:
    return make_key(FRAMES, code_hash("workers.report.frames"), {"width": report_frames.WIDTH},
                    {"frames": frames_stage_key, "src_index": [int(i) for i in src_index]}, {})


def image_key(kind: str, window_key: str, drawn: np.ndarray, layout: str, at: Optional[int] = None) -> str:
    return make_key(kind, code_hash("workers.report.thumbs"), {"layout": layout},
                    {"frames": window_key, "at": at, "points": array_digest(drawn)}, {})


def _blob(store: Store, kind: str, key: str) -> Optional[bytes]:
    art = store.load(kind, key)            # absent or corrupt (then removed): None, a miss
    return None if art is None or "bytes" not in art.arrays else art.arrays["bytes"].tobytes()


def _save_blob(store: Store, kind: str, key: str, data: bytes) -> None:
    store.save(kind, key, Artifact({"bytes": np.frombuffer(data, np.uint8)}))


def _window(store: Store, key: str, source: Optional[str], src_index: np.ndarray
            ) -> Optional[report_frames.Window]:
    art = store.load(FRAMES, key)
    if art is not None:
        try:
            return report_frames.Window.unpack(art.arrays, art.meta)
        except (KeyError, IndexError, TypeError, ValueError):
            pass                           # a well-formed entry of the wrong shape: decode afresh below
    with tempfile.TemporaryDirectory(prefix="skelforge-report-") as scratch:
        win = report_frames.decode_window(source, src_index, Path(scratch))
    if win is not None:
        store.save(FRAMES, key, Artifact(*win.pack()))
    return win


def _blank(n: int, source_hw: tuple[int, int]) -> list[np.ndarray]:
    h, w = (int(v) or 1 for v in source_hw)
    w2 = min(w, report_frames.WIDTH)
    return [np.full((max(1, int(round(h * w2 / w))), w2, 3), 255, np.uint8) for _ in range(n)]


def clip_visuals(store: Store, out: Path, row: dict, rec: dict, points: Optional[np.ndarray],
                 layout: Optional[str]) -> dict:
    worst = rec.get("worst")
    fr = store.load("frames", row["frames_key"]) if row.get("frames_key") and worst else None
    if fr is None:
        return {"thumb": None, "viewer": None, "refs": []}
    s, e, k = worst["start"], worst["end"], worst["frame"]
    src = fr.arrays["src_index"][s:e]
    wkey = frames_key(row["frames_key"], src)
    refs, win = [[FRAMES, wkey]], None

    def window():
        nonlocal win
        if win is None:
            win = _window(store, wkey, row.get("source_path"), src)
        return win

    thumb = None
    if points is not None:
        joints = apply_layout(THUMB_LAYOUT, points[:, k])
        tkey = image_key(THUMB, wkey, joints, THUMB_LAYOUT, at=k - s)
        refs.append([THUMB, tkey])
        thumb = _blob(store, THUMB, tkey)
        if thumb is None and window() is not None:
            thumb = thumb_jpeg(win.images()[k - s], joints, win.source_hw, THUMB_LAYOUT)
            _save_blob(store, THUMB, tkey, thumb)
    viewer = None
    if layout is not None:
        viewer = _gif(store, out, row, layout, s, e, wkey, window, refs)
    return {"thumb": data_uri(thumb) if thumb is not None else None, "viewer": viewer, "refs": refs}


def _gif(store: Store, out: Path, row: dict, layout: str, s: int, e: int, wkey: str, window, refs: list) -> str:
    from .show import clip_row
    rel = f"clips/{row['clip_id'].replace('/', '__')}.gif"
    dest = within(out / "report", rel)
    if not dest.parent.is_dir():        # made by the client: a worker that does not see OUT must not write elsewhere
        raise FileNotFoundError(f"{dest.parent} does not exist on {socket.gethostname()}: every worker must see "
                                f"OUT at the same path as the build")
    shard = clip_row(out, layout, row["clip_id"])
    kp = shard["keypoints"][:, s:e]                            # decoded by clip_row (workers/io/shard_codec.py)
    gkey = image_key(GIF, wkey, kp, layout)
    refs.append([GIF, gkey])
    data = _blob(store, GIF, gkey)
    if data is None:
        win = window()
        if win is not None:
            data = viewer_gif(win.images(), kp, win.source_hw, layout)
            _save_blob(store, GIF, gkey, data)
        else:
            hw = (row.get("height") or 0, row.get("width") or 0)
            data = viewer_gif(_blank(e - s, hw), kp, hw, layout)
    if not (dest.is_file() and dest.stat().st_size == len(data) and dest.read_bytes() == data):
        atomic_write_bytes(dest, data)
    return rel
