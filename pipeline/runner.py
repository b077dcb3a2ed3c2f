"""Run the per-clip tasks: in-process (--workers 0), on a Dask LocalCluster of N worker processes (plus --gpus N
GPU workers), on SLURM jobs (--cluster slurm; pipeline/cluster.py makes both clusters), or on an existing Dask
cluster (--scheduler). At most `2 x workers` clips are in flight (SLURM: workers = max_jobs x processes); a rich
progress bar counts clips. Models are loaded once per worker process (workers/models.py caches them there).
The build opens the client (`build_client`, None for in-process builds) and keeps it open after the clips for
the dataset stages' tasks (pipeline/dataset_tasks.py: shard files, report records and visuals).

Group tasks: a clip is a chain of tasks, one per DAG group (pipeline/dag.py; `sense`, then `fit`), each
`video_task.run_groups`. When a clip's task finishes with the clip still ok, the client submits its next group
with the result so far (keys and row fields, no arrays); otherwise that result is the clip's. A later group's
task is submitted with a higher priority, so started clips finish first. A group whose stages ask for resources
under the config (a `device: cuda` -> `{"GPU": 1}`) is submitted with `resources=` when the cluster has workers
with that resource (`--gpus`, `cluster.gpus`, or an existing cluster's labelled workers); when none has, the
label is dropped with a warning (a task no worker can take would wait forever) and the stages use their
configured device wherever they run. With a read-only cache (results not stored) a clip's groups run back to
back in one task, as in-process builds do.

Fault isolation (Dask runs): nothing a worker does can end the client's loop. A group task whose worker died
(segfault, OOM kill, kill -9: `KilledWorker`), that was cancelled under it, or that ran past `run.clip_timeout`
(its worker is then restarted; the limit applies to each group task) is resubmitted under a fresh key with the
same inputs, up to `run.retries` times; then the client writes the clip a `failed` row (stage `worker`, the
cause and the number of attempts). A clip's `attempts` is the most any of its group tasks took. The task's arguments go
with every submission (nothing is scattered, so nothing is lost with a worker). Task keys carry the build id,
so two builds on one scheduler never share a key. When the first `run.systemic_after` finished clips all failed
with one internal fault (the same stage and exception type), the build stops early: `SystemicFailure`.

Every worker process (LocalCluster's, SLURM jobs', an existing cluster's, restarted ones) routes its stderr through
`workers.quiet.filter_native_logs` (a WorkerPlugin registered on connect): MediaPipe/TFLite/absl INFO and WARNING
lines are dropped, everything else comes through.

In-process runs (debugging) isolate exceptions but not crashes; `run.clip_timeout` is enforced there with
SIGALRM when the build runs on the main thread.
"""
from __future__ import annotations

import contextlib
import signal
import threading
import time
from dataclasses import dataclass
from typing import Callable, Iterator, Optional

from distributed.diagnostics.plugin import WorkerPlugin
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from .video_task import failed_result, run_groups, run_video

POLL_SECONDS = 1.0


def finished_some(running) -> set:
    """The futures among `running` that have finished, waiting up to POLL_SECONDS for the first (empty if none
    did: the caller's loop then does its periodic work, e.g. enforcing timeouts)."""
    from distributed import wait
    try:
        return wait(list(running), timeout=POLL_SECONDS, return_when="FIRST_COMPLETED").done
    except TimeoutError:
        return set()


class SystemicFailure(RuntimeError):
    """Every clip so far failed the same internal way: the build stops instead of failing each clip alike."""


@dataclass(frozen=True)
class ClipTask:
    item: object                                  # adapters.VideoItem
    known_digest: Optional[tuple[str, str]]       # (stamp, digest) remembered from an earlier build


@dataclass(frozen=True)
class Link:
    """One task of a clip's chain: the groups it runs and the Dask resources it is submitted with."""
    name: str
    groups: tuple[str, ...]
    resources: dict


def chain(dag, cfg, plan: dict, gpu_workers: bool, together: bool, warn: Callable[[str], None]) -> list[Link]:
    """A clip's tasks: one per active group, or one for all (`together`: a read-only cache cannot hand results
    from task to task). Resources no worker has are dropped (`warn` says so): the task would wait forever."""
    names = [g.name for g in dag.active_groups(plan)]
    parts = [tuple(names)] if together else [(n,) for n in names]
    out = []
    for groups in parts:
        res = dag.group_resources(groups, cfg, plan)
        if res and not gpu_workers:
            warn(f"{'+'.join(groups)} asks for {res} (a stage's device is cuda) but no worker has a GPU resource "
                 f"(--gpus N, cluster.gpus, or `dask worker --resources GPU=1`): submitted without it")
            res = {}
        out.append(Link("+".join(groups), groups, res))
    return out


def _progress(console: Console) -> Progress:
    return Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TextColumn("{task.fields[status]}"), TimeElapsedColumn(), TimeRemainingColumn(),
                    console=console, transient=False)


class NativeLogFilter(WorkerPlugin):
    """WorkerPlugin: the worker process's stderr goes through workers.quiet's native-log filter."""
    name = "skelforge-native-log-filter"

    def setup(self, worker) -> None:
        from workers.quiet import filter_native_logs
        filter_native_logs()


@contextlib.contextmanager
def dask_client(workers: int, scheduler: Optional[str], console: Console, dashboard_address: str = "127.0.0.1:0",
                cluster: str = "local", cfg=None, gpus: int = 0) -> Iterator:
    """A client on `scheduler`, or on a cluster made by pipeline/cluster.py (`cluster`: local or slurm, `cfg`: the
    BuildConfig whose `cluster:` section a SLURM cluster reads, `gpus`: a local cluster's GPU workers), closed
    with the cluster on exit."""
    from distributed import Client

    from .cluster import JOB_NAME, make
    if scheduler:
        client = Client(scheduler)
        made = None
    else:
        made = make(cluster, cfg, workers, dashboard_address, gpus)
        client = Client(made)
    try:
        client.register_plugin(NativeLogFilter())
        console.print(f"Dask dashboard: [link]{client.dashboard_link}[/link]")
        if made is not None and cluster == "slurm":
            _await_slurm_worker(client, cfg, console, JOB_NAME)
        yield client
    finally:
        client.close()
        if made is not None:
            made.close()


def _await_slurm_worker(client, cfg, console: Console, job_name: str) -> None:
    """Report the submitted jobs; with `cluster.start_timeout`, stop the build when no worker connects in time."""
    c = cfg.cluster
    console.print(f"SLURM: {c.min_jobs}..{c.max_jobs} job(s) of {c.cores} core(s), {c.memory}"
                  + (f", {c.gpus} GPU(s)" if c.gpus else "") + f", partition {c.partition or '(default)'}")
    if not c.start_timeout:
        return
    try:
        client.wait_for_workers(1, timeout=c.start_timeout)
    except TimeoutError:
        where = c.log_directory or "the build's working directory"
        raise SystemicFailure(f"no SLURM worker connected within {c.start_timeout:g} s (cluster.start_timeout); "
                              f"see `squeue --name {job_name}` and the jobs' logs in {where}") from None


class _Tally:
    """Counts outcomes, feeds the progress bar, and watches for one systemic fault on every clip."""

    def __init__(self, on_result: Callable[[dict], None], progress: Progress, tid, systemic_after: int, total: int):
        self.on_result, self.progress, self.tid = on_result, progress, tid
        self.counts = {"ok": 0, "filtered": 0, "failed": 0}
        self.kinds: list[Optional[str]] = []
        self.limit = min(systemic_after, total)

    def __call__(self, res: dict) -> None:
        self.counts[res["row"]["status"]] += 1
        self.kinds.append(res.get("failure_kind"))
        self.on_result(res)
        self.progress.update(self.tid, advance=1, status=" ".join(f"{k}={v}" for k, v in self.counts.items()))
        if len(self.kinds) == self.limit >= 2 and self.kinds[0] and len(set(self.kinds)) == 1:
            raise SystemicFailure(f"the first {self.limit} clips all failed the same way ({self.kinds[0]}): "
                                  f"{res['row']['stage']}: {res['row']['reason']}")


def in_process(workers: int, scheduler: Optional[str], cluster: str, gpus: int) -> bool:
    """--workers 0 on the local cluster, no GPU workers, no scheduler: everything runs in the build's process."""
    return workers == 0 and gpus == 0 and not scheduler and cluster == "local"


@contextlib.contextmanager
def build_client(workers: int, scheduler: Optional[str], console: Console, run_cfg, cluster: str = "local",
                 cfg=None, gpus: int = 0) -> Iterator:
    """The build's Dask client (None for an in-process build), open for the clip tasks and then the dataset
    stages' tasks (pipeline/dataset_tasks.py), closed with the cluster it made on exit."""
    if in_process(workers, scheduler, cluster, gpus):
        yield None
        return
    with dask_client(workers, scheduler, console, run_cfg.dashboard_address, cluster, cfg, gpus) as client:
        yield client


def run_clips(tasks: list[ClipTask], run_args: tuple, client, workers: int, scheduler: Optional[str],
              console: Console, on_result: Callable[[dict], None], run_cfg, build_id: str, cluster: str = "local",
              gpus: int = 0, read_only_cache: bool = False) -> None:
    """run_args: (cfg, dag, plan, cache_dir, scratch). `client`: the build's (`build_client`), None = in this
    process; `cluster` (local or slurm) and `gpus` (GPU workers a local cluster adds) say what it was made with,
    unless `scheduler` is given. `on_result` gets every clip's result exactly once (including the client-made
    failed rows), unless SystemicFailure or KeyboardInterrupt ends the run."""
    from .cluster import expected_workers, has_gpu_workers
    with _progress(console) as progress:
        tid = progress.add_task("clips", total=len(tasks), status="")
        tally = _Tally(on_result, progress, tid, run_cfg.systemic_after, len(tasks))
        if client is None:
            for t in tasks:
                tally(_run_in_process(t, run_args, run_cfg.clip_timeout))
            return
        cfg, dag, plan = run_args[:3]
        gpu_workers = _labelled(client) if scheduler else has_gpu_workers(cluster, cfg, gpus)
        warn = lambda msg: console.print(f"[yellow]warning:[/yellow] {msg}", soft_wrap=True)  # noqa: E731
        links = chain(dag, cfg, plan, gpu_workers, read_only_cache, warn)
        _DaskRun(client, tasks, run_args, run_cfg, build_id, tally, links,
                 workers if scheduler else expected_workers(cluster, cfg, workers, gpus)).run()


def _labelled(client) -> bool:
    """Whether a worker of an existing cluster has a GPU resource."""
    return any(w.get("resources", {}).get("GPU", 0) >= 1 for w in client.scheduler_info().get("workers", {}).values())


def _run_in_process(t: ClipTask, run_args: tuple, timeout: Optional[float]) -> dict:
    if not timeout or threading.current_thread() is not threading.main_thread():
        return run_video(t.item, *run_args, known_digest=t.known_digest)

    class _Expired(BaseException):
        pass

    def expire(signum, frame):
        raise _Expired()

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, timeout)
    try:
        return run_video(t.item, *run_args, known_digest=t.known_digest)
    except _Expired:
        return failed_result(t.item, "worker", f"timed out after {timeout:g} s (run.clip_timeout)", "worker:timeout")
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


@dataclass
class _Running:
    index: int              # the clip's place in the task list
    task: ClipTask
    link: int               # which task of the clip's chain
    prior: Optional[dict]   # the clip's result after its earlier links
    attempt: int


class _DaskRun:
    def __init__(self, client, tasks, run_args, run_cfg, build_id, tally, links: list[Link], workers):
        self.client, self.run_args, self.cfg, self.build_id, self.tally = client, run_args, run_cfg, build_id, tally
        self.links = links
        self.pending = list(enumerate(tasks))[::-1]              # popped from the end: submission order
        n_workers = len(client.scheduler_info().get("workers", {})) or workers or 1
        self.limit = 2 * max(1, n_workers)                       # clips in flight (one task each at a time)
        self.running: dict = {}                                  # future -> _Running
        self.causes: dict[tuple[int, int], list[str]] = {}       # (index, link) -> why each lost attempt was lost
        self.attempts: dict[int, int] = {}                       # index -> most attempts any of its tasks took
        self.first_seen: dict[str, float] = {}                   # task key -> when first seen processing

    def submit(self, r: _Running) -> None:
        link = self.links[r.link]
        key = f"clip-{self.build_id}-{r.index}-{link.name}-{r.attempt}"
        fut = self.client.submit(run_groups, r.task.item, *self.run_args, list(link.groups), r.prior,
                                 known_digest=r.task.known_digest, key=key, pure=False, retries=0,
                                 resources=link.resources or None, priority=r.link)
        self.attempts[r.index] = max(self.attempts.get(r.index, 1), r.attempt)
        self.running[fut] = r

    def fill(self) -> None:
        while self.pending and len(self.running) < self.limit:
            index, t = self.pending.pop()
            self.submit(_Running(index, t, 0, None, 1))

    def run(self) -> None:
        try:
            self.fill()
            while self.running:
                for fut in finished_some(self.running):
                    self.settle(fut)
                if self.cfg.clip_timeout:
                    self.enforce_timeout()
                self.fill()
        finally:
            if self.running:
                self.client.cancel(list(self.running))

    def finish(self, r: _Running, res: dict) -> None:
        res["attempts"] = self.attempts.pop(r.index, r.attempt)
        self.tally(res)

    def settle(self, fut) -> None:
        r = self.running.pop(fut)
        self.first_seen.pop(fut.key, None)
        status = fut.status
        if status == "finished":
            try:
                res = fut.result()
            except Exception as e:      # the result could not be fetched (the worker holding it died)
                return self.lost(r, f"result lost ({type(e).__name__})")
            finally:
                fut.release()
            if res["row"]["status"] == "ok" and r.link + 1 < len(self.links):
                return self.submit(_Running(r.index, r.task, r.link + 1, res, 1))
            return self.finish(r, res)
        if status == "error":
            exc = fut.exception()
            fut.release()
            if is_worker_loss(exc):
                return self.lost(r, f"worker died ({type(exc).__name__})")
            return self.finish(r, failed_result(r.task.item, "task", f"internal error: {type(exc).__name__}: {exc}",
                                                f"task:{type(exc).__name__}"))
        fut.release()
        self.lost(r, f"task {status}")

    def lost(self, r: _Running, cause: str) -> None:
        causes = self.causes.setdefault((r.index, r.link), [])
        causes.append(cause)
        if r.attempt <= self.cfg.retries:
            self.submit(_Running(r.index, r.task, r.link, r.prior, r.attempt + 1))
            return
        del self.causes[(r.index, r.link)]
        summary = "; ".join(f"{c} x{causes.count(c)}" if causes.count(c) > 1 else c for c in dict.fromkeys(causes))
        group = f" ({self.links[r.link].name} group)" if len(self.links) > 1 else ""
        self.finish(r, failed_result(r.task.item, "worker", f"{summary} on all {r.attempt} attempts{group}",
                                     f"worker:{causes[-1]}"))

    def enforce_timeout(self) -> None:
        """Tasks processing longer than clip_timeout: cancel, restart their worker, count as a lost attempt."""
        now = time.monotonic()
        by_key = {f.key: f for f in self.running}
        try:
            processing = self.client.processing()
        except Exception:
            return
        for addr, keys in processing.items():
            for key in keys:
                fut = by_key.get(key)
                if fut is None:
                    continue
                started = self.first_seen.setdefault(key, now)
                if now - started <= self.cfg.clip_timeout:
                    continue
                r = self.running.pop(fut)
                self.first_seen.pop(key, None)
                self.client.cancel([fut])
                with contextlib.suppress(Exception):
                    self.client.restart_workers([addr], raise_for_error=False)
                self.lost(r, f"timed out after {self.cfg.clip_timeout:g} s")


def is_worker_loss(exc: BaseException) -> bool:
    from distributed.client import FutureCancelledError
    from distributed.comm.core import CommClosedError
    from distributed.scheduler import KilledWorker
    return isinstance(exc, (KilledWorker, CommClosedError, FutureCancelledError))
