"""Input-file content hashes, memoised by (size, mtime, inode) in a small JSON file so a re-build does not
re-read every video (the same idea as git's stat cache): any change to the file changes the stamp. Workers
hash the files (in parallel); the client records what they return."""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Optional

from workers.io.filehash import file_hash

from .cache import atomic_write_bytes


def file_digest(path: str) -> str:
    return file_hash(path, "blake2b", digest_size=32)


def file_stamp(path: str) -> str:
    st = os.stat(path)
    return f"{st.st_size}:{st.st_mtime_ns}:{st.st_ino}"


class HashMemo:
    def __init__(self, path: Path):
        self.path = Path(path)
        try:
            self._d = json.loads(self.path.read_text())
        except (FileNotFoundError, ValueError):
            self._d = {}
        self._dirty = False

    def known(self, path: str) -> Optional[tuple[str, str]]:
        """(stamp, digest) recorded for this path, if any; the caller compares the stamp."""
        hit = self._d.get(os.path.abspath(path))
        return tuple(hit) if hit else None

    def record(self, path: str, stamp: str, digest: str) -> None:
        self._d[os.path.abspath(path)] = [stamp, digest]
        self._dirty = True

    def flush(self) -> None:
        if self._dirty:
            atomic_write_bytes(self.path, json.dumps(self._d, sort_keys=True).encode())
            self._dirty = False
