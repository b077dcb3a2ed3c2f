"""`skelforge train`, `skelforge bench` and `skelforge compare`: action models on a build's shards.

Options override the `train:` section of `--config` (schemas/train.py), so a run is one validated TrainConfig;
it is checked before anything loads. Under `torchrun --nproc_per_node N $(which skelforge) train OUT --run-dir
RUN ...` the run is data-parallel (DDP: NCCL on GPUs, gloo on CPU) and only rank 0 writes.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

import typer
from pydantic import ValidationError
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from .cli import app, console


def train_config(config: Optional[Path], overrides: dict):
    """The `train:` section of a config file with the command line's options on top (None = not given)."""
    from schemas.config import ConfigError, load_config
    from schemas.train import TrainConfig
    base = load_config(config).train if config else TrainConfig()
    data = {**base.model_dump(), **{k: v for k, v in overrides.items() if v is not None}}
    try:
        return TrainConfig.model_validate(data)
    except ValidationError as e:
        msgs = [f"train.{'.'.join(str(p) for p in err['loc']) or '(options)'}: {err['msg']}" for err in e.errors()]
        raise ConfigError("; ".join(msgs)) from None


def _csv(value: Optional[str], cast=str):
    return None if value is None else tuple(cast(v) for v in value.split(",") if v)


class EpochProgress:
    """A rich progress bar per (variant, stream), advanced once per epoch with loss and accuracy."""

    def __init__(self, total: int):
        self.total = total
        self.bars: dict = {}
        self.progress = Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                                 TextColumn("{task.fields[status]}"), TimeElapsedColumn(), console=console)

    def __enter__(self):
        self.progress.__enter__()
        return self

    def __exit__(self, *exc):
        self.progress.__exit__(*exc)

    def __call__(self, name: str, rec: dict) -> None:
        if name not in self.bars:
            self.bars[name] = self.progress.add_task(name, total=self.total, status="")
        ev = f" eval {rec['eval_top1']:.3f}" if "eval_top1" in rec else ""
        self.progress.update(self.bars[name], completed=rec["epoch"] + 1,
                             status=f"loss {rec['loss']:.3f} train {rec['train_top1']:.3f}{ev}")


def _fail(e: Exception):
    console.print(f"[red]error:[/red] {escape(str(e))}", soft_wrap=True)
    raise typer.Exit(2)


@app.command()
def train(
    out: Path = typer.Argument(..., help="a build's --out folder"),
    run: Path = typer.Option(..., "--run", "--run-dir", help="run directory (checkpoints, metrics.json, plots); resumes "
                             "if it exists. Under torchrun spell it --run-dir (torchrun claims --run as --run-path)"),
    config: Optional[Path] = typer.Option(None, "--config", help="YAML whose train: section gives the defaults"),
    layout: Optional[str] = typer.Option(None, "--layout", help="layout to train on (default: the config's, else the first built)"),
    regions: Optional[str] = typer.Option(None, "--regions", help="comma-separated regions of the layout, e.g. body,left_hand,right_hand"),
    model: Optional[str] = typer.Option(None, "--model", help="stgcn | unik | posec3d | deepacts"),
    stream: Optional[str] = typer.Option(None, "--stream", help="joint | bone | motion | all (score fusion)"),
    modalities: Optional[str] = typer.Option(None, "--modalities", help="deepacts: stamps to use, e.g. "
                                             "body,hands,face,bones,flow (default: all the layout and build have)"),
    stamp_size: Optional[int] = typer.Option(None, "--stamp-size", help="deepacts: image side of each stamp "
                                             "for the CNN branches (default 224, the paper's)"),
    epochs: Optional[int] = typer.Option(None, "--epochs"),
    batch_size: Optional[int] = typer.Option(None, "--batch-size"),
    lr: Optional[float] = typer.Option(None, "--lr"),
    width: Optional[int] = typer.Option(None, "--width", help="base channel width (default: the paper's)"),
    frames: Optional[int] = typer.Option(None, "--frames", help="frames sampled per clip"),
    seed: Optional[int] = typer.Option(None, "--seed"),
    device: Optional[str] = typer.Option(None, "--device", help="auto | cpu | cuda | cuda:N"),
    init_from: Optional[Path] = typer.Option(None, "--init-from", help="pre-trained run: start from its backbone"),
    freeze_backbone: Optional[bool] = typer.Option(None, "--freeze-backbone/--fine-tune",
                                                   help="with --init-from: linear probe (classifier only) or fine-tune all"),
    hierarchy: Optional[str] = typer.Option(None, "--hierarchy", help="superclass levels, e.g. 2,4"),
    prune: Optional[bool] = typer.Option(None, "--prune/--no-prune", help="iterative filter pruning after training"),
):
    """Train an action model on a build's shards; metrics, per-class accuracy and plots go to --run."""
    from schemas.config import ConfigError
    from workers.action.experiment import ExperimentError, run_experiment
    try:
        tc = train_config(config, {"layout": layout, "regions": _csv(regions), "model": model, "stream": stream,
                                   "modalities": _csv(modalities), "stamp_size": stamp_size,
                                   "epochs": epochs, "batch_size": batch_size, "lr": lr, "width": width,
                                   "frames": frames, "seed": seed, "device": device,
                                   "init_from": str(init_from) if init_from else None,
                                   "freeze_backbone": freeze_backbone, "hierarchy": _csv(hierarchy, int),
                                   "prune": prune})
        with EpochProgress(tc.epochs) as progress:
            m = run_experiment(out, tc, run, progress)
    except (ConfigError, ExperimentError) as e:
        _fail(e)
    if int(os.environ.get("RANK", "0")) == 0:
        _summary(m)


def _summary(m: dict) -> None:
    if m.get("top1") is None:
        console.print(f"trained ({m.get('note', 'no evaluation')}); {m['run']}")
        return
    worst = ", ".join(f"{p['class']} {p['accuracy']:.2f}" for p in m["bottom5"])
    inputs = f"modalities {','.join(m['modalities'])}" if "modalities" in m else f"stream {m['stream']}"
    console.print(f"{m['model']} on {m['layout']} ({m['num_joints']} joints, {inputs}): "
                  f"top-1 {m['top1']:.3f}, top-5 {m['top5']:.3f} on {m['samples']} clips; bottom classes: {worst}")
    console.print(f"metrics: {m['run']}/metrics.json, plots: curves.png, per_class.png")


@app.command()
def bench(
    out: Path = typer.Argument(..., help="a build's --out folder with ntu-x-118 shards"),
    model: Optional[str] = typer.Option(None, "--model", help="stgcn | unik | posec3d | deepacts"),
    modalities: Optional[str] = typer.Option(None, "--modalities", help="deepacts: stamps to use; each variant "
                                             "keeps those whose joints it has"),
    stamp_size: Optional[int] = typer.Option(None, "--stamp-size", help="deepacts: image side of each stamp"),
    dest: Optional[Path] = typer.Option(None, "--dest", help="where the runs and the comparison go "
                                                              "(default OUT/bench/<model>)"),
    config: Optional[Path] = typer.Option(None, "--config", help="YAML whose train: section gives the defaults"),
    stream: Optional[str] = typer.Option(None, "--stream"),
    epochs: Optional[int] = typer.Option(None, "--epochs"),
    width: Optional[int] = typer.Option(None, "--width"),
    device: Optional[str] = typer.Option(None, "--device"),
    seed: Optional[int] = typer.Option(None, "--seed"),
):
    """The NTU-X ablation: body (25) vs body+hands (67) vs body+hands+face (118), compared per class."""
    from schemas.config import ConfigError
    from workers.action.bench import VARIANTS, run_ablation
    from workers.action.experiment import ExperimentError
    try:
        tc = train_config(config, {"model": model, "stream": stream, "epochs": epochs, "width": width,
                                   "device": device, "seed": seed, "modalities": _csv(modalities),
                                   "stamp_size": stamp_size})
        dest = dest or Path(out) / "bench" / tc.model
        with EpochProgress(tc.epochs) as progress:
            result = run_ablation(out, tc, dest, lambda v, s, rec: progress(f"{v} {s}", rec))
    except (ConfigError, ExperimentError) as e:
        _fail(e)
    for r in result["runs"]:
        console.print(f"{r['label']:>16} ({r['num_joints']:>3} joints): top-1 {r['top1']:.3f}  top-5 {r['top5']:.3f}")
    console.print(f"comparison: {dest}/compare.md ({len(VARIANTS) - 1} per-class gain figures)")


@app.command("compare")
def compare_runs(
    runs: list[Path] = typer.Argument(..., help="two or more run directories; the first is the reference"),
    dest: Path = typer.Option(..., "--dest", help="where compare.json, compare.md and the gain figures go"),
):
    """Per-class accuracy gains between runs (sorted bars), the classes that gain and lose most."""
    from workers.action.compare import compare
    if len(runs) < 2:
        _fail(ValueError("give at least two runs"))
    try:
        result = compare(runs, dest)
    except (FileNotFoundError, ValueError) as e:
        _fail(e)
    for p in result["pairs"]:
        console.print(f"{p['b']} vs {p['a']}: top-1 {p['top1_gain']:+.3f}; "
                      f"gain most: {', '.join(g['class'] for g in p['most_gained']) or 'none'}; "
                      f"lose most: {', '.join(g['class'] for g in p['most_lost']) or 'none'}")
    console.print(f"written to {dest}/compare.md")
