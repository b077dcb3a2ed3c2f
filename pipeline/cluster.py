"""Where a build's Dask workers come from (`skelforge build --cluster local|slurm`, or `--scheduler ADDRESS`).

- `local` (the default): a `distributed.LocalCluster` of `--workers` single-threaded worker processes here.
- `slurm`: dask-jobqueue's `SLURMCluster`, configured from the config's `cluster:` section (schemas/config.py
  `ClusterConfig`): each job (`sbatch`) starts `cluster.processes` worker processes (default one per core, single
  threaded like the local ones) with the section's partition, account, walltime, cores, memory, GPUs
  (`--gres=gpu:N`), extra directives, prologue and Python; `min_jobs == max_jobs` keeps that many jobs, else the
  cluster scales adaptively between them. `--workers` is not used: the jobs decide the worker count.
- `--scheduler ADDRESS` makes no cluster (the client connects); it cannot be combined with `--cluster slurm`.

A made cluster's scheduler runs in the build's process with the runner's fault-isolation settings
(`SCHEDULER_SETTINGS`: a worker death fails its task at once so the runner counts retries; one task per worker
thread at a time), so clip retries, `run.clip_timeout` and the journal work the same on every cluster.

`check(kind, cfg, scheduler)` runs before any compute and raises `ConfigError` naming the flag or key to fix;
`make(kind, cfg, workers, dashboard_address)` returns the cluster; `expected_workers` says how many workers a
build should plan for (the runner keeps twice that many clip tasks in flight). The `cluster:` section is execution
only: it is marked EXECUTION in BuildConfig and never enters a cache key.
"""
from __future__ import annotations

import shutil
from dataclasses import dataclass
from typing import Callable, Optional

from schemas.config import BuildConfig, ConfigError

SCHEDULER_SETTINGS = {"distributed.scheduler.allowed-failures": 0,
                      "distributed.scheduler.worker-saturation": 1.0}
JOB_NAME = "skelforge"


def _local(cfg: BuildConfig, workers: int, dashboard_address: str):
    from distributed import LocalCluster
    return LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                        dashboard_address=dashboard_address, host="127.0.0.1", silence_logs=50)


def slurm_kwargs(cfg: BuildConfig, dashboard_address: str) -> dict:
    """SLURMCluster's arguments for the `cluster:` section."""
    c = cfg.cluster
    gres = [f"--gres=gpu:{c.gpus}"] if c.gpus else []
    return dict(cores=c.cores, processes=c.processes or c.cores, memory=c.memory, walltime=c.walltime,
                queue=c.partition, account=c.account, job_extra_directives=[*c.job_extra_directives, *gres],
                job_script_prologue=list(c.job_script_prologue), python=c.python, interface=c.interface,
                log_directory=str(c.log_directory) if c.log_directory else None, job_name=JOB_NAME,
                scheduler_options={"dashboard_address": dashboard_address}, silence_logs="error")


def _slurm(cfg: BuildConfig, workers: int, dashboard_address: str):
    from dask_jobqueue import SLURMCluster
    c = cfg.cluster
    cluster = SLURMCluster(**slurm_kwargs(cfg, dashboard_address))
    if c.min_jobs == c.max_jobs:
        cluster.scale(jobs=c.max_jobs)
    else:
        cluster.adapt(minimum_jobs=c.min_jobs, maximum_jobs=c.max_jobs)
    return cluster


def _check_local(cfg: BuildConfig, scheduler: Optional[str]) -> None:
    pass                                      # LocalCluster takes --workers, already checked by the CLI


def _check_slurm(cfg: BuildConfig, scheduler: Optional[str]) -> None:
    c = cfg.cluster
    if scheduler:
        raise ConfigError("--cluster slurm starts its own scheduler: leave out --scheduler (or --cluster)")
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
    make: Callable            # (cfg, workers, dashboard_address) -> a distributed Cluster
    check: Callable           # (cfg, scheduler) -> None, or ConfigError
    workers: Callable         # (cfg, workers) -> how many workers the cluster will have at most


BACKENDS: dict[str, Backend] = {
    "local": Backend(_local, _check_local, lambda cfg, workers: workers),
    "slurm": Backend(_slurm, _check_slurm,
                     lambda cfg, workers: cfg.cluster.max_jobs * (cfg.cluster.processes or cfg.cluster.cores)),
}


def check(kind: str, cfg: BuildConfig, scheduler: Optional[str]) -> None:
    if kind not in BACKENDS:
        raise ConfigError(f"--cluster {kind!r}: choose one of {', '.join(BACKENDS)}")
    BACKENDS[kind].check(cfg, scheduler)


def make(kind: str, cfg: BuildConfig, workers: int, dashboard_address: str):
    import dask
    with dask.config.set(SCHEDULER_SETTINGS):
        return BACKENDS[kind].make(cfg, workers, dashboard_address)


def expected_workers(kind: str, cfg: BuildConfig, workers: int) -> int:
    return BACKENDS[kind].workers(cfg, workers)
