"""The build journal, `OUT/.journal/`: one small JSON file per finished clip (written atomically the moment its
result reaches the client), the build's state (`state.json`: id, pid, host, started, total, finished, state =
running | complete | interrupted | stopped) and the input-file hash memo. A build killed at any point leaves
every finished clip on disk; `skelforge inspect` reads the journal mid-build, and the next build reuses every
journaled result that still holds (same file stamp, same cache keys) without submitting anything.

File names are hashes of the clip id, never the id itself (ids come from untrusted file names and CSVs)."""
from __future__ import annotations

import hashlib
import json
import os
import socket
import time
from pathlib import Path

from .cache import atomic_write_bytes
from .scratch import pid_alive


def _jsonable(o):
    item = getattr(o, "item", None)             # NumPy scalars
    if callable(item):
        return item()
    if isinstance(o, (set, frozenset)):
        return sorted(o)
    raise TypeError(f"{type(o).__name__} is not JSON serialisable")


class Journal:
    def __init__(self, out: Path):
        self.dir = Path(out) / ".journal"
        self.clips = self.dir / "clips"
        self.state_path = self.dir / "state.json"
        self.memo_path = self.dir / "file-hashes.json"

    @staticmethod
    def _name(clip_id: str) -> str:
        return hashlib.sha256(clip_id.encode()).hexdigest()[:32] + ".json"

    def entries(self) -> dict[str, dict]:
        """clip id -> journaled result; unreadable entries (a torn disk, a hand edit) are ignored."""
        out = {}
        for p in sorted(self.clips.glob("*.json")) if self.clips.is_dir() else []:
            try:
                res = json.loads(p.read_bytes())
                clip_id = res["row"]["clip_id"]
            except (OSError, ValueError, KeyError, TypeError):
                continue
            if p.name == self._name(clip_id):
                out[clip_id] = res
        return out

    def record(self, res: dict) -> None:
        body = json.dumps(res, sort_keys=True, default=_jsonable).encode()
        atomic_write_bytes(self.clips / self._name(res["row"]["clip_id"]), body)

    def prune(self, keep: set[str]) -> None:
        """Remove entries of clips that are no longer inputs."""
        wanted = {self._name(c) for c in keep}
        for p in self.clips.glob("*.json") if self.clips.is_dir() else []:
            if p.name not in wanted:
                p.unlink(missing_ok=True)

    def state(self) -> dict:
        try:
            return json.loads(self.state_path.read_text())
        except (OSError, ValueError):
            return {}

    def set_state(self, **fields) -> dict:
        st = {**self.state(), **fields, "updated": time.time()}
        atomic_write_bytes(self.state_path, json.dumps(st, indent=1, sort_keys=True).encode())
        return st

    def begin(self, build_id: str, total: int, reused: int) -> None:
        self.clips.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(self.state_path, json.dumps(
            {"build_id": build_id, "pid": os.getpid(), "host": socket.gethostname(), "started": time.time(),
             "updated": time.time(), "total": total, "reused": reused, "state": "running"},
            indent=1, sort_keys=True).encode())

    def alive(self, st: dict | None = None) -> bool:
        """Whether the build that wrote the state (`st`, read when not given) is still running (on this host;
        other hosts: unknown=True)."""
        st = self.state() if st is None else st
        if st.get("state") != "running":
            return False
        if st.get("host") != socket.gethostname():
            return True
        try:
            return pid_alive(int(st["pid"]))
        except (KeyError, ValueError):
            return True
