"""The training/benchmark stage: metrics, the ablation on a SYNTHETIC finger-motion task (tests/synthetic_shards.py,
made here because no real dataset isolates finger motion), determinism, resume, options, and a smoke run of
build -> train -> bench -> compare on shards built from the real sample clips."""
from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from schemas.train import TrainConfig
from tests.conftest import VIDEOS, run_build, stage_videos
from tests.synthetic_shards import write_build
from workers.action.experiment import ExperimentError, run_experiment
from workers.action.metrics import classification_metrics, confused_pairs, topk

runner = CliRunner()


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def small(**kw) -> TrainConfig:
    base = dict(model="stgcn", layout="ntu-x-118", width=8, dropout=0.0, frames=12, epochs=2, batch_size=8,
                lr=0.1, device="cpu")
    return TrainConfig(**{**base, **kw})


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    return write_build(tmp_path_factory.mktemp("syn") / "out", n_train=64, n_val=32, T=12)


def test_metrics_on_a_constructed_case():
    names = ["a", "b", "c", "d"]
    labels = np.array([0, 0, 1, 1, 2, 2])
    scores = np.array([[.9, .1, 0, 0], [.2, .7, .1, 0], [.6, .3, .1, 0], [.1, .8, .1, 0], [0, 0, .3, .7],
                       [0, 0, .9, .1]])
    m = classification_metrics(scores, labels, names)
    assert m["top1"] == pytest.approx(3 / 6) and m["top5"] == 1.0
    assert topk(scores, labels, 1) == pytest.approx(0.5) and topk(scores, labels, 2) == 1.0
    acc = {p["class"]: p["accuracy"] for p in m["per_class"]}
    assert acc == {"a": 0.5, "b": 0.5, "c": 0.5, "d": None}            # d absent from the evaluation
    assert [p["class"] for p in m["bottom5"]] == ["a", "b", "c"]
    assert m["confused_pairs"] == [{"a": "a", "b": "b", "n": 2}, {"a": "c", "b": "d", "n": 1}]
    cm = np.array(m["confusion"])
    assert cm.sum() == 6 and cm[0, 1] == 1 and cm[1, 0] == 1 and cm[2, 3] == 1
    assert confused_pairs(np.zeros((3, 3), int)) == []


def test_ablation_learns_finger_motion_only_with_hands(synthetic, tmp_path):
    """`bench`'s machinery on the synthetic task: classes differ only in which finger flexes. Body alone
    (25 joints, normalised by the body alone) stays near chance (0.25); body + hands learns it."""
    from workers.action.bench import run_ablation
    res = run_ablation(synthetic, small(epochs=12), tmp_path / "bench")
    top1 = {r["label"]: r["top1"] for r in res["runs"]}
    assert top1["body"] <= 0.45, top1
    assert top1["body+hands"] >= 0.9, top1
    assert top1["body+hands+face"] >= 0.8, top1                        # 51 still face points dilute it
    assert [r["num_joints"] for r in res["runs"]] == [25, 67, 118]
    gains = res["pairs"][0]
    assert gains["top1_gain"] >= 0.45 and gains["most_gained"]
    assert (tmp_path / "bench" / gains["figure"]).stat().st_size > 1000
    assert "body+hands vs body" in (tmp_path / "bench" / "compare.md").read_text()


def test_same_seed_same_weights_and_resume_matches_uninterrupted(synthetic, tmp_path):
    cfg = small(epochs=3, regions=("body", "left_hand", "right_hand"))
    a = run_experiment(synthetic, cfg, tmp_path / "a")
    b = run_experiment(synthetic, cfg, tmp_path / "b")
    sa, sb = np.load(tmp_path / "a" / "scores.npz")["scores"], np.load(tmp_path / "b" / "scores.npz")["scores"]
    np.testing.assert_array_equal(sa, sb)
    assert a["top1"] == b["top1"]

    class Stop(Exception):
        pass

    def stop_after_first(stream, rec):
        if rec["epoch"] == 0:
            raise Stop

    with pytest.raises(Stop):
        run_experiment(synthetic, cfg, tmp_path / "c", stop_after_first)
    assert torch.load(tmp_path / "c" / "checkpoint.pt", weights_only=True)["epoch"] == 0
    c = run_experiment(synthetic, cfg, tmp_path / "c")                  # resumes at epoch 1
    assert c["streams"]["joint"]["resumed"] is True
    np.testing.assert_array_equal(np.load(tmp_path / "c" / "scores.npz")["scores"], sa)
    assert [h["loss"] for h in c["streams"]["joint"]["history"]] == [h["loss"] for h in a["streams"]["joint"]["history"]]


def test_run_directory_holds_one_configuration(synthetic, tmp_path):
    run_experiment(synthetic, small(epochs=1), tmp_path / "r")
    with pytest.raises(ExperimentError, match="another configuration"):
        run_experiment(synthetic, small(epochs=2), tmp_path / "r")


def test_options_are_checked_before_anything_loads(synthetic, tmp_path):
    from pipeline.cli import app
    bad = [(["--freeze-backbone"], "freeze_backbone needs init_from"),
           (["--model", "posec3d", "--stream", "motion"], "posec3d takes stream joint"),
           (["--device", "tpu"], "device must be"),
           (["--hierarchy", "1"], "at least 2 groups"),
           (["--layout", "coco-17"], "no shards for layout 'coco-17'"),
           (["--regions", "body,tail"], "train.regions")]
    for args, msg in bad:
        r = runner.invoke(app, ["train", str(synthetic), "--run", str(tmp_path / "x"), *args])
        assert r.exit_code == 2 and msg in r.output, (args, r.output)


def test_linear_probe_changes_only_the_classifier(synthetic, tmp_path):
    run_experiment(synthetic, small(epochs=1), tmp_path / "pre")
    m = run_experiment(synthetic, small(epochs=2, init_from=str(tmp_path / "pre"), freeze_backbone=True),
                       tmp_path / "probe")
    info = m["streams"]["joint"]["init_from"]
    assert info["frozen"] and info["loaded"] > 10
    pre = torch.load(tmp_path / "pre" / "checkpoint.pt", weights_only=True)["model"]
    post = torch.load(tmp_path / "probe" / "checkpoint.pt", weights_only=True)["model"]
    for k, v in pre.items():
        if k.startswith("classifier."):
            assert not torch.equal(v, post[k])
        else:
            assert torch.equal(v, post[k]), k                      # weights and BN statistics untouched


def test_score_fusion_of_all_streams(synthetic, tmp_path):
    m = run_experiment(synthetic, small(epochs=1, stream="all"), tmp_path / "all")
    assert set(m["streams"]) == {"joint", "bone", "motion"}
    fused = np.load(tmp_path / "all" / "scores.npz")["scores"]
    np.testing.assert_allclose(fused.sum(1), 1.0, rtol=1e-5)          # mean of softmax scores
    for s in ("joint", "bone", "motion"):
        assert (tmp_path / "all" / s / "checkpoint.pt").exists()


def test_hierarchical_pass_groups_classes_from_training_confusion(synthetic, tmp_path):
    m = run_experiment(synthetic, small(epochs=2, hierarchy=(2,), regions=("body", "left_hand", "right_hand")),
                       tmp_path / "h")
    h = m["streams"]["joint"]["hierarchy"]
    groups = h["levels"][0]["members"]
    assert len(groups) == 2 and sorted(len(g) for g in groups) == [2, 2]
    assert len(h["history"]) == 2 and (tmp_path / "h" / "hierarchical" / "checkpoint.pt").exists()
    saved = np.load(tmp_path / "h" / "scores.npz")                     # the reported top-1 is the saved scores'
    assert len(saved["labels"]) > 0
    assert m["top1"] == pytest.approx(float((saved["scores"].argmax(1) == saved["labels"]).mean()), abs=1e-4)


@pytest.fixture(scope="module")
def real_build(tmp_path_factory, samples):
    """Four real sample clips, two classes, a stratified split; the DAG's train stage switched on."""
    root = tmp_path_factory.mktemp("realtrain")
    videos = stage_videos(root / "v", VIDEOS / "kinetics/tai_chi/ta_chi.mp4",
                          VIDEOS / "kinetics/clean_and_jerk/clean_and_jerk.mp4",
                          VIDEOS / "kinetics/skateboarding/skateboarding.mp4",
                          VIDEOS / "misc/mpeg4_25fps_320x240.avi",
                          names=["slow/a.mp4", "slow/b.mp4", "move/c.mp4", "move/d.avi"])
    out = root / "out"
    record = run_build(videos, out, {"frames": {"max_frames": 30}, "layouts": ["ntu-x-118", "posetics-17"],
                                     "splits": {"method": "stratified", "val_fraction": 0.5, "seed": 0},
                                     "train": {"enabled": True, "layout": "posetics-17", "width": 8, "epochs": 2,
                                               "device": "cpu", "frames": 16}})
    return out, record


def test_dag_train_stage_then_bench_and_compare_on_real_shards(real_build, tmp_path):
    out, record = real_build
    info = record["dataset_stages"]["train"]
    assert info["cached"] is False and info["where"] == "client process"
    metrics = json.loads((out / "runs" / "default" / "metrics.json").read_text())
    import pyarrow.parquet as pq
    val = pq.read_table(next((out / "shards" / "posetics-17").glob("val-*.parquet")), columns=["clip_id"]).num_rows
    assert metrics["layout"] == "posetics-17" and metrics["samples"] == val >= 1
    saved = np.load(out / "runs" / "default" / "scores.npz")
    assert len(saved["labels"]) == val
    assert metrics["top1"] == pytest.approx(float((saved["scores"].argmax(1) == saved["labels"]).mean()), abs=1e-4)
    assert (out / "runs" / "default" / "curves.png").exists()

    from pipeline.cli import app
    r = runner.invoke(app, ["bench", str(out), "--model", "stgcn", "--width", "8", "--epochs", "1", "--device",
                            "cpu", "--dest", str(tmp_path / "bench")])
    assert r.exit_code == 0, r.output
    res = json.loads((tmp_path / "bench" / "compare.json").read_text())
    assert [x["num_joints"] for x in res["runs"]] == [25, 67, 118]
    r = runner.invoke(app, ["compare", str(tmp_path / "bench" / "body"), str(out / "runs" / "default"),
                            "--dest", str(tmp_path / "cmp")])
    assert r.exit_code == 0 and (tmp_path / "cmp" / "compare.md").exists(), r.output


def test_dag_train_stage_is_cached_and_follows_the_shards(real_build, tmp_path):
    shared, _ = real_build
    out = tmp_path / "out"                 # a copy: the module's build stays as the other tests expect it
    shutil.copytree(shared, out)
    from tests.conftest import run_build as rebuild
    cfg = {"frames": {"max_frames": 30}, "layouts": ["ntu-x-118", "posetics-17"],
           "splits": {"method": "stratified", "val_fraction": 0.5, "seed": 0},
           "train": {"enabled": True, "layout": "posetics-17", "width": 8, "epochs": 2, "device": "cpu",
                     "frames": 16}}
    videos = shared.parent / "v"
    record = rebuild(videos, out, cfg)
    assert record["dataset_stages"]["train"]["cached"] is True
    record = rebuild(videos, out, {**cfg, "train": {**cfg["train"], "epochs": 1}})
    assert record["dataset_stages"]["train"]["cached"] is False
    assert len(json.loads((out / "runs" / "default" / "metrics.json").read_text())["streams"]["joint"]["history"]) == 1


def test_train_layout_must_be_built(tmp_path):
    from pipeline.build import BuildError
    videos = stage_videos(tmp_path / "v", VIDEOS / "misc/mpeg4_25fps_320x240.avi")
    with pytest.raises(BuildError, match="train.layout 'coco-17' is not built"):
        run_build(videos, tmp_path / "o", {"layouts": ["ntu-x-118"], "train": {"enabled": True, "layout": "coco-17"}})


def test_pruning_pass_shrinks_the_model_until_accuracy_drops_twice(synthetic, tmp_path):
    cfg = small(epochs=2, prune=True, prune_epochs=1, prune_max_rounds=4, regions=("body", "left_hand", "right_hand"))
    m = run_experiment(synthetic, cfg, tmp_path / "p")
    s = m["streams"]["joint"]
    rounds = s["pruning"]["rounds"]
    drops = sum(r["accuracy"] < max(x["accuracy"] for x in rounds[:i]) for i, r in enumerate(rounds) if i)
    assert rounds[0]["round"] == 0 and len(rounds) >= 2
    assert all(b["parameters"] < a["parameters"] for a, b in zip(rounds, rounds[1:]))
    assert drops == 2 or len(rounds) == 1 + 4                           # two drops, or the round cap
    best = s["pruning"]["best_round"]
    assert s["parameters_final"] == rounds[best]["parameters"] <= s["parameters"]
    pruned = torch.load(tmp_path / "p" / "pruned.pt", weights_only=False)
    assert sum(p.numel() for p in pruned.parameters()) == s["parameters_final"]


def test_ddp_under_torchrun_on_cpu(synthetic, tmp_path):
    """Two processes (gloo): each trains on half of every epoch, rank 0 writes, the epoch totals cover all."""
    import os
    import subprocess
    import sys
    from pathlib import Path
    bindir = Path(sys.executable).parent
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    r = subprocess.run([str(bindir / "torchrun"), "--nproc_per_node", "2", "--master_port", "29541",
                        str(bindir / "skelforge"), "train", str(synthetic), "--run-dir", str(tmp_path / "ddp"),
                        "--layout", "ntu-x-118", "--width", "8", "--epochs", "2", "--device", "cpu", "--frames",
                        "12", "--batch-size", "8"], capture_output=True, text=True, env=env, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    run = json.loads((tmp_path / "ddp" / "run.json").read_text())
    assert run["world_size"] == 2
    m = json.loads((tmp_path / "ddp" / "metrics.json").read_text())
    assert [h["train_samples"] for h in m["streams"]["joint"]["history"]] == [64, 64]
    assert m["samples"] == 32
