"""Exports to the formats researchers already train with (../shared/notes/formats.md).

pyskl         one pickle: dict(split={split: [frame_dir, ...]}, annotations=[dict(frame_dir, total_frames,
              img_shape=(h, w), original_shape=(h, w), label, keypoint (M, T, V, 2) float32,
              keypoint_score (M, T, V) float32)]); missing joints: coordinates 0 and score 0 (pyskl has no NaN)
ntu-x-npy     NTU-X's feeders' tree (train/ test/ folders, SsssCcccPpppRrrrAaaa names, [(names, labels)] pickles,
              .npy + .h5): workers/io/export_ntux.py
posetics-npy  `<split>_data_joint.npy` (N, C=5, T=300, V=17, M=2) = x2d, y2d, x3d, y3d, z3d, 2D divided by a
              fixed 640x480 as UNIK's Posetics data, 3D from keypoints_3d (metres; 0 where absent), plus
              `<split>_label.pkl` = (sample names, labels) as UNIK's loader reads it

Before writing anything each export checks its destination (`dest_guard`): DEST must not be, hold or lie inside
the build's inputs, and every file it will write (named from the shards' clip ids and splits) must land inside
DEST; otherwise UnsafeDestination (a ValueError) is raised.
"""
from __future__ import annotations

import pickle
from collections import defaultdict
from pathlib import Path

import numpy as np

from .dest_guard import build_inputs, check_dest, within
from .export_ntux import export_ntu_x
from .shard_reader import iter_clips, layout_files

T_MAX, M_MAX = 300, 2


def _guard(out: Path, layout: str, dest: Path, names) -> None:
    """Refuse before any write: names(clip_ids, splits) lists the files the export will put in dest."""
    import pyarrow.parquet as pq
    t = pq.read_table(layout_files(out, layout), columns=["clip_id", "split"])
    check_dest(dest, *build_inputs(out))
    for name in names(t.column("clip_id").to_pylist(), sorted(set(t.column("split").to_pylist()))):
        within(dest, name)


def _pad(a: np.ndarray, T: int = T_MAX, M: int = M_MAX) -> np.ndarray:
    """(M', T', V, C) -> (M, T, V, C), zero-padded / cut; NaN -> 0."""
    out = np.zeros((M, T) + a.shape[2:], np.float32)
    m, t = min(M, a.shape[0]), min(T, a.shape[1])
    out[:m, :t] = np.nan_to_num(a[:m, :t])
    return out


def export_pyskl(out: Path, layout: str, dest: Path) -> Path:
    _guard(out, layout, dest, lambda ids, splits: [f"skelforge_{layout}.pkl"])
    split, anns = defaultdict(list), []
    for c in iter_clips(out, layout):
        kp = c["keypoints"]
        score = np.where(kp[..., 2] > 0, kp[..., 2], 0).astype(np.float32)
        xy = np.where((kp[..., 2] > 0)[..., None], kp[..., :2], 0).astype(np.float32)
        split[c["split"]].append(c["clip_id"])
        anns.append({"frame_dir": c["clip_id"], "total_frames": int(kp.shape[1]), "img_shape": tuple(c["size"]),
                     "original_shape": tuple(c["size"]), "label": int(c["label"]), "keypoint": xy,
                     "keypoint_score": score})
    dest.mkdir(parents=True, exist_ok=True)
    path = dest / f"skelforge_{layout}.pkl"
    with open(path, "wb") as fh:
        pickle.dump({"split": dict(split), "annotations": anns}, fh, protocol=4)
    return path


def export_posetics(out: Path, layout: str, dest: Path) -> Path:
    if layout != "posetics-17":
        raise ValueError("the posetics-npy format is defined for --layout posetics-17")
    _guard(out, layout, dest, lambda ids, splits: [f"{s}{tail}" for s in splits
                                                   for tail in ("_data_joint.npy", "_label.pkl")])
    dest.mkdir(parents=True, exist_ok=True)
    data, names, labels = defaultdict(list), defaultdict(list), defaultdict(list)
    for c in iter_clips(out, layout):
        kp = _pad(c["keypoints"])                                     # (M, T, V, 3)
        k3 = _pad(c["keypoints_3d"]) if c["keypoints_3d"] is not None else np.zeros(kp.shape[:3] + (4,), np.float32)
        five = np.concatenate([kp[..., :1] / 640.0, kp[..., 1:2] / 480.0, k3[..., :3]], -1)   # (M, T, V, 5)
        data[c["split"]].append(five.transpose(3, 1, 2, 0))                                 # (5, T, V, M)
        names[c["split"]].append(c["clip_id"])
        labels[c["split"]].append(int(c["label"]))
    for s in data:
        np.save(dest / f"{s}_data_joint.npy", np.stack(data[s]).astype(np.float32))
        with open(dest / f"{s}_label.pkl", "wb") as fh:
            pickle.dump((names[s], labels[s]), fh)
    return dest


EXPORTS = {"pyskl": export_pyskl, "ntu-x-npy": export_ntu_x, "posetics-npy": export_posetics}
