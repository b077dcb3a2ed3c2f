"""NTU-X export (`--format ntu-x-npy`) and the ntu-x-118 graph, checked against what NTU-X's feeders do.

NTU-X's code cannot run here (CI has no network, its feeders hard-code /ssd_scratch paths and must not be copied):
the helpers below restate, in a line each, how each feeder at skelemoa/ntu-x
bb51200efc4e81530ba6d995cc48453177922d0b finds a sample, its label and its array (read by hand; README
"NTU-X export"), and the tests apply them to exports of real builds of the sample clips.
"""
import csv
import json
import os
import pickle

import h5py
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

import dagfile
from pipeline.adapters.ntu import XSUB_TRAIN
from pipeline.cli import app, set_dag
from schemas.layouts import get_layout
from schemas.parquet import layout_metadata, schema_with_metadata
from tests.conftest import NTU_CLIP, VIDEOS, run_build, stage_videos
from workers.io import export_ntux
from workers.io.parquet_shards import write_split
from workers.io.shard_codec import read_rows

set_dag(dagfile.DAG)
KIN = VIDEOS / "kinetics"


def export(out, layout, dest):
    r = CliRunner().invoke(app, ["export", str(out), "--format", "ntu-x-npy", "--layout", layout,
                                 "--dest", str(dest)])
    assert r.exit_code == 0, r.output
    return r


def shard_clips(out, layout):
    rows = [r for f in sorted((out / "shards" / layout).glob("*.parquet")) for r in read_rows(f)]
    return {r["clip_id"]: r for r in rows}


def arr(row, key):
    return np.asarray(row[key], np.float32).reshape(row[f"{key}_shape"])


# ---- the feeders' rules, restated (file: models/model_codes/<model>/...) ----
def pickle_names_labels(path):
    """MS-G3D/DSTA-Net/4s-Shift-GCN feeders/feeder*.py load_data, CTR-GCN feeder_ntu.py, PA-ResGCN dataset/ntu.py:
    `p = pickle.load(f); names, labels = p[0][0], p[0][1]`."""
    p = pickle.load(open(path, "rb"))
    return p[0][0], p[0][1]


def label_from_file(filename):
    """MS-G3D/DSTA-Net/Shift-GCN __getitem__: the label is parsed from the A### of the sorted listing's file."""
    return int(filename[filename.index("A") + 1: filename.index("A") + 4]) - 1


def h5_array(path):
    """DSTA-Net / CTR-GCN: `f[list(f.keys())[-1]][:]`."""
    with h5py.File(path, "r") as f:
        return f[list(f.keys())[-1]][:]


def ctr_gcn_folder(name):
    """CTR-GCN feeder_ntu.py: `P###` in train_subj_ids -> its train path, else its test path."""
    return "train" if int(name[name.index("P") + 1: name.index("P") + 4]) in XSUB_TRAIN else "test"


def pa_resgcn_folder(name):
    """PA-ResGCN dataset/ntu.py: `C###` 2 or 3 -> its train path, else its test path."""
    return "train" if int(name[name.index("C") + 1: name.index("C") + 4]) in (2, 3) else "test"


def valid_frames(x):
    """CTR-GCN: valid_frame_num = np.sum(data.sum(0).sum(-1).sum(-1) != 0); valid_crop_resize keeps [0, n)."""
    return int(np.sum(x.sum(0).sum(-1).sum(-1) != 0))


def check_feeders_load(dest, V):
    """Every feeder's way of listing and reading the export finds every sample with its label; returns
    {folder: {name: (label, array)}}."""
    got = {}
    for folder in ("train", "test"):
        if not (dest / f"{folder}_label.pkl").exists():
            continue
        names, labels = pickle_names_labels(dest / f"{folder}_label.pkl")
        assert isinstance(names, list) and isinstance(labels, list) and len(names) == len(labels) > 0
        assert all(isinstance(n, str) and len(n) == 20 for n in names)          # not characters of one name
        assert all(type(lab) is int for lab in labels)
        np_dir, h5_dir = dest / f"joint_data/np_data_{V}/{folder}", dest / f"joint_data/h5_data_{V}/{folder}"
        mo_dir = dest / f"joint_motion_data/np_data_{V}/{folder}"
        for d in (np_dir, h5_dir, mo_dir):                   # MS-G3D / DSTA-Net / Shift-GCN: listing = pickle order
            files = sorted(os.listdir(d))
            assert [f.split(".")[0] for f in files] == names and [label_from_file(f) for f in files] == labels
        if folder == "test":                                  # PA-ResGCN's phase "eval"
            assert pickle_names_labels(dest / "eval_label.pkl") == (names, labels)
        got[folder] = {}
        for n, lab in zip(names, labels):
            x = np.load(np_dir / f"{n}.npy")
            assert x.shape == (3, 300, V, 2) and x.dtype == np.float32
            np.testing.assert_array_equal(h5_array(h5_dir / f"{n.split('.')[0]}.h5"), x)      # h5 = npy
            m = np.load(mo_dir / f"{n}.npy")                  # data_gen/gen_motion_data.py on the joint array
            np.testing.assert_array_equal(m[:, :-1], x[:, 1:] - x[:, :-1])
            assert (m[:, -1] == 0).all()
            nonempty = np.flatnonzero(np.abs(x).sum(axis=(0, 2, 3)) > 0)
            assert len(nonempty) and nonempty[0] == 0 and nonempty[-1] == len(nonempty) - 1 == valid_frames(x) - 1
            got[folder][n] = (lab, x)
    return got


# ---- real builds ----
@pytest.fixture(scope="module")
def ntu3d(tmp_path_factory, samples):
    """The NTU sample under an NTU name (A055 'hugging', as it shows), fit3d on: real names, x/y/z channels."""
    root = tmp_path_factory.mktemp("ntux3d")
    videos = stage_videos(root / "v", NTU_CLIP, names=["S001C002P003R001A055_rgb.avi"])
    run_build(videos, root / "out", {"frames": {"max_frames": 30}, "layouts": ["ntu-x-118"],
                                     "fit3d": {"enabled": True}})
    return root / "out"


@pytest.fixture(scope="module")
def kin2d(tmp_path_factory, samples):
    """Kinetics-style class folders (no NTU names, no 3D): encoded names + name map, x/y pixels with z = 0."""
    root = tmp_path_factory.mktemp("ntux2d")
    videos = stage_videos(root / "v", KIN / "tai_chi/ta_chi.mp4", VIDEOS / "misc/mpeg4_25fps_320x240.avi",
                          KIN / "skateboarding/skateboarding.mp4",
                          names=["tai_chi/a.mp4", "tai_chi/b.avi", "skateboarding/c.mp4"])
    run_build(videos, root / "out", {"frames": {"max_frames": 20}, "layouts": ["ntu-x-67", "coco-17"],
                                     "splits": {"method": "stratified", "val_fraction": 0.5, "seed": 0}})
    return root / "out"


def test_ntu_input_keeps_its_real_name_and_gets_camera_frame_xyz(ntu3d, tmp_path):
    export(ntu3d, "ntu-x-118", tmp_path)
    (row,) = shard_clips(ntu3d, "ntu-x-118").values()
    got = check_feeders_load(tmp_path, 118)
    assert list(got) == ["test"]                              # xsub: P003 is a test subject, build split val
    lab, x = got["test"]["S001C002P003R001A055"]
    assert lab == row["label"] == 54
    k3 = arr(row, "keypoints_3d")[:2]                         # (M, T, V, 4) metres, score; 2 persons kept
    M = k3.shape[0]
    present = (k3[..., 3] > 0) & np.isfinite(k3[..., :3]).all(-1)
    keep = np.flatnonzero(present.any(axis=(0, 2)))
    want = np.where(present[:, keep, :, None], np.nan_to_num(k3[:, keep, :, :3]), 0).transpose(3, 1, 2, 0)
    np.testing.assert_allclose(x[:, :len(keep), :, :M], want)
    assert (x[:, len(keep):] == 0).all() and (x[..., M:] == 0).all()
    z = x[2][x[2] != 0]
    assert len(z) and (z > 0.5).all() and (z < 20).all()     # metres in front of the camera, not pixels or scores
    assert np.abs(x[:2]).max() < 10
    nm = list(csv.DictReader(open(tmp_path / "name_map.csv")))
    assert nm[0]["clip_id"] == row["clip_id"] and nm[0]["encoded"] == "False" and nm[0]["folder"] == "test"
    # CTR-GCN's P-rule finds it; PA-ResGCN's camera rule (xview) would look in train: recorded, not hidden
    assert ctr_gcn_folder(nm[0]["name"]) == nm[0]["ctr_gcn"] == "test"
    assert pa_resgcn_folder(nm[0]["name"]) == nm[0]["pa_resgcn"] == "train"
    meta = json.loads((tmp_path / "ntu_x_export.json").read_text())
    assert meta["channels"] == ["x", "y", "z"] and meta["source"] == "keypoints_3d (fit3d)"
    assert meta["clips_where_pa_resgcn_looks_elsewhere"] == 1 and meta["clips_where_ctr_gcn_looks_elsewhere"] == 0


def test_other_datasets_get_encoded_names_a_name_map_and_2d_channels(kin2d, tmp_path):
    export(kin2d, "ntu-x-67", tmp_path)
    ours = shard_clips(kin2d, "ntu-x-67")
    assert {r["split"] for r in ours.values()} == {"train", "val"}
    got = check_feeders_load(tmp_path, 67)
    assert set(got) == {"train", "test"}
    nm = {r["name"]: r for r in csv.DictReader(open(tmp_path / "name_map.csv"))}
    assert sorted(r["clip_id"] for r in nm.values()) == sorted(ours)
    for folder, samples in got.items():
        for name, (lab, x) in samples.items():
            r = nm[name]
            row = ours[r["clip_id"]]
            assert r["encoded"] == "True" and name.startswith("S1") and lab == row["label"] == int(r["label"])
            assert r["folder"] == folder == {"train": "train", "val": "test"}[row["split"]]
            # CTR-GCN and PA-ResGCN look for every encoded sample in the folder it is in
            assert ctr_gcn_folder(name) == pa_resgcn_folder(name) == folder
            kp = arr(row, "keypoints")[:2]
            present = (kp[..., 2] > 0) & np.isfinite(kp[..., :2]).all(-1)
            keep = np.flatnonzero(present.any(axis=(0, 2)))
            M = kp.shape[0]
            want = np.where(present[:, keep, :, None], np.nan_to_num(kp[:, keep, :, :2]), 0).transpose(3, 1, 2, 0)
            np.testing.assert_allclose(x[:2, :len(keep), :, :M], want)
            assert (x[2] == 0).all()                          # no 3D: z = 0, never the score
            assert int(r["first_frame"]) == keep[0] and int(r["frames_written"]) == len(keep)
    meta = json.loads((tmp_path / "ntu_x_export.json").read_text())
    assert meta["source"] == "keypoints (2D)" and "not in the camera frame" in meta["why_2d"]


def test_non_ntu_x_layout_and_a_dest_among_the_inputs_are_refused(kin2d, tmp_path):
    for layout, dest, says in (("coco-17", tmp_path / "x", "needs an NTU-X layout"),
                               ("ntu-x-67", kin2d.parent / "v" / "x", "input folder")):
        r = CliRunner().invoke(app, ["export", str(kin2d), "--format", "ntu-x-npy", "--layout", layout,
                                     "--dest", str(dest)])
        assert r.exit_code == 2 and says in r.output.replace("\n", " ") and not dest.exists(), r.output


# ---- SYNTHETIC shards: cases the sample clips do not have (empty frames, 3D gaps, 320 frames, 1000 clips a class) ----
def synthetic_build(out, clips, camera_frame_3d):
    """clips: [(clip_id, label, split, kp (M, T, V, 3), kp3d (M, T, V, 4))] written as ntu-x-67 shards."""
    layout = get_layout("ntu-x-67")
    schema = schema_with_metadata(layout_metadata(layout.name, 30, [], "synthetic", [],
                                                  camera_frame_3d=camera_frame_3d))
    by = {c[0]: c for c in clips}
    for split in sorted({c[2] for c in clips}):
        rows = sorted([{"clip_id": c[0], "label": c[1], "label_name": f"c{c[1]}", "split": c[2]} for c in clips
                       if c[2] == split], key=lambda r: r["clip_id"])
        write_split(out / "shards" / layout.name, split, rows, lambda r: (by[r["clip_id"]][3], by[r["clip_id"]][4],
                                                                         None, None), schema, 64, 16, 3)
    pq.write_table(pa.Table.from_pylist([{"clip_id": c[0], "width": 640, "height": 480, "source_path": ""}
                                         for c in clips]),
                   out / "manifest.parquet")
    return out


def _kp(rng, M, T, empty=()):
    kp = np.zeros((M, T, 67, 3), np.float32)
    kp[..., :2] = rng.uniform(10, 600, (M, T, 67, 2))
    kp[..., 2] = 0.9
    kp[:, list(empty)] = [np.nan, np.nan, 0]
    return kp


def test_synthetic_empty_frames_are_dropped_so_the_first_frame_is_not_empty(tmp_path):
    rng = np.random.default_rng(0)
    kp = _kp(rng, 1, 12, empty=(0, 1, 2, 6, 11))              # leading, inner and trailing empty frames
    k3 = np.concatenate([rng.uniform(-1, 3, (1, 12, 67, 3)), np.full((1, 12, 67, 1), 0.8)], -1).astype(np.float32)
    k3b = np.concatenate([rng.uniform(-1, 3, (3, 5, 67, 3)), np.full((3, 5, 67, 1), 0.8)], -1).astype(np.float32)
    out = synthetic_build(tmp_path / "b", [("x/one", 3, "train", kp, k3), ("x/two", 3, "val", _kp(rng, 3, 5), k3b)],
                          camera_frame_3d=False)
    dest = tmp_path / "e"
    export_ntux.export_ntu_x(out, "ntu-x-67", dest)
    got = check_feeders_load(dest, 67)
    nm = {r["clip_id"]: r for r in csv.DictReader(open(dest / "name_map.csv"))}
    one = got["train"][nm["x/one"]["name"]][1]
    keep = [3, 4, 5, 7, 8, 9, 10]
    # 3D not in the camera frame (a build without fit3d): 2D is written (x, y px, z 0)
    np.testing.assert_allclose(one[:2, :7, :, 0], kp[0, keep, :, :2].transpose(2, 0, 1), rtol=0,
                               atol=1 / 32)                   # shards store 2D at 1/16 px (shard_codec)
    assert (one[:, 7:] == 0).all() and (one[2] == 0).all()
    assert (nm["x/one"]["first_frame"], nm["x/one"]["empty_frames_dropped"], nm["x/one"]["frames_written"]) == (
        "3", "5", "7")
    two = got["test"][nm["x/two"]["name"]][1]                 # 3 persons: the first 2 kept
    assert (two[..., :2] != 0).any(axis=(0, 1, 2)).all()


def test_synthetic_3d_when_every_clip_has_it_and_300_frame_cut(tmp_path):
    rng = np.random.default_rng(1)
    T = 320
    kp = _kp(rng, 2, T)
    k3 = np.concatenate([rng.uniform(-1, 3, (2, T, 67, 3)), np.full((2, T, 67, 1), 0.8)], -1).astype(np.float32)
    k3[1, :, 30:40, 3] = 0                                    # joints without 3D: 0, though 2D exists
    k3[:, :4, :, 3] = 0                                       # no 3D at all in the first 4 frames: dropped
    out = synthetic_build(tmp_path / "b", [("only", 0, "train", kp, k3)], camera_frame_3d=True)
    dest = tmp_path / "e"
    export_ntux.export_ntu_x(out, "ntu-x-67", dest)
    (name, (lab, x)), = check_feeders_load(dest, 67)["train"].items()
    want = np.where(k3[:, 4:304, :, 3:] > 0, k3[:, 4:304, :, :3], 0).transpose(3, 1, 2, 0)
    np.testing.assert_allclose(x, want, rtol=0, atol=5e-4 + 1e-6)    # shards store 3D at 1 mm (shard_codec)
    r = next(csv.DictReader(open(dest / "name_map.csv")))
    assert (r["first_frame"], r["frames_written"], r["frames_cut_after_300"]) == ("4", "300", "16")


def test_synthetic_names_splits_and_labels():
    dirs = export_ntux.split_dirs(["train", "val"])
    assert dirs == {"train": "train", "val": "test"}
    assert export_ntux.split_dirs(["train", "val", "test"]) == {"train": "train", "val": "val", "test": "test"}
    clips = [{"clip_id": "ntu/S001C001P001R001A001_rgb", "label": 0, "split": "train"},   # real name kept
             {"clip_id": "a/S001C001P001R001A007", "label": 2, "split": "train"},         # A007 != label 2 + 1
             *({"clip_id": f"k/{i:04d}", "label": 2, "split": "train"} for i in range(1000)),
             {"clip_id": "k/v", "label": 2, "split": "val"}]
    names = export_ntux.assign_names(clips, dirs)
    assert names["ntu/S001C001P001R001A001_rgb"] == {"name": "S001C001P001R001A001", "folder": "train",
                                                     "encoded": False}
    assert names["a/S001C001P001R001A007"]["name"] == "S101C002P001R001A003"     # first in clip-id order
    assert names["k/0000"]["name"] == "S101C002P001R002A003"
    assert names["k/0997"]["name"] == "S101C002P001R999A003" and names["k/0998"]["name"] == "S102C002P001R001A003"
    assert names["k/v"] == {"name": "S101C001P003R001A003", "folder": "test", "encoded": True}
    assert len({n["name"] for n in names.values()}) == len(clips)
    for n in names.values():
        if n["encoded"]:
            assert ctr_gcn_folder(n["name"]) == pa_resgcn_folder(n["name"]) == n["folder"]
    with pytest.raises(ValueError, match="A###"):
        export_ntux.assign_names([{"clip_id": "z", "label": 999, "split": "train"}], dirs)


def test_ctr_gcn_train_list_is_ntu_xsub():
    assert export_ntux.CTR_GCN_TRAIN_P == XSUB_TRAIN


# ---- graph ----
# NTU-X's released 118-joint graph, transcribed (1-based, as written) from skelemoa/ntu-x
# bb51200efc4e81530ba6d995cc48453177922d0b models/model_codes/PA-ResGCN/src/dataset/graph.py, dataset 'ntu_ax'
# (its first 66 pairs are 'ntu_hx' and the active list of MS-G3D/CTR-GCN/DSTA-Net/4s-Shift-GCN graph/ntu_rgb_d.py;
# their commented face part equals the rest).
RELEASED_NTU_X_118 = [
    (1, 2), (3, 2), (4, 3), (5, 4), (6, 2), (7, 6), (8, 7), (9, 2), (10, 9), (11, 10), (12, 11), (13, 9),
    (14, 13), (15, 14), (16, 1), (17, 1), (18, 16), (19, 17), (20, 15), (21, 20), (22, 15), (23, 12), (24, 23),
    (25, 12),
    (26, 8), (27, 26), (28, 27), (29, 28), (30, 29), (31, 26), (32, 31), (33, 32), (34, 33), (35, 26), (36, 35),
    (37, 36), (38, 37), (39, 26), (40, 39), (41, 40), (42, 41), (43, 26), (44, 43), (45, 44), (46, 45),
    (47, 5), (48, 47), (49, 48), (50, 49), (51, 50), (52, 47), (53, 52), (54, 53), (55, 54), (56, 47), (57, 56),
    (58, 57), (59, 58), (60, 47), (61, 60), (62, 61), (63, 62), (64, 47), (65, 64), (66, 65), (67, 66),
    (68, 69), (69, 70), (70, 71), (71, 72), (73, 74), (74, 75), (75, 76), (76, 77), (78, 1), (79, 78), (80, 79),
    (81, 80), (82, 83), (83, 84), (84, 85), (85, 86), (87, 16), (88, 87), (89, 88), (90, 89), (91, 90), (92, 91),
    (92, 87), (93, 17), (94, 93), (95, 94), (96, 95), (97, 96), (98, 97), (98, 93), (99, 100), (100, 101),
    (101, 102), (102, 103), (103, 104), (104, 105), (105, 106), (106, 107), (107, 108), (108, 109), (109, 110),
    (110, 99), (111, 112), (112, 113), (113, 114), (114, 115), (115, 116), (116, 117), (117, 118), (118, 111)]


@pytest.mark.parametrize("name,n", [("ntu-x-118", 116), ("ntu-x-67", 66)])
def test_graph_is_ntu_x_released_graph(name, n):
    released = {frozenset((a - 1, b - 1)) for a, b in RELEASED_NTU_X_118[:n]}
    edges = get_layout(name).edges
    assert len(released) == n == len(edges) and {frozenset(e) for e in edges} == released
    x = get_layout("ntu-x-118")
    face = {x.joint_names[i] for e in released for i in e if i >= 67 and (set(e) - {i}).pop() < 67}
    assert face == ({"Face_nose_bridge_0", "Face_right_eye_0", "Face_left_eye_0"} if n == 116 else set())
