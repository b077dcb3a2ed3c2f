"""Content-addressed artifact store.

A stage result (`Artifact`: named NumPy arrays + a JSON dict) lives at `<cache>/<stage>/<key[:2]>/<key>.npz`.
The key is the sha256 of a canonical JSON of: stage name, the hash of the stage's source code, the values of the
config params the stage reads (execution settings such as devices and thread counts left out), its inputs' keys
and the hashes of the model files it loads.

Integrity: every entry carries a checksum per member (`__sums__`); a read verifies the members it returns.
A truncated, garbled or unreadable entry is a cache miss: it is removed, recomputed by the caller and counted
(`Store.repaired`). Writes go to a temporary name, are fsynced and renamed into place (atomic, durable); arrays
are stored with `allow_pickle=False` semantics and the JSON as bytes, so nothing in the cache is ever unpickled.

A cache on a read-only file system (or one this user may not write) is used read-only: hits are read, misses
are computed and not stored. Every entry read or written is remembered (`Store.touched`) so a build can record
which entries it needs (`skelforge cache gc`).
"""
from __future__ import annotations

import errno
import hashlib
import json
import os
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from workers.io.atomic import atomic_target, atomic_write_bytes, publish  # noqa: F401  (re-exported)

_META = "__meta__"
_SUMS = "__sums__"


class CacheCorrupt(RuntimeError):
    """A cache entry whose bytes do not match its checksums (or cannot be parsed)."""


@dataclass
class Artifact:
    arrays: dict[str, np.ndarray] = field(default_factory=dict)
    meta: dict = field(default_factory=dict)

    @property
    def status(self) -> str:
        return self.meta.get("status", "ok")

    @classmethod
    def failed(cls, reason: str) -> "Artifact":
        return cls(meta={"status": "failed", "reason": reason})

    @classmethod
    def filtered(cls, reason: str, **meta) -> "Artifact":
        return cls(meta={"status": "filtered", "reason": reason, **meta})


def canonical_json(obj) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=True, default=str)


def make_key(stage: str, version: str, params: dict, inputs: dict, weights: dict) -> str:
    payload = {"stage": stage, "version": version, "params": params, "inputs": inputs, "weights": weights}
    return hashlib.sha256(canonical_json(payload).encode()).hexdigest()


def _member_sum(a: np.ndarray) -> str:
    h = hashlib.blake2b(digest_size=16)
    h.update(f"{a.dtype.str}{a.shape}".encode())
    h.update(np.ascontiguousarray(a).reshape(-1).view(np.uint8))   # hashed in place: no copy of a large member
    return h.hexdigest()


def _writable(root: Path) -> bool:
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError:
        return False
    return os.access(root, os.W_OK)


# Errors that mean "this entry's bytes are bad", as opposed to "this entry is absent".
_CORRUPT = (CacheCorrupt, zipfile.BadZipFile, ValueError, KeyError, EOFError, UnicodeDecodeError)


class Store:
    def __init__(self, root: Path, read_only: bool | None = None):
        self.root = Path(root)
        self.read_only = (not _writable(self.root)) if read_only is None else read_only
        self.repaired = 0                                   # corrupt entries found (removed, recomputed)
        self.touched: set[tuple[str, str]] = set()          # (stage, key) read or written

    def path(self, stage: str, key: str) -> Path:
        return self.root / stage / key[:2] / f"{key}.npz"

    def has(self, stage: str, key: str) -> bool:
        """A readable, intact entry exists (it is verified: a corrupt one counts as absent and is removed)."""
        return self.load(stage, key) is not None

    def load(self, stage: str, key: str) -> Artifact | None:
        """The entry, verified; None when it is absent or corrupt (a corrupt one is removed and counted)."""
        p = self.path(stage, key)
        try:
            with np.load(p, allow_pickle=False) as z:
                arrays = self._verified(z, [k for k in z.files if k not in (_META, _SUMS)] + [_META])
        except FileNotFoundError:
            return None
        except _CORRUPT:
            self._repair(p)
            return None
        except OSError as e:
            if e.errno in (errno.EIO, errno.EBADMSG):
                self._repair(p)
                return None
            raise
        meta = json.loads(arrays.pop(_META).tobytes().decode())
        self.touched.add((stage, key))
        return Artifact(arrays, meta)

    def load_arrays(self, stage: str, key: str, names: list[str]) -> dict[str, np.ndarray]:
        """Just the named arrays (an .npz member is read only when asked for), verified; absent names are
        skipped. A corrupt entry raises CacheCorrupt naming it (the caller cannot recompute it here)."""
        p = self.path(stage, key)
        try:
            with np.load(p, allow_pickle=False) as z:
                out = self._verified(z, [n for n in names if n in z.files])
        except _CORRUPT as e:
            raise CacheCorrupt(f"cache entry {p} is corrupt ({type(e).__name__}: {e}); "
                               "re-run the build to recompute it") from None
        self.touched.add((stage, key))
        return out

    @staticmethod
    def _verified(z, names: list[str]) -> dict[str, np.ndarray]:
        if _SUMS not in z.files:
            raise CacheCorrupt("no checksums")
        sums = json.loads(z[_SUMS].tobytes().decode())
        out = {}
        for n in names:
            a = z[n]
            if sums.get(n) != _member_sum(a):
                raise CacheCorrupt(f"checksum mismatch in {n!r}")
            out[n] = a
        return out

    def _repair(self, p: Path) -> None:
        self.repaired += 1
        if not self.read_only:
            try:
                p.unlink()
            except OSError:
                pass

    def save(self, stage: str, key: str, art: Artifact) -> Path | None:
        """Store an artifact (nothing is written when the cache is read-only; returns None then)."""
        self.touched.add((stage, key))
        if self.read_only:
            return None
        p = self.path(stage, key)
        payload = dict(art.arrays)
        payload[_META] = np.frombuffer(canonical_json(art.meta).encode(), dtype=np.uint8)
        for a in payload.values():
            if a.dtype.hasobject:
                raise ValueError("object arrays cannot be cached (they would need pickle)")
        sums = {n: _member_sum(np.asarray(a)) for n, a in payload.items()}
        payload[_SUMS] = np.frombuffer(canonical_json(sums).encode(), dtype=np.uint8)
        # Streamed into a temporary file beside the entry (no second in-memory copy of a long clip's arrays);
        # on any failure, a full disk included, the partial file is removed and no entry appears.
        with atomic_target(p) as tmp, open(tmp, "wb") as fh:
            np.savez(fh, **payload)
        return p
