"""Read kept clips back from the shards of one layout, with the frame size from the manifest."""
from __future__ import annotations

from pathlib import Path
from typing import Iterator

import numpy as np
import pyarrow.parquet as pq

from schemas.parquet import read_metadata


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
        for row in pq.read_table(f).to_pylist():
            kp = np.asarray(row["keypoints"], np.float32).reshape(row["keypoints_shape"])
            k3 = (np.asarray(row["keypoints_3d"], np.float32).reshape(row["keypoints_3d_shape"])
                  if row["keypoints_3d"] is not None else None)
            yield {"clip_id": row["clip_id"], "label": row["label"], "label_name": row["label_name"],
                   "split": row["split"], "size": sizes.get(row["clip_id"], (0, 0)), "keypoints": kp,
                   "keypoints_3d": k3}


def layout_meta(out: Path, layout: str) -> dict:
    return read_metadata(pq.read_schema(layout_files(out, layout)[0]))
