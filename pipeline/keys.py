"""Cache keys of a clip's per-video stages, computed from content alone: the stage's code hash, the config
params it reads as they enter keys (execution settings left out), its inputs' keys (the first stage: the video
file's content digest) and its model files' hashes. The same function serves the clip task (which then loads or
computes each stage) and the client (which can tell, before submitting anything, whether a journaled result
still holds)."""
from __future__ import annotations

from typing import Callable, Optional

from .cache import make_key


def stage_key(node, cfg, keys: dict[str, str], video_digest: str, code: Optional[Callable] = None) -> str:
    """`code(stage)` gives the stage's code hash (default: `Stage.code`, from this checkout's source)."""
    st = node.stage
    inputs = {d: keys[d] for d in node.needs} if node.needs else {"video": video_digest}
    params = {p: cfg.key_value(p) for p in st.params}
    return make_key(st.name, code(st) if code else st.code, params, inputs, st.weights(cfg) if st.weights else {})


def clip_keys(dag, cfg, video_digest: str, code: Optional[Callable] = None) -> dict[str, str]:
    """Every per-video stage's key for a video with this content digest, in DAG order."""
    keys: dict[str, str] = {}
    for node in dag.video_stages():
        keys[node.stage.name] = stage_key(node, cfg, keys, video_digest, code)
    return keys
