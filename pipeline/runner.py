"""Run the per-clip tasks: in-process (--workers 0), on a Dask LocalCluster of N worker processes, or on an
existing Dask cluster (--scheduler). At most `2 x workers` clip tasks are in flight; a rich progress bar counts
clips. Models are loaded once per worker process (workers/models.py caches them there)."""
from __future__ import annotations

import contextlib
from typing import Callable, Iterator, Optional

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from .video_task import run_video


def _progress(console: Console) -> Progress:
    return Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TextColumn("{task.fields[status]}"), TimeElapsedColumn(), TimeRemainingColumn(),
                    console=console, transient=False)


@contextlib.contextmanager
def dask_client(workers: int, scheduler: Optional[str], console: Console) -> Iterator:
    from distributed import Client, LocalCluster
    if scheduler:
        client = Client(scheduler)
        cluster = None
    else:
        cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                               dashboard_address=":0", silence_logs=40)
        client = Client(cluster)
    console.print(f"Dask dashboard: [link]{client.dashboard_link}[/link]")
    try:
        yield client
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def run_clips(tasks: list[tuple], run_args: tuple, workers: int, scheduler: Optional[str], console: Console,
              on_result: Callable[[dict], None]) -> None:
    """tasks: (item, known_digest) per clip; run_args: (cfg, dag, plan, cache_dir, scratch)."""
    counts = {"ok": 0, "filtered": 0, "failed": 0}

    def done(res, progress, tid):
        counts[res["row"]["status"]] += 1
        on_result(res)
        progress.update(tid, advance=1, status=" ".join(f"{k}={v}" for k, v in counts.items()))

    with _progress(console) as progress:
        tid = progress.add_task("clips", total=len(tasks), status="")
        if workers == 0 and not scheduler:
            for item, digest in tasks:
                done(run_video(item, *run_args, known_digest=digest), progress, tid)
            return
        from distributed import as_completed
        with dask_client(workers, scheduler, console) as client:
            n_workers = max(1, len(client.scheduler_info().get("workers", {})) or workers)
            limit = 2 * n_workers
            pending = iter(tasks)
            fut_args = [client.scatter(a, broadcast=True) for a in run_args]

            def submit(t):
                item, digest = t
                return client.submit(run_video, item, *fut_args, known_digest=digest, key=f"clip-{item.clip_id}",
                                     pure=False)

            first = [submit(t) for _, t in zip(range(limit), pending)]
            ac = as_completed(first)
            for fut in ac:
                done(fut.result(), progress, tid)
                fut.release()
                nxt = next(pending, None)
                if nxt is not None:
                    ac.add(submit(nxt))
