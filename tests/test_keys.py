"""Cache keys come from content: the source of the code (not a hand-bumped version), the params that change
results, input keys and model-file hashes — never devices, thread counts or paths."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

import dagfile
from pipeline.codehash import code_hash
from pipeline.keys import clip_keys
from pipeline.stages.pose import expert_key
from schemas.config import BuildConfig
from tests.conftest import ROOT
from tests.onnx_models import simcc_model

PER_VIDEO = [n.stage.name for n in dagfile.DAG.video_stages()]
DIGEST = "0" * 64


def _tree(tmp_path: Path) -> Path:
    """A copy of this checkout's compute packages, to edit."""
    for pkg in ("pipeline", "workers", "schemas"):
        shutil.copytree(ROOT / pkg, tmp_path / pkg, ignore=shutil.ignore_patterns("__pycache__"))
    return tmp_path


def _keys_from(root: Path, cfg=None) -> dict:
    return clip_keys(dagfile.DAG, cfg or BuildConfig(), DIGEST, code=lambda st: code_hash(st.run.__module__, str(root)))


def test_the_same_source_gives_the_same_keys(tmp_path):
    assert _keys_from(_tree(tmp_path)) == clip_keys(dagfile.DAG, BuildConfig(), DIGEST)


def test_editing_a_fusion_function_changes_refine_and_everything_downstream(tmp_path):
    root = _tree(tmp_path)
    before = _keys_from(root)
    fuse = root / "workers" / "fusion" / "fuse.py"
    src = fuse.read_text()
    assert "def fuse(" in src
    fuse.write_text(src.replace("def fuse(", "def _unused_helper():\n    return 1\n\n\ndef fuse(", 1))
    code_hash.cache_clear()
    after = _keys_from(root)
    changed = {s for s in PER_VIDEO if before[s] != after[s]}
    downstream = dagfile.DAG.downstream("refine") & set(PER_VIDEO)
    assert changed == downstream and "refine" in changed and "convert" in changed
    assert {"probe", "frames", "detect", "pose"}.isdisjoint(changed)


def test_comments_and_docstrings_do_not_change_keys(tmp_path):
    root = _tree(tmp_path)
    before = _keys_from(root)
    fuse = root / "workers" / "fusion" / "fuse.py"
    src = fuse.read_text()
    fuse.write_text('"""A new module docstring."""\n# a comment\n' + src.split('"""', 2)[2].lstrip("\n"))
    code_hash.cache_clear()
    assert _keys_from(root) == before


def test_execution_settings_do_not_enter_keys(tmp_path):
    """Device, thread counts, worker processes and model-file paths are execution settings."""
    base = BuildConfig()
    moved = BuildConfig.model_validate({"detect": {"num_threads": 4, "device": "cuda"},
                                        "fit3d": {"smplx": {"device": "cuda"}},
                                        "train": {"device": "cuda:1", "num_workers": 8},
                                        "run": {"retries": 5, "clip_timeout": 60},
                                        "cache": {"scratch": str(tmp_path)}})
    assert clip_keys(dagfile.DAG, moved, DIGEST) == clip_keys(dagfile.DAG, base, DIGEST)
    assert moved.key_value("train") == base.key_value("train")
    # a param that changes results does change keys
    other = BuildConfig.model_validate({"refine": {"max_gap": 3}})
    changed = {s for s, k in clip_keys(dagfile.DAG, other, DIGEST).items()
               if k != clip_keys(dagfile.DAG, base, DIGEST)[s]}
    assert changed == dagfile.DAG.downstream("refine") & set(PER_VIDEO)


def test_model_files_enter_keys_by_content_not_path(tmp_path):
    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    for d in (a, b, c):
        d.mkdir()
    simcc_model(a / "rtmpose.onnx", 17, 192, 256, seed=1)
    shutil.copy(a / "rtmpose.onnx", b / "copy-elsewhere.onnx")          # same bytes, other path
    simcc_model(c / "rtmpose.onnx", 17, 192, 256, seed=2)                # other bytes

    def keys(onnx: Path, device: str = "cpu") -> tuple:
        cfg = BuildConfig.model_validate({"experts": {"body": ["rtmpose"], "hands": ["holistic"],
                                                      "face": ["holistic"]},
                                          "expert_settings": {"rtmpose": {"onnx": str(onnx), "device": device}}})
        k = clip_keys(dagfile.DAG, cfg, DIGEST)
        return k["pose"], expert_key(cfg, "rtmpose", k)

    first = keys(a / "rtmpose.onnx")
    assert keys(b / "copy-elsewhere.onnx") == first
    assert keys(a / "rtmpose.onnx", device="cuda") == first
    other = keys(c / "rtmpose.onnx")
    assert other[0] != first[0] and other[1] != first[1]


@pytest.mark.parametrize("module", ["pipeline.stages.refine", "pipeline.stages.pose", "pipeline.stages.convert"])
def test_code_hash_follows_compute_imports_only(module):
    """The runtime (cache, dag, CLI) is not part of any stage's code: editing it keeps every key."""
    from pipeline.codehash import _closure
    names = set(_closure(module, ROOT))
    assert module in names
    assert not {"pipeline.cache", "pipeline.dag", "pipeline.cli", "pipeline.runner", "pipeline.build"} & names
    assert any(n.startswith("workers.") for n in names)
