"""Atomic file writes: a temporary file in the target folder, given the usual permissions, renamed into place.
Readers never see a half-written file."""
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


def publish(tmp: str, path: Path) -> None:
    """Give a finished temporary file the usual permissions (mkstemp makes it private) and rename it into place."""
    os.chmod(tmp, 0o666 & ~_umask())
    os.replace(tmp, path)


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
