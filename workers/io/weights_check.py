"""Checks on model-weight files: their sha256 (streamed, cached per file state), whether they load, and the
load-time check the cluster experts and detectors run: a file stored under a registry name
(schemas/weights.py) with a pinned sha256 must have that hash, or loading it is refused with an error that
says which model it should be and how to fetch it again.

`WrongWeights` is a FileNotFoundError on purpose: the file the config points at is not the model it is
named as, so the right file is not there — the callers that check model files before compute (the build's
expert and detector checks) already turn a FileNotFoundError into a config error (exit 2).
"""
from __future__ import annotations

import os
import pickletools
import zipfile
from functools import lru_cache
from pathlib import Path

from schemas.weights import WeightsEntry, entry_for_file

from .filehash import file_hash


class WrongWeights(FileNotFoundError):
    pass


class WeightsDoNotLoad(ValueError):
    pass


@lru_cache(maxsize=64)
def _sha256(path: str, size: int, mtime_ns: int) -> str:
    return file_hash(path, "sha256")


def sha256_file(path) -> str:
    """sha256 of a file; the same file (path, size, mtime) is hashed once per process."""
    st = os.stat(path)
    return _sha256(os.path.abspath(path), st.st_size, st.st_mtime_ns)


def mismatch(entry: WeightsEntry, path, digest: str) -> str:
    return (f"{path} is stored as registry model {entry.name!r} ({entry.file}) but its sha256 is {digest}, not "
            f"the published {entry.sha256} ({entry.sha256_source}); it is a different or damaged file — fetch it "
            f"again with `skelforge models download {entry.name} --dir {Path(path).parent}`")


def check_known(path) -> None:
    """Raise WrongWeights when `path` carries the file name of a pinned registry entry and another hash.
    Files under other names (the user's own exports) and unpinned entries pass unchecked."""
    if not path or not os.path.exists(path):
        return
    entry = entry_for_file(os.path.basename(str(path)))
    if entry is None or not entry.pinned:
        return
    digest = sha256_file(path)
    if digest != entry.sha256:
        raise WrongWeights(mismatch(entry, path, digest))


def _onnx_loads(path: str) -> str:
    import onnxruntime as ort
    try:
        s = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    except Exception as e:                   # onnxruntime raises its own exception types for bad models
        raise WeightsDoNotLoad(f"{path} does not load in onnxruntime: {e}") from None
    ins = ", ".join(f"{i.name}{list(i.shape)}" for i in s.get_inputs())
    outs = ", ".join(f"{o.name}{list(o.shape)}" for o in s.get_outputs())
    return f"onnxruntime session: inputs {ins}; outputs {outs}"


def _pt_loads(path: str) -> str:
    """A torch checkpoint (zip archive with a data.pkl) whose pickle parses, read without unpickling: no
    code from the file runs. Names the modules its pickle would import."""
    try:
        with zipfile.ZipFile(path) as z:
            pkl = next((n for n in z.namelist() if n.endswith("/data.pkl") or n == "data.pkl"), None)
            if pkl is None:
                raise WeightsDoNotLoad(f"{path} is a zip archive but not a torch checkpoint (no data.pkl)")
            data = z.read(pkl)
    except zipfile.BadZipFile:
        raise WeightsDoNotLoad(f"{path} is not a torch checkpoint (not a zip archive)") from None
    modules, strings = set(), []
    try:
        for op, arg, _ in pickletools.genops(data):
            if op.name == "GLOBAL":
                modules.add(str(arg).split(" ")[0].split(".")[0])
            elif op.name in ("SHORT_BINUNICODE", "BINUNICODE", "UNICODE"):
                strings.append(arg)
            elif op.name == "STACK_GLOBAL" and len(strings) >= 2:
                modules.add(str(strings[-2]).split(".")[0])
    except Exception as e:                   # pickletools raises ValueError and others on a damaged stream
        raise WeightsDoNotLoad(f"{path}: its pickle does not parse ({e})") from None
    return f"torch checkpoint, pickle parses; it imports from {', '.join(sorted(modules)) or 'nothing'}"


LOAD_CHECKS = {"onnx": _onnx_loads, "pt": _pt_loads}


def check_loads(entry: WeightsEntry, path) -> str:
    """What the file loads as (raises WeightsDoNotLoad when it does not)."""
    return LOAD_CHECKS[entry.kind](str(path))
