"""Atomic, durable file writes: a temporary file in the target folder, given the usual permissions, flushed to
disk (fsync), renamed into place, and the folder entry synced. Readers never see a half-written file, and a
power cut or SIGKILL after the rename cannot leave a renamed-but-empty file."""
from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import Iterator


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _fsync(path, flags: int = os.O_RDONLY) -> None:
    fd = os.open(path, flags)
    try:
        os.fsync(fd)
    except OSError:     # some file systems cannot sync a directory; the data file was synced already
        pass
    finally:
        os.close(fd)


def publish(tmp: str, path: Path) -> None:
    """Give a finished temporary file the usual permissions (mkstemp makes it private), sync it to disk,
    rename it into place and sync the folder entry."""
    os.chmod(tmp, 0o666 & ~_umask())
    _fsync(tmp)
    os.replace(tmp, path)
    _fsync(os.path.dirname(os.path.abspath(path)) or ".", os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))


@contextlib.contextmanager
def atomic_target(path: Path, suffix: str = ".tmp") -> Iterator[str]:
    """Yield a temporary file name beside `path` to write to (by any writer: numpy, torch, PyAV, matplotlib);
    on success it is published as `path`, on any exception removed. `suffix` lets writers that infer the
    format from the name (e.g. ".mp4", ".png") see the right one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=suffix)
    os.close(fd)
    try:
        yield tmp
        publish(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def atomic_write_bytes(path: Path, data: bytes) -> None:
    with atomic_target(path) as tmp, open(tmp, "wb") as fh:
        fh.write(data)
