"""Content-addressed artifact store.

A stage result (`Artifact`: named NumPy arrays + a JSON dict) lives at `<cache>/<stage>/<key[:2]>/<key>.npz`.
The key is the sha256 of a canonical JSON of: stage name, stage code version, the values of the config params
the stage reads, its inputs' keys and the hashes of the model files it loads. Files are written to a temporary
name and renamed into place (atomic); arrays are stored with `allow_pickle=False` semantics and the JSON is
stored as bytes, so nothing in the cache is ever unpickled.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from workers.io.atomic import atomic_target, atomic_write_bytes, publish  # noqa: F401  (re-exported)

_META = "__meta__"


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


class Store:
    def __init__(self, root: Path):
        self.root = Path(root)

    def path(self, stage: str, key: str) -> Path:
        return self.root / stage / key[:2] / f"{key}.npz"

    def has(self, stage: str, key: str) -> bool:
        return self.path(stage, key).exists()

    def load(self, stage: str, key: str) -> Artifact | None:
        p = self.path(stage, key)
        try:
            with np.load(p, allow_pickle=False) as z:
                arrays = {k: z[k] for k in z.files if k != _META}
                meta = json.loads(z[_META].tobytes().decode()) if _META in z.files else {}
        except FileNotFoundError:
            return None
        return Artifact(arrays, meta)

    def load_arrays(self, stage: str, key: str, names: list[str]) -> dict[str, np.ndarray]:
        """Just the named arrays (an .npz member is read only when asked for); absent names are skipped."""
        with np.load(self.path(stage, key), allow_pickle=False) as z:
            return {n: z[n] for n in names if n in z.files}

    def save(self, stage: str, key: str, art: Artifact) -> Path:
        p = self.path(stage, key)
        payload = dict(art.arrays)
        payload[_META] = np.frombuffer(canonical_json(art.meta).encode(), dtype=np.uint8)
        with atomic_target(p) as tmp, open(tmp, "wb") as fh:
            np.savez(fh, **payload)
        return p
