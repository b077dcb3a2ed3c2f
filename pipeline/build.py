"""A build: validate everything that can be checked before compute, run the clips, then the dataset stages,
then write the manifest and build record."""
from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from rich.console import Console

from schemas.config import BuildConfig

from . import __version__
from .adapters import AdapterError, discover
from .cache import atomic_write_bytes
from .hashing import HashMemo
from .manifest import build_table, write_manifest
from .runner import run_clips
from .stages.pose import used_experts


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


def check_out_dir(out: Path) -> None:
    try:
        out.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=out, prefix=".write-test-"):
            pass
    except OSError as e:
        raise BuildError(f"--out {out} is not writable: {e.strerror or e}") from None


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


def check_train(cfg: BuildConfig) -> None:
    """train.enabled: the layout and regions it names must be ones this build writes."""
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


def experts_record(cfg: BuildConfig) -> list[dict]:
    """The person detector and every configured expert with versions and model-file hashes. Instantiating
    each expert validates its settings; a missing model file raises here, before any compute."""
    import json as _json
    from importlib.metadata import version

    from pipeline.stages.pose import settings_json, used_experts
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
          only: Optional[str], start: Optional[str], force: bool, console: Console) -> dict:
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
    check_train(cfg)
    check_fit3d(cfg)
    experts = experts_record(cfg)
    cache_dir = Path(cfg.cache.dir or out / ".cache")
    scratch = Path(cfg.cache.scratch or tempfile.gettempdir()) / f"skelforge-{os.getpid()}"
    memo = HashMemo(cache_dir / "file-hashes.json")
    console.print(f"[bold]skelforge[/bold] {__version__}: {len(items)} clips from {videos} "
                  f"(adapter: {adapter}) -> {out}")

    # ---- per-clip stages
    results: list[dict] = []

    def on_result(res):
        results.append(res)
        if res["digest"]:
            memo.record(res["row"]["source_path"], *res["digest"])

    tasks = [(it, memo.known(it.path)) for it in items]
    t0 = time.time()
    try:
        run_clips(tasks, (cfg, dag, plan, str(cache_dir), str(scratch)), workers, scheduler, console, on_result)
    finally:
        memo.flush()
        shutil.rmtree(scratch, ignore_errors=True)
    clip_seconds = time.time() - t0

    # ---- dataset stages
    dataset_info = {}
    for node in dag.dataset_stages():
        mode = plan[node.stage.name]
        if mode == "skip":
            continue
        t1 = time.time()
        fused = list(used_experts(cfg))
        info = node.stage.run(DatasetContext(cfg, out, cache_dir, mode, experts, fused, dag.order, scheduler), results)
        info["seconds"] = round(time.time() - t1, 3)
        dataset_info[node.stage.name] = info

    table = build_table(results, dag.order)
    write_manifest(table, out)
    counts = {s: sum(r["row"]["status"] == s for r in results) for s in ("ok", "filtered", "failed")}
    record = {"skelforge_version": __version__, "adapter": adapter, "videos": str(videos), "plan": plan,
              "counts": counts, "clip_seconds": round(clip_seconds, 3), "total_seconds": round(time.time() - t_start, 3),
              "workers": workers, "scheduler": scheduler, "experts": experts,
              "dataset_stages": {k: {kk: vv for kk, vv in v.items() if kk != "files"} for k, v in dataset_info.items()},
              "computed": {**{s: sum(1 for r in results if s in r["stages"] and not r["stages"][s]["cached"])
                              for s in dag.order if plan[s] != "skip" and s not in dataset_info},
                           **{s: int(not info["cached"]) for s, info in dataset_info.items()}},
              "config": cfg.model_dump(mode="json")}
    atomic_write_bytes(out / "build.json", json.dumps(record, indent=1, sort_keys=True).encode())
    return record
