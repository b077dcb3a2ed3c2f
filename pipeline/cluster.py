"""Where a build's Dask workers come from (`skelforge build --cluster local|slurm`, or `--scheduler ADDRESS`).

- `local` (the default): a `distributed.SpecCluster` here (what LocalCluster makes, with per-worker specs) of
  `--workers` single-threaded worker processes plus `--gpus N` GPU workers: each has the Dask resource `GPU=1`
  and its own `CUDA_VISIBLE_DEVICES` (pipeline/gpu_workers.py; with GPU workers the others see no GPU).
- `slurm`: dask-jobqueue's `SLURMCluster`, configured from the config's `cluster:` section (schemas/config.py
  `ClusterConfig`): each job (`sbatch`) starts `cluster.processes` worker processes (default one per core, single
  threaded like the local ones) with the section's partition, account, walltime, cores, memory, GPUs
  (`--gres=gpu:N`; the job's first N workers are GPU workers, pinned like local ones by a nanny preload),
  extra directives, prologue and Python; `min_jobs == max_jobs` keeps that many jobs, else the cluster scales
  adaptively between them. `--workers` and `--gpus` are not used: the jobs decide the worker count.
- `--scheduler ADDRESS` makes no cluster (the client connects); it cannot be combined with `--cluster slurm` or
  `--gpus` (label an existing cluster's GPU workers with `dask worker --resources GPU=1`).

A made cluster's scheduler runs in the build's process with the runner's fault-isolation settings
(`SCHEDULER_SETTINGS`: a worker death fails its task at once so the runner counts retries; one task per worker
thread at a time), so clip retries, `run.clip_timeout` and the journal work the same on every cluster.

`check(kind, cfg, scheduler, gpus)` runs before any compute and raises `ConfigError` naming the flag or key to
fix; `make(kind, cfg, workers, dashboard_address, gpus)` returns the cluster; `expected_workers` says how many
workers a build should plan for (the runner keeps twice that many clips in flight); `has_gpu_workers` whether
the cluster will have GPU-labelled workers (the runner submits GPU groups with `resources=` only then). The
`cluster:` section and `--gpus` are execution only: never part of a cache key.
"""
from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from typing import Callable, Optional

from schemas.config import BuildConfig, ConfigError

from . import gpu_workers

SCHEDULER_SETTINGS = {"distributed.scheduler.allowed-failures": 0,
                      "distributed.scheduler.worker-saturation": 1.0}
JOB_NAME = "skelforge"


def local_specs(workers: int, gpus: int) -> dict:
    """The local cluster's worker specs: `cpu-i` (no GPU visible when there are GPU workers) and `gpu-i`."""
    import logging

    from distributed import Nanny
    from distributed.worker_memory import parse_memory_limit
    base = {"nthreads": 1, "host": "127.0.0.1", "dashboard": False, "silence_logs": 50,
            "memory_limit": parse_memory_limit("auto", 1, workers + gpus, logger=logging.getLogger(__name__))}
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    specs = {}
    for name, index in [*((f"cpu-{i}", gpus + i) for i in range(workers)), *((f"gpu-{i}", i) for i in range(gpus))]:
        env, resources = gpu_workers.worker_settings(index, gpus, visible)
        specs[name] = {"cls": Nanny, "options": {**base, **({"env": env, "resources": resources} if gpus else {})}}
    return specs


def _local(cfg: BuildConfig, workers: int, dashboard_address: str, gpus: int):
    from distributed import Scheduler, SpecCluster
    scheduler = {"cls": Scheduler, "options": {"host": "127.0.0.1", "dashboard": dashboard_address is not None,
                                               "dashboard_address": dashboard_address}}
    return SpecCluster(workers=local_specs(workers, gpus), scheduler=scheduler, silence_logs=50)


def slurm_kwargs(cfg: BuildConfig, dashboard_address: str) -> dict:
    """SLURMCluster's arguments for the `cluster:` section."""
    c = cfg.cluster
    processes = c.processes or c.cores
    gres = [f"--gres=gpu:{c.gpus}"] if c.gpus else []
    pin = [f"export {gpu_workers.ENV_GPUS}={c.gpus} {gpu_workers.ENV_WORKERS}={processes}"] if c.gpus else []
    preload = ["--preload-nanny", gpu_workers.__name__] if c.gpus else []
    return dict(cores=c.cores, processes=processes, memory=c.memory, walltime=c.walltime,
                queue=c.partition, account=c.account, job_extra_directives=[*c.job_extra_directives, *gres],
                job_script_prologue=[*c.job_script_prologue, *pin], worker_extra_args=preload, python=c.python,
                interface=c.interface, log_directory=str(c.log_directory) if c.log_directory else None,
                job_name=JOB_NAME, scheduler_options={"dashboard_address": dashboard_address}, silence_logs="error")


def _slurm(cfg: BuildConfig, workers: int, dashboard_address: str, gpus: int):
    from dask_jobqueue import SLURMCluster
    c = cfg.cluster
    cluster = SLURMCluster(**slurm_kwargs(cfg, dashboard_address))
    if c.min_jobs == c.max_jobs:
        cluster.scale(jobs=c.max_jobs)
    else:
        cluster.adapt(minimum_jobs=c.min_jobs, maximum_jobs=c.max_jobs)
    return cluster


def _check_local(cfg: BuildConfig, scheduler: Optional[str], gpus: int) -> None:
    if gpus and scheduler:
        raise ConfigError("--gpus starts GPU workers on a local cluster: leave it out with --scheduler (start the "
                          "existing cluster's GPU workers with `dask worker ... --resources GPU=1`)")
    try:
        gpu_workers.devices(gpus, os.environ.get("CUDA_VISIBLE_DEVICES"))
    except ValueError as e:
        raise ConfigError(f"--gpus {gpus}: {e}") from None


def _check_slurm(cfg: BuildConfig, scheduler: Optional[str], gpus: int) -> None:
    c = cfg.cluster
    if scheduler:
        raise ConfigError("--cluster slurm starts its own scheduler: leave out --scheduler (or --cluster)")
    if gpus:
        raise ConfigError("--gpus is for a local cluster: a SLURM job's GPUs are cluster.gpus")
    if cfg.cache.dir is None:
        raise ConfigError("cache.dir: a SLURM build needs the cache on a filesystem every node mounts; set "
                          "cache.dir to such a folder (the default, OUT/.cache, is only known to be on this one)")
    if c.interface is not None:
        import psutil
        have = sorted(psutil.net_if_addrs())
        if c.interface not in have:
            raise ConfigError(f"cluster.interface: no network interface {c.interface!r} on this machine "
                              f"(it has {', '.join(have)})")
    try:
        import dask_jobqueue  # noqa: F401
    except ImportError:
        raise ConfigError("--cluster slurm needs dask-jobqueue (pip install -c constraints.txt dask-jobqueue)") \
            from None
    if shutil.which("sbatch") is None:
        raise ConfigError("--cluster slurm: sbatch is not on PATH (run the build where jobs can be submitted)")


@dataclass(frozen=True)
class Backend:
    make: Callable            # (cfg, workers, dashboard_address, gpus) -> a distributed Cluster
    check: Callable           # (cfg, scheduler, gpus) -> None, or ConfigError
    workers: Callable         # (cfg, workers, gpus) -> how many workers the cluster will have at most
    gpus: Callable            # (cfg, gpus) -> whether some of its workers have the GPU resource


BACKENDS: dict[str, Backend] = {
    "local": Backend(_local, _check_local, lambda cfg, workers, gpus: workers + gpus, lambda cfg, gpus: gpus > 0),
    "slurm": Backend(_slurm, _check_slurm,
                     lambda cfg, workers, gpus: cfg.cluster.max_jobs * (cfg.cluster.processes or cfg.cluster.cores),
                     lambda cfg, gpus: cfg.cluster.gpus > 0),
}


def check(kind: str, cfg: BuildConfig, scheduler: Optional[str], gpus: int = 0) -> None:
    if kind not in BACKENDS:
        raise ConfigError(f"--cluster {kind!r}: choose one of {', '.join(BACKENDS)}")
    BACKENDS[kind].check(cfg, scheduler, gpus)


def make(kind: str, cfg: BuildConfig, workers: int, dashboard_address: str, gpus: int = 0):
    import dask
    with dask.config.set(SCHEDULER_SETTINGS):
        return BACKENDS[kind].make(cfg, workers, dashboard_address, gpus)


def expected_workers(kind: str, cfg: BuildConfig, workers: int, gpus: int = 0) -> int:
    return BACKENDS[kind].workers(cfg, workers, gpus)


def has_gpu_workers(kind: str, cfg: BuildConfig, gpus: int = 0) -> bool:
    return BACKENDS[kind].gpus(cfg, gpus)
