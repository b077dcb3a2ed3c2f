"""A SYNTHETIC skeleton dataset written as a skelforge build (shards + manifest + classes.json), for the
training tests. Made here, and called synthetic, because no real dataset has classes that differ only in
finger motion; it exercises the ablation machinery honestly.

Every clip: one person in the NTU-X 118 layout, pixel coordinates. The body (25 joints) sways and drifts with
random phases from the same distribution in every class; the face is still apart from noise. The class is
*only* which finger of the right hand curls during the clip (index, middle, ring or pinky), so a body-only
model can do no better than chance and a model that sees the hands can learn it.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from schemas.layouts import get_layout
from schemas.parquet import layout_metadata, schema_with_metadata
from workers.io.parquet_shards import write_split

FINGERS = ["index", "middle", "ring", "pinky"]          # class c flexes finger c of the right hand


def _clip(rng: np.random.Generator, cls: int, T: int, layout) -> np.ndarray:
    V = layout.num_joints
    body = layout.regions["body"]
    lh, rh, face = layout.regions["left_hand"], layout.regions["right_hand"], layout.regions["face"]
    kp = np.zeros((1, T, V, 3), np.float32)
    t = np.arange(T)[:, None]
    base = np.random.default_rng(7).uniform(-60, 60, size=(V, 2))        # a fixed skeleton template
    origin = rng.uniform(200, 400, size=2)
    sway = 15 * np.sin(2 * np.pi * t / T * rng.uniform(0.5, 2) + rng.uniform(0, 2 * np.pi))
    xy = base[None] + origin + rng.normal(0, 1.0, size=(T, V, 2))
    xy[:, list(body), 0] += sway
    for hand in (lh, rh):                       # hands hang off their wrists, follow the body's sway
        xy[:, list(hand), 0] += sway
    # right hand: 21 joints = wrist + 5 fingers x 4 (thumb, index, middle, ring, pinky); flex finger `cls`
    f0 = 1 + 4 * (1 + cls)
    finger = [rh[j] for j in range(f0, f0 + 4)]
    flex = 40 * rng.uniform(0.7, 1.0) * t / (T - 1)                        # the finger curls over the clip
    xy[:, finger, 1] += flex * np.arange(1, 5)[None] / 4
    xy[:, list(face)] += rng.normal(0, 0.5, size=(T, len(face), 2))
    kp[0, :, :, :2] = xy
    kp[0, :, :, 2] = 1.0
    return kp


def write_build(out: Path, n_train: int = 48, n_val: int = 24, T: int = 32, seed: int = 0) -> Path:
    """OUT with ntu-x-118 shards (train/val), manifest.parquet and classes.json, as a build writes them."""
    layout = get_layout("ntu-x-118")
    rng = np.random.default_rng(seed)
    clips, arrays = [], {}
    for split, n in (("train", n_train), ("val", n_val)):
        for i in range(n):
            cls = i % len(FINGERS)
            cid = f"{split}-{i:04d}"
            arrays[cid] = _clip(rng, cls, T, layout)
            clips.append({"clip_id": cid, "label": cls, "label_name": f"flex_{FINGERS[cls]}", "split": split})
    schema = schema_with_metadata(layout_metadata(layout.name, 30, [], "synthetic", []))
    dest = Path(out) / "shards" / layout.name
    for split in ("train", "val"):
        write_split(dest, split, sorted([c for c in clips if c["split"] == split], key=lambda c: c["clip_id"]),
                    lambda c: (arrays[c["clip_id"]], None, None, None), schema, 64, 16, 3)
    pq.write_table(pa.Table.from_pylist([{"clip_id": c["clip_id"], "width": 640, "height": 480} for c in clips]),
                   Path(out) / "manifest.parquet")
    classes = [{"id": i, "name": f"flex_{f}", "sources": [f"flex_{f}"], "clips": n_train // 4 + n_val // 4}
               for i, f in enumerate(FINGERS)]
    (Path(out) / "classes.json").write_text(json.dumps(classes))
    return Path(out)
