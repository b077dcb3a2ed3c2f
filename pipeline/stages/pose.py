"""pose — every configured expert (config `experts:`) on each selected actor's crop, per frame; each expert's
output, mapped into the canonical whole-body space, is cached on its own key, so adding or changing one expert
re-runs only that expert (and what depends on it).

inputs:    frames (the clip's frames, read in order), detect (actor tracks)
outputs:   per expert, at `<cache>/pose.<expert>/`: points (M, T, 145, 3) = x, y, score in frame pixels
           (canonical: body 35 | left hand 21 | right hand 21 | face 68); world (M, T, 33, 4) for experts with
           metric 3D; duplicate (M, T) = person-frames dropped because two actors landed on one person.
           The stage's own result lists the expert keys (meta.experts) and what was computed.
params:    pose.* (crops; pose.batch_size is an execution setting: not in the key), experts, expert_settings
batching:  experts with `batched` (rtmpose, rtmw, yolo-pose) get `pose.batch_size` person-frames per call,
           gathered across the clip's frames in order (the last batch shorter); the others (MediaPipe holistic,
           pose, hands, facemesh, dlib68: one image per graph or interpreter run) get each frame's crops as it
           comes. A crop's result depends on that crop alone, so results do not depend on the batch size
           (bit-identical on the CPU, tests/test_batching.py)
resources: 1 CPU per clip task; per person-crop (benchmarks/experts.py, 2-core machine): holistic 59 ms, pose 45 ms,
           hands 32 ms, facemesh 13 ms, dlib68 23 ms, yolo-pose (v8n, 640 px, CPU) 206 ms; Dask resources
           {"GPU": 1} when an expert's `device` is cuda (rtmpose, rtmw, yolo-pose): the `sense` group then runs
           on a GPU worker
filtered:  no expert found a pose in any frame
"""
from __future__ import annotations

import time

import numpy as np

from schemas.experts import settings_json, used_experts
from schemas.layouts import SOURCE_SIZE
from workers import models
from workers.detect.blazepose import person_boxes
from workers.experts.base import Crop
from workers.experts.canonical import to_canonical
from workers.pose.batches import Batches
from workers.pose.crops import mask_boxes, square_crop
from workers.pose.dedupe import drop_duplicates

from ..cache import Artifact, make_key
from ..codehash import code_hash
from ..dag import Stage, gpu_for


def expert_key(cfg, name: str, keys: dict) -> str:
    """One expert's own cache key: its code (source hash of its module), its settings (execution settings left
    out), the crop params, the frames and detect keys, and its package version and model-file hash."""
    from workers.experts.registry import EXPERTS
    params = {"settings": cfg.key_value("expert_settings").get(name, {}), "crop": cfg.key_value("pose")}
    return make_key(f"pose.{name}", code_hash(EXPERTS[name].__module__), params,
                    {"frames": keys["frames"], "detect": keys["detect"]},
                    models.expert_version(name, settings_json(cfg, name)))


def run(ctx, inputs) -> Artifact:
    cfg = ctx.cfg
    names = list(used_experts(cfg))
    keys = {n: expert_key(cfg, n, ctx.keys) for n in names}
    todo = [n for n in names if not ctx.store.has(f"pose.{n}", keys[n])]
    det = inputs["detect"].arrays
    M = len(det["actors"])
    T = det["tracks"].shape[1]
    if todo:
        results = _run_experts(ctx, inputs, todo)
        for n in todo:
            ctx.store.save(f"pose.{n}", keys[n], results[n])
    summary = {}
    for n in names:
        meta = ctx.store.load(f"pose.{n}", keys[n]).meta
        summary[n] = {"key": keys[n], "computed": n in todo, "person_frames": meta["person_frames"],
                      "seconds": meta.get("seconds", 0.0)}
    meta = {"experts": summary, "n_persons": M, "n_frames": T,
            "person_frames": max((s["person_frames"] for s in summary.values()), default=0)}
    if meta["person_frames"] == 0:
        return Artifact(meta={**meta, "status": "filtered", "reason": "no pose found in any frame",
                              "rule": "no_pose", "value": 0, "threshold": 1})
    return Artifact(meta=meta)


def _run_experts(ctx, inputs, names: list[str]) -> dict[str, Artifact]:
    p = ctx.cfg.pose
    frames = ctx.frames(inputs["frames"].arrays["src_index"])
    det = inputs["detect"].arrays
    tracks = det["tracks"][det["actors"]]                       # (M, T, 9)
    M, T = tracks.shape[:2]
    experts = {n: models.expert(n, settings_json(ctx.cfg, n)) for n in names}
    pts = {n: np.full((M, T, SOURCE_SIZE, 3), np.nan, dtype=np.float32) for n in names}
    world = {n: np.full((M, T, 33, 4), np.nan, dtype=np.float32) for n in names}
    for n in names:
        pts[n][..., 2] = 0.0
        world[n][..., 3] = 0.0
    seconds = dict.fromkeys(names, 0.0)

    def run(n: str, items: list[tuple[int, int, Crop]]) -> None:
        """Expert n on these person-frames (m, k, crop), its results stored at [m, k]."""
        e = experts[n]
        t0 = time.perf_counter()
        for (m, k, _), res in zip(items, e.process([c for _, _, c in items])):
            pts[n][m, k] = to_canonical(e.native, res.points)
            if res.world is not None:
                world[n][m, k] = res.world
        seconds[n] += time.perf_counter() - t0

    batched = [n for n in names if experts[n].batched]
    per_frame = [n for n in names if not experts[n].batched]
    queue = Batches(p.batch_size)
    boxes = person_boxes(np.nan_to_num(tracks.reshape(M * T, -1))).reshape(M, T, 4)
    present = ~np.isnan(tracks[..., 0])
    for k in range(T):
        people = np.flatnonzero(present[:, k])
        if len(people) == 0:
            continue
        frame = frames.frame(k)
        items = [(int(m), k, _crop(p, det, tracks, boxes, frame, m, k)) for m in people]
        for n in per_frame:
            run(n, items)
        for batch in queue.add(items if batched else []):
            for n in batched:
                run(n, batch)
    for batch in queue.rest():
        for n in batched:
            run(n, batch)
    out = {}
    for n, e in experts.items():
        dup = (drop_duplicates(pts[n], tracks[..., 5:7], p.duplicate_ratio) if "body" in e.parts
               else np.zeros((M, T), bool))
        world[n][dup] = np.nan
        world[n][..., 3][dup] = 0.0
        found = pts[n][..., 2].max(-1) > 0
        arrays = {"points": pts[n], "duplicate": dup}
        if np.isfinite(world[n][..., :3]).any():
            arrays["world"] = world[n]
        out[n] = Artifact(arrays, {"expert": n, "native": e.native, "parts": list(e.parts),
                                   "person_frames": int(found.sum()), "duplicates_dropped": int(dup.sum()),
                                   "crops": int(present.sum()), "seconds": round(seconds[n], 3),
                                   "version": e.version()})
    return out


def _crop(p, det: dict, tracks: np.ndarray, boxes: np.ndarray, frame: np.ndarray, m: int, k: int) -> Crop:
    """Actor m's crop in frame k: the square around its body box x `pose.roi_scale`, other people's faces
    blanked, with the tracker's hints (face box, body centres, followed landmarks)."""
    all_tracks = det["tracks"]                                  # (K, T, 9), bystanders included
    x1, y1, x2, y2 = boxes[m, k]
    img, x0, y0, side = square_crop(frame, (x1 + x2) / 2, (y1 + y2) / 2, (x2 - x1) * p.roi_scale)
    if p.mask_other_faces > 0:
        others = np.delete(all_tracks[:, k, 1:5], det["actors"][m], axis=0)
        mask_boxes(img, x0, y0, others[~np.isnan(others[:, 0])], p.mask_other_faces, keep=tracks[m, k, 1:5])
    others = np.delete(all_tracks[:, k, 5:7], det["actors"][m], axis=0)
    tracked = ((det["landmarks"][m, k], det["landmarks_world"][m, k])
               if "landmarks" in det and det["landmarks"][m, k, :, 2].max() > 0 else None)
    return Crop(img, x0, y0, 1.0, tracks[m, k, 1:5].copy(), frame, tracks[m, k, 5:7].copy(),
                others[np.isfinite(others[:, 0])], tracked, circle=tracks[m, k, 7:9].copy())


def _weights(cfg) -> dict:
    return {n: models.expert_version(n, settings_json(cfg, n)) for n in used_experts(cfg)}


def _resources(cfg) -> dict:
    """A GPU when any expert this config runs is set to a CUDA device (`expert_settings.<name>.device`)."""
    return gpu_for(*(cfg.expert_settings.get(n, {}).get("device") for n in used_experts(cfg)))


STAGE = Stage(name="pose", run=run, params=("pose", "experts", "expert_settings"), weights=_weights,
              resources=_resources, doc=__doc__)
