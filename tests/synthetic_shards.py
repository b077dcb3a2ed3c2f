"""SYNTHETIC skeleton datasets written as skelforge builds (shards + manifest + classes.json), for the
training tests. Made here, and called synthetic, because no real dataset has classes that differ only in
finger motion (or only in optical flow, or only in face motion); they exercise the ablation machinery honestly.

`write_build` (the finger task). Every clip: one person in the NTU-X 118 layout, pixel coordinates. The body
(25 joints) sways and drifts with random phases from the same distribution in every class; the face is still
apart from noise. The class is *only* which finger of the right hand curls during the clip (index, middle, ring
or pinky), so a body-only model can do no better than chance and a model that sees the hands can learn it.

`write_cue_build` (DeepActsNet's task): four classes, two told apart by a flow cue and two by a face cue (see
`_cue_clip`), with a `flow` column as a build with the flow stage writes it.
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


# ---- DeepActsNet's learning check: classes that differ only in optical flow or only in face motion
CUES = [("flow_up_upper", "face_upper"), ("flow_up_upper", "face_lower"),
        ("flow_up_lower", "face_upper"), ("flow_up_lower", "face_lower")]   # class c = (flow bit, face bit)


def _cue_clip(rng: np.random.Generator, cls: int, T: int, layout) -> tuple[np.ndarray, np.ndarray]:
    """(keypoints (1, T, V, 3), flow (1, T, 25, 2)). Body, hands and their noise come from one distribution in
    every class. Flow: the body sway's velocity plus noise, plus an upward 2 px/frame flow at the first half of
    the body joints (flow bit 0) or at the second half (bit 1). Face: one half of the landmarks (bit 0: the
    first, bit 1: the second) bobs up and down 4 px with a random phase."""
    V = layout.num_joints
    body, face = list(layout.regions["body"]), list(layout.regions["face"])
    flow_bit, face_bit = cls // 2, cls % 2
    t = np.arange(T)[:, None]
    base = np.random.default_rng(7).uniform(-60, 60, size=(V, 2))
    origin = rng.uniform(200, 400, size=2)
    freq, phase = rng.uniform(0.5, 2), rng.uniform(0, 2 * np.pi)
    sway = 15 * np.sin(2 * np.pi * t / T * freq + phase)
    xy = base[None] + origin + rng.normal(0, 1.0, size=(T, V, 2))
    xy[:, [j for j in range(V) if j not in face], 0] += sway
    half = len(face) // 2
    moving = face[:half] if face_bit == 0 else face[half:]
    xy[:, moving, 1] += 4 * np.sin(2 * np.pi * 2 * t / T + rng.uniform(0, 2 * np.pi))
    kp = np.concatenate([xy, np.ones((T, V, 1))], -1)[None].astype(np.float32)
    flow = rng.normal(0, 0.3, size=(T, len(body), 2))
    flow[:, :, 0] += np.gradient(sway[:, 0])[:, None]
    cued = slice(0, len(body) // 2) if flow_bit == 0 else slice(len(body) // 2, len(body))
    flow[:, cued, 1] -= 2.0
    return kp, flow[None].astype(np.float32)


def write_cue_build(out: Path, n_train: int = 64, n_val: int = 32, T: int = 32, seed: int = 0) -> Path:
    """OUT with ntu-x-118 shards carrying a `flow` column (train/val), manifest and classes.json: four classes,
    two by a flow cue and two by a face cue (`CUES`), nothing else telling them apart."""
    layout = get_layout("ntu-x-118")
    rng = np.random.default_rng(seed)
    clips, arrays = [], {}
    names = [f"{a}+{b}" for a, b in CUES]
    for split, n in (("train", n_train), ("val", n_val)):
        for i in range(n):
            cls = i % len(CUES)
            cid = f"{split}-{i:04d}"
            arrays[cid] = _cue_clip(rng, cls, T, layout)
            clips.append({"clip_id": cid, "label": cls, "label_name": names[cls], "split": split})
    flow_meta = {"joints": list(layout.regions["body"]), "method": "synthetic"}
    schema = schema_with_metadata(layout_metadata(layout.name, 30, [], "synthetic", [], flow=flow_meta))
    dest = Path(out) / "shards" / layout.name
    for split in ("train", "val"):
        write_split(dest, split, sorted([c for c in clips if c["split"] == split], key=lambda c: c["clip_id"]),
                    lambda c: (arrays[c["clip_id"]][0], None, None, None, None, arrays[c["clip_id"]][1]),
                    schema, 64, 16, 3)
    pq.write_table(pa.Table.from_pylist([{"clip_id": c["clip_id"], "width": 640, "height": 480} for c in clips]),
                   Path(out) / "manifest.parquet")
    classes = [{"id": i, "name": n, "sources": [n], "clips": (n_train + n_val) // len(CUES)}
               for i, n in enumerate(names)]
    (Path(out) / "classes.json").write_text(json.dumps(classes))
    return Path(out)
