"""`skelforge models list [--dir D]` and `skelforge models download NAME [--dir D] [--offline]`: the model
files of the cluster experts and detectors (registry: schemas/weights.py; fetching: workers/io/download.py).

`download` exit codes: 0 the file is in place and loads (verified against its published sha256 where the
registry pins one; an unpinned file's hash is printed and it is reported as not verified); 2 an unknown name,
a download whose hash differs from the published one or that does not load (nothing is left in place), or
no network — then it prints the URL, the sha256 to expect and the path to put the file at. With
`--offline` it does not try the network: a file already at that path is checked, otherwise the
instructions are printed (exit 2)."""
from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from .cli import app, console

models_app = typer.Typer(no_args_is_help=True, help="List and download the cluster experts' model files.")
app.add_typer(models_app, name="models")

DEFAULT_DIR = Path("weights")


def _config_lines(entry, path: Path) -> list[str]:
    return [f"{k}: {path}" for k in entry.config_keys] + [f"{k}: {json.dumps(v)}" for k, v in entry.settings.items()]


def _state(entry, dest: Path) -> str:
    from workers.io.download import target_path
    from workers.io.weights_check import sha256_file
    p = target_path(entry, dest)
    if not p.is_file():
        return "missing"
    if not entry.pinned:
        return "present (unverifiable)"
    return "verified" if sha256_file(p) == entry.sha256 else "[red]sha256 differs[/red]"


@models_app.command("list")
def list_models(dest: Path = typer.Option(DEFAULT_DIR, "--dir", help="where downloaded models are stored")):
    """Every registry model: what it is, which config keys take it, whether its sha256 is pinned (published
    upstream) and whether it is in --dir."""
    from schemas.weights import WEIGHTS
    t = Table("name", "model", "config keys", "sha256", "hash source", f"in {dest}", title="model weights")
    t.columns[4].overflow = "fold"                       # the source URLs in full
    for e in WEIGHTS.values():
        t.add_row(e.name, e.description, "\n".join(e.config_keys), "pinned" if e.pinned else "not pinned",
                  e.sha256_source, _state(e, dest))
    Console(width=200).print(t)
    n = sum(not e.pinned for e in WEIGHTS.values())
    if n:
        Console().print(f"{n} model(s) have no published sha256 (not pinned): `models download` prints the hash of "
                        f"what it fetched and checks that it loads, but cannot verify it is the upstream file",
                        soft_wrap=True)


def _manual(entry, dest: Path, why: str) -> None:
    from workers.io.download import target_path
    path = target_path(entry, dest)
    lines = [f"[red]cannot download {entry.name}:[/red] {escape(why)}",
             "fetch it where there is network and copy it here:",
             f"  url:    {entry.url}"]
    if entry.pinned:
        lines.append(f"  sha256: {entry.sha256}" + (f" ({entry.size} bytes)" if entry.size else "")
                     + f" — published in {entry.sha256_source}")
    else:
        lines.append(f"  sha256: not pinned ({entry.sha256_source}); compare with `sha256sum` against a copy you trust")
    if entry.archive_member:
        lines.append(f"  it is a zip: extract its {entry.archive_member}"
                     + (" (the sha256 above is of that file, not of the zip)" if entry.pinned else ""))
    lines += [f"  put it at: {path}",
              f"then check it with: skelforge models download {entry.name} --dir {dest} --offline",
              "and set in the build config:", *(f"  {line}" for line in _config_lines(entry, path))]
    console.print("\n".join(lines), soft_wrap=True, highlight=False)


@models_app.command("download")
def download_model(name: str = typer.Argument(..., help="a name from `skelforge models list`"),
                   dest: Path = typer.Option(DEFAULT_DIR, "--dir", help="folder to store the model in"),
                   offline: bool = typer.Option(False, "--offline", help="do not use the network: check a file "
                                                "already in --dir, or say where to get it"),
                   timeout: float = typer.Option(60.0, "--timeout", min=1, help="network timeout in seconds")):
    """Download a model, verify its sha256 (where published) and that it loads, and store it atomically."""
    from schemas.weights import WEIGHTS
    from workers.io.download import HashMismatch, Unreachable, check_in_place, download
    from workers.io.weights_check import WeightsDoNotLoad
    entry = WEIGHTS.get(name)
    if entry is None:
        console.print(f"[red]error:[/red] unknown model {name!r}; known: {', '.join(WEIGHTS)}", soft_wrap=True)
        raise typer.Exit(2)
    try:
        r = check_in_place(entry, dest) if offline else download(entry, dest, timeout)
    except FileNotFoundError:
        _manual(entry, dest, "--offline, and it is not in place yet")
        raise typer.Exit(2)
    except Unreachable as e:
        _manual(entry, dest, str(e))
        raise typer.Exit(2)
    except (HashMismatch, WeightsDoNotLoad) as e:
        console.print(f"[red]error:[/red] {entry.name}: {escape(str(e))}", soft_wrap=True)
        raise typer.Exit(2)
    out = Console(highlight=False)
    out.print(f"{'downloaded' if r.fetched else 'already in place:'} {entry.name} -> {r.path}", soft_wrap=True)
    out.print(f"sha256 {r.sha256}", soft_wrap=True)
    if r.verified:
        out.print(f"verified: equals the published sha256 ({entry.sha256_source})", soft_wrap=True)
    else:
        out.print(f"[yellow]NOT verified:[/yellow] no published sha256 for this model ({entry.sha256_source}); the "
                  f"hash above is of the file as fetched", soft_wrap=True)
    out.print(f"loads: {r.loads}", soft_wrap=True)
    out.print("set in the build config:\n" + "\n".join(f"  {line}" for line in _config_lines(entry, r.path)),
              soft_wrap=True)
