"""One experiment: a `train:` config (schemas/train.py) run on a build's shards, start to finish.

inputs:  OUT (a build: shards/<layout>/, classes.json, manifest), a TrainConfig, the run directory RUN
outputs: RUN/run.json (the config, layout, classes, device; deepacts: its modalities),
         RUN/stamp_stats.json (deepacts: the training split's stamp scaling, read back on resume),
         RUN/metrics.json (top-1/top-5, per-class accuracy, bottom-5 classes, most-confused pairs, confusion
         matrix, history per stream and pass),
         RUN/scores.npz (eval scores, labels, clip ids), RUN/curves.png, RUN/per_class.png; per stream
         RUN/<stream>/checkpoint.pt when several streams run (else RUN/checkpoint.pt)
passes:  1. train (resumes from the checkpoint when RUN was interrupted);
         2. with `hierarchy`: superclasses per level from pass 1's confusion on the *training* split (the
            evaluation split is never looked at), then the model plus auxiliary group classifiers trained on,
            from pass 1's weights (RUN[/<stream>]/hierarchical/);
         3. with `prune`: iterative pruning of the lowest-L2 filters with inherited weights, fine-tuned each
            round, until evaluation accuracy drops twice; the best round is kept (RUN[/<stream>]/pruned.pt).
         With stream `all`, one model per stream and their softmax scores averaged (score fusion).
resources: the configured device (`auto` = CUDA when present); under torchrun, DDP over the processes
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

import numpy as np
import torch
from torch import nn

from schemas.layouts import get_layout
from schemas.layouts.base import Layout, restrict
from schemas.train import MODALITIES, TrainConfig, modality_fits

from ..data.dataset import ShardDataset
from ..data.stamp_dataset import StampDataset, flow_in_shards
from ..io.atomic import atomic_write_bytes
from ..io.parquet_shards import shard_split
from .graph import parents
from .metrics import classification_metrics
from .registry import BuildArgs, get_model
from .stamps import MissingModality, StampStats, check_modalities
from .streams import stream as stream_transform
from .trainer import (Distributed, Trainer, TrainOptions, UnsafeCheckpoint, init_distributed, load_checkpoint,
                      seed_everything)


class ExperimentError(ValueError):
    """A run that cannot start, phrased so the user knows what to change."""


@dataclass
class Data:
    train: torch.utils.data.Dataset
    eval: Optional[torch.utils.data.Dataset]
    layout: Layout
    names: list[str]
    eval_clips: list[str]
    modalities: tuple[str, ...] = ()                  # deepacts: the stamps its datasets give
    setup: Callable[[Path], dict] = lambda run_dir: {}  # once the run directory is claimed; -> facts for run.json


def built_layouts(out: Path) -> list[str]:
    return sorted(p.name for p in (Path(out) / "shards").glob("*/") if any(p.glob("*.parquet")))


def class_names(out: Path) -> list[str]:
    path = Path(out) / "classes.json"
    if not path.exists():
        raise ExperimentError(f"{out} has no classes.json: is it a skelforge build's --out folder?")
    classes = json.loads(path.read_text())
    n = max(c["id"] for c in classes) + 1
    names = [f"(unused id {i})" for i in range(n)]
    for c in classes:
        names[c["id"]] = c["name"]
    return names


def load_data(out: Path, tc: TrainConfig) -> Data:
    layouts = built_layouts(out)
    name = tc.layout or (layouts[0] if layouts else None)
    if name not in layouts:
        raise ExperimentError(f"no shards for layout {name!r} in {out}/shards; built: {layouts}")
    layout, keep = get_layout(name), None
    if tc.regions:
        try:
            layout, keep = restrict(layout, tuple(tc.regions))
        except (KeyError, ValueError) as e:
            raise ExperimentError(f"train.regions: {e}") from None
    splits = {shard_split(f.name) for f in (Path(out) / "shards" / name).glob("*.parquet")} - {None}
    if tc.train_split not in splits:
        raise ExperimentError(f"no {tc.train_split!r} split in {out}/shards/{name} (splits: {sorted(splits)}): set "
                              f"train.train_split or build with splits (e.g. splits.method: stratified)")
    return INPUTS[get_model(tc.model).inputs](out, tc, name, layout, keep, tc.eval_split in splits)


def _skeleton_data(out: Path, tc: TrainConfig, name: str, layout: Layout, keep, has_eval: bool) -> Data:
    entry = get_model(tc.model)
    kw = dict(length=tc.frames or entry.frames, max_persons=tc.max_persons, normalize=entry.normalize, joints=keep)
    train = ShardDataset(out, name, split=tc.train_split, **kw)
    ev = ShardDataset(out, name, split=tc.eval_split, **kw) if has_eval else None
    return Data(train, ev, layout, class_names(out), list(ev.clip_ids) if ev is not None else [])


def stamp_modalities(tc: TrainConfig, full: Layout, layout: Layout, has_flow: bool) -> tuple[str, ...]:
    """The stamps a deepacts run uses: those asked for (an error where the layout lacks one; default: every one,
    flow only when the build has it) whose joints lie in the trained regions (`train.regions`, as `bench` sets
    them; `layout` is the full layout restricted to them)."""
    if tc.modalities is not None:
        try:
            check_modalities(full, tc.modalities)
        except MissingModality as e:
            raise ExperimentError(f"train.modalities: {e}") from None
    asked = tc.modalities or tuple(m for m in MODALITIES if m != "flow" or has_flow)
    inside = tuple(m for m in asked if modality_fits(m, layout.regions))
    if not inside:
        raise ExperimentError(f"train.modalities: none of {list(asked)} lies in the regions {sorted(layout.regions)}")
    if "flow" in inside and not has_flow:
        raise ExperimentError(f"train.modalities: the {full.name} shards have no `flow` column; build with "
                              f"`flow: {{enabled: true}}` (it re-runs only flow, convert and shards) or drop flow")
    return inside


def _stamp_data(out: Path, tc: TrainConfig, name: str, layout: Layout, keep, has_eval: bool) -> Data:
    full = get_layout(name)
    has_flow = flow_in_shards(out, name)
    mods = stamp_modalities(tc, full, layout, has_flow)
    kw = dict(length=tc.frames or get_model(tc.model).frames, max_persons=tc.max_persons)
    train = StampDataset(out, name, mods, split=tc.train_split, **kw)
    ev = StampDataset(out, name, mods, split=tc.eval_split, **kw) if has_eval else None

    def setup(run_dir: Path) -> dict:
        """The training split's scaling statistics, saved with the run (read back when it resumes)."""
        path = Path(run_dir) / STAMP_STATS
        if path.exists():
            stats = StampStats.load(path)
        else:
            stats = train.fit_stats(tc.num_workers)
            stats.save(path)
        for ds in (train, ev):
            if ds is not None:
                ds.stats = stats
        return {"modalities": list(mods), "stamp_stats": STAMP_STATS}
    return Data(train, ev, layout, class_names(out), list(ev.clip_ids) if ev is not None else [], mods, setup)


INPUTS: dict[str, Callable[..., Data]] = {"skeleton": _skeleton_data, "stamps": _stamp_data}
STAMP_STATS = "stamp_stats.json"


def resolve_device(device: str) -> str:
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ExperimentError(f"train.device {device!r}: no CUDA device here (use auto or cpu)")
    return device


def options(tc: TrainConfig, device: str, epochs: Optional[int] = None, lr: Optional[float] = None) -> TrainOptions:
    return TrainOptions(epochs=epochs or tc.epochs, batch_size=tc.batch_size, lr=lr or tc.lr,
                        weight_decay=tc.weight_decay, warmup_epochs=tc.warmup_epochs if epochs is None else 0,
                        seed=tc.seed, device=device, amp=tc.amp, num_workers=tc.num_workers)


def _transform(model_name: str, stream: str, layout: Layout) -> Callable:
    if not get_model(model_name).streamed:           # posec3d builds heatmaps, deepacts takes stamps
        return lambda x: x
    par = parents(layout)
    return lambda x: stream_transform(stream, x, par)


def load_backbone(model: nn.Module, checkpoint: Path, freeze: bool) -> dict:
    """Copy every tensor of a pre-trained run whose name and shape match, except the classifier; with
    `freeze`, only the classifier trains (linear probe; BN statistics fixed)."""
    if not checkpoint.exists():
        raise ExperimentError(f"train.init_from: {checkpoint} does not exist")
    try:
        state = load_checkpoint(checkpoint, "cpu")["model"]
    except UnsafeCheckpoint as e:
        raise ExperimentError(f"train.init_from: {e}") from None
    own = model.state_dict()
    take = {k: v for k, v in state.items() if not k.startswith("classifier.") and k in own and own[k].shape == v.shape}
    if not take:
        raise ExperimentError(f"train.init_from: no weights of {checkpoint} fit this model (another model or layout?)")
    model.load_state_dict(take, strict=False)
    if freeze:
        for name, p in model.named_parameters():
            p.requires_grad_(name.startswith("classifier."))
        frozen = [m for n, m in model.named_modules() if n and not n.startswith("classifier")]
        model.train = _probe_train(model, frozen)
    return {"loaded": len(take), "of": len(own), "frozen": freeze}


def _probe_train(model: nn.Module, frozen: list) -> Callable:
    """model.train that keeps the frozen part's BatchNorm statistics fixed."""
    original = type(model).train

    def train(mode: bool = True):
        original(model, mode)
        for m in frozen:
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                m.eval()
        return model
    return train


def run_experiment(out: Path, tc: TrainConfig, run_dir: Path, on_epoch: Optional[Callable[[str, dict], None]] = None,
                   ) -> dict:
    out, run_dir = Path(out), Path(run_dir)
    device = resolve_device(tc.device)
    dist = init_distributed(device)
    data = load_data(out, tc)
    entry = get_model(tc.model)
    streams = entry.streams if tc.stream == "all" else (tc.stream,)
    record = {"config": tc.model_dump(mode="json"), "build": str(out.resolve()), "layout": data.layout.name,
              "num_joints": data.layout.num_joints, "classes": data.names, "device": device,
              "world_size": dist.world, "train_clips": len(data.train),
              "eval_clips": len(data.eval) if data.eval is not None else 0}
    _claim(run_dir, record, dist)
    facts = data.setup(run_dir)
    if facts and dist.main:
        record.update(facts)
        atomic_write_bytes(run_dir / "run.json", json.dumps(record, indent=1).encode())
    per_stream, scores, labels = {}, [], None
    for s in streams:
        sdir = run_dir / s if len(streams) > 1 else run_dir
        sdir.mkdir(parents=True, exist_ok=True)
        seed_everything(tc.seed)
        res = _train_stream(tc, data, s, sdir, device, dist, lambda rec, s=s: on_epoch and on_epoch(s, rec))
        per_stream[s] = res["summary"]
        if res["scores"] is not None:
            scores.append(res["scores"])
            labels = res["labels"]
    if not dist.main:
        return {}
    metrics = {"run": str(run_dir), **{k: record[k] for k in ("layout", "num_joints", "device", "train_clips",
                                                               "eval_clips")},
               "model": tc.model, "stream": tc.stream, "streams": per_stream,
               **{k: facts[k] for k in ("modalities",) if k in facts}}
    if scores:
        fused = np.mean(scores, axis=0)
        metrics.update(classification_metrics(fused, labels, data.names))
        np.savez(run_dir / "scores.npz", scores=fused, labels=labels, clips=np.array(data.eval_clips))
    else:
        metrics.update({"top1": None, "note": f"no {tc.eval_split!r} split: trained without evaluation"})
    atomic_write_bytes(run_dir / "metrics.json", json.dumps(metrics, indent=1).encode())
    from .plots import plot_run
    plot_run(run_dir, metrics)
    return metrics


def _claim(run_dir: Path, record: dict, dist: Distributed) -> None:
    """RUN/run.json: a run directory holds one configuration; resuming needs the same one."""
    path = run_dir / "run.json"
    if path.exists():
        old = json.loads(path.read_text())
        if old["config"] != record["config"] or old["build"] != record["build"]:
            raise ExperimentError(f"{run_dir} holds a run with another configuration or build; choose a new --run "
                                  f"(or delete it)")
    if dist.main:
        run_dir.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(path, json.dumps(record, indent=1).encode())


def _train_stream(tc: TrainConfig, data: Data, stream: str, sdir: Path, device: str, dist: Distributed,
                  on_epoch: Callable) -> dict:
    entry = get_model(tc.model)
    n_classes = len(data.names)
    model = entry.build(BuildArgs(n_classes, data.layout, 3, tc.width, stream, tc.dropout, tc.max_persons,
                                  data.modalities, tc.stamp_size or 224))
    summary: dict = {"parameters": int(sum(p.numel() for p in model.parameters()))}
    if tc.init_from:
        src = Path(tc.init_from)
        ckpt = src / stream / "checkpoint.pt" if (src / stream / "checkpoint.pt").exists() else src / "checkpoint.pt"
        summary["init_from"] = {"checkpoint": str(ckpt), **load_backbone(model, ckpt, tc.freeze_backbone)}
    transform = _transform(tc.model, stream, data.layout)
    trainer = Trainer(model, options(tc, device), sdir, transform=transform, on_epoch=on_epoch, dist=dist)
    summary["resumed"] = _resume(trainer)
    summary["history"] = trainer.fit(data.train, data.eval)
    final = trainer
    if tc.hierarchy:
        final, summary["hierarchy"] = _hierarchical_pass(tc, data, trainer, sdir, device, dist, on_epoch)
    if tc.prune and data.eval is not None:
        final, summary["pruning"] = _prune_pass(tc, data, final, sdir, device, dist)
    if data.eval is None:
        return {"summary": summary, "scores": None, "labels": None}
    scores, labels = final.predict(data.eval)
    summary["top1"] = round(float((scores.argmax(1) == labels).mean()), 4) if len(labels) else None
    summary["parameters_final"] = int(sum(p.numel() for p in final.model.parameters()))
    return {"summary": summary, "scores": scores, "labels": labels}


def _resume(trainer: Trainer) -> bool:
    try:
        return trainer.resume()
    except UnsafeCheckpoint as e:
        raise ExperimentError(f"resume: {e}") from None


def _hierarchical_pass(tc, data, first: Trainer, sdir: Path, device, dist, on_epoch):
    from .hierarchy import HierarchicalHead, build_levels, hierarchical_loss
    from .metrics import confusion
    scores, labels = first.predict(data.train)
    cm = confusion(scores.argmax(1), labels, len(data.names))
    maps = build_levels(cm, [min(n, len(data.names)) for n in tc.hierarchy], seed=tc.seed)
    head = HierarchicalHead(first.model, maps)
    weights = [tc.hierarchy_weight] * len(maps)
    hdir = sdir / "hierarchical"
    hdir.mkdir(exist_ok=True)
    t = Trainer(head, options(tc, device), hdir, transform=first.transform, on_epoch=on_epoch, dist=dist,
                loss_fn=lambda out, y: hierarchical_loss(out, y, head.group_maps, weights))
    _resume(t)
    hist = t.fit(data.train, data.eval)
    groups = [{"groups": int(m.max()) + 1, "members": [[data.names[c] for c in np.flatnonzero(m == g)]
                                                        for g in range(int(m.max()) + 1)]} for m in maps]
    return t, {"levels": groups, "weight": tc.hierarchy_weight, "history": hist,
               "train_confusion": cm.tolist()}


def _prune_pass(tc, data, trained: Trainer, sdir: Path, device, dist):
    from .prune_surgery import iterative_prune
    rounds = []

    def fine_tune(model):
        rdir = sdir / "pruning" / f"round-{len(rounds) + 1}"
        rdir.mkdir(parents=True, exist_ok=True)
        t = Trainer(model, options(tc, device, epochs=tc.prune_epochs, lr=tc.lr * 0.1), rdir,
                    transform=trained.transform, loss_fn=trained.loss_fn, dist=dist)
        t.fit(data.train)
        return model

    def evaluate(model):
        t = Trainer(model, options(tc, device), sdir, transform=trained.transform, dist=dist)
        s, y = t.predict(data.eval)
        acc = float((s.argmax(1) == y).mean())
        rounds.append(acc)
        return acc

    res = iterative_prune(trained.model, fine_tune, evaluate, ratio=tc.prune_ratio, max_drops=2,
                          max_rounds=tc.prune_max_rounds)
    if dist.main:
        torch.save(res.model, sdir / "pruned.pt")
    best = Trainer(res.model, options(tc, device), sdir, transform=trained.transform, dist=dist)
    history = [{"round": r.round, "parameters": r.params, "accuracy": round(r.accuracy, 4)} for r in res.history]
    return best, {"best_round": res.best_round, "rounds": history}
