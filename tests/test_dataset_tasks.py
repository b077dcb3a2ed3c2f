"""Dataset stages off the client (issue 14, item 7): shard files and the report's per-clip work run as tasks on
the build's Dask workers; the bytes equal an in-process build's, and the client process opens no cache entry.

Which cache entries a process opened is observed with a Python audit hook on the `open` event (every file the
interpreter opens, numpy's np.load included), installed once in this test process: it records reads of `.npz`
files under a cache folder while a test asks it to. Dask workers are other processes, so what it sees in a
Dask build is exactly what the client opened. Real clips, real builds, a real LocalCluster (the one a build
makes, `pipeline.runner.dask_client`)."""
from __future__ import annotations

import json
import os
import re
import shutil
import signal
import sys
from pathlib import Path

import pytest
from rich.console import Console

from pipeline.cache import Store
from pipeline.dataset_tasks import DatasetTaskError, DatasetTasks
from pipeline.manifest import read_manifest
from schemas.config import BuildConfig
from tests.conftest import VIDEOS, run_build, stage_videos

CLIPS = ["kinetics/tai_chi/ta_chi.mp4", "kinetics/clean_and_jerk/clean_and_jerk.mp4",
         "misc/carphone_face_176x144.mp4"]
NAMES = ["a/one.mp4", "a/two.mp4", "b/three.mp4"]
LAYOUTS = ["coco-17", "ntu-x-118"]
# One clip per shard, so each layout has as many shard files (tasks) as kept clips.
CFG = {"frames": {"max_frames": 12}, "filter": {"min_frames": 5}, "layouts": LAYOUTS,
       "shards": {"clips_per_shard": 1, "row_group_clips": 1}}


class _Opened:
    """Reads of cache entries (`.npz` under `root`) by this process while recording."""

    def __init__(self):
        self.root: str | None = None
        self.paths: list[str] = []
        sys.addaudithook(self._hook)

    def _hook(self, event, args):
        if event == "open" and self.root and isinstance(args[0], str) and args[0].endswith(".npz") \
                and args[0].startswith(self.root) and "r" in (args[1] or "r"):
            self.paths.append(args[0])

    def record(self, root: Path):
        self.root, self.paths = str(root), []           # the cache dir as the build's config names it
        return self

    def stop(self) -> dict[str, set[str]]:
        """stage -> keys opened."""
        self.root = None
        out: dict[str, set[str]] = {}
        for p in self.paths:
            out.setdefault(Path(p).parent.parent.name, set()).add(Path(p).stem)
        return out


OPENED = _Opened()


def shard_bytes(out) -> dict:
    return {p.relative_to(out).as_posix(): p.read_bytes() for p in sorted((Path(out) / "shards").rglob("*.parquet"))}


def rows(out) -> dict:
    return {r["clip_id"]: r for r in read_manifest(out).to_pylist()}


@pytest.fixture(scope="module")
def builds(tmp_path_factory, samples):
    """The same clips built in-process and with --workers 2 (sharing the cache: the Dask build's clip tasks are
    cache hits, its shards and report are its own), with the cache entries each build's own process read."""
    root = tmp_path_factory.mktemp("dstasks")
    videos = stage_videos(root / "v", *[VIDEOS / c for c in CLIPS], names=NAMES)
    cache = root / "cache"
    cfg = {**CFG, "cache": {"dir": str(cache)}}
    OPENED.record(cache)
    inproc = run_build(videos, root / "inproc", cfg, workers=0)
    inproc_opened = OPENED.stop()
    OPENED.record(cache)
    dask = run_build(videos, root / "dask", cfg, workers=2)
    dask_opened = OPENED.stop()
    return {"videos": videos, "cache": cache, "cfg": cfg, "inproc": root / "inproc", "dask": root / "dask",
            "records": (inproc, dask), "opened": (inproc_opened, dask_opened)}


@pytest.fixture(scope="module")
def client():
    from pipeline.runner import dask_client
    with dask_client(2, None, Console(quiet=True), None, "local", BuildConfig(), 0) as c:
        yield c


def test_shards_written_by_workers_are_byte_identical_to_in_process(builds):
    inproc, dask = builds["records"]
    assert inproc["counts"]["ok"] == dask["counts"]["ok"] == 3
    assert inproc["dataset_stages"]["shards"]["where"] == "client process"
    assert dask["dataset_stages"]["shards"]["where"] == "dask workers"
    assert dask["dataset_stages"]["shards"]["tasks"] == 3 * len(LAYOUTS)
    a, b = shard_bytes(builds["inproc"]), shard_bytes(builds["dask"])
    assert len(a) == 3 * len(LAYOUTS) and a == b
    assert sorted(a) == sorted(f"shards/{lay}/train-0000{i}-of-00003.parquet" for lay in LAYOUTS for i in range(3))
    assert not [p for p in (builds["dask"] / "shards").rglob("*") if p.name.endswith(".tmp")]


def test_the_client_of_a_dask_build_opens_no_cache_entry(builds):
    """With --workers 2 the client process reads no cache entry at all: not the convert arrays the shards are
    made of, not the refine / detect / quality / frames entries the report measures and draws. The in-process
    build shows the hook sees those reads when they happen in this process."""
    inproc_opened, dask_opened = builds["opened"]
    kept = [r for r in rows(builds["inproc"]).values() if r["status"] == "ok"]
    assert {r["convert_key"] for r in kept} <= inproc_opened.get("convert", set())       # shards, in-process
    assert {r["refine_key"] for r in kept} <= inproc_opened.get("refine", set())         # report, in-process
    assert dask_opened == {}


def test_report_on_workers_equals_the_in_process_report(builds, client, tmp_path):
    """The same manifest reported with the per-clip work on Dask workers and in this process: every file under
    OUT/report is byte-identical, but for the report's own seconds; the client opened no cache entry."""
    from pipeline.report import build_report
    src = builds["dask"]
    manifest = read_manifest(src).to_pylist()
    record = json.loads((src / "build.json").read_text())
    stages = [s for s in record["plan"] if f"{s}_key" in manifest[0]]
    outs = {}
    for name, tasks in (("here", DatasetTasks()), ("workers", DatasetTasks(client, "t-report"))):
        out = tmp_path / name / "out"                   # the page title is the folder name
        shutil.copytree(src, out, ignore=shutil.ignore_patterns("report", ".cache"))
        OPENED.record(builds["cache"])
        build_report(out, manifest, stages, builds["cache"], tasks)
        outs[name] = (out, OPENED.stop())
    (here, here_opened), (there, there_opened) = outs["here"], outs["workers"]
    assert here_opened.get("refine") and there_opened == {}

    def files(out):
        got = {p.relative_to(out).as_posix(): p.read_bytes() for p in sorted((out / "report").rglob("*"))
               if p.is_file()}
        q = json.loads(got.pop("report/quality.json"))
        q["build"]["seconds_per_stage"].pop("report")
        html = re.sub(rb'(<td class="l">report</td><td>)[0-9.]+', rb"\1S", got.pop("report/index.html"))
        return got, q, html

    a, b = files(here), files(there)
    assert len([f for f in a[0] if f.endswith(".gif")]) == 3 and a == b
    assert b[2].count(b"data:image/jpeg;base64,") == 3                       # a thumbnail per worst kept clip


def test_a_corrupt_or_missing_convert_entry_at_shard_time_is_data(builds, client, tmp_path):
    """Between the clip tasks and the shards stage one clip's convert entry is truncated and another's deleted
    (a `cache gc`, a bad disk). The shards stage, on the workers, writes the third clip's shards and fails naming
    both clips; their shards are not written, nothing partial is left (nor a temporary file a killed writer
    left earlier); the next build recomputes the two clips and writes shards identical to the in-process ones."""
    import dagfile
    from pipeline.build import DatasetContext, experts_record
    from schemas.experts import used_experts
    from pipeline.stages import shards
    out, cache = tmp_path / "out", tmp_path / "cache"
    shutil.copytree(builds["inproc"], out, ignore=shutil.ignore_patterns("shards"))
    shutil.copytree(builds["cache"], cache)
    got = rows(out)
    store = Store(cache)
    truncated = store.path("convert", got["a/one"]["convert_key"])       # unreadable for every layout
    truncated.write_bytes(truncated.read_bytes()[: truncated.stat().st_size // 2])
    store.path("convert", got["a/two"]["convert_key"]).unlink()
    leftover = out / "shards" / "coco-17" / ".train-00002-of-00003.parquet.k1ll3d.tmp"
    leftover.parent.mkdir(parents=True)
    leftover.write_bytes(b"PAR1 half a shard")
    cfg = BuildConfig.model_validate({**CFG, "cache": {"dir": str(cache)}})
    results = [{"row": r, "stages": {"convert": {"key": r["convert_key"]}}} for r in got.values()]
    dctx = DatasetContext(cfg, out, cache, "fresh", experts_record(cfg), list(used_experts(cfg)), dagfile.DAG.order,
                          None, DatasetTasks(client, "t-corrupt"))          # what the build hands the stage
    info = shards.run(dctx, results)
    assert info["status"] == "failed"
    assert re.search(r"train-00000-of-00003\.parquet not written: a/one: cache entry .* is corrupt", info["reason"])
    assert re.search(r"train-00001-of-00003\.parquet not written: a/two: its convert entry .* is gone",
                     info["reason"])
    written = shard_bytes(out)
    assert sorted(written) == [f"shards/{lay}/train-00002-of-00003.parquet" for lay in LAYOUTS]
    assert all(written[f] == shard_bytes(builds["inproc"])[f] for f in written)
    assert not [p for p in (out / "shards").rglob("*") if p.name.endswith(".tmp")]
    assert not (out / "shards" / "_state.json").exists()
    record = run_build(builds["videos"], out, {**CFG, "cache": {"dir": str(cache)}})
    assert record["reused_from_journal"] == 1 and record["computed"]["convert"] == 2
    assert record["state"] == "complete" and shard_bytes(out) == shard_bytes(builds["inproc"])


def _die_once(marker: str, value: int) -> int:
    """A task that kills its own worker process (SIGKILL) the first time it runs."""
    if not os.path.exists(marker):
        Path(marker).touch()
        os.kill(os.getpid(), signal.SIGKILL)
    return value * 2


def _always_die(value: int) -> int:
    os.kill(os.getpid(), signal.SIGKILL)


def _raise_on_2(value: int) -> int:
    if value == 2:
        raise ValueError(f"bad value {value}")
    return value


def test_a_dataset_task_whose_worker_dies_is_resubmitted(client, tmp_path):
    """Real worker deaths (SIGKILL inside the task): resubmitted under a fresh key, results in order; a task
    that kills every worker, or raises, fails the map naming it."""
    tasks = DatasetTasks(client, "t-die", retries=1)
    assert tasks.map("die-once", _die_once, [(str(tmp_path / "m0"), 1), (str(tmp_path / "m1"), 2), ("/", 3)]) \
        == [2, 4, 6]
    with pytest.raises(DatasetTaskError, match=r"always task 0: worker died \(KilledWorker\) on all 2 attempts"):
        tasks.map("always", _always_die, [(1,)])
    with pytest.raises(DatasetTaskError, match="raise task 1: ValueError: bad value 2"):
        tasks.map("raise", _raise_on_2, [(1,), (2,)])
    assert DatasetTasks().map("here", _raise_on_2, [(1,), (3,)]) == [1, 3]          # in-process: the same calls
