"""The DAG runtime: stages, their declared dependencies, and which stages a build computes.

A `Stage` is a small module's contract: name, the dotted config params it reads, the model files it loads
(hashes, for its cache key), resources, scope ('video': once per clip inside the clip's task;
'dataset': once over all clips) and its `run` function. `dagfile.py` lists the stages with their inputs.

Run modes per stage (from the CLI's --only/--from/--force):
  use   – take the cached result, compute it when missing
  fresh – compute it, ignoring the cache
  load  – cached result only; a clip without it fails with a message saying to build first
  skip  – not run in this build
`--only S` = S fresh, every stage downstream of S `use`, the per-clip stages they need `load`; `--from S` = S and
everything downstream fresh, the rest `use`.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Literal, Optional

Mode = Literal["use", "fresh", "load", "skip"]


@dataclass(frozen=True)
class Stage:
    name: str
    run: Callable
    params: tuple[str, ...] = ()
    weights: Optional[Callable] = None          # config -> {file/model name: sha256}
    scope: Literal["video", "dataset"] = "video"
    resources: dict = field(default_factory=dict)
    doc: str = ""

    @property
    def code(self) -> str:
        """Hash of the stage's source and the compute code it imports (pipeline/codehash.py)."""
        from .codehash import code_hash
        return code_hash(self.run.__module__)


@dataclass(frozen=True)
class Node:
    stage: Stage
    needs: tuple[str, ...]


class Dag:
    def __init__(self, edges: list[tuple[Stage, list[str]]]):
        self.nodes: dict[str, Node] = {}
        for stage, needs in edges:
            for n in needs:
                if n not in self.nodes:
                    raise ValueError(f"stage {stage.name!r} needs {n!r}, which is not declared before it")
            if stage.name in self.nodes:
                raise ValueError(f"stage {stage.name!r} declared twice")
            self.nodes[stage.name] = Node(stage, tuple(needs))

    @property
    def order(self) -> list[str]:
        return list(self.nodes)

    def video_stages(self) -> list[Node]:
        return [n for n in self.nodes.values() if n.stage.scope == "video"]

    def dataset_stages(self) -> list[Node]:
        return [n for n in self.nodes.values() if n.stage.scope == "dataset"]

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
