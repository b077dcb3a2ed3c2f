"""Read kept clips back from the shards of one layout, with the frame size from the manifest; keypoints are
decoded by `shard_codec` (quantised integers -> float32, null -> NaN; format-1 float shards as stored)."""
from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pyarrow.parquet as pq

from schemas.parquet import read_metadata

from .shard_codec import read_rows


def layout_files(out: Path, layout: str) -> list[Path]:
    files = sorted((Path(out) / "shards" / layout).glob("*.parquet"))
    if not files:
        raise FileNotFoundError(f"{out}/shards/{layout} has no shards (layouts built: "
                                f"{sorted(p.name for p in (Path(out) / 'shards').glob('*/'))})")
    return files


def frame_sizes(out: Path) -> dict[str, tuple[int, int]]:
    """clip_id -> (height, width) from the manifest."""
    t = pq.read_table(Path(out) / "manifest.parquet", columns=["clip_id", "width", "height"]).to_pylist()
    return {r["clip_id"]: (r["height"] or 0, r["width"] or 0) for r in t}


def iter_clips(out: Path, layout: str) -> Iterator[dict]:
    """Each kept clip: ids, label, split, frame size, keypoints (M, T, V, C), keypoints_3d or None."""
    sizes = frame_sizes(out)
    for f in layout_files(out, layout):
        for row in read_rows(f, columns=["clip_id", "label", "label_name", "split", "keypoints", "keypoints_3d"]):
            yield {"clip_id": row["clip_id"], "label": row["label"], "label_name": row["label_name"],
                   "split": row["split"], "size": sizes.get(row["clip_id"], (0, 0)), "keypoints": row["keypoints"],
                   "keypoints_3d": row["keypoints_3d"]}


def layout_meta(out: Path, layout: str) -> dict:
    return read_metadata(pq.read_schema(layout_files(out, layout)[0]))
