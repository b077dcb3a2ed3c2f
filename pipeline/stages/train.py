"""train — the training/benchmark hand-off: train the configured action model on the shards just written.

inputs:    OUT/shards (their key in OUT/shards/_state.json), OUT/classes.json
outputs:   OUT/runs/<train.run>/ (run.json, metrics.json, scores.npz, curves.png, per_class.png, checkpoints)
params:    train.* (runs only when train.enabled is true)
resources: {"GPU": 1} unless train.device is cpu: when the Dask cluster (--scheduler) has workers with a `GPU`
           resource (start them with `dask worker ... --resources GPU=1`) the run is submitted there with those
           resources; otherwise this process, on CUDA when present (train.device: auto)
cache:     key = code version + train.* + the shards' key: unchanged -> the finished run is kept; a run
           interrupted half-way resumes from its checkpoint
"""
from __future__ import annotations

import json
from pathlib import Path

from ..cache import atomic_write_bytes, make_key
from ..dag import GPU, Stage


def run(dctx, results: list[dict]) -> dict:
    tc = dctx.cfg.train
    if not tc.enabled:
        return {"cached": True, "disabled": True}
    out = Path(dctx.out)
    try:
        shards_key = json.loads((out / "shards" / "_state.json").read_text())["key"]
    except (FileNotFoundError, KeyError, ValueError):
        return {"cached": False, "status": "failed", "reason": "no shards to train on"}
    key = make_key(STAGE.name, STAGE.code, dctx.cfg.key_value("train"), {"shards": shards_key}, {})
    run_dir = out / "runs" / tc.run
    key_path = run_dir / ".key"
    if dctx.mode == "use" and key_path.exists() and key_path.read_text() == key and (run_dir / "metrics.json").exists():
        return {"cached": True, "key": key, "run": str(run_dir)}
    if key_path.exists() and key_path.read_text() != key:           # new shards or config: start afresh
        import shutil
        shutil.rmtree(run_dir)
    from workers.action.experiment import ExperimentError
    try:
        metrics, where = _dispatch(out, tc, run_dir, dctx.scheduler, STAGE.resources_for(dctx.cfg))
    except ExperimentError as e:                       # e.g. no train split: the build's outputs stand
        return {"cached": False, "status": "failed", "reason": str(e)}
    atomic_write_bytes(key_path, key.encode())
    return {"cached": False, "key": key, "run": str(run_dir), "top1": metrics.get("top1"), "where": where}


def _dispatch(out: Path, tc, run_dir: Path, scheduler, resources: dict) -> tuple[dict, str]:
    from workers.action.experiment import run_experiment
    if scheduler and resources:
        from distributed import Client
        with Client(scheduler) as client:
            workers = client.scheduler_info().get("workers", {}).values()
            if any(all(w.get("resources", {}).get(r, 0) >= v for r, v in resources.items()) for w in workers):
                fut = client.submit(run_experiment, out, tc, run_dir, resources=resources, pure=False)
                return fut.result(), "dask GPU worker"
    return run_experiment(out, tc, run_dir), "client process"


STAGE = Stage(name="train", run=run, params=("train",), scope="dataset",
              resources=lambda cfg: {} if cfg.train.device == "cpu" else dict(GPU), doc=__doc__)
