"""Fetch one registry model file (schemas/weights.py) over HTTP(S), check it, and only then put it in place.

The body streams into a temporary file beside the target; a `.zip` is opened and its `archive_member`
extracted to a second temporary file, which is what gets hashed (the registry pins the stored file, not the
archive). A pinned hash that differs, or a file that does not load
(weights_check.check_loads), removes the temporary files and raises: nothing is left at the target and a
good file already there stays. Success renames into place atomically (workers/io/atomic.py).

`Unreachable` means the URL could not be fetched at all (no network, DNS, refused, HTTP error): the CLI
turns it into instructions for fetching the file by hand.
"""
from __future__ import annotations

import os
import shutil
import tempfile
import urllib.error
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path

from schemas.weights import WeightsEntry

from .atomic import publish
from .weights_check import WeightsDoNotLoad, check_loads, sha256_file


class Unreachable(OSError):
    pass


class HashMismatch(ValueError):
    pass


@dataclass
class Downloaded:
    path: Path
    sha256: str
    verified: bool          # the hash equals the registry's published one
    loads: str              # what the file loads as
    fetched: bool           # False: a verified file was already in place


def target_path(entry: WeightsEntry, dest: Path) -> Path:
    return Path(dest) / entry.file


def _fetch(url: str, out, timeout: float) -> None:
    req = urllib.request.Request(url, headers={"User-Agent": "skelforge-models"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            shutil.copyfileobj(r, out, 1 << 20)
    except (urllib.error.URLError, OSError) as e:      # HTTPError is a URLError; timeouts are OSErrors
        raise Unreachable(f"{url}: {getattr(e, 'reason', e)}") from None


def _extract(archive: str, member: str, out) -> str:
    """Copy the archive's one member whose path ends with `member` into `out`; its name in the archive."""
    try:
        with zipfile.ZipFile(archive) as z:
            names = [n for n in z.namelist() if n == member or n.endswith("/" + member)]
            if len(names) != 1:
                raise WeightsDoNotLoad(f"the archive holds {len(names)} files named {member} (expected 1)")
            with z.open(names[0]) as src:
                shutil.copyfileobj(src, out, 1 << 20)
            return names[0]
    except zipfile.BadZipFile:
        raise WeightsDoNotLoad("the download is not a zip archive") from None


def check_in_place(entry: WeightsEntry, dest: Path) -> Downloaded:
    """Check a file already stored under `dest` (e.g. fetched by hand): its hash against the pin, and that it
    loads. Raises FileNotFoundError when it is not there, HashMismatch or WeightsDoNotLoad."""
    target = target_path(entry, dest)
    if not target.is_file():
        raise FileNotFoundError(str(target))
    digest = sha256_file(target)
    if entry.pinned and digest != entry.sha256:
        raise HashMismatch(f"{target}: sha256 {digest}, not the published {entry.sha256} ({entry.sha256_source})")
    return Downloaded(target, digest, entry.pinned, check_loads(entry, target), fetched=False)


def download(entry: WeightsEntry, dest: Path, timeout: float = 60.0) -> Downloaded:
    """Fetch, extract, verify and place `entry` under `dest`. Raises Unreachable, HashMismatch or
    WeightsDoNotLoad; on any of them nothing new is left under `dest`."""
    target = target_path(entry, dest)
    if target.is_file() and entry.pinned and sha256_file(target) == entry.sha256:
        return check_in_place(entry, dest)
    target.parent.mkdir(parents=True, exist_ok=True)
    temps = []

    def temp() -> tuple:
        fd, name = tempfile.mkstemp(dir=target.parent, prefix=f".{entry.file}.", suffix=".part")
        temps.append(name)
        return os.fdopen(fd, "wb"), name

    try:
        fh, got = temp()
        with fh:
            _fetch(entry.url, fh, timeout)
        model = got
        if entry.archive_member:
            fh, model = temp()
            with fh:
                _extract(got, entry.archive_member, fh)
        digest = sha256_file(model)
        if entry.pinned and digest != entry.sha256:
            raise HashMismatch(f"{entry.url} gave a file whose sha256 is {digest}, not the published "
                               f"{entry.sha256} ({entry.sha256_source}); refused, nothing written to {target}")
        loads = check_loads(entry, model)
        publish(model, target)
        temps.remove(model)
        return Downloaded(target, digest, entry.pinned, loads, fetched=True)
    finally:
        for name in temps:
            if os.path.exists(name):
                os.unlink(name)

