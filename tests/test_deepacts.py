"""DeepActsNet (workers/action/deepacts.py) in `skelforge train`: its branches against the paper's backbones
(parameter counts), the summed branch scores, the bone branch's graph, the modalities a build can give, the
options checked before anything loads, bench / compare, DDP, and a learning check on a SYNTHETIC task
(tests/synthetic_shards.py `write_cue_build`: classes that differ only in optical flow or only in face motion,
which no real dataset isolates)."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from schemas.layouts import get_layout
from schemas.train import TrainConfig
from tests.synthetic_shards import write_build, write_cue_build
from workers.action.deepacts import DeepActsNet
from workers.action.experiment import ExperimentError, load_data, run_experiment
from workers.action.graph import component_roots, region_graph, root_distance
from workers.action.stamps import body_edges
from workers.action.stgcn import STGCN
from workers.data.stamp_dataset import StampDataset

runner = CliRunner()
pytestmark = pytest.mark.usefixtures("one_torch_thread")
NTUX = get_layout("ntu-x-118")
ALL = ("body", "hands", "face", "bones", "flow")


def small(**kw) -> TrainConfig:
    base = dict(model="deepacts", layout="ntu-x-118", width=8, dropout=0.0, frames=32, epochs=2, batch_size=8,
                lr=0.05, device="cpu", stamp_size=64)
    return TrainConfig(**{**base, **kw})


@pytest.fixture(scope="module")
def cues(tmp_path_factory):
    return write_cue_build(tmp_path_factory.mktemp("cues") / "out")


def n_params(*modules) -> int:
    return sum(p.numel() for m in modules for p in m.parameters())


def test_branches_have_the_parameters_of_the_papers_backbones():
    """At the paper's width each CNN branch is EfficientNet-B0 (torchvision's, K classes) and each graph branch
    ST-GCN on the modality's graph: the same parameter counts, stated in the README."""
    from torchvision.models import efficientnet_b0
    net = DeepActsNet(60, NTUX, ALL)
    b0 = n_params(efficientnet_b0(weights=None, num_classes=60))
    assert b0 == 4_084_408
    graphs = {"body": ("body",), "hands": ("left_hand", "right_hand"), "face": ("face",), "bones": ("body",),
              "flow": ("body",)}
    for m in ALL:
        assert n_params(net.cnn[m], net.classifier[f"cnn_{m}"]) == b0, m
        want = n_params(STGCN(60, region_graph(NTUX, graphs[m])))
        assert n_params(net.graph[m], net.classifier[f"graph_{m}"]) == want, m
    assert n_params(net.graph["body"], net.classifier["graph_body"]) == 3_098_982      # ST-GCN's ~3.1M on 25 joints
    assert n_params(net) == 5 * b0 + 3 * 3_098_982 + 3_133_356 + 3_158_574 == 36_010_916


def test_forward_is_the_sum_of_the_branch_scores():
    torch.manual_seed(0)
    net = DeepActsNet(4, NTUX, ("body", "face", "bones"), width=8, image_size=32).eval()
    x = {"body": torch.rand(3, 3, 16, 50) * 255, "face": torch.rand(3, 3, 16, 102) * 255,
         "bones": torch.rand(3, 3, 16, 48) * 255}
    parts = net.branch_logits(x)
    assert sorted(parts) == ["cnn_body", "cnn_bones", "cnn_face", "graph_body", "graph_bones", "graph_face"]
    torch.testing.assert_close(net(x), sum(parts.values()))
    with pytest.raises(ValueError, match="multiple of 2 persons"):
        net.branch_logits({**x, "body": x["body"][..., :49]})


def test_each_bone_sits_on_its_target_joint_and_points_away_from_the_centre():
    edges = body_edges(NTUX)
    body = region_graph(NTUX, ("body",))
    assert len(edges) == 24 and sorted(t for _, t in edges) == [v for v in range(25) if v != body.center]
    dist = root_distance(body)
    for s, t in edges:                                        # along an edge, from one hop nearer the centre
        assert (s, t) in body.edges or (t, s) in body.edges
        assert dist[s] == dist[t] - 1
    net = DeepActsNet(2, NTUX, ("bones",), width=8, image_size=32)
    s = torch.arange(2 * 3 * 4 * 48, dtype=torch.float32).reshape(2, 3, 4, 48)
    g = net._graph_input("bones", s)                          # (N, 3, T, 25, persons)
    assert g.shape == (2, 3, 4, 25, 2)
    assert (g[:, :, :, body.center] == -1).all()              # no bone: as a missing value (stamp 0)
    for p in range(2):
        for k, (_, t) in enumerate(edges):
            torch.testing.assert_close(g[:, :, :, t, p], s[:, :, :, p * 24 + k] / 127.5 - 1)


def test_hand_and_face_graphs_have_roots_without_the_body_centre():
    hands = region_graph(NTUX, ("left_hand", "right_hand"))
    roots = component_roots(hands)
    assert hands.num_joints == 42 and len(set(roots[:21])) == 1 and len(set(roots[21:])) == 1
    assert roots[0] != roots[21]
    face = region_graph(NTUX, ("face",))
    assert face.num_joints == 51 and 0 <= face.center < 51


def test_modalities_follow_the_layout_and_the_build(tmp_path):
    """Without a flow column the default leaves flow out and asking for it names the fix; regions (as `bench`
    sets them) keep the stamps whose joints they hold."""
    out = write_build(tmp_path / "fingers", n_train=8, n_val=4, T=8)
    data = load_data(out, small())
    assert data.modalities == ("body", "hands", "face", "bones")
    with pytest.raises(ExperimentError, match="no `flow` column.*flow: {enabled: true}"):
        load_data(out, small(modalities=("body", "flow")))
    assert load_data(out, small(regions=("body",))).modalities == ("body", "bones")
    assert load_data(out, small(regions=("body", "left_hand", "right_hand"))).modalities == ("body", "hands",
                                                                                               "bones")
    with pytest.raises(ExperimentError, match="none of"):
        load_data(out, small(regions=("body",), modalities=("face",)))


def test_options_are_checked_before_anything_loads(tmp_path):
    from pipeline.cli import app
    missing = tmp_path / "nothing-here"
    bad = [(["--model", "deepacts", "--stream", "motion"], "deepacts takes stamps"),
           (["--model", "stgcn", "--modalities", "body"], "deepacts options"),
           (["--model", "deepacts", "--modalities", "body,tail"], "train.modalities"),
           (["--model", "deepacts", "--prune"], "no hierarchical or pruning pass"),
           (["--model", "deepacts", "--stamp-size", "32"], "train.stamp_size")]
    for args, msg in bad:
        r = runner.invoke(app, ["train", str(missing), "--run", str(tmp_path / "x"), *args])
        assert r.exit_code == 2 and msg in r.output, (args, r.output)


def test_statistics_come_from_the_training_split_and_are_saved_with_the_run(cues, tmp_path):
    m = run_experiment(cues, small(epochs=1, modalities=("face", "flow")), tmp_path / "r")
    assert m["modalities"] == ["face", "flow"]
    assert json.loads((tmp_path / "r" / "run.json").read_text())["modalities"] == ["face", "flow"]
    saved = json.loads((tmp_path / "r" / "stamp_stats.json").read_text())
    train = StampDataset(cues, "ntu-x-118", ("face", "flow"), split="train", length=32).fit_stats()
    val = StampDataset(cues, "ntu-x-118", ("face", "flow"), split="val", length=32).fit_stats()
    assert saved == {"low": train.low, "high": train.high}
    assert saved != {"low": val.low, "high": val.high}
    by_workers = StampDataset(cues, "ntu-x-118", ("face", "flow"), split="train", length=32).fit_stats(num_workers=2)
    assert (by_workers.low, by_workers.high) == (train.low, train.high)
    assert np.isfinite(m["top1"])


def test_learns_flow_and_face_cues_that_body_joints_lack(cues, tmp_path):
    """SYNTHETIC (write_cue_build): two classes by a flow cue, two by a face cue, bodies alike. The body stamp
    alone stays near chance (0.25); all five stamps learn it."""
    body = run_experiment(cues, small(epochs=10, modalities=("body",)), tmp_path / "body")
    full = run_experiment(cues, small(epochs=10), tmp_path / "full")
    assert full["modalities"] == list(ALL)
    assert body["top1"] <= 0.45, body["top1"]
    assert full["top1"] >= 0.85, full["top1"]           # one cue alone can reach 0.5 at most


def test_bench_and_compare_with_deepacts(cues, tmp_path):
    """`skelforge bench --model deepacts`: each variant keeps the stamps its regions hold (body: body, bones,
    flow; then hands; then face), and `compare` reads the runs."""
    from pipeline.cli import app
    r = runner.invoke(app, ["bench", str(cues), "--model", "deepacts", "--width", "8", "--epochs", "1",
                            "--stamp-size", "64", "--device", "cpu", "--dest", str(tmp_path / "bench")])
    assert r.exit_code == 0, r.output
    mods = [json.loads((tmp_path / "bench" / v / "metrics.json").read_text())["modalities"]
            for v in ("body", "body+hands", "body+hands+face")]
    assert mods == [["body", "bones", "flow"], ["body", "hands", "bones", "flow"], list(ALL)]
    assert "body+hands vs body" in (tmp_path / "bench" / "compare.md").read_text()


def test_ddp_under_torchrun_on_cpu(cues, tmp_path):
    """Two processes (gloo) train DeepActsNet's dict-of-stamps batches; the epoch totals cover the split."""
    import os
    import subprocess
    import sys
    from pathlib import Path
    bindir = Path(sys.executable).parent
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    r = subprocess.run([str(bindir / "torchrun"), "--nproc_per_node", "2", "--master_port", "29543",
                        str(bindir / "skelforge"), "train", str(cues), "--run-dir", str(tmp_path / "ddp"),
                        "--model", "deepacts", "--modalities", "body,flow", "--width", "8", "--stamp-size", "64",
                        "--epochs", "1", "--device", "cpu", "--frames", "16", "--batch-size", "8"],
                       capture_output=True, text=True, env=env, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    assert json.loads((tmp_path / "ddp" / "run.json").read_text())["world_size"] == 2
    m = json.loads((tmp_path / "ddp" / "metrics.json").read_text())
    assert [h["train_samples"] for h in m["streams"]["joint"]["history"]] == [64]
    assert m["samples"] == 32 and m["modalities"] == ["body", "flow"]


def test_forward_and_backward_under_autocast():
    """AMP runs on CUDA only (none here); the same autocast code path on the CPU (bfloat16) must keep the
    stamps' dict input, the bone scatter and the summed scores working, with finite gradients."""
    torch.manual_seed(0)
    net = DeepActsNet(3, NTUX, ("body", "bones", "flow"), width=8, image_size=64)
    x = {"body": torch.rand(2, 3, 8, 50) * 255, "bones": torch.rand(2, 3, 8, 48) * 255,
         "flow": torch.rand(2, 3, 8, 50) * 255}
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = net(x)
        loss = torch.nn.functional.cross_entropy(out, torch.tensor([0, 2]))
    loss.backward()
    assert out.shape == (2, 3) and torch.isfinite(out.float()).all()
    assert all(torch.isfinite(p.grad).all() for p in net.parameters() if p.grad is not None)


def test_linear_probe_from_a_deepacts_run_changes_only_the_branch_classifiers(cues, tmp_path):
    """Every branch's last layer is under `classifier`, so --init-from / --freeze-backbone work as for the
    other models: the probe moves the ten linear layers and nothing else (BN statistics included)."""
    run_experiment(cues, small(epochs=1, modalities=("body", "flow")), tmp_path / "pre")
    m = run_experiment(cues, small(epochs=1, modalities=("body", "flow"), init_from=str(tmp_path / "pre"),
                                   freeze_backbone=True), tmp_path / "probe")
    assert m["streams"]["joint"]["init_from"]["frozen"]
    pre = torch.load(tmp_path / "pre" / "checkpoint.pt", weights_only=True)["model"]
    post = torch.load(tmp_path / "probe" / "checkpoint.pt", weights_only=True)["model"]
    heads = {k for k in pre if k.startswith("classifier.")}
    assert {k.split(".")[1] for k in heads} == {"cnn_body", "graph_body", "cnn_flow", "graph_flow"}
    for k, v in pre.items():
        assert torch.equal(v, post[k]) != (k in heads), k


def test_a_dag_train_stage_asking_for_stamps_the_build_cannot_give_fails_before_compute(tmp_path):
    from pipeline.build import BuildError
    from tests.conftest import VIDEOS, run_build, stage_videos
    videos = stage_videos(tmp_path / "v", VIDEOS / "misc/mpeg4_25fps_320x240.avi")
    train = {"enabled": True, "model": "deepacts", "layout": "coco-17"}
    with pytest.raises(BuildError, match=r"train.modalities \['flow'\] needs flow.enabled: true"):
        run_build(videos, tmp_path / "o", {"layouts": ["coco-17"], "train": {**train, "modalities": ["body", "flow"]}})
    with pytest.raises(BuildError, match=r"train.modalities \['hands'\]: coco-17 has"):
        run_build(videos, tmp_path / "o", {"layouts": ["coco-17"], "flow": {"enabled": True},
                                           "train": {**train, "modalities": ["hands"]}})
    assert not (tmp_path / "o" / "manifest.parquet").exists()


def test_a_stamp_the_layout_lacks_is_an_error_not_dropped():
    """Only `train.regions` narrows the asked-for stamps; one the whole layout lacks is named, never dropped."""
    from workers.action.experiment import stamp_modalities
    coco = get_layout("coco-17")
    with pytest.raises(ExperimentError, match=r"train.modalities: layout coco-17 has no joints for \['hands'\]"):
        stamp_modalities(small(layout="coco-17", modalities=("body", "hands")), coco, coco, has_flow=True)
    assert stamp_modalities(small(layout="coco-17"), coco, coco, has_flow=False) == ("body", "bones")
    assert stamp_modalities(small(layout="coco-17"), coco, coco, has_flow=True) == ("body", "bones", "flow")
