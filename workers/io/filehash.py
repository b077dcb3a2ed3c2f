"""The one streamed file-hash loop: input videos (blake2b, pipeline/hashing.py), model files in cache keys
(sha256 of one or more files, workers/experts/base.py) and downloaded weights (sha256, workers/io/weights_check.py)."""
from __future__ import annotations

import hashlib

BLOCK = 1 << 22


def feed(h, path) -> None:
    """Update hash object `h` with the bytes of the file at `path`, read in blocks."""
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(BLOCK), b""):
            h.update(block)


def file_hash(path, algo: str = "sha256", **kw) -> str:
    """Hex digest of one file (`algo` and `kw` as hashlib.new: e.g. "blake2b", digest_size=32)."""
    h = hashlib.new(algo, **kw)
    feed(h, path)
    return h.hexdigest()
