"""The build's scratch folder (decoded-frame spools): `<cache.scratch or $TMPDIR>/skelforge-<pid>`, removed when
the build ends however it ends; folders left by builds whose process is gone (SIGKILL, power cut) are removed
when the next build starts on the same machine."""
from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

_NAME = re.compile(r"skelforge-(\d+)$")


def pid_alive(pid: int) -> bool:
    """Whether a process with this pid exists on this machine (one we may not signal counts as alive)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def stale(root: Path) -> list[Path]:
    """`skelforge-<pid>` folders under `root` whose process no longer exists."""
    out = []
    for p in Path(root).glob("skelforge-*") if Path(root).is_dir() else []:
        m = _NAME.match(p.name)
        if m and p.is_dir() and not p.is_symlink() and int(m.group(1)) != os.getpid() and not pid_alive(int(m.group(1))):
            out.append(p)
    return out


def remove_stale(root: Path) -> list[Path]:
    """Remove the stale scratch folders under `root`; returns what was removed."""
    removed = stale(root)
    for p in removed:
        shutil.rmtree(p, ignore_errors=True)
    return removed


def scratch_dir(root: Path) -> Path:
    return Path(root) / f"skelforge-{os.getpid()}"
