"""The pyskl export on a real build: box_score / valid like pyskl's Kinetics annotations, the mmaction2 config
written beside the pickle, and mmaction2 1.2.0's own PoseDataset with the ST-GCN and PoseC3D pipelines on it
(installed by `make test`: the Makefile's MMACTION, pinned, `--no-deps`)."""
from __future__ import annotations

import importlib.util
import pickle
from collections import deque

import numpy as np
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

import dagfile
from pipeline.cli import app, set_dag
from tests.conftest import NTU_CLIP, VIDEOS, run_build, stage_videos
from workers.io.shard_codec import read_rows

set_dag(dagfile.DAG)
THRESHOLDS = (0.5, 0.6, 0.7, 0.8, 0.9)


def _mmaction():
    """mmaction2's dataset side (its wheel lacks models/localizers/drn, so `mmaction.models` cannot be imported;
    the Graph class is loaded from its file). Skips only when the package itself is not installed."""
    try:
        import mmaction.datasets.transforms  # noqa: F401  (registers the transforms)
        from mmaction.datasets import PoseDataset
        from mmengine.config import Config
        from mmengine.registry import DefaultScope
    except ModuleNotFoundError as e:
        pytest.skip(f"mmaction2 is not installed ({e}); `make test` installs it (Makefile MMACTION, --no-deps)")
    if not DefaultScope.check_instance_created("skelforge-tests"):
        DefaultScope.get_instance("skelforge-tests", scope_name="mmaction")
    spec = importlib.util.spec_from_file_location(
        "mmaction_graph", importlib.util.find_spec("mmaction").submodule_search_locations[0]
        + "/models/utils/graph.py")
    graph = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(graph)
    return PoseDataset, Config, graph.Graph


@pytest.fixture(scope="module")
def built(tmp_path_factory, samples):
    root = tmp_path_factory.mktemp("pyskl")
    videos = stage_videos(root / "v", NTU_CLIP, VIDEOS / "kinetics/tai_chi/ta_chi.mp4",
                          VIDEOS / "misc/mpeg4_25fps_320x240.avi",
                          names=["hug/S001C001P001R001A058.avi", "hug/t.mp4", "walk/a.avi"])
    out = root / "out"
    run_build(videos, out, {"frames": {"max_frames": 40}, "layouts": ["ntu-x-118", "coco-17"],
                            "splits": {"method": "stratified", "val_fraction": 0.5, "seed": 0}})
    return out


@pytest.fixture(scope="module")
def exported(built, tmp_path_factory):
    dest = tmp_path_factory.mktemp("pyskl_export")
    for layout in ("ntu-x-118", "coco-17"):
        r = CliRunner().invoke(app, ["export", str(built), "--format", "pyskl", "--layout", layout,
                                     "--dest", str(dest)])
        assert r.exit_code == 0, r.output
    return dest


def shard_scores(out, layout):
    rows = [r for f in sorted((out / "shards" / layout).glob("*.parquet")) for r in read_rows(f)]
    return {r["clip_id"]: np.asarray(r["keypoints"], np.float32).reshape(r["keypoints_shape"]) for r in rows}


def test_box_score_and_valid_per_frame(built, exported):
    data = pickle.load(open(exported / "skelforge_ntu-x-118.pkl", "rb"))
    ours = shard_scores(built, "ntu-x-118")
    assert len(data["split"]) == 2                                   # train and val: both splits carried
    for ann in data["annotations"]:
        arr = ours[ann["frame_dir"]]
        M, T = arr.shape[:2]
        box = ann["box_score"]
        assert box.dtype == np.float32 and box.shape == (M, T)
        for m in range(M):
            for t in range(T):
                s = arr[m, t, :, 2]
                want = s[s > 0].mean() if (s > 0).any() else 0.0
                assert box[m, t] == pytest.approx(want, rel=1e-5, abs=1e-6)
        assert list(ann["valid"]) == list(THRESHOLDS)
        assert ann["valid"] == {thr: int((box >= thr).any(0).sum()) for thr in THRESHOLDS}
        assert all(isinstance(v, int) and 0 <= v <= T for v in ann["valid"].values())
    # the real clips differ: the small 320x240 clip's people are less sure than the NTU clip's
    v9 = {a["frame_dir"]: a["valid"][0.9] / a["total_frames"] for a in data["annotations"]}
    assert min(v9.values()) < max(v9.values())


def test_mmaction2_config_graph_is_the_shards_graph(built, exported):
    _, Config, Graph = _mmaction()
    import json
    meta = json.loads(pq.read_schema(next((built / "shards" / "ntu-x-118").glob("*.parquet"))).metadata[b"skelforge"])
    cfg = Config.fromfile(str(exported / "skelforge_ntu-x-118_mmaction2.py"))
    assert cfg.ann_file == str(exported / "skelforge_ntu-x-118.pkl")
    assert cfg.model.backbone.graph_cfg == cfg.graph_cfg and cfg.model.cls_head.num_classes == 2
    lay = cfg.graph_cfg.layout
    V = len(meta["joint_names"])
    assert lay.num_node == V and lay.center == meta["center"]
    assert {frozenset(e) for e in lay.inward} == {frozenset(e) for e in meta["edges"]}
    # inward: each edge's first joint is no nearer to the centre than its second (hop distance on the edges)
    adj = {j: set() for j in range(V)}
    for a, b in meta["edges"]:
        adj[a].add(b)
        adj[b].add(a)
    hops, queue = {lay.center: 0}, deque([lay.center])
    while queue:
        j = queue.popleft()
        for k in adj[j] - hops.keys():
            hops[k] = hops[j] + 1
            queue.append(k)
    reached = [(a, b) for a, b in lay.inward if a in hops and b in hops]
    assert reached and all(hops[a] == hops[b] + 1 for a, b in reached)
    g = Graph(**cfg.graph_cfg)                                       # mmaction2's own Graph class
    assert g.A.shape == (3, V, V)
    linked = g.A.sum(0) > 0
    want = np.eye(V, dtype=bool)
    for a, b in meta["edges"]:
        want[a, b] = want[b, a] = True
    assert (linked == want).all()


@pytest.mark.parametrize("layout", ["coco-17", "ntu-x-118"])
def test_mmaction2_posedataset_stgcn_values(built, exported, layout):
    """mmaction2's PoseDataset + the config's ST-GCN pipeline, with clip_len = the clip's length so every frame is
    kept in order: the network input is our pixels normalised by PreNormalize2D, (x - w/2) / (w/2)."""
    PoseDataset, Config, _ = _mmaction()
    cfg = Config.fromfile(str(exported / f"skelforge_{layout}_mmaction2.py"))
    ours = shard_scores(built, layout)
    sizes = {r["clip_id"]: (r["height"], r["width"]) for r in pq.read_table(built / "manifest.parquet").to_pylist()}
    pipeline = [dict(t, clip_len=40) if t["type"] == "UniformSampleFrames" else dict(t) for t in cfg.val_pipeline]
    for loader in (cfg.train_dataloader, cfg.val_dataloader):
        ds = PoseDataset(ann_file=cfg.ann_file, split=loader.dataset.split, pipeline=pipeline, test_mode=True)
        assert len(ds) >= 1
        for i in range(len(ds)):
            item = ds[i]
            sample = item["data_samples"]
            clip = ds.get_data_info(i)["frame_dir"]
            arr = ours[clip]
            M = min(arr.shape[0], 2)
            x = item["inputs"].numpy()                               # (num_clips, M, T, V, 3)
            assert x.shape == (1, 2, 40, arr.shape[2], 3)
            h, w = sizes[clip]
            ok = arr[..., 2] > 0
            px = np.where(ok[..., None], arr[..., :2], 0)
            want = (px - [w / 2, h / 2]) / [w / 2, h / 2]
            np.testing.assert_allclose(x[0, :M, :, :, :2], want[:M], rtol=1e-5, atol=1e-5)
            np.testing.assert_allclose(x[0, :M, :, :, 2], np.where(ok, arr[..., 2], 0)[:M], rtol=1e-6)
            assert int(sample.gt_label) == ds.get_data_info(i)["label"]


def test_mmaction2_kinetics_style_valid_ratio(built, exported):
    """A Kinetics-style dataset (valid_ratio, box_thr) loads, and keeps exactly the clips whose
    valid[box_thr] / total_frames reaches valid_ratio."""
    PoseDataset, Config, _ = _mmaction()
    cfg = Config.fromfile(str(exported / "skelforge_coco-17_mmaction2.py"))
    data = pickle.load(open(exported / "skelforge_coco-17.pkl", "rb"))
    train = set(data["split"]["train"])
    ratio_of = {a["frame_dir"]: a["valid"][0.9] / a["total_frames"] for a in data["annotations"]
                if a["frame_dir"] in train}
    assert len(set(ratio_of.values())) >= 2                          # so the filter has something to drop
    for ratio in sorted(set(ratio_of.values())):
        ds = PoseDataset(ann_file=cfg.ann_file, split="train", pipeline=cfg.train_pipeline, valid_ratio=float(ratio),
                         box_thr=0.9)
        kept = sorted(ds.get_data_info(i)["frame_dir"] for i in range(len(ds)))
        assert kept == sorted(c for c, r in ratio_of.items() if r >= ratio)
        info = ds.get_data_info(0)
        if ratio > 0:                          # mmaction2 marks frames by box_thr only when it filters by ratio
            assert (info["anno_inds"] == (info["box_score"] >= 0.9)).all()
        assert ds[0]["inputs"].shape == (1, 2, 100, 17, 3)            # the ST-GCN train pipeline runs on it


def test_mmaction2_posec3d_pipeline(built, exported):
    """PoseC3D's heatmap pipeline (mmaction2's NTU keypoint config, shortened clip) on both layouts."""
    PoseDataset, _, _ = _mmaction()
    for layout, V in (("coco-17", 17), ("ntu-x-118", 118)):
        pipeline = [dict(type="UniformSampleFrames", clip_len=8, num_clips=1, test_mode=True),
                    dict(type="PoseDecode"), dict(type="PoseCompact", hw_ratio=1., allow_imgpad=True),
                    dict(type="Resize", scale=(64, 64), keep_ratio=False),
                    dict(type="GeneratePoseTarget", with_kp=True, with_limb=False),
                    dict(type="FormatShape", input_format="NCTHW_Heatmap"), dict(type="PackActionInputs")]
        ds = PoseDataset(ann_file=str(exported / f"skelforge_{layout}.pkl"), split="train", pipeline=pipeline,
                         test_mode=True)
        item = ds[0]
        x = item["inputs"].numpy()
        assert x.shape == (1, V, 8, 64, 64)
        info = ds.get_data_info(0)
        seen = (info["keypoint_score"] > 0).any((0, 1))              # joints present somewhere in the clip
        peak = x[0].max((1, 2, 3))
        assert (peak[~seen] == 0).all() and (peak[seen] > 0).mean() > 0.5
