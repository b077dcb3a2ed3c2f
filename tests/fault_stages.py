"""Fault injection for the reliability tests: the real DAG with one extra per-clip stage that misbehaves on
chosen clips, the way a buggy native library or a pathological input does in a real build — it kills its own
worker process with SIGKILL (a segfault or an OOM kill looks the same to Dask), hangs, or raises. The rest of
the DAG, the runner, Dask and the cache are the real ones. The stage is imported by the Dask worker processes
(they share the test process's sys.path)."""
from __future__ import annotations

import os
import signal
import time

import dagfile
from pipeline.cache import Artifact
from pipeline.dag import Dag, Stage


def _misbehave(ctx, inputs) -> Artifact:
    cid = ctx.item.clip_id
    if "poison" in cid:
        os.kill(os.getpid(), signal.SIGKILL)
    if "hang" in cid:
        time.sleep(600)
    if "boom" in cid:
        raise RuntimeError("disk on fire")
    return Artifact(meta={"fault": "none"})


FAULT = Stage(name="fault", run=_misbehave,
              doc="misbehaves on clips whose id contains poison | hang | boom (test-only)")


def dag_with_fault_after(stage: str) -> Dag:
    """The real DAG with the fault stage right after `stage`, in `stage`'s group (needing it; nothing needs the
    fault stage, so every other stage's cache key is the real DAG's)."""
    edges = [(n.stage, list(n.needs)) for n in dagfile.DAG.nodes.values()]
    at = [s.name for s, _ in edges].index(stage) + 1
    groups = [(g.name, [x for s in g.stages for x in ([s, FAULT.name] if s == stage else [s])])
              for g in dagfile.DAG.groups]
    return Dag(edges[:at] + [(FAULT, [stage])] + edges[at:], groups)
