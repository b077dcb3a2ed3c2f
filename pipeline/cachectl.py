"""`skelforge cache du|gc OUT`: what the content-addressed cache of a build holds, and removing what recent
builds no longer need.

Every build records the entries it used or wrote in `<cache>/refs/<time>-<build id>.json`. `gc` keeps the
entries named by the newest N records (`--keep-builds`, default 1), plus anything written after the newest
record (a build still running, or one that was killed, may need it), and removes every other entry, leftover
temporary files older than an hour, the older records, and the scratch folders of builds whose process is gone. It refuses to run while a build of OUT is running."""
from __future__ import annotations

import json
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from .journal import Journal
from .scratch import remove_stale, stale

TMP_GRACE_SECONDS = 3600


def _cache_config(out: Path) -> dict:
    try:
        return json.loads((Path(out) / "build.json").read_text())["config"]["cache"]
    except (OSError, ValueError, KeyError, TypeError):
        return {}


def cache_dir_of(out: Path) -> Path:
    """The cache a build used: its config's cache.dir (from build.json), else OUT/.cache."""
    d = _cache_config(out).get("dir")
    return Path(d) if d else Path(out) / ".cache"


def scratch_root_of(out: Path) -> Path:
    """Where the build's scratch folders live: its config's cache.scratch, else the system temp dir."""
    return Path(_cache_config(out).get("scratch") or tempfile.gettempdir())


def _entries(root: Path):
    """(stage, key, path) for every entry: <root>/<stage>/<key[:2]>/<key>.npz."""
    for p in root.glob("*/*/*.npz"):
        yield p.parent.parent.name, p.stem, p


def _temps(root: Path):
    return [p for p in root.glob("*/*/.*.tmp")]


def disk_usage(root: Path) -> dict:
    stages: dict[str, dict] = defaultdict(lambda: {"entries": 0, "bytes": 0})
    for stage, _, p in _entries(root):
        stages[stage]["entries"] += 1
        stages[stage]["bytes"] += p.stat().st_size
    temps = _temps(root)
    return {"cache": str(root), "stages": dict(sorted(stages.items())),
            "entries": sum(s["entries"] for s in stages.values()),
            "bytes": sum(s["bytes"] for s in stages.values()),
            "temporary_files": len(temps), "builds_recorded": len(_records(root))}


def stale_scratch(out: Path) -> list[str]:
    """Scratch folders of builds whose process is gone, where this build's scratch lives."""
    return [str(p) for p in stale(scratch_root_of(out))]


def _records(root: Path) -> list[Path]:
    return sorted((root / "refs").glob("*.json")) if (root / "refs").is_dir() else []


@dataclass
class GcResult:
    removed: int
    freed: int
    kept: int
    temps_removed: int
    records_removed: int
    scratch_removed: int


class GcRefused(RuntimeError):
    pass


def collect(out: Path, keep_builds: int, dry_run: bool = False) -> GcResult:
    if Journal(out).alive():
        raise GcRefused(f"a build of {out} is running (see {Journal(out).state_path}); run gc after it ends")
    root = cache_dir_of(out)
    records = _records(root)
    if not records:
        raise GcRefused(f"no build has recorded the entries it uses in {root}/refs (run a build first); "
                        "nothing removed")
    kept_records = records[-keep_builds:]
    keep: set[tuple[str, str]] = set()
    for r in kept_records:
        keep.update(tuple(e) for e in json.loads(r.read_text())["entries"])
    newest = max(r.stat().st_mtime for r in kept_records)
    removed = freed = kept = 0
    for stage, key, p in list(_entries(root)):
        st = p.stat()
        if (stage, key) in keep or st.st_mtime > newest:
            kept += 1
            continue
        removed += 1
        freed += st.st_size
        if not dry_run:
            p.unlink(missing_ok=True)
    old_temps = [p for p in _temps(root) if time.time() - p.stat().st_mtime > TMP_GRACE_SECONDS]
    old_records = records[:-keep_builds]
    if not dry_run:
        for p in old_temps + old_records:
            p.unlink(missing_ok=True)
    scratch = stale(scratch_root_of(out)) if dry_run else remove_stale(scratch_root_of(out))
    return GcResult(removed, freed, kept, len(old_temps), len(old_records), len(scratch))
