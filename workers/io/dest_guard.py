"""Where a command that reads a build (crop, export, show, report) may write: inside its destination, never onto
an input. Paths are compared after following symlinks (a link inside the destination that points elsewhere
counts as elsewhere).

- `build_inputs(out)`: the build's inputs, the manifest's source videos and build.json's --videos folder;
- `check_dest(dest, sources, input_dirs)`: refuses a destination that is or holds a source video, or that is,
  holds or lies inside an input folder (outputs there would be taken for inputs by the next build);
- `within(dest, name)`: `dest / name`, refused when it would land outside `dest`.
Refusals raise `UnsafeDestination` (a ValueError: the commands turn it into exit code 2), before anything is
written.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Iterable


class UnsafeDestination(ValueError):
    """An output would land outside its destination or on / among the build's inputs."""


def _real(p) -> Path:
    return Path(os.path.realpath(p))


def build_inputs(out: Path) -> tuple[list[str], list[str]]:
    """(source video paths from OUT/manifest.parquet, [--videos folder from OUT/build.json]); either may be empty
    when the file is absent."""
    import pyarrow.parquet as pq
    out = Path(out)
    sources = []
    if (out / "manifest.parquet").exists():
        sources = [s for s in pq.read_table(out / "manifest.parquet", columns=["source_path"])
                   .column("source_path").to_pylist() if s]
    folders = []
    if (out / "build.json").exists():
        videos = json.loads((out / "build.json").read_text()).get("videos")
        folders = [videos] if videos else []
    return sources, folders


def check_dest(dest: Path, sources: Iterable[str], input_dirs: Iterable[str] = ()) -> Path:
    """The destination, resolved; raises UnsafeDestination when it is/holds a source or touches an input folder."""
    d = _real(dest)
    for folder in input_dirs:
        f = _real(folder)
        if d == f or f in d.parents or d in f.parents:
            how = "is" if d == f else "lies inside" if f in d.parents else "holds"
            raise UnsafeDestination(f"{dest} {how} the build's input folder {folder}: write somewhere outside "
                                    f"the inputs")
    lexical = Path(os.path.abspath(dest))
    for s in sources:
        r, a = _real(s), Path(os.path.abspath(s))
        if r == d or d in r.parents or a == lexical or lexical in a.parents:   # by its real or its given path
            raise UnsafeDestination(f"{dest} {'is' if r == d or a == lexical else 'holds'} the source video {s}: "
                                    "write somewhere outside the inputs")
    return d


def within(dest: Path, name: str) -> Path:
    """dest / name, after checking that it resolves inside dest (name is relative, without '..' escaping, and
    no symlink on the way leads out)."""
    path = Path(dest) / name
    d, p = _real(dest), _real(path)
    if d not in p.parents:
        raise UnsafeDestination(f"output {name!r} would be written to {p}, outside {dest}")
    return path
