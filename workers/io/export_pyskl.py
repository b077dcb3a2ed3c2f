"""`pyskl`: one pickle in pyskl's / mmaction2's skeleton annotation format, plus an mmaction2 config beside it.
Checked against pyskl (tools/data/README.md, datasets/pose_dataset.py) at 3f6795f2573953342457abdb338f8943542f13c4
and mmaction2 v1.2.0 (datasets/pose_dataset.py, transforms/pose_transforms.py, models/utils/graph.py); the tests
run mmaction2 1.2.0's own PoseDataset and ST-GCN / PoseC3D pipelines on it.

`skelforge_<layout>.pkl` = dict(split={split: [frame_dir, ...]}, annotations=[dict(...)]), one annotation per clip:
  frame_dir (clip id), total_frames, img_shape = original_shape = (h, w), label,
  keypoint (M, T, V, 2) float32 pixels, keypoint_score (M, T, V) float32 — missing joints: coordinates 0 and
  score 0 (pyskl has no NaN); `export_pyskl(..., dtype=np.float16)` stores these two as float16 instead, as
  pyskl's own released pickles do (used by benchmarks/storage.py; the CLI writes float32);
  box_score (M, T) float32 and valid {0.5: n, 0.6: n, 0.7: n, 0.8: n, 0.9: n} as in pyskl's Kinetics-400
  annotations, so configs with `valid_ratio` / `box_thr` run: skelforge keeps no detector box scores, so a
  person's box_score in a frame is the mean score of its present joints (0 when it has none), and valid[thr]
  counts the frames where some person has box_score >= thr (mmaction2 keeps a clip when
  valid[box_thr] / total_frames >= valid_ratio). PoseDataset then adds `anno_inds = box_score >= box_thr`, which
  only DecompressPose (Kinetics' compressed per-skeleton format) acts on; this export is uncompressed, so the
  ST-GCN / PoseC3D pipelines keep every person and `valid_ratio` filters whole clips.

`skelforge_<layout>_mmaction2.py`: an mmengine config (Config.fromfile) with the pickle's path, num_classes,
`graph_cfg = dict(layout=dict(num_node, inward, center), mode='stgcn_spatial')` built from the shard's own edges
and centre (mmaction2's custom-layout form; inward edges point towards the centre), an ST-GCN joint model and
pipelines, and one dataloader per split present. mmaction2's bone features (GenSkeFeat feats 'b'/'bm') only know
its built-in layouts, so the snippet uses joint features.
"""
from __future__ import annotations

import json
import pickle
import pprint
from collections import defaultdict, deque
from pathlib import Path

import numpy as np

from .export_common import guard
from .shard_reader import iter_clips, layout_meta

BOX_THRESHOLDS = (0.5, 0.6, 0.7, 0.8, 0.9)      # the box_thr values mmaction2's PoseDataset accepts


def box_score(score: np.ndarray) -> np.ndarray:
    """(M, T, V) joint scores (0 = missing) -> (M, T) mean score of the present joints, 0 where none."""
    present = score > 0
    n = present.sum(-1)
    return np.where(n > 0, np.where(present, score, 0).sum(-1) / np.maximum(n, 1), 0).astype(np.float32)


def valid_frames(box: np.ndarray) -> dict[float, int]:
    """(M, T) box scores -> {thr: frames where some person has box_score >= thr}."""
    return {thr: int((box >= thr).any(0).sum()) for thr in BOX_THRESHOLDS}


def annotation(c: dict, dtype=np.float32) -> dict:
    kp = c["keypoints"]
    ok = kp[..., 2] > 0
    score = np.where(ok, kp[..., 2], 0).astype(np.float32)
    box = box_score(score)
    return {"frame_dir": c["clip_id"], "total_frames": int(kp.shape[1]), "img_shape": tuple(c["size"]),
            "original_shape": tuple(c["size"]), "label": int(c["label"]),
            "keypoint": np.where(ok[..., None], kp[..., :2], 0).astype(dtype), "keypoint_score": score.astype(dtype),
            "box_score": box, "valid": valid_frames(box)}


def inward_edges(edges: list, center: int, num_node: int) -> list[tuple[int, int]]:
    """Undirected edges -> (farther, nearer) pairs by hop distance from `center` (mmaction2's `inward`); an edge
    in a part not connected to the centre keeps its order."""
    adj = defaultdict(list)
    for a, b in edges:
        adj[a].append(b)
        adj[b].append(a)
    hops = {center: 0}
    queue = deque([center])
    while queue:
        j = queue.popleft()
        for k in adj[j]:
            if k not in hops:
                hops[k] = hops[j] + 1
                queue.append(k)
    far = num_node + 1
    return [(a, b) if hops.get(a, far) >= hops.get(b, far) else (b, a) for a, b in map(tuple, edges)]


def num_classes(out: Path, labels: list[int]) -> int:
    classes = Path(out) / "classes.json"
    ids = [c["id"] for c in json.loads(classes.read_text())] if classes.exists() else []
    return max(ids + labels) + 1


def config_text(layout: str, pkl_name: str, meta: dict, splits: list[str], n_classes: int) -> str:
    V = len(meta["joint_names"])
    graph = {"layout": {"num_node": V, "inward": inward_edges(meta["edges"], meta["center"], V),
                        "center": meta["center"]}, "mode": "stgcn_spatial"}
    train = "train" if "train" in splits else splits[0]
    evals = [s for s in splits if s != train]
    lines = [
        f"# mmaction2 1.x settings for skelforge's pyskl export of layout {layout} ({V} joints), written by",
        "# `skelforge export --format pyskl`. Load with mmengine's Config.fromfile, or start an ST-GCN config",
        "# with `_base_ = ['<this file>']` and override what you need. Joint features only: mmaction2's bone",
        "# features (GenSkeFeat 'b'/'bm') know only its built-in layouts; GenSkeFeat's dataset='coco' is only its",
        "# required 2D marker here (joint features do not use the layout).",
        f"ann_file = '{{{{ fileDirname }}}}/{pkl_name}'",
        f"num_classes = {n_classes}",
        f"# graph from the shard's edges; inward = (farther, nearer) to the centre joint {meta['center']} "
        f"({meta['joint_names'][meta['center']]})",
        "graph_cfg = " + pprint.pformat(graph, width=116, compact=True, sort_dicts=False),
        "model = dict(type='RecognizerGCN', backbone=dict(type='STGCN', graph_cfg=graph_cfg),",
        "             cls_head=dict(type='GCNHead', num_classes=num_classes, in_channels=256))",
        "dataset_type = 'PoseDataset'",
        "train_pipeline = [dict(type='PreNormalize2D'), dict(type='GenSkeFeat', dataset='coco', feats=['j']),",
        "                  dict(type='UniformSampleFrames', clip_len=100), dict(type='PoseDecode'),",
        "                  dict(type='FormatGCNInput', num_person=2), dict(type='PackActionInputs')]",
        "val_pipeline = [dict(type='PreNormalize2D'), dict(type='GenSkeFeat', dataset='coco', feats=['j']),",
        "                dict(type='UniformSampleFrames', clip_len=100, num_clips=1, test_mode=True),",
        "                dict(type='PoseDecode'), dict(type='FormatGCNInput', num_person=2),",
        "                dict(type='PackActionInputs')]",
        "train_dataloader = dict(batch_size=16, num_workers=2, sampler=dict(type='DefaultSampler', shuffle=True),",
        f"                        dataset=dict(type=dataset_type, ann_file=ann_file, split={train!r},",
        "                                     pipeline=train_pipeline))",
    ]
    if evals:
        lines += [
            "val_dataloader = dict(batch_size=16, num_workers=2, sampler=dict(type='DefaultSampler', shuffle=False),",
            f"                      dataset=dict(type=dataset_type, ann_file=ann_file, split={evals[0]!r},",
            "                                   pipeline=val_pipeline, test_mode=True))",
            "val_evaluator = [dict(type='AccMetric')]",
        ]
    return "\n".join(lines) + "\n"


def export_pyskl(out: Path, layout: str, dest: Path, dtype=np.float32) -> Path:
    pkl_name, cfg_name = f"skelforge_{layout}.pkl", f"skelforge_{layout}_mmaction2.py"
    guard(out, layout, dest, lambda ids, splits: [pkl_name, cfg_name])
    split, anns = defaultdict(list), []
    for c in iter_clips(out, layout):
        split[c["split"]].append(c["clip_id"])
        anns.append(annotation(c, dtype))
    dest.mkdir(parents=True, exist_ok=True)
    path = dest / pkl_name
    with open(path, "wb") as fh:
        pickle.dump({"split": dict(split), "annotations": anns}, fh, protocol=4)
    text = config_text(layout, pkl_name, layout_meta(out, layout), sorted(split),
                       num_classes(out, [a["label"] for a in anns]))
    (dest / cfg_name).write_text(text)
    return path
