"""Exports (pyskl; NTU-X in test_export_ntux.py, Posetics in test_export_posetics.py) and the PyTorch Dataset, on
shards built from real clips."""
import pickle

import numpy as np
import pytest
from typer.testing import CliRunner

import dagfile
from pipeline.cli import app, set_dag
from tests.conftest import VIDEOS, run_build, stage_videos
from workers.io.shard_codec import read_rows

set_dag(dagfile.DAG)


@pytest.fixture(scope="module")
def built(tmp_path_factory, samples):
    root = tmp_path_factory.mktemp("exp")
    videos = stage_videos(root / "v", VIDEOS / "misc/mpeg4_25fps_320x240.avi", VIDEOS / "ntu/ntu_sample.avi",
                          names=["walk/a.avi", "hug/b.avi"])
    out = root / "out"
    run_build(videos, out, {"frames": {"max_frames": 40}, "layouts": ["ntu-x-118", "posetics-17"],
                            "splits": {"method": "stratified", "val_fraction": 0.5, "seed": 0}})
    return out


def shard_clips(out, layout):
    rows = [r for f in sorted((out / "shards" / layout).glob("*.parquet")) for r in read_rows(f)]
    return {r["clip_id"]: (r, np.asarray(r["keypoints"], np.float32).reshape(r["keypoints_shape"])) for r in rows}


def export(out, fmt, layout, dest):
    r = CliRunner().invoke(app, ["export", str(out), "--format", fmt, "--layout", layout, "--dest", str(dest)])
    assert r.exit_code == 0, r.output


def test_pyskl_loader_gets_our_values(built, tmp_path):
    export(built, "pyskl", "ntu-x-118", tmp_path)
    data = pickle.load(open(tmp_path / "skelforge_ntu-x-118.pkl", "rb"))
    ours = shard_clips(built, "ntu-x-118")
    assert sorted(sum(data["split"].values(), [])) == sorted(ours)
    for split, names in data["split"].items():
        assert all(ours[n][0]["split"] == split for n in names)
    for ann in data["annotations"]:                  # what a pyskl-style loader does
        kp, score = ann["keypoint"][..., :2], ann["keypoint_score"]
        row, arr = ours[ann["frame_dir"]]
        assert kp.dtype == np.float32 and kp.shape == arr.shape[:3] + (2,) and score.shape == arr.shape[:3]
        ok = arr[..., 2] > 0
        np.testing.assert_allclose(kp[ok], arr[..., :2][ok])
        np.testing.assert_allclose(score, np.where(ok, arr[..., 2], 0))
        assert not np.isnan(kp).any() and (kp[~ok] == 0).all()
        assert ann["label"] == row["label"] and ann["total_frames"] == 40 and len(ann["img_shape"]) == 2
    assert {a["frame_dir"]: a["img_shape"] for a in data["annotations"]}["hug/b"] == (1080, 1920)




def test_dataset_with_dataloader_workers(built):
    import torch
    from torch.utils.data import DataLoader

    from workers.data.dataset import ShardDataset
    ds = ShardDataset(built, "ntu-x-118", length=32, max_persons=2, normalize="none")
    ours = shard_clips(built, "ntu-x-118")
    assert len(ds) == len(ours)
    x, y = ds[0]
    assert x.shape == (3, 32, 118, 2) and x.dtype == torch.float32
    batches = list(DataLoader(ds, batch_size=2, num_workers=2))
    assert sum(b[0].shape[0] for b in batches) == len(ds)
    # values: uniform sampling of frames, missing joints 0
    row, arr = ours[ds._row(0)["clip_id"]]
    idx = np.linspace(0, arr.shape[1] - 1, 32).round().astype(int)
    ref = np.nan_to_num(arr[:, idx]).transpose(3, 1, 2, 0)
    np.testing.assert_allclose(x.numpy()[..., :arr.shape[0]], ref, rtol=1e-6)
    c = ShardDataset(built, "ntu-x-118", length=16, normalize="center")[0][0].numpy()
    assert np.abs(c[:2]).max() <= 1.0 + 1e-5
    s = ShardDataset(built, "ntu-x-118", length=16, normalize="screen")[0][0].numpy()
    assert np.abs(s[:2]).max() <= 1.5


def test_any_parquet_reader_reads_the_shards(built):
    """The README's one-liners: pandas, polars and duckdb read a layout's shards directly."""
    import duckdb
    import pandas as pd
    import polars as pl
    glob = str(built / "shards" / "posetics-17" / "*.parquet")
    n = len(shard_clips(built, "posetics-17"))
    df = pd.read_parquet(built / "shards" / "posetics-17")
    assert len(df) == n and {"clip_id", "keypoints", "keypoints_shape"} <= set(df.columns)
    assert pl.read_parquet(glob).height == n
    assert duckdb.sql(f"SELECT count(*) FROM '{glob}'").fetchall()[0][0] == n


def test_shard_with_a_clip_without_3d_reads_back_synthetic_rows(tmp_path):
    """A clip whose 3D is absent everywhere stores a null 3D shape; the shard must still read (it did not when the
    shape column was a fixed-size list)."""
    from schemas.parquet import SHARD_SCHEMA
    from workers.io.parquet_shards import write_split
    clips = [{"clip_id": c, "label": 0, "label_name": "x", "split": "train"} for c in ("a", "b")]
    kp = np.ones((1, 3, 17, 3), np.float32)

    def load(c):
        k3 = np.full((1, 3, 17, 4), np.nan if c["clip_id"] == "a" else 1.0, np.float32)
        return kp, k3, None, None

    files = write_split(tmp_path, "train", clips, load, SHARD_SCHEMA, 10, 1, 3)
    rows = {r["clip_id"]: r for r in read_rows(files[0])}
    assert rows["a"]["keypoints_3d_shape"] is None and rows["a"]["keypoints_3d"] is None
    assert rows["b"]["keypoints_3d_shape"] == [1, 3, 17, 4]
