"""The `flow` stage end to end (pipeline/stages/flow.py) on two real sample clips: enabling it re-runs only
flow, convert and the dataset stages; every layout's shard gets a `flow` column at its body joints; the values
equal an independent computation (OpenCV's DIS called directly, at the shard's own joints); disabled, the
column is null and the metadata says so."""
from __future__ import annotations

import json

import cv2
import numpy as np
import pyarrow.parquet as pq
import pytest

from tests.conftest import NTU_CLIP, VIDEOS, run_build, stage_videos
from schemas.flow import FLOW_METHODS
from schemas.layouts import get_layout
from workers.decode.spool import open_frames
from workers.flow.dense import METHODS
from workers.io.shard_codec import read_rows

CFG = {"frames": {"max_frames": 24}, "layouts": ["ntu-x-118", "coco-17"]}
PER_CLIP = ("probe", "frames", "detect", "pose", "refine", "fit3d", "quality", "filter")


@pytest.fixture(scope="module")
def builds(tmp_path_factory, samples):
    root = tmp_path_factory.mktemp("flow")
    videos = stage_videos(root / "v", NTU_CLIP, VIDEOS / "kinetics/tai_chi/ta_chi.mp4",
                          names=["hug/ntu.avi", "tai_chi/t.mp4"])
    out = root / "out"
    off = run_build(videos, out, CFG)
    off_rows = {p.name: pq.read_table(p) for p in (out / "shards" / "coco-17").glob("*.parquet")}
    on = run_build(videos, out, {**CFG, "flow": {"enabled": True}})
    return out, videos, off, on, off_rows


def rows(out, layout):
    paths = sorted((out / "shards" / layout).glob("*.parquet"))
    return pq.read_schema(paths[0]), [r for p in paths for r in read_rows(p)]


def test_the_schema_names_the_workers_methods():
    assert set(FLOW_METHODS) == set(METHODS)


def test_enabling_flow_reruns_only_flow_convert_and_the_dataset_stages(builds):
    _, _, off, on, _ = builds
    assert off["counts"]["ok"] == on["counts"]["ok"] == 2
    assert off["computed"]["flow"] == 2                      # ran, disabled: an empty result
    assert all(on["computed"][s] == 0 for s in PER_CLIP), on["computed"]
    assert on["computed"]["flow"] == 2 and on["computed"]["convert"] == 2


def test_disabled_flow_leaves_the_column_null(builds):
    _, _, _, _, off_rows = builds
    for t in off_rows.values():
        assert t.column("flow").null_count == t.num_rows
        assert json.loads(t.schema.metadata[b"skelforge"])["flow"] is None


@pytest.mark.parametrize("layout", CFG["layouts"])
def test_every_layout_has_flow_at_its_body_joints(builds, layout):
    out = builds[0]
    schema, got = rows(out, layout)
    meta = json.loads(schema.metadata[b"skelforge"])
    body = list(get_layout(layout).regions["body"])
    assert meta["flow"]["joints"] == body and meta["flow"]["method"] == "dis-medium"
    for r in got:
        flow = np.asarray(r["flow"], np.float32).reshape(r["flow_shape"])
        kp = r["keypoints"]
        M, T = kp.shape[:2]
        assert flow.shape == (M, T, len(body), 2)
        present = kp[:, :, body, 2] > 0
        assert np.isnan(flow[:, -1]).all()                  # no next frame
        assert np.isfinite(flow[:, :-1][present[:, :-1]]).all()
        assert np.isnan(flow[~present]).all()
        assert present[:, :-1].sum() > 0.5 * present[:, :-1].size


def test_flow_values_equal_dis_called_directly_at_the_shard_joints(builds):
    out, videos = builds[0], builds[1]
    _, got = rows(out, "coco-17")
    manifest = {r["clip_id"]: r for r in pq.read_table(out / "manifest.parquet").to_pylist()}
    from pipeline.cache import Store
    store = Store(out / ".cache")
    checked = 0
    for r in got:
        flow = np.asarray(r["flow"], np.float32).reshape(r["flow_shape"])
        kp = r["keypoints"]
        src = store.load("frames", manifest[r["clip_id"]]["frames_key"]).arrays["src_index"]
        path = videos / manifest[r["clip_id"]]["source_path"]
        with open_frames(str(path), src, out) as frames:
            greys = [cv2.cvtColor(f, cv2.COLOR_RGB2GRAY) for f in frames]
        h, w = greys[0].shape
        s = min(1.0, 480 / max(h, w))
        small = [cv2.resize(g, (round(w * s), round(h * s)), interpolation=cv2.INTER_AREA) if s < 1 else g
                 for g in greys]
        dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)   # the default method
        for t in range(len(small) - 1):
            field = dis.calc(small[t], small[t + 1], None)
            sx, sy = small[t].shape[1] / w, small[t].shape[0] / h
            for m in range(kp.shape[0]):
                for j in range(kp.shape[2]):
                    if kp[m, t, j, 2] <= 0:
                        continue
                    x, y = kp[m, t, j, 0] * sx, kp[m, t, j, 1] * sy
                    xi, yi = int(np.clip(round(x), 0, field.shape[1] - 1)), int(np.clip(round(y), 0, field.shape[0] - 1))
                    ref = field[max(0, yi - 1):yi + 2, max(0, xi - 1):xi + 2].reshape(-1, 2).mean(0) / [sx, sy]
                    # the stage samples bilinearly at unquantised positions; this one at the nearest pixel
                    assert np.abs(flow[m, t, j] - ref).max() < 0.75 + 0.1 * np.abs(ref).max(), (t, m, j)
                    checked += 1
    assert checked > 200


def test_stamp_dataset_on_the_flow_build(builds):
    """Deep Action Stamps on the fly from real shards (workers/data/stamp_dataset.py): the five maps of NTU-X 118,
    scaled by the split's own statistics into [0, 255] with both ends reached, equal to `raw_stamps` on the
    decoded rows; COCO-17 cannot give hands."""
    from workers.action.stamps import MissingModality, raw_stamps
    from workers.data.stamp_dataset import StampDataset
    out = builds[0]
    mods = ("body", "hands", "face", "bones", "flow")
    ds = StampDataset(out, "ntu-x-118", mods, length=16)
    assert len(ds) == 2
    with pytest.raises(RuntimeError, match="statistics"):
        ds[0]
    ds.stats = ds.fit_stats()
    items = [ds[i] for i in range(len(ds))]
    widths = {"body": 25, "hands": 42, "face": 51, "bones": 24, "flow": 25}
    for m in mods:
        values = np.stack([it[0][m].numpy() for it in items])
        assert values.shape == (2, 3, 16, 2 * widths[m])
        assert values.min() >= 0 and values.max() <= 255
        for c in range(3):                                  # each channel's training range is reached
            assert values[:, c].max() == pytest.approx(255, abs=1e-3), (m, c)
    _, decoded = rows(out, "ntu-x-118")
    by_id = {r["clip_id"]: r for r in decoded}
    first = by_id[sorted(by_id)[0]]
    kp, kp3 = first["keypoints"], first["keypoints_3d"]
    flow = np.asarray(first["flow"], np.float32).reshape(first["flow_shape"])
    idx = np.linspace(0, kp.shape[1] - 1, 16).round().astype(int)
    want = raw_stamps(ds.layout, kp[:, idx], None if kp3 is None else kp3[:, idx], flow[:, idx], mods)
    got = ds.raw(0)
    M = kp.shape[0]
    for m in mods:
        n = widths[m]
        np.testing.assert_allclose(got[m][:, :, :M * n], want[m], atol=1e-4, equal_nan=True)
    with pytest.raises(MissingModality, match="coco-17"):
        StampDataset(out, "coco-17", ("body", "hands"))


def test_train_deepacts_on_the_flow_build(builds, tmp_path):
    """`skelforge build` with flow on, then `skelforge train OUT --model deepacts` (all five stamps) on the real
    clips: it trains, evaluates and names its modalities. Two clips give one split, so it is both the training
    and the evaluation split here (a smoke run of the command, not a measure of accuracy)."""
    from typer.testing import CliRunner

    from pipeline.cli import app
    out = builds[0]
    from workers.io.parquet_shards import shard_split
    splits = {shard_split(p.name) for p in (out / "shards" / "ntu-x-118").glob("*.parquet")}
    assert len(splits) == 1
    split = splits.pop()
    cfg = tmp_path / "train.yaml"
    cfg.write_text(f"train: {{train_split: {split}, eval_split: {split}}}\n")
    r = CliRunner().invoke(app, ["train", str(out), "--run", str(tmp_path / "run"), "--config", str(cfg),
                                 "--layout", "ntu-x-118", "--model", "deepacts", "--width", "8", "--stamp-size", "64",
                                 "--frames", "16", "--epochs", "1", "--batch-size", "2", "--device", "cpu"])
    assert r.exit_code == 0, r.output
    m = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert m["model"] == "deepacts" and m["modalities"] == ["body", "hands", "face", "bones", "flow"]
    assert m["samples"] == 2 and "modalities body,hands,face,bones,flow" in r.output
    assert (tmp_path / "run" / "stamp_stats.json").exists() and (tmp_path / "run" / "checkpoint.pt").exists()
