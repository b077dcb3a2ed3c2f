"""`ntu-x-npy` export: the folder tree, names, label pickles and arrays that NTU-X's own feeders read unchanged
(skelemoa/ntu-x at bb51200efc4e81530ba6d995cc48453177922d0b, `models/model_codes/`: MS-G3D, DSTA-Net, CTR-GCN,
4s-Shift-GCN, PA-ResGCN; read by hand, not run: see README "NTU-X export").

DEST after `export_ntu_x(out, layout, dest)` (V = the layout's joint count; S = the feeders' split folders):

    joint_data/np_data_{V}/{S}/NAME.npy          MS-G3D feeders/feeder.py, PA-ResGCN src/dataset/ntu.py
    joint_data/h5_data_{V}/{S}/NAME.h5           DSTA-Net feeders/feeder.py, CTR-GCN feeders/feeder_ntu.py
    joint_motion_data/np_data_{V}/{S}/NAME.npy   4s-Shift-GCN feeders/feeder_np_joint_motion.py
    {S}_label.pkl (+ eval_label.pkl = test's)    [(names, labels)]: the feeders index pickle[0][0], [0][1]
    name_map.csv                                 NAME -> clip_id, build split, label, frames kept/dropped
    ntu_x_export.json                            channels and units, encoding, feeder notes, counts

- Splits: the build's `train` -> `train/`; `val` -> `test/` when the build has no `test` split, else each split
  keeps its name (the feeders branch on "train"/"test" in their data path, so only those two folders load).
- Names `SsssCcccPpppRrrrAaaa` (fixed length, so the feeders' `sorted(os.listdir(...))` order equals the pickle
  order, and `name.index("A")` / `"P"` / `"C"` find the fields). A clip whose id ends in a real NTU name whose
  A### is its label + 1 keeps that name. Every other clip is encoded: A = label + 1 (labels 0..998),
  P001 (in CTR-GCN's xsub training list) and C002 (PA-ResGCN's training cameras 2, 3) for train, P003 and C001
  for every other split, S/R = 101 + n // 999 / 1 + n % 999 from a counter per (A, P, C) in clip-id order
  (S101 and above: never a real NTU-120 setup); `name_map.csv` maps back.
- Arrays: float32 (C=3, T=300, V, M=2). C = x, y, z in metres from `keypoints_3d` when the build's 3D is in the
  camera frame (fit3d) for every clip; otherwise x, y in original-frame pixels and z = 0 (without fit3d the
  shards' keypoints_3d are MediaPipe's hip-centred world frame with the body only; and the feeders' C is x, y, z:
  a score there would be rotated into the coordinates by CTR-GCN's random_rot). Missing joints and absent
  persons are 0. Frames where no written joint is present (leading, inner or trailing) are dropped, so frame 0 is the first
  non-empty frame and the non-empty frames are exactly 0..n-1 (CTR-GCN's valid_crop_resize crops [0, n) with n =
  the count of non-zero frames); the first 300 kept frames are written, zero-padded; persons beyond 2 dropped.
  `.h5`: one dataset `data` equal to the `.npy` (the feeders read the file's last key). Joint motion = NTU-X's
  `data_gen/gen_motion_data.py` on the padded array: m[:, t] = x[:, t + 1] - x[:, t], m[:, 299] = 0.
- Layouts: those whose first 67 joints are NTU-X's (the feeders keep `[:, :, :67, :]`); others raise ValueError.
- Before writing, `dest_guard` checks DEST and every file name, as for the other exports.
"""
from __future__ import annotations

import csv
import json
import pickle
import re
from collections import defaultdict
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

from schemas.layouts.ntu_x import NTU_X_67
from schemas.parquet import COORDINATES_3D_CAMERA

from .dest_guard import build_inputs, check_dest, within
from .shard_reader import iter_clips, layout_files, layout_meta

T_MAX, M_MAX = 300, 2
COMMIT = "bb51200efc4e81530ba6d995cc48453177922d0b"
NTU_NAME = re.compile(r"(?:^|/)(S\d{3}C\d{3}P(\d{3})R\d{3}A(\d{3}))(?:_rgb)?$")
# CTR-GCN feeders/feeder_ntu.py `train_subj_ids` (a clip whose P### is listed is read from its train folder)
CTR_GCN_TRAIN_P = {1, 2, 4, 5, 8, 9, 13, 14, 15, 16, 17, 18, 19, 25, 27, 28, 31, 34, 35, 38, 45, 46, 47, 49, 50,
                   52, 53, 54, 55, 56, 57, 58, 59, 70, 74, 78, 80, 81, 82, 83, 84, 85, 86, 89, 91, 92, 93, 94, 95,
                   97, 98, 100, 103}
PA_RESGCN_TRAIN_C = {2, 3}          # PA-ResGCN src/dataset/ntu.py: cam_id 2 or 3 -> its train folder
ENCODED = {"train": (1, 2), "other": (3, 1)}     # (P, C) for encoded names


def _motion(x: np.ndarray) -> np.ndarray:
    m = np.zeros_like(x)
    m[:, :-1] = x[:, 1:] - x[:, :-1]
    return m


def _save_npy(path: Path, arr: np.ndarray) -> None:
    np.save(path, arr)


def _save_h5(path: Path, arr: np.ndarray) -> None:
    import h5py
    with h5py.File(path, "w") as f:
        f.create_dataset("data", data=arr)


# (modality folder, format folder, extension, writer, transform): each is what one of the feeders above reads
OUTPUTS = [("joint_data", "np_data", ".npy", _save_npy, lambda x: x),
           ("joint_data", "h5_data", ".h5", _save_h5, lambda x: x),
           ("joint_motion_data", "np_data", ".npy", _save_npy, _motion)]


def split_dirs(splits) -> dict[str, str]:
    """Build split -> feeder folder: val becomes test unless the build has its own test split."""
    splits = set(splits)
    return {s: ("test" if s == "val" and "test" not in splits else s) for s in splits}


def real_name(clip_id: str, label) -> str | None:
    """The NTU name a clip keeps: its id ends in one whose A### is label + 1."""
    m = NTU_NAME.search(clip_id)
    return m.group(1) if m and label is not None and int(m.group(3)) == int(label) + 1 else None


def assign_names(clips: list[dict], dirs: dict[str, str]) -> dict[str, dict]:
    """clip_id -> {name, folder, encoded}; clips: dicts with clip_id, label, split (build)."""
    out, taken = {}, set()
    for c in clips:
        lab = c["label"]
        if lab is None or not 0 <= int(lab) <= 998:
            raise ValueError(f"clip {c['clip_id']}: label {lab} cannot be written as NTU-X's A### (A001-A999 = "
                             "labels 0..998)")
        name = real_name(c["clip_id"], lab)
        if name is not None:
            if name in taken:
                raise ValueError(f"two clips have the NTU name {name} (one is {c['clip_id']})")
            taken.add(name)
            out[c["clip_id"]] = {"name": name, "folder": dirs[c["split"]], "encoded": False}
    counters: dict[tuple, int] = defaultdict(int)
    for c in sorted(clips, key=lambda c: c["clip_id"]):
        if c["clip_id"] in out:
            continue
        folder = dirs[c["split"]]
        p, cam = ENCODED["train" if folder == "train" else "other"]
        a = int(c["label"]) + 1
        while True:
            n = counters[(a, p, cam)]
            counters[(a, p, cam)] += 1
            if n >= 899 * 999:
                raise ValueError(f"more than {899 * 999} clips of label {a - 1} in one split: the S/R encoding "
                                 "is exhausted")
            name = f"S{101 + n // 999:03d}C{cam:03d}P{p:03d}R{1 + n % 999:03d}A{a:03d}"
            if name not in taken:
                break
        taken.add(name)
        out[c["clip_id"]] = {"name": name, "folder": folder, "encoded": True}
    return out


def feeder_folders(name: str) -> dict[str, str]:
    """Where CTR-GCN (by P###) and PA-ResGCN (by C###) look for a sample: their train or test folder."""
    p, cam = int(name[name.index("P") + 1:name.index("P") + 4]), int(name[name.index("C") + 1:name.index("C") + 4])
    return {"ctr_gcn": "train" if p in CTR_GCN_TRAIN_P else "test",
            "pa_resgcn": "train" if cam in PA_RESGCN_TRAIN_C else "test"}


def frames_to_write(arr: np.ndarray, present: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """arr (M, T, V, 3), present (M, T, V) bool -> ((3, 300, V, 2) float32, kept source frame indices): frames
    with no present joint dropped, then the first 300, missing joints and padding 0."""
    persons = slice(0, M_MAX)
    a, p = arr[persons], present[persons]
    kept = np.flatnonzero(p.any(axis=(0, 2)))
    frames = kept[:T_MAX]
    out = np.zeros((M_MAX, T_MAX) + arr.shape[2:3] + (3,), np.float32)
    sel = np.where(p[:, frames, :, None], np.nan_to_num(a[:, frames]), 0)
    out[:a.shape[0], :len(frames)] = sel
    return np.ascontiguousarray(out.transpose(3, 1, 2, 0)), kept


def channels(c: dict, use_3d: bool) -> tuple[np.ndarray, np.ndarray]:
    """(M, T, V, 3) x, y, z and (M, T, V) presence: 3D (metres) or 2D pixels with z = 0."""
    if use_3d:
        k3 = c["keypoints_3d"]
        return k3[..., :3], (k3[..., 3] > 0) & np.isfinite(k3[..., :3]).all(-1)
    kp = c["keypoints"]
    xyz = np.concatenate([kp[..., :2], np.zeros_like(kp[..., :1])], -1)
    return xyz, (kp[..., 2] > 0) & np.isfinite(kp[..., :2]).all(-1)


def _index(out: Path, layout: str) -> list[dict]:
    cols = ["clip_id", "label", "label_name", "split", "keypoints_3d_shape"]
    return [r for f in layout_files(out, layout) for r in pq.read_table(f, columns=cols).to_pylist()]


def export_ntu_x(out: Path, layout: str, dest: Path) -> Path:
    meta = layout_meta(out, layout)
    V = len(meta["joint_names"])
    if meta["joint_names"][:67] != NTU_X_67.joint_names:
        raise ValueError(f"--format ntu-x-npy needs an NTU-X layout (first 67 joints = ntu-x-67's, which the "
                         f"feeders keep); {layout} is not one: use --layout ntu-x-118 or ntu-x-67")
    index = _index(out, layout)
    dirs = split_dirs(r["split"] for r in index)
    names = assign_names(index, dirs)
    camera = meta.get("coordinates_3d") == COORDINATES_3D_CAMERA
    use_3d = camera and all(r["keypoints_3d_shape"] is not None for r in index)
    folders = sorted(set(dirs.values()))
    files = [f"{mod}/{fmt}_{V}/{names[r['clip_id']]['folder']}/{names[r['clip_id']]['name']}{ext}"
             for r in index for mod, fmt, ext, _, _ in OUTPUTS]
    labels = [f"{s}_label.pkl" for s in folders] + (["eval_label.pkl"] if "test" in folders else [])
    check_dest(dest, *build_inputs(out))
    for f in files + labels + ["name_map.csv", "ntu_x_export.json"]:
        within(dest, f)

    for mod, fmt, _, _, _ in OUTPUTS:
        for s in folders:
            (dest / mod / f"{fmt}_{V}" / s).mkdir(parents=True, exist_ok=True)
    rows, per_folder = [], defaultdict(list)
    for c in iter_clips(out, layout):
        info = names[c["clip_id"]]
        arr, kept = frames_to_write(*channels(c, use_3d))
        for mod, fmt, ext, save, transform in OUTPUTS:
            save(dest / mod / f"{fmt}_{V}" / info["folder"] / f"{info['name']}{ext}", transform(arr))
        per_folder[info["folder"]].append((info["name"], int(c["label"])))
        T = c["keypoints"].shape[1]
        rows.append({"name": info["name"], "clip_id": c["clip_id"], "split": c["split"], "folder": info["folder"],
                     "label": int(c["label"]), "label_name": c["label_name"], "encoded": info["encoded"],
                     "source_frames": T, "first_frame": int(kept[0]) if len(kept) else -1,
                     "frames_written": min(len(kept), T_MAX), "empty_frames_dropped": T - len(kept),
                     "frames_cut_after_300": max(0, len(kept) - T_MAX), **feeder_folders(info["name"])})
    for s in folders:
        pairs = sorted(per_folder[s])
        payload = [([n for n, _ in pairs], [lab for _, lab in pairs])]
        for fname in [f"{s}_label.pkl"] + (["eval_label.pkl"] if s == "test" else []):
            with open(dest / fname, "wb") as fh:
                pickle.dump(payload, fh, protocol=4)
    rows.sort(key=lambda r: r["name"])
    with open(dest / "name_map.csv", "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]) if rows else ["name", "clip_id"])
        w.writeheader()
        w.writerows(rows)
    meta_out = _metadata(meta, layout, V, use_3d, camera, index, dirs, rows)
    (dest / "ntu_x_export.json").write_text(json.dumps(meta_out, indent=1))
    return dest


def _metadata(meta: dict, layout: str, V: int, use_3d: bool, camera: bool, index: list[dict], dirs: dict,
              rows: list[dict]) -> dict:
    no3d = sum(r["keypoints_3d_shape"] is None for r in index)
    why = (None if use_3d else f"{no3d} of {len(index)} clips have no keypoints_3d" if camera else
           "the build's keypoints_3d are not in the camera frame (fit3d off: MediaPipe's hip-centred world "
           "frame, body joints only); build with fit3d: {enabled: true} for x, y, z in metres")
    return {
        "format": "ntu-x-npy", "ntu_x_commit": COMMIT, "layout": layout, "num_joints": V,
        "array": "float32 (C=3, T=300, V, M=2), missing joints / absent persons / padding = 0",
        "channels": ["x", "y", "z"],
        "units": (meta.get("coordinates_3d", "metres") if use_3d else
                  "x, y: original-frame pixels; z: 0 (no 3D written)"),
        "source": "keypoints_3d (fit3d)" if use_3d else "keypoints (2D)",
        "why_2d": why,
        "frames": "frames with no present joint dropped (first kept frame at index 0), first 300 kept",
        "splits": dirs,
        "names": ("SsssCcccPpppRrrrAaaa; real NTU names kept when A### = label + 1; otherwise encoded: A = label+1, "
                  "train P001 C002, other splits P003 C001, S = 101 + n // 999, R = 1 + n % 999 (n counts clips "
                  "per A/P/C in clip-id order); name_map.csv maps names to clip ids"),
        "label_pickles": "[(names, labels)] sorted by name; eval_label.pkl = test_label.pkl (PA-ResGCN's phase)",
        "outputs": {f"{mod}/{fmt}_{V}": ext for mod, fmt, ext, _, _ in OUTPUTS},
        "feeder_folder_rules": {
            "ms_g3d_dsta_net_shift_gcn": "train/ or test/ by the config data_path containing 'train' (so DEST's "
                                         "own path must not contain 'train' or 'test')",
            "ctr_gcn": "train/ when P### is in its xsub training list, else test/",
            "pa_resgcn": "train/ when C### is 2 or 3 (xview), else test/",
        },
        "clips": len(rows),
        "clips_where_ctr_gcn_looks_elsewhere": sum(r["ctr_gcn"] != r["folder"] for r in rows),
        "clips_where_pa_resgcn_looks_elsewhere": sum(r["pa_resgcn"] != r["folder"] for r in rows),
    }
