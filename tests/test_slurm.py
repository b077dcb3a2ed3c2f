"""`skelforge build --cluster slurm` (issue 14, item 1) on a real single-node SLURM.

The SLURM test starts munged, slurmctld and slurmd with scripts/slurm_single_node.py (Debian's packages; `make
test` installs them via `make slurm`), builds two real sample clips with `--cluster slurm --workers 0` (so no
local worker exists: every clip runs in a dask-jobqueue SLURM job), and checks the manifest and the shard bytes
equal an in-process local build's, each build with a cache of its own. The daemons are stopped whatever happens.
It is skipped only where the daemons cannot be started at all (not root, or the packages are not installed).

The other tests need no SLURM: bad `cluster:` values and bad flag combinations exit 2 naming the key before any
compute; the `cluster:` section never enters a cache key; the section maps onto the job script dask-jobqueue
writes (the real SLURMCluster, nothing submitted).
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from typer.testing import CliRunner

import dagfile
from pipeline.cli import app, set_dag
from tests.conftest import ROOT, VIDEOS, run_build, write_config
from tests.test_reliability import shard_bytes, statuses

set_dag(dagfile.DAG)
HELPER = ROOT / "scripts" / "slurm_single_node.py"
# two short real clips (16 output frames), one layout: the test is about where the clips run
FAST = {"frames": {"max_frames": 16}, "filter": {"min_frames": 5}, "layouts": ["coco-17"]}
CLIPS = {"a/one.mp4": VIDEOS / "kinetics" / "tai_chi" / "ta_chi.mp4",
         "b/two.mp4": VIDEOS / "kinetics" / "clean_and_jerk" / "clean_and_jerk.mp4"}
CLI = "import sys, dagfile; from pipeline.cli import app, set_dag; set_dag(dagfile.DAG); app(sys.argv[1:])"


def _cannot_start() -> str | None:
    if os.geteuid() != 0:
        return "a single-node SLURM needs root (slurmd, and munged as the munge user)"
    missing = [x for x in ("munged", "mungekey", "slurmctld", "slurmd", "sbatch", "runuser")
               if not shutil.which(x) and not Path("/usr/sbin", x).exists()]
    if missing:
        return f"not installed: {', '.join(missing)} (`make slurm`: Debian's munge slurmctld slurmd slurm-client)"
    return None


@pytest.fixture(scope="module")
def slurm():
    """A running single-node SLURM; yields the environment (SLURM_CONF) for processes that submit jobs."""
    reason = _cannot_start()
    if reason:
        pytest.skip(reason)
    root = Path(tempfile.mkdtemp(prefix="skelforge-slurm-"))       # under /tmp: reachable by the munge user
    root.chmod(0o755)
    try:
        r = subprocess.run([sys.executable, str(HELPER), "start", str(root)], capture_output=True, text=True,
                           timeout=120)
        assert r.returncode == 0, f"SLURM did not start: {r.stderr}"
        yield {**os.environ, "SLURM_CONF": str(root / "slurm.conf"), "PYTHONPATH": str(ROOT)}
    finally:
        subprocess.run([sys.executable, str(HELPER), "stop", str(root)], timeout=120)
        shutil.rmtree(root, ignore_errors=True)


def _stage(dest: Path) -> Path:
    for name, src in CLIPS.items():
        (dest / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(src, dest / name)
    return dest


@pytest.mark.slow
def test_slurm_build_equals_local_build(slurm, tmp_path, samples):
    videos = _stage(tmp_path / "videos")
    local = tmp_path / "local"
    run_build(videos, local, FAST)                                     # in-process, its own cache (OUT/.cache)
    # tmp_path is under a root-only folder: the jobs run as root, so they reach it; munge is not involved there
    logs = tmp_path / "joblogs"
    cluster = {"interface": "lo", "cores": 1, "memory": "2GiB", "walltime": "00:15:00", "min_jobs": 2,
               "max_jobs": 2, "log_directory": str(logs), "start_timeout": 120}
    cfg = write_config(tmp_path / "slurm.yaml", {**FAST, "cache": {"dir": str(tmp_path / "slurm-cache")},
                                                 "cluster": cluster})
    out = tmp_path / "slurm"
    r = subprocess.run([sys.executable, "-c", CLI, "build", "--videos", str(videos), "--out", str(out),
                        "--config", str(cfg), "--cluster", "slurm", "--workers", "0"],
                       cwd=ROOT, env=slurm, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr
    record = json.loads((out / "build.json").read_text())
    assert record["cluster"] == "slurm" and record["counts"] == {"ok": 2, "filtered": 0, "failed": 0}
    assert record["computed"]["convert"] == 2                          # computed on the jobs, not reused
    assert statuses(out) == statuses(local) == {"a/one": "ok", "b/two": "ok"}
    assert shard_bytes(out) and shard_bytes(out) == shard_bytes(local)
    assert record["dataset_stages"]["shards"]["where"] == "dask workers"   # the shard files too, in the jobs
    # the workers were SLURM jobs registered with this build's scheduler (their logs are the jobs' stderr)
    job_logs = sorted(logs.glob("skelforge-*.err"))
    assert len(job_logs) == 2, job_logs
    assert all("Registered to:" in p.read_text() for p in job_logs)
    q = subprocess.run(["squeue", "-h", "-n", "skelforge"], env=slurm, capture_output=True, text=True)
    assert q.returncode == 0 and not q.stdout.strip(), f"jobs left behind: {q.stdout}"   # closed with the build


@pytest.mark.slow
def test_made_slurm_cluster_has_the_runners_fault_settings(slurm, tmp_path, monkeypatch):
    """pipeline.cluster.make: the scheduler fails a task at once when its worker dies (the runner counts the
    retries), and the workers are processes of SLURM jobs."""
    from distributed import Client

    from pipeline.cluster import make
    from schemas.config import BuildConfig
    monkeypatch.setenv("SLURM_CONF", slurm["SLURM_CONF"])
    cfg = BuildConfig.model_validate({"cluster": {"interface": "lo", "memory": "1GiB", "walltime": "00:05:00",
                                                  "log_directory": str(tmp_path / "logs")}})
    cluster = make("slurm", cfg, 0, "127.0.0.1:0")
    try:
        assert cluster.scheduler.allowed_failures == 0
        with Client(cluster) as client:
            client.wait_for_workers(1, timeout=120)
            job_ids = set(client.run(lambda: os.environ.get("SLURM_JOB_ID")).values())   # read on the worker
        assert len(job_ids) == 1 and None not in job_ids
    finally:
        cluster.close()


def _build(tmp_path: Path, config: dict, *flags: str):
    cfg = write_config(tmp_path / "c.yaml", {**FAST, **config})
    videos = tmp_path / "videos"
    if not videos.exists():
        _stage(videos)
    return CliRunner().invoke(app, ["build", "--videos", str(videos), "--out", str(tmp_path / "out"),
                                    "--config", str(cfg), *flags])


@pytest.mark.parametrize("cluster, key", [
    ({"walltime": "2 hours"}, "cluster.walltime"),
    ({"memory": "lots"}, "cluster.memory"),
    ({"cores": 0}, "cluster.cores"),
    ({"gpus": -1}, "cluster.gpus"),
    ({"job_extra_directives": ["#SBATCH --exclusive"]}, "cluster.job_extra_directives"),
    ({"job_script_prologue": ["module load x\nrm -rf /"]}, "cluster.job_script_prologue"),
    ({"min_jobs": 3, "max_jobs": 2}, "cluster.min_jobs"),
    ({"cores": 4, "processes": 3}, "cluster.processes"),
    ({"gpus": 1, "job_extra_directives": ["--gres=gpu:2"]}, "cluster.gpus"),
    ({"cores": 4, "processes": 2, "gpus": 3}, "cluster.gpus"),           # a GPU worker process per GPU
    ({"partition": "gpu a100"}, "cluster.partition"),
    ({"queue": "gpu"}, "cluster.queue"),                              # unknown key
])
def test_bad_cluster_values_exit_2_naming_the_key(tmp_path, cluster, key):
    res = _build(tmp_path, {"cluster": cluster})
    assert res.exit_code == 2, res.output
    assert key in res.output, res.output
    assert not (tmp_path / "out" / "manifest.parquet").exists()


@pytest.mark.parametrize("config, flags, says", [
    ({}, ["--cluster", "pbs"], "--cluster 'pbs'"),
    ({}, ["--cluster", "slurm"], "cache.dir"),
    ({"cache": {"dir": "c"}}, ["--cluster", "slurm", "--scheduler", "tcp://127.0.0.1:1"], "--scheduler"),
    ({"cache": {"dir": "c"}, "cluster": {"interface": "nosuch0"}}, ["--cluster", "slurm"], "cluster.interface"),
])
def test_bad_cluster_launch_exits_2_before_compute(tmp_path, config, flags, says):
    res = _build(tmp_path, config, *flags)
    assert res.exit_code == 2, res.output
    assert says in res.output, res.output
    assert not (tmp_path / "out" / "manifest.parquet").exists() and not (tmp_path / "out" / ".journal").exists()


def test_cluster_section_is_not_in_cache_keys():
    from pipeline.keys import clip_keys
    from schemas.config import BuildConfig
    plain = BuildConfig()
    moved = BuildConfig.model_validate({"cluster": {"partition": "gpu", "gpus": 2, "cores": 8, "memory": "64GB",
                                                    "walltime": "1-00:00:00", "max_jobs": 10, "interface": "ib0",
                                                    "job_script_prologue": ["module load cuda"]}})
    assert clip_keys(dagfile.DAG, plain, "d" * 64) == clip_keys(dagfile.DAG, moved, "d" * 64)
    assert "cluster" not in moved._key_tree


def test_cluster_section_maps_onto_the_sbatch_script():
    """The real dask-jobqueue SLURMCluster renders the job script from the section (nothing is submitted)."""
    from dask_jobqueue import SLURMCluster

    from pipeline.cluster import slurm_kwargs
    from schemas.config import BuildConfig
    cfg = BuildConfig.model_validate({"cluster": {
        "partition": "gpu", "account": "proj42", "walltime": "02:30:00", "cores": 8, "processes": 2,
        "memory": "32GiB", "gpus": 2, "job_extra_directives": ["--constraint=a100"],
        "job_script_prologue": ["module load cuda/12.4", "source /shared/venv/bin/activate"],
        "python": "/shared/venv/bin/python"}})
    cluster = SLURMCluster(**slurm_kwargs(cfg, "127.0.0.1:0"))
    try:
        script = cluster.job_script()
    finally:
        cluster.close()
    lines = script.splitlines()
    for want in ("#SBATCH -p gpu", "#SBATCH -A proj42", "#SBATCH -t 02:30:00", "#SBATCH --cpus-per-task=8",
                 "#SBATCH --mem=32G", "#SBATCH --gres=gpu:2", "#SBATCH --constraint=a100", "module load cuda/12.4",
                 "source /shared/venv/bin/activate"):
        assert want in lines, script
    worker = next(line for line in lines if "distributed.cli.dask_worker" in line)
    assert worker.startswith("/shared/venv/bin/python") and "--nworkers 2" in worker and "--nthreads 4" in worker
    assert lines.index("module load cuda/12.4") < lines.index(worker)
    # GPU workers: the job's first 2 workers, pinned by a nanny preload (run for real in tests/test_groups.py)
    assert "--preload-nanny pipeline.gpu_workers" in worker
    assert lines.index("export SKELFORGE_JOB_GPUS=2 SKELFORGE_JOB_WORKERS=2") < lines.index(worker)
