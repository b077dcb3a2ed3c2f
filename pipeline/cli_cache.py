"""`skelforge cache du OUT` and `skelforge cache gc OUT [--keep-builds N] [--dry-run]` (pipeline/cachectl.py)."""
from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.markup import escape
from rich.console import Console
from rich.table import Table

from .cli import app, console

cache_app = typer.Typer(no_args_is_help=True, help="Inspect and prune a build's content-addressed cache.")
app.add_typer(cache_app, name="cache")


@cache_app.command("du")
def du(out: Path = typer.Argument(..., help="a build's --out folder"),
       as_json: bool = typer.Option(False, "--json", help="print the usage as JSON")):
    """Entries and bytes per stage in the cache the build used."""
    from .cachectl import cache_dir_of, disk_usage, stale_scratch
    root = cache_dir_of(out)
    if not root.is_dir():
        console.print(f"[red]error:[/red] {escape(str(root))} does not exist (is {escape(str(out))} a skelforge build?)", soft_wrap=True)
        raise typer.Exit(2)
    u = {**disk_usage(root), "stale_scratch": stale_scratch(out)}
    if as_json:
        print(json.dumps(u, indent=1))
        return
    t = Table("stage", "entries", "MB", title=f"cache {root}")
    for stage, s in u["stages"].items():
        t.add_row(stage, str(s["entries"]), f"{s['bytes'] / 1e6:.2f}")
    t.add_row("[bold]total[/bold]", str(u["entries"]), f"{u['bytes'] / 1e6:.2f}")
    Console().print(t)
    Console().print(f"{u['builds_recorded']} build(s) recorded; {u['temporary_files']} temporary file(s); "
                    f"{len(u['stale_scratch'])} scratch folder(s) of builds that are gone")


@cache_app.command("gc")
def gc(out: Path = typer.Argument(..., help="a build's --out folder"),
       keep_builds: int = typer.Option(1, "--keep-builds", min=1, help="keep what the newest N builds used"),
       dry_run: bool = typer.Option(False, "--dry-run", help="only say what would be removed")):
    """Remove cache entries the newest N builds did not use."""
    from .cachectl import GcRefused, collect
    try:
        r = collect(out, keep_builds, dry_run)
    except GcRefused as e:
        console.print(f"[red]error:[/red] {escape(str(e))}", soft_wrap=True)
        raise typer.Exit(2)
    verb = "would remove" if dry_run else "removed"
    Console().print(f"{verb} {r.removed} entries ({r.freed / 1e6:.2f} MB), {r.temps_removed} stale temporary "
                    f"file(s), {r.records_removed} old build record(s) and {r.scratch_removed} scratch folder(s) of "
                    f"builds that are gone; kept {r.kept} entries")
