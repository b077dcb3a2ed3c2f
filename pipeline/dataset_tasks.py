"""The independent tasks of a dataset stage — one shard file, a batch of clips' report records, one worst clip's
thumbnail and animation — run on the build's Dask workers when the build has a cluster (the client the clip
tasks ran on, kept open for the dataset stages; when no clip needed computing, the cluster is started by the
first stage that has tasks, so a no-op rebuild starts none), else in this process one after another. Results come back in
the order of the arguments; a task's arguments and result are small (cache keys, row fields, file names, a
JPEG data URI): the per-clip arrays are loaded by key inside the task and never reach the client.

A task whose worker was lost (killed, crashed, its result gone with it) is resubmitted under a fresh key with
the same arguments, up to `run.retries` times; after that, or when the task itself raised, `map` raises
`DatasetTaskError` naming the task, and the build records the stage as failed (pipeline/build.py). Expected
problems (a cache entry gone or corrupt at shard time) are returned by the tasks as data, not raised. Task keys
carry the build id, so two builds on one scheduler never share a key.

Tasks that write files (shards, viewer GIFs) write into OUT, so a cluster's workers must see OUT at the same
path as the client (on SLURM: a shared file system, like the cache); the client creates the folders first and
the tasks refuse to create them (a worker that does not see OUT fails its task instead of writing elsewhere).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional

from .runner import finished_some, is_worker_loss


class DatasetTaskError(RuntimeError):
    """A dataset stage's task failed (raised, or its worker was lost on every attempt)."""


@dataclass
class DatasetTasks:
    client: Optional[object] = None     # distributed.Client of the build; None: run in this process
    build_id: str = "local"
    retries: int = 2
    connect: Optional[Callable] = None  # starts the build's cluster and returns its client (when none is yet)

    @property
    def where(self) -> str:
        return "dask workers" if self.client is not None or self.connect is not None else "client process"

    def map(self, name: str, fn: Callable, args: list[tuple]) -> list:
        """[fn(*a) for a in args], run as one task each (the cluster is started by the first map with tasks)."""
        if self.client is None and self.connect is not None and args:
            self.client = self.connect()
        if self.client is None:
            return [fn(*a) for a in args]
        return _DaskMap(self.client, name, fn, args, self.build_id, self.retries).run()


class _DaskMap:
    def __init__(self, client, name: str, fn: Callable, args: list[tuple], build_id: str, retries: int):
        self.client, self.name, self.fn, self.args = client, name, fn, args
        self.build_id, self.retries = build_id, retries
        self.results: list = [None] * len(args)
        self.running: dict = {}                       # future -> (index, attempt)
        self.causes: dict[int, list[str]] = {}

    def submit(self, i: int, attempt: int) -> None:
        fut = self.client.submit(self.fn, *self.args[i], key=f"{self.name}-{self.build_id}-{i}-{attempt}",
                                 pure=False, retries=0)
        self.running[fut] = (i, attempt)

    def run(self) -> list:
        try:
            for i in range(len(self.args)):
                self.submit(i, 1)
            while self.running:
                for fut in finished_some(self.running):
                    self.settle(fut)
        finally:
            if self.running:
                self.client.cancel(list(self.running))
        return self.results

    def settle(self, fut) -> None:
        i, attempt = self.running.pop(fut)
        if fut.status == "finished":
            try:
                self.results[i] = fut.result()
                return
            except Exception as e:      # the result could not be fetched (the worker holding it died)
                return self.lost(i, attempt, f"result lost ({type(e).__name__})")
            finally:
                fut.release()
        exc = fut.exception() if fut.status == "error" else None
        fut.release()
        if exc is not None and not is_worker_loss(exc):
            raise DatasetTaskError(f"{self.name} task {i}: {type(exc).__name__}: {exc}") from exc
        self.lost(i, attempt, f"worker died ({type(exc).__name__})" if exc is not None else f"task {fut.status}")

    def lost(self, i: int, attempt: int, cause: str) -> None:
        causes = self.causes.setdefault(i, [])
        causes.append(cause)
        if attempt <= self.retries:
            return self.submit(i, attempt + 1)
        raise DatasetTaskError(f"{self.name} task {i}: {'; '.join(dict.fromkeys(causes))} on all {attempt} "
                               f"attempts")
