"""Throughput: the end-to-end skelforge build vs a bare loop, in one run, same clips, same cores.

  bare loop  = decode each clip at 30 FPS (same timestamps) + MediaPipe Holistic on every whole frame, one
               process per core over the clips (no detection, no crops, no cache, one person per frame)
  pipeline   = `skelforge build` with a fresh cache on a Dask LocalCluster of the same number of processes
               (detector + tracking + Holistic per actor crop + convert to 5 layouts + shards + manifest)

Prints output frames/s for both and their ratio, plus person-frames/s (the pipeline poses up to 2 actors per
frame; the bare loop at most 1), the frames the person detector ran on (keyframe detection), and each per-clip
stage's milliseconds per output frame (its own time from the manifest, summed over clips: where the time goes). `--scaling` runs both again with one worker and prints how much
faster N workers are, for the build and for the bare loop (what the machine and the expert themselves allow).
Usage: python benchmarks/throughput.py --videos DIR [--workers N] [--scaling] [--config FILE.yaml]
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from multiprocessing import get_context
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def bare_clip(path: str) -> tuple[int, int]:
    import numpy as np

    from workers import models
    from workers.decode.resample import presentation_times, resample_indices
    from workers.decode.spool import open_frames
    times, end = presentation_times(path)
    idx = resample_indices(times, end, 30)
    source = open_frames(path, idx, Path(tempfile.gettempdir()))
    from workers.experts.base import Crop
    holistic = models.expert("holistic", "{}")
    posed = 0
    for frame in source:
        h, w = frame.shape[:2]
        side = max(h, w)
        canvas = np.zeros((side, side, 3), np.uint8)
        canvas[:h, :w] = frame
        res = holistic.process([Crop(canvas, 0.0, 0.0)])[0]
        posed += int(res.points[:33, 2].max() > 0)
    source.close()
    return len(idx), posed


def measure(videos: Path, workers: int, config: Path | None = None) -> dict:
    """Bare loop and pipeline on the same clips with `workers` processes: the figures (see the module docstring)."""
    from rich.console import Console

    from dagfile import DAG
    from pipeline.adapters import discover
    from pipeline.build import build
    from pipeline.cache import Store
    from pipeline.manifest import read_manifest
    from schemas.config import load_config
    cfg = load_config(config)
    _, items = discover(videos, cfg)
    paths = [it.path for it in items]

    t0 = time.perf_counter()
    with get_context("spawn").Pool(workers) as pool:
        bare = pool.map(bare_clip, paths, chunksize=1)
    bare_s = time.perf_counter() - t0
    bare_frames = sum(f for f, _ in bare)
    bare_posed = sum(p for _, p in bare)

    out = Path(tempfile.mkdtemp(prefix="skelforge-bench-"))
    t0 = time.perf_counter()
    record = build(DAG, videos, out, cfg, workers, None, None, None, False, Console(quiet=True))
    pipe_s = time.perf_counter() - t0
    rows = read_manifest(out).to_pylist()
    pipe_frames = sum(r["n_frames"] for r in rows if r["status"] == "ok")
    store = Store(out / ".cache")
    person_frames = sum(store.load("pose", r["pose_key"]).meta["person_frames"] for r in rows if r["status"] == "ok")
    detector_frames = sum(store.load("detect", r["detect_key"]).meta["detector_frames"] for r in rows
                          if r["status"] == "ok")
    stages = [n for n in DAG.order if f"{n}_seconds" in rows[0]]
    per_frame = {n: round(sum(r[f"{n}_seconds"] or 0.0 for r in rows) / max(pipe_frames, 1) * 1000, 2) for n in stages}
    shutil.rmtree(out, ignore_errors=True)

    fig = {
        "clips": len(paths), "workers": workers, "cpu": os.cpu_count(),
        "bare_frames": bare_frames, "bare_seconds": round(bare_s, 1), "bare_fps": round(bare_frames / bare_s, 2),
        "bare_person_frames": bare_posed,
        "pipeline_frames": pipe_frames, "pipeline_seconds": round(pipe_s, 1),
        "pipeline_fps": round(pipe_frames / pipe_s, 2), "pipeline_person_frames": person_frames,
        "detector_frames": detector_frames,       # frames the person detector ran on (keyframe detection)
        "ratio_fps": round((pipe_frames / pipe_s) / (bare_frames / bare_s), 3),
        "pipeline_person_frames_per_s": round(person_frames / pipe_s, 2),
        "bare_person_frames_per_s": round(bare_posed / bare_s, 2),
        "counts": record["counts"],
        "pipeline_clip_stage_seconds": record["clip_seconds"],
        "pipeline_dataset_stage_seconds": {k: v["seconds"] for k, v in record["dataset_stages"].items()},
        "ms_per_frame_by_stage": per_frame,     # each clip stage's own time (summed over clips) per output frame
    }
    fig["ratio_fps_clip_stages"] = round((pipe_frames / fig["pipeline_clip_stage_seconds"]) / (bare_frames / bare_s), 3)
    return fig


def scaling(many: dict, one: dict) -> dict:
    """How much faster `many` workers are than one, for the whole build, its per-clip stages and the bare loop
    (the bare loop's own scaling is what the machine and the expert allow)."""
    return {"workers": many["workers"],
            "pipeline": round(one["pipeline_seconds"] / many["pipeline_seconds"], 3),
            "pipeline_clip_stages": round(one["pipeline_clip_stage_seconds"] / many["pipeline_clip_stage_seconds"], 3),
            "bare": round(one["bare_seconds"] / many["bare_seconds"], 3)}


def report(fig: dict) -> None:
    print(f"\nbare loop : {fig['bare_fps']:.2f} frames/s ({fig['bare_frames']} frames, {fig['bare_seconds']:.1f}s)")
    print(f"pipeline  : {fig['pipeline_fps']:.2f} frames/s ({fig['pipeline_frames']} frames, "
          f"{fig['pipeline_seconds']:.1f}s)")
    print(f"ratio     : {fig['ratio_fps']:.2f} (pipeline / bare, frames/s)")
    print(f"            {fig['ratio_fps_clip_stages']:.2f} counting only the per-clip stages "
          f"({fig['pipeline_clip_stage_seconds']:.1f}s); dataset stages: {fig['pipeline_dataset_stage_seconds']}")
    print(f"detector  : ran on {fig['detector_frames']} of {fig['pipeline_frames']} frames")
    print("per frame : " + ", ".join(f"{n} {ms:.1f} ms" for n, ms in fig["ms_per_frame_by_stage"].items()))
    print(f"persons   : pipeline {fig['pipeline_person_frames_per_s']:.2f} person-frames/s, "
          f"bare {fig['bare_person_frames_per_s']:.2f}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--videos", type=Path, required=True)
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--scaling", action="store_true",
                    help="also run everything with one worker and print how much faster --workers is")
    ap.add_argument("--json", type=Path, help="also write the figures here")
    ap.add_argument("--config", type=Path, help="the build's config (default: the defaults); the bare loop stays "
                                                "MediaPipe Holistic on whole frames")
    a = ap.parse_args()
    fig = measure(a.videos, a.workers, a.config)
    if a.scaling and a.workers > 1:
        fig["one_worker"] = measure(a.videos, 1, a.config)
        fig["scaling"] = scaling(fig, fig["one_worker"])
    print(json.dumps(fig, indent=1))
    report(fig)
    if "scaling" in fig:
        s = fig["scaling"]
        print(f"scaling   : {s['workers']} workers vs 1: whole build {s['pipeline']:.2f}x, per-clip stages "
              f"{s['pipeline_clip_stages']:.2f}x, bare loop {s['bare']:.2f}x")
    if a.json:
        a.json.write_text(json.dumps(fig, indent=1))


if __name__ == "__main__":
    main()
