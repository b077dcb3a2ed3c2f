"""Run the per-clip tasks: in-process (--workers 0), on a Dask LocalCluster of N worker processes, on SLURM jobs
(--cluster slurm; pipeline/cluster.py makes both clusters), or on an existing Dask cluster (--scheduler). At most
`2 x workers` clip tasks are in flight (SLURM: workers = max_jobs x processes); a rich progress bar counts clips.
Models are loaded once per worker process (workers/models.py caches them there).

Fault isolation (Dask runs): nothing a worker does can end the client's loop. A task whose worker died
(segfault, OOM kill, kill -9: `KilledWorker`), that was cancelled under it, or that ran past `run.clip_timeout`
(its worker is then restarted) is resubmitted under a fresh key, up to `run.retries` times; then the client
writes the clip a `failed` row (stage `worker`, the cause and the number of attempts). The task's arguments go
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

from .video_task import failed_result, run_video

POLL_SECONDS = 1.0


class SystemicFailure(RuntimeError):
    """Every clip so far failed the same internal way: the build stops instead of failing each clip alike."""


@dataclass(frozen=True)
class ClipTask:
    item: object                                  # adapters.VideoItem
    known_digest: Optional[tuple[str, str]]       # (stamp, digest) remembered from an earlier build


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
                cluster: str = "local", cfg=None) -> Iterator:
    """A client on `scheduler`, or on a cluster made by pipeline/cluster.py (`cluster`: local or slurm, `cfg`: the
    BuildConfig whose `cluster:` section a SLURM cluster reads), closed with the cluster on exit."""
    from distributed import Client

    from .cluster import JOB_NAME, make
    if scheduler:
        client = Client(scheduler)
        made = None
    else:
        made = make(cluster, cfg, workers, dashboard_address)
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


def run_clips(tasks: list[ClipTask], run_args: tuple, workers: int, scheduler: Optional[str], console: Console,
              on_result: Callable[[dict], None], run_cfg, build_id: str, cluster: str = "local") -> None:
    """run_args: (cfg, dag, plan, cache_dir, scratch). `cluster`: local or slurm (pipeline/cluster.py), unless
    `scheduler` is given. `on_result` gets every clip's result exactly once (including the client-made failed
    rows), unless SystemicFailure or KeyboardInterrupt ends the run."""
    from .cluster import expected_workers
    with _progress(console) as progress:
        tid = progress.add_task("clips", total=len(tasks), status="")
        tally = _Tally(on_result, progress, tid, run_cfg.systemic_after, len(tasks))
        if workers == 0 and not scheduler and cluster == "local":
            for t in tasks:
                tally(_run_in_process(t, run_args, run_cfg.clip_timeout))
            return
        cfg = run_args[0]
        with dask_client(workers, scheduler, console, run_cfg.dashboard_address, cluster, cfg) as client:
            _DaskRun(client, tasks, run_args, run_cfg, build_id, tally,
                     workers if scheduler else expected_workers(cluster, cfg, workers)).run()


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


class _DaskRun:
    def __init__(self, client, tasks, run_args, run_cfg, build_id, tally, workers):
        self.client, self.run_args, self.cfg, self.build_id, self.tally = client, run_args, run_cfg, build_id, tally
        self.pending = list(enumerate(tasks))[::-1]              # popped from the end: submission order
        n_workers = len(client.scheduler_info().get("workers", {})) or workers or 1
        self.limit = 2 * max(1, n_workers)
        self.running: dict = {}                                  # future -> (index, task, attempt)
        self.causes: dict[int, list[str]] = {}                   # index -> why each lost attempt was lost
        self.first_seen: dict[str, float] = {}                   # task key -> when first seen processing

    def submit(self, index: int, t: ClipTask, attempt: int) -> None:
        key = f"clip-{self.build_id}-{index}-{attempt}"
        fut = self.client.submit(run_video, t.item, *self.run_args, known_digest=t.known_digest, key=key,
                                 pure=False, retries=0)
        self.running[fut] = (index, t, attempt)

    def fill(self) -> None:
        while self.pending and len(self.running) < self.limit:
            index, t = self.pending.pop()
            self.submit(index, t, 1)

    def run(self) -> None:
        from distributed import wait
        try:
            self.fill()
            while self.running:
                try:
                    done = wait(list(self.running), timeout=POLL_SECONDS, return_when="FIRST_COMPLETED").done
                except TimeoutError:
                    done = set()
                for fut in done:
                    self.settle(fut)
                if self.cfg.clip_timeout:
                    self.enforce_timeout()
                self.fill()
        finally:
            if self.running:
                self.client.cancel(list(self.running))

    def settle(self, fut) -> None:
        index, t, attempt = self.running.pop(fut)
        self.first_seen.pop(fut.key, None)
        status = fut.status
        if status == "finished":
            try:
                res = fut.result()
            except Exception as e:      # the result could not be fetched (the worker holding it died)
                return self.lost(index, t, attempt, f"result lost ({type(e).__name__})")
            finally:
                fut.release()
            res["attempts"] = attempt
            return self.tally(res)
        if status == "error":
            exc = fut.exception()
            fut.release()
            if _is_worker_loss(exc):
                return self.lost(index, t, attempt, f"worker died ({type(exc).__name__})")
            res = failed_result(t.item, "task", f"internal error: {type(exc).__name__}: {exc}",
                                f"task:{type(exc).__name__}")
            res["attempts"] = attempt
            return self.tally(res)
        fut.release()
        self.lost(index, t, attempt, f"task {status}")

    def lost(self, index: int, t: ClipTask, attempt: int, cause: str) -> None:
        self.causes.setdefault(index, []).append(cause)
        if attempt <= self.cfg.retries:
            self.submit(index, t, attempt + 1)
            return
        causes = self.causes.pop(index)
        summary = "; ".join(f"{c} x{causes.count(c)}" if causes.count(c) > 1 else c for c in dict.fromkeys(causes))
        res = failed_result(t.item, "worker", f"{summary} on all {attempt} attempts", f"worker:{causes[-1]}")
        res["attempts"] = attempt
        self.tally(res)

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
                index, t, attempt = self.running.pop(fut)
                self.first_seen.pop(key, None)
                self.client.cancel([fut])
                with contextlib.suppress(Exception):
                    self.client.restart_workers([addr], raise_for_error=False)
                self.lost(index, t, attempt, f"timed out after {self.cfg.clip_timeout:g} s")


def _is_worker_loss(exc: BaseException) -> bool:
    from distributed.client import FutureCancelledError
    from distributed.comm.core import CommClosedError
    from distributed.scheduler import KilledWorker
    return isinstance(exc, (KilledWorker, CommClosedError, FutureCancelledError))
