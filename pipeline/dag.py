"""The DAG runtime: stages, their declared dependencies, the per-clip group tasks, and which stages a build
computes.

A `Stage` is a small module's contract: name, the dotted config params it reads, the model files it loads
(hashes, for its cache key), `resources` (config -> the Dask resources one run of it needs under that config,
e.g. `{"GPU": 1}` when its configured device is CUDA; None = a worker thread and nothing else), scope
('video': once per clip inside the clip's group tasks; 'dataset': once over all clips) and its `run` function.
`dagfile.py` lists the stages with their inputs, and the groups.

Groups: a clip's per-video stages are split into consecutive named groups (`dagfile.py`: `sense` = probe,
frames, detect, pose — the clip is decoded once and the models see its frames; `fit` = refine .. convert, no
pixels). Each group is one task; a task stores its stages' results in the shared cache and the next group's
task loads the inputs it needs from there by key, so only keys and row fields travel between tasks and any
worker can take any group. A group needs the union of the resources its stages that can compute (plan mode
use or fresh) declare under the config (`Dag.group_resources`): with the default config no stage asks for
anything; `device: cuda` on the detector or an expert makes `sense` ask for a GPU, so the runner submits it
with `resources={"GPU": 1}` and `fit` without, and the CPU stages never hold a GPU. Grouping is execution only:
stage keys do not depend on it, and running the groups back to back in one process (`--workers 0`) gives the
same results. A Dag built without groups runs every per-video stage as one group (`clip`).

Run modes per stage (from the CLI's --only/--from/--force):
  use   – take the cached result, compute it when missing
  fresh – compute it, ignoring the cache
  load  – cached result only; a clip without it fails with a message saying to build first
  skip  – not run in this build
`--only S` = S fresh, every stage downstream of S `use`, the per-clip stages they need `load`; `--from S` = S and
everything downstream fresh, the rest `use`.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Literal, Optional

Mode = Literal["use", "fresh", "load", "skip"]
GPU = {"GPU": 1}


def gpu_for(*devices: Optional[str]) -> dict:
    """`{"GPU": 1}` when any of the configured devices is CUDA (`cuda`, `cuda:N`), else no resources."""
    return dict(GPU) if any(str(d or "").startswith("cuda") for d in devices) else {}


@dataclass(frozen=True)
class Stage:
    name: str
    run: Callable
    params: tuple[str, ...] = ()
    weights: Optional[Callable] = None          # config -> {file/model name: sha256}
    scope: Literal["video", "dataset"] = "video"
    resources: Optional[Callable] = None        # config -> Dask resources one run needs, e.g. {"GPU": 1}
    doc: str = ""

    @property
    def code(self) -> str:
        """Hash of the stage's source and the compute code it imports (pipeline/codehash.py)."""
        from .codehash import code_hash
        return code_hash(self.run.__module__)

    def resources_for(self, cfg) -> dict:
        """The Dask resources one run of this stage needs under `cfg`."""
        return dict(self.resources(cfg)) if self.resources else {}


@dataclass(frozen=True)
class Node:
    stage: Stage
    needs: tuple[str, ...]


@dataclass(frozen=True)
class Group:
    name: str
    stages: tuple[str, ...]


class Dag:
    def __init__(self, edges: list[tuple[Stage, list[str]]], groups: Optional[list[tuple[str, list[str]]]] = None):
        self.nodes: dict[str, Node] = {}
        for stage, needs in edges:
            for n in needs:
                if n not in self.nodes:
                    raise ValueError(f"stage {stage.name!r} needs {n!r}, which is not declared before it")
            if stage.name in self.nodes:
                raise ValueError(f"stage {stage.name!r} declared twice")
            self.nodes[stage.name] = Node(stage, tuple(needs))
        video = [n.stage.name for n in self.video_stages()]
        self.groups = [Group(g, tuple(s)) for g, s in (groups or [("clip", video)])]
        if [s for g in self.groups for s in g.stages] != video or any(not g.stages for g in self.groups):
            raise ValueError(f"groups must split the per-video stages {video} into consecutive, non-empty runs "
                             f"in DAG order (got {[(g.name, list(g.stages)) for g in self.groups]})")
        if len({g.name for g in self.groups}) != len(self.groups):
            raise ValueError("group names must be distinct")

    @property
    def order(self) -> list[str]:
        return list(self.nodes)

    def video_stages(self) -> list[Node]:
        return [n for n in self.nodes.values() if n.stage.scope == "video"]

    def dataset_stages(self) -> list[Node]:
        return [n for n in self.nodes.values() if n.stage.scope == "dataset"]

    def group(self, name: str) -> Group:
        return next(g for g in self.groups if g.name == name)

    def active_groups(self, plan: dict[str, Mode]) -> list[Group]:
        """The groups with a stage this plan runs (a group whose stages are all skipped needs no task)."""
        return [g for g in self.groups if any(plan[s] != "skip" for s in g.stages)]

    def group_resources(self, names, cfg, plan: dict[str, Mode]) -> dict:
        """What one task running these groups needs: per resource, the most any of their stages that may
        compute (mode use or fresh) declares under `cfg`."""
        out: dict = {}
        for g in names:
            for s in self.group(g).stages:
                if plan[s] in ("use", "fresh"):
                    for r, v in self.nodes[s].stage.resources_for(cfg).items():
                        out[r] = max(out.get(r, 0), v)
        return out

    def downstream(self, name: str) -> set[str]:
        out = {name}
        for n in self.order:
            if any(d in out for d in self.nodes[n].needs):
                out.add(n)
        return out

    def upstream(self, names: set[str]) -> set[str]:
        """Every stage the given stages need, transitively (themselves excluded unless needed by another)."""
        out: set[str] = set()
        todo = [d for n in names for d in self.nodes[n].needs]
        while todo:
            n = todo.pop()
            if n not in out:
                out.add(n)
                todo.extend(self.nodes[n].needs)
        return out

    def plan(self, only: Optional[str] = None, start: Optional[str] = None, force: bool = False) -> dict[str, Mode]:
        for s in (only, start):
            if s is not None and s not in self.nodes:
                raise ValueError(f"unknown stage {s!r}; stages: {', '.join(self.order)}")
        if only and start:
            raise ValueError("--only and --from cannot be combined")
        if only:
            # the stage runs afresh; what depends on it runs too (from cache where its inputs' keys are unchanged,
            # so a stage's result never contradicts the stages after it: `--only refine` re-applies filter, `--only
            # labels` rewrites the shards whose ids changed); per-clip inputs come from the cache only; stages
            # nothing here needs are skipped
            down = self.downstream(only)
            needed = self.upstream(down)
            return {n: "fresh" if n == only else "use" if n in down else
                    ("load" if self.nodes[n].stage.scope == "video" else "use") if n in needed else "skip"
                    for n in self.order}
        fresh = self.downstream(start) if start else set()
        return {n: ("fresh" if force or n in fresh else "use") for n in self.order}
