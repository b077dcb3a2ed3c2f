"""What an input adapter yields: one `VideoItem` per input video (or per annotated clip), and the input walk.

Every string of a `VideoItem` that later becomes part of a path is untrusted (file names, CSV cells) and is
checked when the item is made, so no adapter can hand on an unsafe one:
- clip_id: a relative POSIX path ("class/clip" is fine) whose parts are not empty, ".", ".." and hold no
  backslash; outputs are written as `<dest>/<clip_id>.<ext>` or with "/" flattened to "__";
- split: one file-name part (shards are `<split>-00000-of-00001.parquet`): no "/", backslash, "." or "..";
- label_name: free text (NTU names hold "/": "eat meal/snack") but not empty, not absolute and without a "."
  or ".." part, so it could never name a path outside a folder either.
None may hold NUL or other control characters. A bad value raises `AdapterError` naming the field and value;
adapters add the row or file it came from.

`list_videos` walks the input folder following directory symlinks, each real directory once (a symlink loop
or a second link to a folder already walked adds nothing), and lists dangling or looping file links with a
video extension too (and other non-regular entries such as FIFOs, which are never opened), so they end as
failed rows (`missing_reason` says why) instead of vanishing.
"""
from __future__ import annotations

import errno
import os
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional


class AdapterError(ValueError):
    """The input folder / annotation file cannot be read as the chosen dataset."""


def _no_control(what: str, value: str) -> None:
    if not isinstance(value, str) or not value.strip():
        raise AdapterError(f"{what} {value!r} is empty")
    bad = next((c for c in value if unicodedata.category(c) in ("Cc", "Zl", "Zp")), None)
    if bad is not None:
        raise AdapterError(f"{what} {value!r} holds the control character U+{ord(bad):04X}")


def check_clip_id(value: str) -> str:
    _no_control("clip id", value)
    if value.startswith("/"):
        raise AdapterError(f"clip id {value!r} is an absolute path")
    if "\\" in value:
        raise AdapterError(f"clip id {value!r} holds a backslash")
    if any(part in ("", ".", "..") for part in value.split("/")):
        raise AdapterError(f"clip id {value!r} has an empty, '.' or '..' path part")
    return value


def check_split(value: str) -> str:
    _no_control("split", value)
    if "/" in value or "\\" in value or value in (".", ".."):
        raise AdapterError(f"split {value!r} must be a plain name (no '/', '\\', '.' or '..')")
    return value


def check_label_name(value: str) -> str:
    _no_control("label", value)
    if value.startswith("/") or any(part in (".", "..") for part in value.split("/")):
        raise AdapterError(f"label {value!r} looks like a path (absolute, or a '.' / '..' part)")
    return value


@dataclass(frozen=True)
class VideoItem:
    clip_id: str
    path: str
    label: int
    label_name: str
    split: str
    expected_persons: Optional[int] = None      # NTU: from the action id; None = use track.max_persons
    extra: dict = field(default_factory=dict)   # adapter-specific manifest columns (e.g. split_xsub)

    def __post_init__(self):
        check_clip_id(self.clip_id)
        check_split(self.split)
        check_label_name(self.label_name)
        if "\0" in self.path:
            raise AdapterError(f"path {self.path!r} holds a NUL character")


def _follows(test) -> bool:
    """DirEntry.is_dir/is_file through a link; a looping link raises ELOOP there, which means "no"."""
    try:
        return test()
    except OSError:
        return False


def list_videos(root: Path, extensions: tuple[str, ...]) -> list[Path]:
    """Files under `root` (any depth) with one of `extensions`, sorted; paths are spelled through `root` and the
    links followed. Real sub-folders are walked before symlinked ones, so a folder reachable both ways keeps its
    real path. A folder that cannot be listed raises AdapterError (its videos would silently be missing)."""
    exts = {e.lower() for e in extensions}
    root = Path(root)
    seen: set[tuple[int, int]] = set()
    found: list[Path] = []
    linked: list[Path] = []

    def walk(folder: Path) -> None:
        st = os.stat(folder)
        if (st.st_dev, st.st_ino) in seen:
            return
        seen.add((st.st_dev, st.st_ino))
        try:
            with os.scandir(folder) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError as e:
            raise AdapterError(f"cannot list {folder}: {e.strerror or e}") from None
        for e in entries:
            p = folder / e.name
            if e.is_dir(follow_symlinks=False):
                walk(p)
            elif e.is_symlink() and _follows(e.is_dir):
                linked.append(p)
            elif Path(e.name).suffix.lower() in exts:
                found.append(p)     # a file, a link to one, a dangling / looping link or a FIFO: the last three
                                    # end as failed rows (missing_reason), never opened

    walk(root)
    while linked:
        walk(linked.pop(0))
    return sorted(found)


def missing_reason(path: str) -> str:
    """Why `path` is not a readable regular file (for the failed row of a listed input)."""
    if os.path.islink(path):
        try:
            os.stat(path)
        except OSError as e:
            if e.errno == errno.ELOOP:
                return f"symlink loop: {path} never reaches a file"
            if e.errno == errno.ENOENT:
                return f"dangling symlink: {path} -> {os.readlink(path)} (target does not exist)"
            return f"symlink {path} -> {os.readlink(path)} cannot be followed: {e.strerror}"
        return f"not a regular file: {path} -> {os.path.realpath(path)}"
    return "file not found" if not os.path.lexists(path) else f"not a regular file: {path}"


def dense_labels(names: list[str]) -> dict[str, int]:
    """Stable dense class ids: sorted names."""
    return {n: i for i, n in enumerate(sorted(set(names)))}
