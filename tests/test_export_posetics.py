"""The posetics-npy export on a real build with fit3d: the values UNIK's data_gen/posetics_gendata.py would write
from the same 2D and 3D (checked by hand against UNIK bf39968b; their code is not in CI), in the container its
feeders.feeder.Feeder reads."""
from __future__ import annotations

import pickle

import numpy as np
import pytest
from typer.testing import CliRunner

import dagfile
from pipeline.cli import app, set_dag
from schemas.layouts import get_layout
from workers.io.shard_codec import read_rows

set_dag(dagfile.DAG)
MHIP = get_layout("posetics-17").index("MHip")


@pytest.fixture(scope="module")
def exported(built3d, tmp_path_factory):
    dest = tmp_path_factory.mktemp("posetics_export")
    r = CliRunner().invoke(app, ["export", str(built3d), "--format", "posetics-npy", "--layout", "posetics-17",
                                 "--dest", str(dest)])
    assert r.exit_code == 0, r.output
    return dest


def shard_rows(out):
    return {r["clip_id"]: r for f in sorted((out / "shards" / "posetics-17").glob("*.parquet"))
            for r in read_rows(f)}


def test_feeder_container(built3d, exported):
    """What UNIK's Feeder does with the files: pickle.load(..., encoding='latin1') -> (names, labels); np.load with
    mmap_mode='r' -> (N, C=5, T=300, V=17, M=2); one label per sample."""
    rows = shard_rows(built3d)
    seen = []
    for split in sorted({r["split"] for r in rows.values()}):
        with open(exported / f"{split}_label.pkl", "rb") as fh:
            names, labels = pickle.load(fh, encoding="latin1")
        x = np.load(exported / f"{split}_data_joint.npy", mmap_mode="r")
        assert x.shape == (len(names), 5, 300, 17, 2) and x.dtype == np.float32 and len(labels) == len(names)
        assert [rows[n]["label"] for n in names] == list(labels)
        seen += names
    assert sorted(seen) == sorted(rows)


def test_values_are_posetics_gendata(built3d, exported):
    """2D: x / 320 - 1, y / 320 - 0.75 of the pixels (gendata's fixed 640 x 480 normalisation), missing 0;
    3D: camera-frame metres minus the person's MHip in that frame; padding 0."""
    rows = shard_rows(built3d)
    checked_3d = 0
    for npy in exported.glob("*_data_joint.npy"):
        x = np.load(npy)
        names, _ = pickle.load(open(str(npy).replace("_data_joint.npy", "_label.pkl"), "rb"))
        for n, sample in zip(names, x):
            r = rows[n]
            kp = np.asarray(r["keypoints"], np.float32).reshape(r["keypoints_shape"])
            k3 = np.asarray(r["keypoints_3d"], np.float32).reshape(r["keypoints_3d_shape"])
            M, T = min(kp.shape[0], 2), kp.shape[1]
            got = sample.transpose(3, 1, 2, 0)                      # (M=2, 300, 17, 5)
            ok = kp[:M, ..., 2] > 0
            np.testing.assert_allclose(got[:M, :T, :, 0][ok], kp[:M, ..., 0][ok] / 320 - 1, rtol=1e-6, atol=1e-6)
            np.testing.assert_allclose(got[:M, :T, :, 1][ok], kp[:M, ..., 1][ok] / 320 - 0.75, rtol=1e-6, atol=1e-6)
            assert (got[:M, :T, :, :2][~ok] == 0).all()
            ok3 = (k3[:M, ..., 3] > 0) & (k3[:M, :, MHIP:MHIP + 1, 3] > 0)
            rel = k3[:M, ..., :3] - k3[:M, :, MHIP:MHIP + 1, :3]
            np.testing.assert_allclose(got[:M, :T, :, 2:][ok3], rel[ok3], rtol=1e-5, atol=1e-6)
            assert (got[:M, :T, :, 2:][~ok3] == 0).all()
            assert (got[:M, :T, MHIP, 2:] == 0).all()               # the pelvis is the origin, as in LCR-Net
            assert np.abs(got[:M, :T, :, 2:][ok3]).max() < 1.5       # body-sized, no camera depth left
            assert (k3[:M, ..., 2][k3[:M, ..., 3] > 0] > 0.5).all()   # while the shard's z is camera depth
            checked_3d += int(ok3.sum())
            assert (got[:, T:] == 0).all() and (got[M:] == 0).all()
    assert checked_3d > 1000


def test_only_posetics_layout(built3d, tmp_path):
    r = CliRunner().invoke(app, ["export", str(built3d), "--format", "posetics-npy", "--layout", "coco-17",
                                 "--dest", str(tmp_path / "x")])
    assert r.exit_code == 2 and "posetics-17" in r.output


def test_gendata_zero_rule_synthetic_values():
    """gendata zeroes each coordinate that is exactly 0 (its "missing"), one coordinate at a time; made-up values
    because no real clip puts a joint on the frame's edge."""
    from workers.io.export_posetics import screen_2d
    kp = np.array([[0.0, 400.0, 0.9], [480.0, 0.0, 0.8], [640.0, 480.0, 0.0], [np.nan, np.nan, 0.0],
                   [160.0, 80.0, 0.7]], np.float32)
    np.testing.assert_allclose(screen_2d(kp), [[0, 0.5], [0.5, 0], [0, 0], [0, 0], [-0.5, -0.5]], atol=1e-7)
