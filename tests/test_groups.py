"""Stage groups with resources (issue 14, item 2): a clip runs as group tasks (`sense` = probe..pose, `fit` =
refine..convert) that pass cache keys only; a group whose stages' devices are cuda is submitted with
`resources={"GPU": 1}` and runs only on GPU-labelled workers; `--gpus N` pins each GPU worker to its own
`CUDA_VISIBLE_DEVICES`; SLURM jobs do the same through a nanny preload.

On CPU, with resource labels: real Dask clusters (pipeline/cluster.py's), real sample clips, real rtmlib +
onnxruntime asked for the CUDA provider (it falls back to the CPU here; the pose stage's resource request is
what the test is about). Where each task ran is Dask's record, taken on the scheduler by tests/task_placement.py;
the environment of a worker is read inside the worker process. The RTMPose model is a synthetic ONNX file with
the real I/O signature (tests/onnx_models.py): no weights can be had offline."""
from __future__ import annotations

import os
import subprocess

import pytest
from typer.testing import CliRunner

import dagfile
from pipeline.cli import app, set_dag
from tests import task_placement
from tests.conftest import ROOT, VIDEOS, run_build, stage_videos, write_config
from tests.onnx_models import simcc_model
from tests.test_reliability import FAST, rows, shard_bytes, stage_clips

set_dag(dagfile.DAG)


@pytest.fixture(scope="module")
def cuda_config(tmp_path_factory) -> dict:
    """Holistic + RTMPose (synthetic model, constant output) for the body, RTMPose on `device: cuda`."""
    onnx = simcc_model(tmp_path_factory.mktemp("w") / "rtmpose_peak.onnx", 17, 192, 256, peak=(96, 384))
    return {**FAST, "experts": {"body": ["holistic", "rtmpose"]},
            "expert_settings": {"rtmpose": {"onnx": str(onnx), "device": "cuda"}}}


def _cache_entries(cache) -> set[str]:
    return {p.relative_to(cache).as_posix() for p in cache.rglob("*.npz")}


def _without_timings(out) -> dict:
    return {c: {k: v for k, v in r.items() if not k.endswith("_seconds")} for c, r in rows(out).items()}


def test_gpu_group_runs_only_on_gpu_workers_and_equals_a_plain_build(tmp_path, samples, cuda_config):
    import dask
    videos = stage_clips(tmp_path / "videos")
    plain, grouped = tmp_path / "plain", tmp_path / "grouped"
    p = run_build(videos, plain, cuda_config)                              # in-process: groups back to back
    task_placement.RECORDS.clear()
    with dask.config.set({"distributed.scheduler.preload": ["tests.task_placement"]}):
        r = run_build(videos, grouped, cuda_config, workers=1, gpus=1)     # cpu-0 + gpu-0
    assert r["counts"] == p["counts"] and r["counts"]["failed"] == 0 and r["computed"] == p["computed"]
    g, q = _without_timings(grouped), _without_timings(plain)               # same rows, same stage keys
    assert g.keys() == q.keys()
    assert {c: {k: (g[c].get(k), q[c].get(k)) for k in g[c].keys() | q[c].keys() if g[c].get(k) != q[c].get(k)}
            for c in g} == {c: {} for c in g}
    assert shard_bytes(grouped) and shard_bytes(grouped) == shard_bytes(plain)
    assert _cache_entries(grouped / ".cache") == _cache_entries(plain / ".cache")
    by_group = {g: [x for x in task_placement.RECORDS if f"-{g}-" in x["key"]] for g in ("sense", "fit")}
    ok = sum(s == "ok" for s in (x["status"] for x in rows(grouped).values()))
    assert len(by_group["sense"]) == 3 and len(by_group["fit"]) == ok >= 2
    for x in by_group["sense"]:
        assert x["restrictions"] == {"GPU": 1} and x["worker"] == "gpu-0" and x["worker_resources"] == {"GPU": 1}
    assert all(x["restrictions"] == {} for x in by_group["fit"])           # CPU group: any worker


def test_without_gpu_workers_the_request_is_dropped_not_hung(tmp_path, samples, cuda_config):
    """No worker has a GPU resource: the sense group is submitted without it (else it would wait forever)."""
    import dask
    videos = stage_videos(tmp_path / "videos", VIDEOS / "kinetics" / "tai_chi" / "ta_chi.mp4")
    task_placement.RECORDS.clear()
    with dask.config.set({"distributed.scheduler.preload": ["tests.task_placement"]}):
        r = run_build(videos, tmp_path / "out", cuda_config, workers=1)
    assert r["counts"]["failed"] == 0
    assert [x["restrictions"] for x in task_placement.RECORDS if "-sense-" in x["key"]] == [{}]


def test_existing_cluster_with_gpu_labelled_workers_gets_the_gpu_group(tmp_path, samples, cuda_config):
    """`--scheduler ADDRESS`: the build finds a worker labelled GPU=1 on the cluster and sends `sense` there."""
    import dask

    from pipeline.cluster import make
    from schemas.config import BuildConfig
    videos = stage_videos(tmp_path / "videos", VIDEOS / "kinetics" / "tai_chi" / "ta_chi.mp4")
    task_placement.RECORDS.clear()
    with dask.config.set({"distributed.scheduler.preload": ["tests.task_placement"]}):
        cluster = make("local", BuildConfig(), 1, "127.0.0.1:0", gpus=1)
    try:
        r = run_build(videos, tmp_path / "out", cuda_config, scheduler=cluster.scheduler_address)
    finally:
        cluster.close()
    assert r["counts"]["failed"] == 0
    assert [(x["worker"], x["restrictions"]) for x in task_placement.RECORDS if "-sense-" in x["key"]] == \
        [("gpu-0", {"GPU": 1})]


def test_gpus_pins_each_gpu_worker_to_its_own_device(monkeypatch):
    """`--gpus 2` with CUDA_VISIBLE_DEVICES=3,5 here: gpu-0 sees 3, gpu-1 sees 5, the CPU worker none (read
    inside each worker process); only the GPU workers have the GPU resource."""
    from distributed import Client

    from pipeline.cluster import make
    from schemas.config import BuildConfig
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "3,5")
    cluster = make("local", BuildConfig(), 1, "127.0.0.1:0", gpus=2)
    try:
        with Client(cluster) as client:
            seen = client.run(lambda: os.environ.get("CUDA_VISIBLE_DEVICES"))
            info = client.scheduler_info()["workers"]
        got = {info[a]["name"]: (seen[a], info[a]["resources"]) for a in seen}
    finally:
        cluster.close()
    assert got == {"gpu-0": ("3", {"GPU": 1}), "gpu-1": ("5", {"GPU": 1}), "cpu-0": ("", {})}


def test_slurm_job_script_makes_pinned_gpu_workers(tmp_path):
    """The job script dask-jobqueue renders for `cluster.gpus: 2, processes: 3`, run by bash as sbatch would
    run it on a node whose allocation is CUDA_VISIBLE_DEVICES=4,6: the job's first two workers are GPU workers
    pinned to 4 and 6, the third sees no GPU (read inside the workers). No SLURM involved: just the script."""
    from dask_jobqueue import SLURMCluster
    from distributed import Client

    from pipeline.cluster import slurm_kwargs
    from schemas.config import BuildConfig
    cfg = BuildConfig.model_validate({"cluster": {"cores": 3, "processes": 3, "gpus": 2, "interface": "lo",
                                                  "memory": "3GiB", "log_directory": str(tmp_path)}})
    cluster = SLURMCluster(**slurm_kwargs(cfg, "127.0.0.1:0"))
    script = tmp_path / "job.sh"
    script.write_text(cluster.job_script())
    assert "#SBATCH --gres=gpu:2" in script.read_text()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "CUDA_VISIBLE_DEVICES": "4,6"}
    job = subprocess.Popen(["bash", str(script)], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
    try:
        with Client(cluster) as client:
            client.wait_for_workers(3, timeout=120)
            seen = client.run(lambda: os.environ.get("CUDA_VISIBLE_DEVICES"))
            info = client.scheduler_info()["workers"]
            got = {info[a]["name"]: (seen[a], info[a]["resources"]) for a in seen}
            client.retire_workers(list(seen))
    finally:
        job.terminate()
        job.wait(timeout=60)
        cluster.close()
    assert sorted(got.values(), key=str) == sorted([("4", {"GPU": 1}), ("6", {"GPU": 1}), ("", {})], key=str)
    assert {n.rsplit("-", 1)[1]: v[0] for n, v in got.items()} == {"0": "4", "1": "6", "2": ""}


def test_missing_input_between_groups_is_a_failed_row_not_cached(tmp_path, samples):
    """The fit group's task finds the pose result the sense group stored gone (a cache not shared by every
    worker, or removed in between): a failed row naming it, not final, so a re-run computes it again."""
    from pipeline.adapters import discover
    from pipeline.cache import Store
    from pipeline.video_task import run_groups
    from schemas.config import BuildConfig
    videos = stage_videos(tmp_path / "videos", VIDEOS / "kinetics" / "tai_chi" / "ta_chi.mp4")
    cfg = BuildConfig.model_validate(FAST)
    dag, plan = dagfile.DAG, dagfile.DAG.plan()
    _, items = discover(videos, cfg)
    item = items[0]
    cache, scratch = tmp_path / "cache", tmp_path / "scratch"
    first = run_groups(item, cfg, dag, plan, str(cache), str(scratch), ["sense"])
    assert first["row"]["status"] == "ok" and first["final"]
    assert set(first["stages"]) == set(dag.group("sense").stages)
    Store(cache).path("pose", first["stages"]["pose"]["key"]).unlink()
    second = run_groups(item, cfg, dag, plan, str(cache), str(scratch), ["fit"], prior=first)
    row = second["row"]
    assert row["status"] == "failed" and row["stage"] == "refine" and "pose" in row["reason"]
    assert second["failure_kind"] == "refine:input-not-cached" and not second["final"]
    assert not Store(cache).has("refine", second["stages"]["refine"]["key"])
    assert first["row"]["status"] == "ok"                                  # the prior result is not modified


@pytest.mark.parametrize("flags, env, says", [
    (["--gpus", "1", "--scheduler", "tcp://127.0.0.1:1"], {}, "--gpus"),
    (["--gpus", "1", "--cluster", "slurm"], {}, "cluster.gpus"),
    (["--gpus", "2"], {"CUDA_VISIBLE_DEVICES": "0"}, "--gpus 2"),
])
def test_bad_gpu_launch_exits_2_before_compute(tmp_path, monkeypatch, flags, env, says):
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    videos = stage_clips(tmp_path / "videos")
    cfg = write_config(tmp_path / "c.yaml", {**FAST, "cache": {"dir": str(tmp_path / "c")}})
    res = CliRunner().invoke(app, ["build", "--videos", str(videos), "--out", str(tmp_path / "out"),
                                   "--config", str(cfg), *flags])
    assert res.exit_code == 2, res.output
    assert says in res.output, res.output
    assert not (tmp_path / "out" / "manifest.parquet").exists()


def test_group_resources_follow_the_config_and_the_plan():
    from schemas.config import BuildConfig
    dag = dagfile.DAG
    plain = BuildConfig()
    cuda = BuildConfig.model_validate({"experts": {"body": ["rtmw"]},
                                       "expert_settings": {"rtmw": {"device": "cuda:1"}}})
    assert [g.name for g in dag.groups] == ["sense", "fit"]
    assert dag.group_resources(["sense"], plain, dag.plan()) == {}
    assert dag.group_resources(["sense"], cuda, dag.plan()) == {"GPU": 1}
    assert dag.group_resources(["fit"], cuda, dag.plan()) == {}
    assert dag.group_resources(["sense"], cuda, dag.plan(only="refine")) == {}   # sense only loads: no GPU
    yolox = BuildConfig.model_validate({"detect": {"detector": "yolox", "weights": "w.onnx", "device": "cuda"}})
    assert dag.group_resources(["sense"], yolox, dag.plan()) == {"GPU": 1}
    assert dag.group_resources(["sense"], BuildConfig.model_validate({"detect": {"device": "cuda"}}),
                               dag.plan()) == {}                                 # BlazePose runs on the CPU


def test_groups_must_split_the_video_stages_in_order():
    from pipeline.dag import Dag
    edges = [(n.stage, list(n.needs)) for n in dagfile.DAG.nodes.values()]
    with pytest.raises(ValueError, match="consecutive"):
        Dag(edges, [("a", ["probe", "detect", "frames", "pose"]), ("b", [g for g in dagfile.DAG.group("fit").stages])])
    with pytest.raises(ValueError, match="consecutive"):
        Dag(edges, [("a", ["probe", "frames", "detect", "pose"])])
