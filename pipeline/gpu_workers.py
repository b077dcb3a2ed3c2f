"""Which Dask worker processes are GPU workers, and the one GPU each may use (Dask resources, no dask-cuda).

A GPU worker has the Dask resource `GPU=1` (so tasks submitted with `resources={"GPU": 1}` run only there, one at
a time) and sees exactly one device through `CUDA_VISIBLE_DEVICES`: the i-th of the devices this machine's
process sees (the CUDA_VISIBLE_DEVICES it inherited, e.g. a SLURM job's allocation; 0..N-1 when unset). Every
other worker of a machine with GPU workers sees none (`CUDA_VISIBLE_DEVICES=""`), so a CPU stage whose device
is `auto` never lands on a GPU. The same rule serves both clusters pipeline/cluster.py makes:
- local (`--gpus N`): the cluster's worker specs carry the env and resources;
- SLURM (`cluster.gpus`): each job's `dask worker --nworkers P` command loads this module as a nanny preload
  (`--preload-nanny pipeline.gpu_workers`); before its worker process starts, the nanny of in-job worker i
  (from its name, `<job>-<i>`) applies the rule with the job's GPU and worker counts, which the job script
  exports as SKELFORGE_JOB_GPUS and SKELFORGE_JOB_WORKERS.
"""
from __future__ import annotations

import os
from typing import Optional

ENV_GPUS = "SKELFORGE_JOB_GPUS"
ENV_WORKERS = "SKELFORGE_JOB_WORKERS"


def devices(n: int, visible: Optional[str]) -> list[str]:
    """The device each of `n` GPU workers is pinned to; ValueError when fewer than `n` are visible."""
    if visible is None:
        return [str(i) for i in range(n)]
    have = [d.strip() for d in visible.split(",") if d.strip()]
    if len(have) < n:
        raise ValueError(f"{n} GPU worker(s) asked for, but CUDA_VISIBLE_DEVICES={visible!r} lists {len(have)}")
    return have[:n]


def worker_settings(index: int, n_gpus: int, visible: Optional[str]) -> tuple[dict, dict]:
    """(environment, Dask resources) of worker `index` on a machine with `n_gpus` GPU workers (the first ones)."""
    if index < n_gpus:
        return {"CUDA_VISIBLE_DEVICES": devices(n_gpus, visible)[index]}, {"GPU": 1}
    return {"CUDA_VISIBLE_DEVICES": ""}, {}


def dask_setup(nanny) -> None:
    """Nanny preload (SLURM jobs): pin this nanny's worker process before it is spawned."""
    n_gpus = int(os.environ.get(ENV_GPUS, "0"))
    if not n_gpus:
        return
    per_job = int(os.environ.get(ENV_WORKERS, "1"))
    index = int(str(nanny.name).rsplit("-", 1)[1]) if per_job > 1 else 0
    env, resources = worker_settings(index, n_gpus, os.environ.get("CUDA_VISIBLE_DEVICES"))
    nanny.env.update(env)
    nanny.resources = {**(nanny.resources or {}), **resources}
