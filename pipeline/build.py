"""A build: validate everything that can be checked before compute, run the clips, then the dataset stages
(on the same Dask client: their per-file and per-clip work runs as tasks on the workers), then write the
manifest and build record."""
from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import shutil
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from rich.console import Console

from schemas.config import BuildConfig
from schemas.experts import settings_json, used_experts

from . import __version__
from .adapters import AdapterError, discover
from .cache import Store, atomic_write_bytes
from .cluster import check as check_cluster
from .hashing import HashMemo, file_stamp
from .journal import Journal
from .keys import clip_keys
from .manifest import build_table, write_manifest
from .dataset_tasks import DatasetTasks
from .runner import ClipTask, SystemicFailure, build_client, in_process, run_clips
from .scratch import remove_stale, scratch_dir
from .video_task import adapter_fields, failed_result


class BuildError(RuntimeError):
    """A problem found before any compute; the message says what to fix."""


@dataclass
class DatasetContext:
    cfg: BuildConfig
    out: Path
    cache_dir: Path
    mode: str
    experts: list
    fused_experts: list
    stage_order: list
    scheduler: Optional[str] = None
    tasks: DatasetTasks = dataclasses.field(default_factory=DatasetTasks)   # where a stage's per-file/clip tasks run


def check_out_dir(out: Path) -> None:
    try:
        out.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=out, prefix=".write-test-"):
            pass
    except OSError as e:
        raise BuildError(f"--out {out} is not writable: {e.strerror or e}") from None


def check_outputs_clear_of_inputs(out: Path, cfg: BuildConfig, items: list) -> None:
    """The folders a build writes into (shards, report, journal, cache) must not hold an input video: a source
    there could be overwritten or deleted (a shard or report file of the same name, cache gc)."""
    from workers.io.dest_guard import UnsafeDestination, check_dest
    sources = [it.path for it in items]
    for dest in (out / "shards", out / "report", out / ".journal", Path(cfg.cache.dir or out / ".cache")):
        try:
            check_dest(dest, sources)
        except UnsafeDestination as e:
            raise BuildError(f"--out {out}: {e}") from None


def _version(pkg: str) -> str:
    from importlib.metadata import PackageNotFoundError, version
    try:
        return version(pkg)
    except PackageNotFoundError:
        return "not installed"


def check_fit3d(cfg: BuildConfig) -> None:
    """fit3d with SMPL-X: the model file must be there (it is licence-gated and user-supplied)."""
    s = cfg.fit3d.smplx
    if not (cfg.fit3d.enabled and s.model_dir):
        return
    from workers.fitting.smplx_fit import resolve_model_file
    try:
        resolve_model_file(s.model_dir, s.gender)
    except FileNotFoundError as e:
        raise BuildError(f"fit3d.smplx.model_dir: {e}") from None


def check_extras(cfg: BuildConfig) -> None:
    """Every optional feature the config names has its packages installed (schemas/extras.py)."""
    from schemas.extras import missing
    problems = missing(cfg)
    if problems:
        raise BuildError("; ".join(problems))


def check_train(cfg: BuildConfig) -> None:
    """train.enabled: the layout and regions it names must be ones this build writes, and deepacts' modalities
    ones the layout (and, for flow, the flow stage) gives."""
    tc = cfg.train
    if not tc.enabled:
        return
    layout = tc.layout or sorted(cfg.layouts)[0]
    if layout not in cfg.layouts:
        raise BuildError(f"train.layout {layout!r} is not built (layouts: {list(cfg.layouts)})")
    from schemas.layouts import get_layout
    missing = [r for r in tc.regions or () if r not in get_layout(layout).regions]
    if missing:
        raise BuildError(f"train.regions {missing}: {layout} has {list(get_layout(layout).regions)}")
    from schemas.train import modality_fits
    lacking = [m for m in tc.modalities or () if not modality_fits(m, get_layout(layout).regions)]
    if lacking:
        raise BuildError(f"train.modalities {lacking}: {layout} has {list(get_layout(layout).regions)}")
    if "flow" in (tc.modalities or ()) and not cfg.flow.enabled:
        raise BuildError("train.modalities ['flow'] needs flow.enabled: true (the flow stage writes the shards' "
                         "flow column)")


def experts_record(cfg: BuildConfig) -> list[dict]:
    """The person detector and every configured expert with versions and model-file hashes. Instantiating
    each expert validates its settings; a missing model file raises here, before any compute."""
    import json as _json
    from importlib.metadata import version

    from workers import models
    from workers.experts.registry import EXPERTS
    d = cfg.detect
    try:
        det_hash = models.detector_hash(d.detector, str(d.weights) if d.weights else None)
    except FileNotFoundError as e:
        raise BuildError(str(e)) from None
    package = {"blazepose": f"mediapipe {version('mediapipe')} (ai-edge-litert {version('ai-edge-litert')})",
               "yolox": f"rtmlib {_version('rtmlib')}", "yolo-pose": f"ultralytics {_version('ultralytics')}"}
    out = [{"name": f"{d.detector}-detector", "role": "person detection", "package": package[d.detector],
            "model_sha256": det_hash}]
    for name, parts in used_experts(cfg).items():
        settings = _json.loads(settings_json(cfg, name))
        try:
            expert = EXPERTS[name](**settings)
        except ValueError as e:
            raise BuildError(f"expert_settings.{name}: {e}") from None
        try:
            expert.check()
            v = models.expert_version(name, settings_json(cfg, name))
        except FileNotFoundError as e:
            raise BuildError(f"experts: {e}") from None
        out.append({"name": name, "role": ", ".join(parts), "package": v["package"],
                    "model_sha256": v["model_sha256"], "settings": {**expert.defaults, **settings}})
    return out


def build(dag, videos: Path, out: Path, cfg: BuildConfig, workers: int, scheduler: Optional[str],
          only: Optional[str], start: Optional[str], force: bool, console: Console, cluster: str = "local",
          gpus: int = 0) -> dict:
    t_start = time.time()
    # ---- everything checkable before compute
    if not videos.is_dir():
        raise BuildError(f"--videos {videos} is not a directory")
    try:
        plan = dag.plan(only=only, start=start, force=force)
        adapter, items = discover(videos, cfg)
    except (AdapterError, ValueError) as e:
        raise BuildError(str(e)) from None
    if not items:
        raise BuildError(f"--videos {videos} holds no videos (extensions: {' '.join(cfg.dataset.extensions)})")
    if cfg.labels.map:
        from workers.curation.labels import LabelMapError, check_map, read_map
        try:
            check_map(read_map(cfg.labels.map), {it.label_name for it in items}, cfg.labels.keep_unmapped)
        except LabelMapError as e:
            raise BuildError(str(e)) from None
    check_out_dir(out)
    check_outputs_clear_of_inputs(out, cfg, items)
    check_extras(cfg)
    check_train(cfg)
    check_fit3d(cfg)
    check_cluster(cluster, cfg, scheduler, gpus)
    experts = experts_record(cfg)
    cache_dir = Path(cfg.cache.dir or out / ".cache")
    store = Store(cache_dir)
    scratch_root = Path(cfg.cache.scratch or tempfile.gettempdir())
    stale = remove_stale(scratch_root)
    scratch = scratch_dir(scratch_root)
    journal = Journal(out)
    memo = HashMemo(journal.memo_path)
    build_id = uuid.uuid4().hex[:12]
    console.print(f"[bold]skelforge[/bold] {__version__}: {len(items)} clips from {videos} "
                  f"(adapter: {adapter}) -> {out}" + (" [yellow](cache read-only)[/yellow]" if store.read_only else ""))

    # ---- per-clip stages: journaled results that still hold are reused, the rest run
    results: dict[str, dict] = {}
    if all(m == "use" for m in plan.values()):
        for clip_id, res in reuse_journal(journal, items, dag, cfg, store).items():
            results[clip_id] = res
            memo.record(res["row"]["source_path"], *res["digest"])
    tasks = [ClipTask(it, memo.known(it.path)) for it in items if it.clip_id not in results]
    journal.begin(build_id, total=len(items), reused=len(results))
    compact = _Compactor(out, dag, journal, memo, results)

    def on_result(res):
        results[res["row"]["clip_id"]] = res
        if res.get("final"):
            journal.record(res)
        if res["digest"]:
            memo.record(res["row"]["source_path"], *res["digest"])
        compact.maybe()

    t0 = time.time()
    with contextlib.ExitStack() as stack:     # the Dask client stays open for the dataset stages' tasks
        try:
            # the cluster starts when work first needs it: a rebuild with nothing to compute starts none
            connect = None if in_process(workers, scheduler, cluster, gpus) else (lambda: stack.enter_context(
                build_client(workers, scheduler, console, cfg.run, cluster, cfg, gpus)))
            client = connect() if connect and tasks else None
            run_clips(tasks, (cfg, dag, plan, str(cache_dir), str(scratch)), client, workers, scheduler, console,
                      on_result, cfg.run, build_id, cluster, gpus, store.read_only)
        except SystemicFailure as e:
            _close_unfinished(items, results, out, dag, journal, "stopped", f"not run: the build stopped early ({e})")
            raise BuildStopped(f"{e}. Nothing is wrong with the clips themselves as far as the build can tell; fix "
                               f"the cause and re-run (finished clips are kept).") from None
        except KeyboardInterrupt:
            _close_unfinished(items, results, out, dag, journal, "interrupted", "interrupted before this clip finished")
            raise
        finally:
            memo.flush()
            shutil.rmtree(scratch, ignore_errors=True)
        clip_seconds = time.time() - t0
        rows_in_order = [results[it.clip_id] for it in items]
        dataset_info = run_dataset_stages(dag, plan, DatasetContext(
            cfg, out, cache_dir, "use", experts, list(used_experts(cfg)), dag.order, scheduler,
            DatasetTasks(client, build_id, cfg.run.retries, connect)), rows_in_order)
    failed_stages = [k for k, v in dataset_info.items() if v.get("status") == "failed"]
    state = "incomplete" if failed_stages else "complete"

    write_manifest(build_table(rows_in_order, dag.order), out, state)
    journal.prune({it.clip_id for it in items})
    journal.set_state(state=state, finished=len(items))
    repaired = store.repaired + sum(r.get("cache_repaired", 0) for r in rows_in_order)
    refs_recorded = record_refs(store, build_id, rows_in_order, console,
                                [r for info in dataset_info.values() for r in info.get("refs", [])])
    counts = {s: sum(r["row"]["status"] == s for r in rows_in_order) for s in ("ok", "filtered", "failed")}
    record = {"skelforge_version": __version__, "build_id": build_id,
              "state": state, "failed_dataset_stages": failed_stages,
              "adapter": adapter,
              "videos": str(videos), "plan": plan,
              "counts": counts, "clip_seconds": round(clip_seconds, 3), "total_seconds": round(time.time() - t_start, 3),
              "workers": workers, "gpus": gpus, "scheduler": scheduler, "cluster": None if scheduler else cluster,
              "experts": experts,
              "reused_from_journal": len(items) - len(tasks), "cache_repaired": repaired,
              "cache_read_only": store.read_only, "stale_scratch_removed": len(stale), "refs_recorded": refs_recorded,
              "retried": sum(1 for r in rows_in_order if r.get("attempts", 1) > 1),
              "dataset_stages": {k: {kk: vv for kk, vv in v.items() if kk not in ("files", "refs")}
                                 for k, v in dataset_info.items()},
              "computed": {**{s: sum(1 for r in rows_in_order if s in r["stages"] and not r["stages"][s]["cached"])
                              for s in dag.order if plan[s] != "skip" and s not in dataset_info},
                           **{s: int(not info["cached"] and info.get("status") != "failed")
                              for s, info in dataset_info.items()}},
              "config": cfg.model_dump(mode="json")}
    atomic_write_bytes(out / "build.json", json.dumps(record, indent=1, sort_keys=True).encode())
    return record


def run_dataset_stages(dag, plan: dict, dctx: DatasetContext, rows_in_order: list[dict]) -> dict[str, dict]:
    """The dataset stages in DAG order. A failing one (a bug, a full disk, an unsafe destination, a task that
    failed) is recorded, and the stages that need it are not run; the manifest and build record are written
    either way."""
    dataset_info: dict[str, dict] = {}
    for node in dag.dataset_stages():
        name = node.stage.name
        mode = plan[name]
        if mode == "skip":
            continue
        t1 = time.time()
        failed_needs = [d for d in node.needs if dataset_info.get(d, {}).get("status") == "failed"]
        if failed_needs:
            info = {"cached": False, "status": "failed", "reason": f"not run: {', '.join(failed_needs)} failed"}
        else:
            try:
                info = node.stage.run(dataclasses.replace(dctx, mode=mode), rows_in_order)
            except Exception as e:
                info = {"cached": False, "status": "failed", "reason": f"{type(e).__name__}: {e}"}
        info["seconds"] = round(time.time() - t1, 3)
        dataset_info[name] = info
    return dataset_info


class BuildStopped(RuntimeError):
    """The build stopped early on a fault common to every clip (exit 3); finished clips are journaled."""


def reuse_journal(journal: Journal, items: list, dag, cfg: BuildConfig, store: Store) -> dict[str, dict]:
    """Journaled results that still hold: a final result, the same file (stamp), the same cache keys for every
    stage it ran, and (for kept clips) an intact convert entry in the cache. Adapter fields (label, split, ...)
    are refreshed from this build's discovery."""
    previous = journal.entries()
    out = {}
    video_stages = [n.stage.name for n in dag.video_stages()]
    for it in items:
        res = previous.get(it.clip_id)
        if not res or not res.get("final") or not res.get("digest"):
            continue
        try:
            if file_stamp(it.path) != res["digest"][0]:
                continue
        except OSError:
            continue
        expected = clip_keys(dag, cfg, res["digest"][1])
        ran = [s for s in video_stages if s in res["stages"]]
        if ran != video_stages[:len(ran)] or any(res["stages"][s]["key"] != expected[s] for s in ran):
            continue
        status = res["row"]["status"]
        if status == "ok" and (len(ran) != len(video_stages) or store.load("convert", expected["convert"]) is None):
            continue
        if status != "ok" and res["row"]["stage"] != ran[-1]:
            continue
        res["row"].update(adapter_fields(it))
        res["digest"] = tuple(res["digest"])
        res["stages"] = {s: {**info, "cached": True, "seconds": 0.0} for s, info in res["stages"].items()}
        res["cache_repaired"] = 0
        out[it.clip_id] = res
    return out


def record_refs(store: Store, build_id: str, results: list[dict], console: Console, extra: list = ()) -> bool:
    """The cache entries this build needs, for `skelforge cache gc --keep-builds N` (skipped when read-only;
    a failed write is a warning: the build's outputs are complete, only gc knows less). `extra`: entries the
    dataset stages used on the workers (the report's images)."""
    if store.read_only:
        return False
    refs = sorted({(s, k) for r in results for s, k in r.get("refs", [])} | {(s, k) for s, k in extra}
                  | {(s, info["key"]) for r in results for s, info in r["stages"].items()} | store.touched)
    body = json.dumps({"build_id": build_id, "time": time.time(), "entries": refs}).encode()
    try:
        atomic_write_bytes(store.root / "refs" / f"{time.time_ns()}-{build_id}.json", body)
    except OSError as e:
        console.print(f"[yellow]warning:[/yellow] could not record this build's cache entries for `cache gc` "
                      f"in {store.root / 'refs'}: {e.strerror or e}", soft_wrap=True)
        return False
    return True


class _Compactor:
    """Rewrites OUT/manifest.parquet (finished clips) and the hash memo every COMPACT_SECONDS during a build, so
    a build killed at any point leaves a readable partial manifest beside the journal."""
    COMPACT_SECONDS = 30.0

    def __init__(self, out, dag, journal, memo, results):
        self.out, self.dag, self.journal, self.memo, self.results = out, dag, journal, memo, results
        self.last = time.monotonic()

    def maybe(self) -> None:
        if time.monotonic() - self.last < self.COMPACT_SECONDS:
            return
        self.last = time.monotonic()
        write_manifest(build_table(list(self.results.values()), self.dag.order), self.out, "running")
        self.memo.flush()
        self.journal.set_state(finished=len(self.results))


def _close_unfinished(items, results, out, dag, journal, state: str, reason: str) -> None:
    """An ended-early build still leaves one manifest row per input: unfinished clips get a failed row (stage
    `build`; not journaled, so the next build runs them) and the journal state says how the build ended."""
    rows = [results.get(it.clip_id) or failed_result(it, "build", reason) for it in items]
    write_manifest(build_table(rows, dag.order), out, state)
    journal.set_state(state=state, finished=len(results))
