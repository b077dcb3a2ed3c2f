"""The `skelforge` command line (typer + rich). The entry point is `dagfile.main`, which hands over the DAG."""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Optional

import typer
from rich.markup import escape
from rich.console import Console
from rich.table import Table

console = Console(stderr=True)
app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="Turn action-video collections into whole-body skeleton datasets (Parquet shards).")
_DAG = None


def set_dag(dag) -> None:
    global _DAG
    _DAG = dag


def _print_version(value: bool) -> None:
    if not value:
        return
    from importlib.metadata import PackageNotFoundError, version
    try:
        typer.echo(f"skelforge {version('skelforge')}")
    except PackageNotFoundError:
        console.print("[red]error:[/red] skelforge is not installed (pip install -e .), so it has no version")
        raise typer.Exit(2)
    raise typer.Exit()


@app.callback()
def _options(version: bool = typer.Option(False, "--version", callback=_print_version, is_eager=True,
                                          help="print the installed skelforge version and exit")) -> None:
    pass


@app.command()
def build(
    videos: Path = typer.Option(..., "--videos", help="folder of input videos (any depth)"),
    out: Path = typer.Option(..., "--out", help="output folder: shards/, manifest.parquet, build.json"),
    config: Optional[Path] = typer.Option(None, "--config", help="YAML config (see configs/default.yaml)"),
    workers: int = typer.Option(os.cpu_count() or 1, "--workers", min=0,
                                help="Dask worker processes; 0 = run in this process (debugging)"),
    scheduler: Optional[str] = typer.Option(None, "--scheduler", help="address of an existing Dask scheduler"),
    cluster: str = typer.Option("local", "--cluster", help="local: --workers processes here; slurm: SLURM jobs "
                                "(dask-jobqueue) as the config's cluster: section says"),
    gpus: int = typer.Option(0, "--gpus", min=0, help="local cluster: also start N GPU workers (Dask resource "
                             "GPU=1, each pinned to one device by CUDA_VISIBLE_DEVICES; the others then see none)"),
    only: Optional[str] = typer.Option(None, "--only", help="re-run just this stage from cached inputs"),
    start: Optional[str] = typer.Option(None, "--from", help="re-run this stage and everything after it"),
    force: bool = typer.Option(False, "--force", help="ignore the cache: recompute every stage that runs"),
):
    """Build shards + manifest from a folder of videos.

    Exit codes: 0 built (clips that could not be built are failed rows in the manifest); 2 a config or input
    problem found before compute; 3 the build stopped on a fault common to every clip, or a dataset stage
    (labels, shards, report, train) failed; 130 interrupted (resume by running the same command again)."""
    from schemas.config import ConfigError, load_config

    from .build import BuildError, BuildStopped
    from .build import build as run_build
    try:
        cfg = load_config(config)
        record = run_build(_DAG, videos, out, cfg, workers, scheduler, only, start, force, console,
                           cluster=cluster, gpus=gpus)
    except (ConfigError, BuildError) as e:
        console.print(f"[red]error:[/red] {escape(str(e))}", soft_wrap=True)
        raise typer.Exit(2)
    except BuildStopped as e:
        console.print(f"[red]build stopped:[/red] {e}", soft_wrap=True)
        raise typer.Exit(3)
    except KeyboardInterrupt:
        console.print(f"[yellow]interrupted:[/yellow] finished clips are journaled in {out}/.journal and the "
                      f"manifest lists every clip; run the same command again to resume", soft_wrap=True)
        raise typer.Exit(130)
    c = record["counts"]
    console.print(f"done in {record['total_seconds']:.1f}s: ok={c['ok']} filtered={c['filtered']} "
                  f"failed={c['failed']}; computed per stage: {record['computed']}")
    t = record["dataset_stages"].get("train", {})
    if t.get("run"):
        console.print(f"train: {t['run']} (top-1 {t.get('top1')})")
    for name in record["failed_dataset_stages"]:
        console.print(f"[red]{name} stage failed:[/red] {record['dataset_stages'][name]['reason']}", soft_wrap=True)
    if record["failed_dataset_stages"]:
        raise typer.Exit(3)


@app.command("eval-experts")
def eval_experts(
    gt: Path = typer.Option(..., "--gt", help="ground-truth file or folder (every .json under it, e.g. "
                            "../shared/samples/gt)"),
    out: Path = typer.Option(..., "--out", help="where eval.json and eval.md go"),
    config: Optional[Path] = typer.Option(None, "--config", help="YAML config: its experts: lists are evaluated"),
    calibrate_on: str = typer.Option("", "--calibrate-on", help="comma-separated ground-truth datasets (e.g. "
                                     "wflw,onehand10k) to fit refine.expert_weights on; written to "
                                     "OUT/expert_weights.yaml and scored as 'fusion, calibrated' on the rest"),
):
    """Score every configured expert, and their fusion, on real ground truth (PCK, NME) per part."""
    from schemas.config import ConfigError, load_config

    from .build import BuildError, experts_record
    from .eval_experts import evaluate, markdown, write
    try:
        cfg = load_config(config)
        experts_record(cfg)                     # settings and model files checked before compute
    except (ConfigError, BuildError) as e:
        console.print(f"[red]error:[/red] {escape(str(e))}", soft_wrap=True)
        raise typer.Exit(2)
    try:
        result = evaluate(gt, cfg, tuple(d for d in calibrate_on.split(",") if d))
    except ValueError as e:                     # GtError (a file it cannot read, named) or a bad --calibrate-on
        console.print(f"[red]error:[/red] {escape(str(e))}", soft_wrap=True)
        raise typer.Exit(2)
    write(result, out)
    print(markdown(result))
    console.print(f"{result['instances']} ground-truth instances; written to {out}/eval.json and eval.md")
    if "calibration" in result:
        console.print(f"calibrated weights (on {', '.join(result['calibration']['on'])}): "
                      f"{out}/expert_weights.yaml — add them to a build config's refine: section")


@app.command("eval")
def eval_e2e(
    gt: Path = typer.Option(..., "--gt", help="a ground-truth keypoint file (COCO-style JSON or MPII list), or a "
                            "folder: every .json under it (e.g. ../shared/samples/gt); images next to each file"),
    config: Optional[Path] = typer.Option(None, "--config", help="YAML build config (detector, experts, refine)"),
    json_out: Optional[Path] = typer.Option(None, "--json", help="also write the full result as JSON here"),
    max_persons: int = typer.Option(20, "--max-persons", min=1, help="track.max_persons for the evaluation: "
                                    "keep every tracked person, so recall measures detection"),
    min_oks: float = typer.Option(0.5, "--min-oks", min=0.0, max=1.0, help="a predicted person matches a "
                                  "ground-truth one at this generalised OKS or more"),
    cache: Optional[Path] = typer.Option(None, "--cache", help="stage cache to use and keep (default: a "
                                         "temporary one)"),
):
    """Run the whole per-clip pipeline (probe, frames, detect, pose, refine) on ground-truth images, each a
    one-frame clip, and score it per ground-truth set: person recall, false persons, PCK@0.2 per part, face
    NME, each beside the oracle-crop number (eval-experts' fusion on the ground-truth boxes).

    Exit codes: 0 scored; 2 a ground-truth file it cannot read (named), or a config problem."""
    from schemas.config import ConfigError, load_config
    from workers.eval.gt import GtError, load_sets

    from .build import BuildError, experts_record
    from .eval_e2e import COLUMNS, evaluate, table_rows
    try:
        cfg = load_config(config)
        experts_record(cfg)
        load_sets(gt)                           # every file readable, layout known, images present: before compute
    except (ConfigError, BuildError, GtError) as e:
        console.print(f"[red]error:[/red] {escape(str(e))}", soft_wrap=True)
        raise typer.Exit(2)
    result = evaluate(gt, cfg, _DAG, max_persons=max_persons, min_oks=min_oks, cache_dir=cache)
    t = Table(*COLUMNS, title="end to end / oracle crop (GT boxes)")
    for row in table_rows(result):
        t.add_row(*row)
    Console(width=None if os.isatty(1) else 200).print(t)    # piped (e.g. into a file): no wrapping at 80
    for r in result["sets"]:
        for f in r["failed"]:
            console.print(f"[yellow]{r['set']}: failed clip {f}[/yellow]", soft_wrap=True)
    if json_out:
        json_out.parent.mkdir(parents=True, exist_ok=True)
        json_out.write_text(json.dumps(result, indent=1))
        console.print(f"written to {json_out}")


@app.command()
def export(out: Path = typer.Argument(..., help="a build's --out folder"),
           fmt: str = typer.Option(..., "--format", help="pyskl | ntu-x-npy | posetics-npy"),
           layout: str = typer.Option(..., "--layout", help="a layout the build wrote, e.g. ntu-x-118"),
           dest: Path = typer.Option(..., "--dest", help="folder to write into")):
    """Export kept clips to the formats existing training code reads (pyskl pkl, NTU-X npy, Posetics npy)."""
    from workers.io.exports import EXPORTS
    if fmt not in EXPORTS:
        console.print(f"[red]error:[/red] --format must be one of {', '.join(EXPORTS)}", soft_wrap=True)
        raise typer.Exit(2)
    try:
        path = EXPORTS[fmt](out, layout, dest)
    except (FileNotFoundError, ValueError) as e:
        console.print(f"[red]error:[/red] {escape(str(e))}", soft_wrap=True)
        raise typer.Exit(2)
    console.print(f"wrote {fmt} ({layout}) to {path}")


@app.command()
def report(out: Path = typer.Argument(..., help="a build's --out folder")):
    """Rebuild OUT/report/ (index.html, quality.json) from the manifest and the stage cache, computing nothing."""
    from workers.io.dest_guard import UnsafeDestination

    from .manifest import read_manifest
    from .report import build_report
    if not (out / "manifest.parquet").exists() or not (out / "build.json").exists():
        console.print(f"[red]error:[/red] {escape(str(out))} is not a skelforge build (no manifest.parquet/build.json)",
                      soft_wrap=True)
        raise typer.Exit(2)
    record = json.loads((out / "build.json").read_text())
    cache = Path(record["config"]["cache"]["dir"] or out / ".cache")
    rows = read_manifest(out).to_pylist()
    stages = [s for s in _DAG.order if f"{s}_key" in rows[0]] if rows else []
    try:
        q = build_report(out, rows, stages, cache)
    except UnsafeDestination as e:              # OUT/report would hold a source video
        console.print(f"[red]error:[/red] {escape(str(e))}", soft_wrap=True)
        raise typer.Exit(2)
    console.print(f"report for {len(q['classes'])} classes: {out / 'report' / 'index.html'}")


@app.command()
def show(out: Path = typer.Argument(..., help="a build's --out folder"),
         clip_id: str = typer.Argument(..., help="a kept clip's id (see the manifest)"),
         layout: str = typer.Option("ntu-x-118", "--layout", help="which layout's skeleton to draw"),
         video: Optional[str] = typer.Option(None, "--video", help="video to draw on (default: the source; a "
                                                                     "missing file gives a blank canvas)"),
         save: Path = typer.Option(..., "--save", help="FILE.mp4 | FILE.gif | FILE.png (one frame)"),
         three_d: bool = typer.Option(False, "--3d", help="plot keypoints_3d instead"),
         width: Optional[int] = typer.Option(None, "--width", help="scale the output to this width"),
         max_frames: Optional[int] = typer.Option(None, "--max-frames", help="only the first N frames")):
    """Draw a clip's skeleton (edges and parts coloured) on its frames, or in 3D."""
    from .show import show as run_show
    try:
        n = run_show(out, clip_id, layout, save, video, three_d, width, max_frames=max_frames)
    except (KeyError, ValueError, FileNotFoundError) as e:
        console.print(f"[red]error:[/red] {escape(str(e))}", soft_wrap=True)
        raise typer.Exit(2)
    console.print(f"wrote {save} ({n} frame{'s' if n != 1 else ''})")


@app.command()
def inspect(out: Path = typer.Argument(..., help="a build's --out folder"),
            as_json: bool = typer.Option(False, "--json", help="print the summary as JSON")):
    """Summarise a build: clips by status, reasons, shards per layout."""
    from .inspect import summarize
    try:
        s = summarize(out)
    except FileNotFoundError as e:
        console.print(f"[red]error:[/red] {escape(str(e))}", soft_wrap=True)
        raise typer.Exit(2)
    if as_json:
        print(json.dumps(s, indent=1))
        return
    out_console = Console()
    p = s["progress"]
    if p and p["state"] != "complete":
        how = "running" if p["running"] else {"running": "killed (its process is gone)"}.get(p["state"], p["state"])
        out_console.print(f"[yellow]build {p['build_id']}: {how}, {p['finished']} of {p['total']} clips "
                          f"finished[/yellow] — run the same build command again to resume")
    st = s["status"]
    out_console.print(f"[bold]{s['out']}[/bold]: {s['clips']} clips, {s['classes']} classes — "
                      f"[green]ok {st['ok']}[/green], [yellow]filtered {st['filtered']}[/yellow], "
                      f"[red]failed {st['failed']}[/red]; {s['frames_kept']} frames kept; splits {s['splits']}; "
                      f"persons/clip {s['persons_per_clip']}")
    if s["reasons"]:
        t = Table("stage: reason", "clips", title="not kept")
        for k, v in s["reasons"].items():
            t.add_row(k, str(v))
        out_console.print(t)
    t = Table("layout", "joints", "clips", "files", "MB", title="shards")
    for name, l in s["layouts"].items():
        t.add_row(name, str(l["joints"]), str(l["clips"]), ", ".join(l["files"]), f"{l['bytes'] / 1e6:.2f}")
    out_console.print(t)
    if s["report"]:
        out_console.print(f"report: {s['report']}")
    if s["computed_last_build"]:
        out_console.print(f"last build computed per stage: {s['computed_last_build']} "
                          f"in {s['seconds_last_build']}s")


from . import cli_cache  # noqa: E402,F401  (registers cache du, cache gc)
from . import cli_train  # noqa: E402,F401  (registers train, bench, compare)
from . import cli_geometry  # noqa: E402,F401
from . import cli_models  # noqa: E402,F401  (registers models list, models download)
