"""Unattended builds (issue 11): no clip, fault or cache entry stops, corrupts or silently changes a build.

Real processes throughout: real Dask LocalClusters, real `skelforge build` subprocesses killed with SIGKILL and
SIGINT, real clips from ../shared. Faults a test cannot get from a real input are injected by the one extra
stage in tests/fault_stages.py (it kills its own worker, hangs or raises on clips named for it)."""
from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

import dagfile
from pipeline.build import BuildStopped
from pipeline.cache import Store
from pipeline.cli import app, set_dag
from pipeline.manifest import manifest_state, read_manifest
from tests.conftest import ROOT, VIDEOS, run_build, write_config
from tests.fault_stages import dag_with_fault_after

set_dag(dagfile.DAG)
# Short clips (12 output frames), one layout: the tests are about the runner, not the skeletons.
FAST = {"frames": {"max_frames": 12}, "filter": {"min_frames": 5}, "layouts": ["coco-17"]}
CLIPS = {"a/one.mp4": VIDEOS / "kinetics" / "tai_chi" / "ta_chi.mp4",
         "a/two.mp4": VIDEOS / "kinetics" / "clean_and_jerk" / "clean_and_jerk.mp4",
         "b/three.mp4": VIDEOS / "kinetics" / "skateboarding" / "skateboarding.mp4"}
# Faulty clips need content of their own: the cache is content-addressed, so a copy of a good clip would be
# served from the good clip's cached results without the fault stage ever running on it.
POISON = {"b/poison.avi": VIDEOS / "misc" / "mpeg4_25fps_320x240.avi"}
HANG = {"c/hang.mp4": VIDEOS / "misc" / "carphone_face_176x144.mp4"}


def stage_clips(dest: Path, extra: dict[str, Path] | None = None) -> Path:
    for name, src in {**CLIPS, **(extra or {})}.items():
        (dest / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(src, dest / name)
    return dest


def rows(out) -> dict:
    return {r["clip_id"]: r for r in read_manifest(out).to_pylist()}


def shard_bytes(out) -> dict:
    return {p.relative_to(out).as_posix(): p.read_bytes() for p in sorted((Path(out) / "shards").rglob("*.parquet"))}


def statuses(out) -> dict:
    return {c: r["status"] for c, r in rows(out).items()}


def cfg_with_cache(cache_dir: Path, scratch: Path | None = None, **more) -> dict:
    return {**FAST, "cache": {"dir": str(cache_dir), "scratch": str(scratch) if scratch else None}, **more}


def own_cache(ref_cache: Path, tmp_path: Path) -> Path:
    """A copy of the reference cache for a test that adds entries (the reference stays as it was built)."""
    shutil.copytree(ref_cache, tmp_path / "cache")
    return tmp_path / "cache"


@pytest.fixture(scope="module")
def reference(tmp_path_factory, samples):
    """A clean, uninterrupted in-process build of the three clips: its shards are what every faulty build must
    reproduce byte for byte, and its cache lets later builds skip recomputation where that is not the point."""
    root = tmp_path_factory.mktemp("reference")
    videos = stage_clips(root / "videos")
    out = root / "out"
    run_build(videos, out, FAST)
    assert set(statuses(out)) == {"a/one", "a/two", "b/three"} and shard_bytes(out)
    return videos, out, out / ".cache"


@pytest.mark.parametrize("after, group", [("probe", "sense"), ("refine", "fit")])
def test_poison_clip_that_kills_every_worker_gets_a_failed_row(reference, tmp_path, after, group):
    """The clip kills its worker in the first group task (`sense`) or in the second (`fit`, after its sense
    task stored its results): either way retried, then one failed row naming the group."""
    _, ref_out, ref_cache = reference
    videos = stage_clips(tmp_path / "videos", POISON)
    out = tmp_path / "out"
    r = run_build(videos, out, cfg_with_cache(own_cache(ref_cache, tmp_path)), workers=2,
                  dag=dag_with_fault_after(after))
    got = rows(out)
    poison = got.pop("b/poison")
    assert poison["status"] == "failed" and poison["stage"] == "worker"
    assert "worker died" in poison["reason"] and "on all 3 attempts" in poison["reason"]   # run.retries = 2
    assert f"({group} group)" in poison["reason"]
    # the poison clip is retried; a healthy clip may be too: its finished task's result, not yet fetched, was
    # held by a worker the poison killed ("caused the cluster to lose already computed task(s)"), and the
    # client resubmits it — it must still end ok with identical shards (below)
    assert r["retried"] >= 1
    assert {c: x["status"] for c, x in got.items()} == statuses(ref_out)
    assert shard_bytes(out) == shard_bytes(ref_out)
    assert r["counts"]["failed"] == 1


def test_worker_killed_mid_clip_is_retried_and_shards_are_identical(reference, tmp_path):
    """kill -9 of the worker process computing a clip (fresh cache, so it is mid-computation)."""
    import dask
    from distributed import Client, LocalCluster
    _, ref_out, _ = reference
    videos = stage_clips(tmp_path / "videos")
    with dask.config.set({"distributed.scheduler.allowed-failures": 0}):
        cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                               silence_logs=50)
    client = Client(cluster)
    killed: list = []
    done = threading.Event()

    def killer():
        while not done.is_set() and not killed:
            for addr, keys in client.processing().items():
                if keys:
                    pid = client.run(os.getpid, workers=[addr])[addr]
                    time.sleep(1.5)                     # well into the clip's stages
                    os.kill(pid, signal.SIGKILL)
                    killed.append(keys)
                    return
            time.sleep(0.05)

    t = threading.Thread(target=killer)
    t.start()
    try:
        r = run_build(videos, tmp_path / "out", cfg_with_cache(tmp_path / "cache"),
                      scheduler=cluster.scheduler_address)
    finally:
        done.set()
        t.join()
        client.close()
        cluster.close()
    assert killed, "the worker was never seen processing a clip"
    assert r["retried"] >= 1 and r["counts"]["failed"] == 0
    assert statuses(tmp_path / "out") == statuses(ref_out)
    assert shard_bytes(tmp_path / "out") == shard_bytes(ref_out)


def test_clip_timeout_restarts_the_worker_then_fails_the_clip(reference, tmp_path):
    _, ref_out, ref_cache = reference
    videos = stage_clips(tmp_path / "videos", HANG)
    r = run_build(videos, tmp_path / "out", cfg_with_cache(own_cache(ref_cache, tmp_path),
                                                           run={"clip_timeout": 4, "retries": 1}),
                  workers=2, dag=dag_with_fault_after("probe"))
    got = rows(tmp_path / "out")
    hang = got.pop("c/hang")
    assert hang["status"] == "failed" and hang["stage"] == "worker"
    assert "timed out after 4 s" in hang["reason"] and "on all 2 attempts" in hang["reason"]
    assert {c: x["status"] for c, x in got.items()} == statuses(ref_out)
    assert r["counts"]["failed"] == 1


def test_clip_timeout_in_process(reference, tmp_path):
    _, _, ref_cache = reference
    videos = stage_clips(tmp_path / "videos", HANG)
    run_build(videos, tmp_path / "out", cfg_with_cache(own_cache(ref_cache, tmp_path), run={"clip_timeout": 2}),
              dag=dag_with_fault_after("probe"))
    hang = rows(tmp_path / "out")["c/hang"]
    assert hang["status"] == "failed" and "timed out after 2 s" in hang["reason"]


def test_systemic_fault_stops_the_build_with_exit_3(reference, tmp_path):
    """Every clip failing the same internal way is not three bad clips: the build stops early, says why, and
    still leaves one manifest row per input."""
    _, _, ref_cache = reference
    videos = tmp_path / "videos"
    for i in range(4):
        (videos / "a").mkdir(parents=True, exist_ok=True)
        shutil.copy(CLIPS["a/one.mp4"], videos / "a" / f"boom{i}.mp4")
    cfg = write_config(tmp_path / "c.yaml", cfg_with_cache(ref_cache, run={"systemic_after": 2}))
    set_dag(dag_with_fault_after("probe"))
    try:
        res = CliRunner().invoke(app, ["build", "--videos", str(videos), "--out", str(tmp_path / "out"),
                                       "--config", str(cfg), "--workers", "0"])
    finally:
        set_dag(dagfile.DAG)
    assert res.exit_code == 3, res.output
    assert "the first 2 clips all failed the same way" in res.output and "disk on fire" in res.output
    got = rows(tmp_path / "out")
    assert len(got) == 4 and {r["status"] for r in got.values()} == {"failed"}
    assert sum(r["stage"] == "build" and "stopped early" in r["reason"] for r in got.values()) == 2
    assert json.loads((tmp_path / "out" / ".journal" / "state.json").read_text())["state"] == "stopped"
    assert manifest_state(tmp_path / "out") == "stopped"


def test_cache_write_failure_is_a_failed_row_not_a_crash(tmp_path):
    """An exception outside any stage (here: the cache cannot be written) ends as the clip's failed row."""
    videos = stage_clips(tmp_path / "videos")
    (videos / "a" / "two.mp4").unlink()
    (videos / "b" / "three.mp4").unlink()
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / "probe").write_text("not a folder")
    r = run_build(videos, tmp_path / "out", cfg_with_cache(cache))
    row = rows(tmp_path / "out")["a/one"]
    assert row["status"] == "failed" and "internal error" in row["reason"]
    assert r["counts"]["failed"] == 1


def _subprocess_build(videos: Path, out: Path, cfg: Path, fault: bool) -> subprocess.Popen:
    code = ("import sys, dagfile; from pipeline.cli import app, set_dag; "
            + ("from tests.fault_stages import dag_with_fault_after; set_dag(dag_with_fault_after('frames')); "
               if fault else "set_dag(dagfile.DAG); ")
            + "app(sys.argv[1:], prog_name='skelforge')")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, "-c", code, "build", "--videos", str(videos), "--out", str(out),
                             "--config", str(cfg), "--workers", "0"], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _wait_for_journal(out: Path, n: int, proc: subprocess.Popen, limit: float = 240) -> None:
    t0 = time.time()
    while len(list((out / ".journal" / "clips").glob("*.json"))) < n:
        assert proc.poll() is None, proc.stdout.read()
        assert time.time() - t0 < limit, "no clip finished"
        time.sleep(0.05)


def _hanging_build(reference, tmp_path):
    """`skelforge build --workers 0` in a subprocess, on the three clips and one that hangs (after its frames
    stage), returned once the three are journaled: (videos, cache, scratch, out, process)."""
    _, _, ref_cache = reference
    videos = stage_clips(tmp_path / "videos", HANG)
    scratch = tmp_path / "scratch"
    cache = own_cache(ref_cache, tmp_path)
    cfg = write_config(tmp_path / "c.yaml", cfg_with_cache(cache, scratch))
    out = tmp_path / "out"
    proc = _subprocess_build(videos, out, cfg, fault=True)
    try:
        _wait_for_journal(out, 3, proc)
    except BaseException:
        proc.kill()
        raise
    time.sleep(0.5)
    return videos, cache, scratch, out, proc


def test_sigkill_of_the_build_then_resume(reference, tmp_path):
    """SIGKILL of `skelforge build` mid-build: the journal and a readable progress survive; the next build
    reuses every finished clip without running it, removes the dead build's scratch, and writes shards
    byte-identical to a clean build's."""
    videos, cache, scratch, out, proc = _hanging_build(reference, tmp_path)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    res = CliRunner().invoke(app, ["inspect", str(out), "--json"])
    assert res.exit_code == 0, res.output
    prog = json.loads(res.output)["progress"]
    assert prog["state"] == "running" and prog["running"] is False and prog["finished"] == 3 and prog["total"] == 4
    res = CliRunner().invoke(app, ["inspect", str(out)])
    assert "killed" in res.output and "3 of 4 clips" in res.output

    r = run_build(videos, out, cfg_with_cache(cache, scratch))
    assert r["reused_from_journal"] == 3 and r["counts"]["failed"] == 0
    assert r["computed"]["frames"] == 0                    # the hang clip's frames were cached before the kill
    assert not list(scratch.glob("skelforge-*")), "stale scratch left behind"
    clean = tmp_path / "clean"
    run_build(videos, clean, cfg_with_cache(cache))
    assert shard_bytes(out) == shard_bytes(clean)
    assert statuses(out) == statuses(clean)


def test_sigint_finishes_cleanly_and_marks_the_build_interrupted(reference, tmp_path):
    videos, cache, scratch, out, proc = _hanging_build(reference, tmp_path)
    proc.send_signal(signal.SIGINT)
    output, _ = proc.communicate(timeout=60)
    assert proc.returncode == 130, output
    assert "interrupted" in output
    got = rows(out)
    assert len(got) == 4 and got["c/hang"]["status"] == "failed" and got["c/hang"]["stage"] == "build"
    assert json.loads((out / ".journal" / "state.json").read_text())["state"] == "interrupted"
    assert manifest_state(out) == "interrupted"
    assert not list(scratch.glob("skelforge-*"))


def test_stale_scratch_of_a_dead_build_is_removed(reference, tmp_path):
    _, _, ref_cache = reference
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    stale = tmp_path / "scratch" / f"skelforge-{int(dead.stdout)}"
    (stale / "spool-1").mkdir(parents=True)
    (stale / "spool-1" / "x.u8").write_bytes(b"\0" * 1024)
    videos = stage_clips(tmp_path / "videos")
    r = run_build(videos, tmp_path / "out", cfg_with_cache(ref_cache, tmp_path / "scratch"))
    assert r["stale_scratch_removed"] == 1 and not stale.exists()


def _entry(cache: Path, stage: str, key: str) -> Path:
    return Store(cache).path(stage, key)


def test_corrupt_cache_entries_are_misses_recomputed_and_counted(reference, tmp_path):
    videos, ref_out, ref_cache = reference
    cache = tmp_path / "cache"
    shutil.copytree(ref_cache, cache)
    ref = rows(ref_out)
    truncated = _entry(cache, "convert", ref["a/one"]["convert_key"])
    truncated.write_bytes(truncated.read_bytes()[: truncated.stat().st_size // 2])
    garbled = _entry(cache, "refine", ref["a/two"]["refine_key"])
    data = bytearray(garbled.read_bytes())
    data[len(data) // 2] ^= 0xFF
    garbled.write_bytes(bytes(data))
    r = run_build(videos, tmp_path / "out", cfg_with_cache(cache))
    assert r["cache_repaired"] == 2
    # refine recomputed (same inputs -> same key and bytes, so convert after it is a hit); the truncated
    # convert entry recomputed from its cached inputs; nothing before refine ran
    assert r["computed"]["refine"] == 1 and r["computed"]["convert"] == 1 and r["computed"]["pose"] == 0
    assert shard_bytes(tmp_path / "out") == shard_bytes(ref_out)
    assert Store(cache).load("refine", ref["a/two"]["refine_key"]) is not None       # repaired in place


def test_journaled_clips_are_not_rerun_but_a_corrupt_convert_entry_is(reference, tmp_path):
    """A second build of the same OUT submits nothing for finished clips (journal); a kept clip whose convert
    entry rotted meanwhile is rerun from the cache instead of trusted."""
    videos, ref_out, ref_cache = reference
    out = tmp_path / "out"
    shutil.copytree(ref_out, out, symlinks=True)
    cache = out / ".cache"
    r = run_build(videos, out, cfg_with_cache(cache))
    assert r["reused_from_journal"] == 3 and not any(r["computed"][s] for s in ("probe", "convert"))
    conv = _entry(cache, "convert", rows(ref_out)["a/one"]["convert_key"])
    conv.write_bytes(b"garbage")
    r = run_build(videos, out, cfg_with_cache(cache))
    assert r["reused_from_journal"] == 2 and r["computed"]["convert"] == 1 and r["cache_repaired"] == 1
    assert shard_bytes(out) == shard_bytes(ref_out)


def test_two_builds_on_one_scheduler(reference, tmp_path):
    """Two `skelforge build --scheduler` processes at once on one Dask cluster, same clips, one shared cache:
    task keys carry each build's id, so neither receives the other's results."""
    from distributed import LocalCluster
    videos, ref_out, ref_cache = reference
    cfg = write_config(tmp_path / "c.yaml", cfg_with_cache(ref_cache))
    cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                           silence_logs=50)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    code = "import sys, dagfile; from pipeline.cli import app, set_dag; set_dag(dagfile.DAG); app(sys.argv[1:])"
    try:
        procs = {n: subprocess.Popen([sys.executable, "-c", code, "build", "--videos", str(videos), "--out",
                                      str(tmp_path / n), "--config", str(cfg), "--scheduler",
                                      cluster.scheduler_address], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True)
                 for n in ("x", "y")}
        outputs = {n: p.communicate(timeout=300)[0] for n, p in procs.items()}
    finally:
        cluster.close()
    for n, p in procs.items():
        assert p.returncode == 0, outputs[n]
        assert statuses(tmp_path / n) == statuses(ref_out) and shard_bytes(tmp_path / n) == shard_bytes(ref_out)
    ids = {json.loads((tmp_path / n / "build.json").read_text())["build_id"] for n in ("x", "y")}
    assert len(ids) == 2


def _read_only_mount(path: Path) -> bool:
    """Make `path` read-only for this process: a read-only bind mount as root, else no write permission."""
    if os.geteuid() != 0:
        for p in [path, *path.rglob("*")]:
            p.chmod(p.stat().st_mode & ~0o222)
        return True
    ok = subprocess.run(["mount", "--bind", str(path), str(path)], capture_output=True).returncode == 0
    return ok and subprocess.run(["mount", "-o", "remount,ro,bind", str(path)], capture_output=True).returncode == 0


def test_read_only_complete_cache_is_used_read_only(reference, tmp_path):
    videos, ref_out, ref_cache = reference
    cache = tmp_path / "cache"
    shutil.copytree(ref_cache, cache)
    before = sorted(str(p.relative_to(cache)) for p in cache.rglob("*"))
    if not _read_only_mount(cache):
        subprocess.run(["umount", str(cache)], capture_output=True)
        pytest.skip("cannot make a read-only mount here (needs mount permission)")
    try:
        r = run_build(videos, tmp_path / "out", cfg_with_cache(cache))
        after = sorted(str(p.relative_to(cache)) for p in cache.rglob("*"))
    finally:
        if os.geteuid() == 0:
            subprocess.run(["umount", str(cache)], capture_output=True)
    assert r["cache_read_only"] is True
    assert not any(r["computed"][s] for s in ("probe", "frames", "detect", "pose", "refine", "convert"))
    assert after == before
    assert (tmp_path / "out" / ".journal" / "file-hashes.json").exists()
    assert shard_bytes(tmp_path / "out") == shard_bytes(ref_out)


def test_cache_du_and_gc_keep_what_the_newest_builds_use(reference, tmp_path):
    videos, ref_out, _ = reference
    out = tmp_path / "out"
    shutil.copytree(ref_out, out, symlinks=True)
    cache = out / ".cache"

    def du():
        res = CliRunner().invoke(app, ["cache", "du", str(out), "--json"])
        assert res.exit_code == 0, res.output
        return json.loads(res.output)

    before = du()
    scratch = tmp_path / "scratch"
    changed = {**cfg_with_cache(cache, scratch), "convert": {"min_score": 0.5}}
    n_conv = run_build(videos, out, changed)["computed"]["convert"]
    assert n_conv >= 1
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    (scratch / f"skelforge-{int(dead.stdout)}").mkdir(parents=True)       # left by a build that was killed
    after = du()
    assert after["stages"]["convert"]["entries"] == before["stages"]["convert"]["entries"] + n_conv
    assert after["builds_recorded"] == before["builds_recorded"] + 1 and len(after["stale_scratch"]) == 1
    res = CliRunner().invoke(app, ["cache", "gc", str(out), "--keep-builds", "1"])
    assert res.exit_code == 0, res.output
    removed = int(re.search(r"removed (\d+) entries", res.output).group(1))
    assert removed >= n_conv and du()["builds_recorded"] == 1 and not list(scratch.glob("skelforge-*"))
    r = run_build(videos, out, changed)             # the newest build's entries are all still there
    assert not any(v for k, v in r["computed"].items() if k not in ("labels", "report", "train"))
    r = run_build(videos, out, cfg_with_cache(cache))   # the older build's convert results were collected
    assert r["computed"]["convert"] == n_conv and r["computed"]["pose"] == 0


def test_cache_gc_refuses_without_build_records(tmp_path):
    (tmp_path / "out" / ".cache").mkdir(parents=True)
    res = CliRunner().invoke(app, ["cache", "gc", str(tmp_path / "out")])
    assert res.exit_code == 2 and "no build has recorded" in res.output


def test_store_verifies_every_read(tmp_path):
    import numpy as np

    from pipeline.cache import Artifact, CacheCorrupt
    store = Store(tmp_path)
    art = Artifact({"x": np.arange(4096, dtype=np.float32), "y": np.ones(3, bool)}, {"n": 1})
    key = "ab" * 32
    p = store.save("s", key, art)
    assert store.load("s", key).meta == {"n": 1} and store.repaired == 0
    good = p.read_bytes()
    data = bytearray(good)
    data[len(data) // 3] ^= 0x01                       # one bit inside x's data
    p.write_bytes(bytes(data))
    with pytest.raises(CacheCorrupt, match="x"):
        store.load_arrays("s", key, ["x"])
    assert store.load_arrays("s", key, ["y"])["y"].all()     # an intact member is still readable alone
    assert store.load("s", key) is None and store.repaired == 1 and not p.exists()   # a miss, removed
    p.write_bytes(good[:100])                          # truncated
    assert store.load("s", key) is None and store.repaired == 2
    assert not store.has("s", key)
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_bytes(b"")                                 # empty
    assert store.load("s", key) is None and store.repaired == 3


def test_unreadable_input_is_a_failed_row(reference, tmp_path):
    """An input whose bytes cannot be read (here: a link to /proc/self/mem, whose read fails with EIO even for
    root) is the clip's failed row; the rest of the build goes on."""
    _, ref_out, ref_cache = reference
    if not os.path.exists("/proc/self/mem"):
        pytest.skip("no /proc/self/mem on this system")
    videos = stage_clips(tmp_path / "videos")
    os.symlink("/proc/self/mem", videos / "b" / "unreadable.mp4")
    r = run_build(videos, tmp_path / "out", cfg_with_cache(ref_cache))
    got = rows(tmp_path / "out")
    bad = got.pop("b/unreadable")
    assert bad["status"] == "failed" and bad["stage"] in ("probe", "read") and bad["reason"]
    assert {c: x["status"] for c, x in got.items()} == statuses(ref_out) and r["counts"]["failed"] == 1


@pytest.fixture
def tiny_tmpfs(tmp_path):
    mnt = tmp_path / "tiny"
    mnt.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4k", "tmpfs", str(mnt)],
                      capture_output=True).returncode != 0:
        pytest.skip("cannot mount a tmpfs here (needs mount permission)")
    yield mnt
    subprocess.run(["umount", str(mnt)], capture_output=True)


def test_cache_on_a_full_disk_fails_rows_then_stops_without_leftovers(reference, tmp_path, tiny_tmpfs):
    """ENOSPC while writing cache entries: each clip's row says so, the build stops on the repeated fault
    (exit 3), and no partial entry is left on the full disk."""
    videos, _, _ = reference
    with pytest.raises(BuildStopped, match="all failed the same way"):
        run_build(videos, tmp_path / "out", cfg_with_cache(tiny_tmpfs))
    got = rows(tmp_path / "out")
    assert len(got) == 3 and all(r["status"] == "failed" for r in got.values())
    assert any("No space left on device" in (r["reason"] or "") for r in got.values())
    assert not [p for p in tiny_tmpfs.rglob("*") if p.name.endswith(".tmp")]


def test_out_folders_holding_a_source_are_refused_before_compute(tmp_path):
    videos = stage_clips(tmp_path / "videos")
    out = tmp_path / "out"
    (out / "report").mkdir(parents=True)
    os.symlink(videos / "a", out / "report" / "clips")          # the report folder reaches into the inputs
    res = CliRunner().invoke(app, ["build", "--videos", str(out / "report" / "clips"), "--out", str(out),
                                   "--workers", "0"])
    assert res.exit_code == 2 and "holds the source video" in res.output
    assert not (out / ".cache").exists()


def test_a_failing_dataset_stage_is_recorded_and_its_dependents_not_run(reference, tmp_path):
    """The report stage meets a destination it must refuse (a link in OUT/report leading onto the inputs): the
    build records the failure, still writes manifest and shards, and exits 3."""
    videos, ref_out, ref_cache = reference
    out = tmp_path / "out"
    (out / "report").mkdir(parents=True)
    os.symlink(videos / "a", out / "report" / "clips")
    cfg = write_config(tmp_path / "c.yaml", cfg_with_cache(ref_cache))
    res = CliRunner().invoke(app, ["build", "--videos", str(videos), "--out", str(out), "--config", str(cfg),
                                   "--workers", "0"])
    assert res.exit_code == 3 and "report stage failed" in res.output
    record = json.loads((out / "build.json").read_text())
    assert record["state"] == "incomplete" and record["failed_dataset_stages"] == ["report"]
    assert statuses(out) == statuses(ref_out) and shard_bytes(out) == shard_bytes(ref_out)
