"""PoseConv3D pseudo heatmaps: the vectorised torch renderer vs the naive Python-loop reference, in one run.

  reference  = `workers.action.heatmaps.reference_heatmaps`, one clip at a time, loops over frames, persons and
               joints (or limbs), each on the full grid, numpy float64 on the CPU
  vectorised = `workers.action.heatmaps.pseudo_heatmaps` on the whole batch at once, on --device (only the
               8 x 8 tiles each joint or limb reaches are computed; see that module's docstring)

Same synthetic clips for both (seeded: --clips x --persons x --frames x the layout's joints, x, y in a
1920x1080 frame, scores in [0.2, 1] with 10% of the joints missing), every frame rendered (--clip-len 0) at
56x56, sampling + crop + heatmaps, output allocation included. Prints frames/s for each (the vectorised time is
the median of --repeat runs, the reference runs once), the speed-up ratio, whether it reaches --target (the
issue asks for at least 10x over the per-joint loop) and the largest absolute difference between the outputs.
The reference is single-threaded, so by default torch runs on 1 CPU thread too (--threads 0 keeps torch's
default). Timings on a shared machine are noisy: compare ratios from one run, and repeat it. Usage:
  python benchmarks/heatmaps.py [--layouts coco-17 ntu-x-118] [--modes joint limb] [--device cuda]
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def synthetic(clips: int, persons: int, frames: int, joints: int, seed: int = 0):
    import numpy as np
    rng = np.random.default_rng(seed)
    centre = rng.uniform([400, 300], [1500, 800], (clips, persons, 1, 1, 2))
    drift = np.cumsum(rng.normal(0, 2, (clips, persons, frames, 1, 2)), axis=2)
    pose = rng.normal(0, 120, (clips, persons, 1, joints, 2)) + rng.normal(0, 5, (clips, persons, frames, joints, 2))
    score = rng.uniform(0.2, 1.0, (clips, persons, frames, joints, 1))
    score[rng.uniform(size=score.shape) < 0.1] = 0
    return np.concatenate([centre + drift + pose, score], -1).astype(np.float32)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--clips", type=int, default=8)
    ap.add_argument("--persons", type=int, default=2)
    ap.add_argument("--frames", type=int, default=100)
    ap.add_argument("--clip-len", type=int, default=0, help="frames sampled per clip; 0 renders every frame")
    ap.add_argument("--size", type=int, default=56)
    ap.add_argument("--layouts", nargs="+", default=["coco-17", "ntu-x-118"])
    ap.add_argument("--modes", nargs="+", default=["joint", "limb"], choices=["joint", "limb"])
    ap.add_argument("--device", default=None, help="cpu or cuda (default: cuda when available)")
    ap.add_argument("--threads", type=int, default=1, help="torch CPU threads; 0 keeps torch's default")
    ap.add_argument("--repeat", type=int, default=3, help="vectorised runs per case; the median is reported")
    ap.add_argument("--target", type=float, default=10.0, help="speed-up the vectorised renderer should reach")
    ap.add_argument("--json", type=Path, help="also write the figures here")
    a = ap.parse_args()

    import numpy as np
    import torch

    from schemas.layouts import get_layout
    from workers.action.heatmaps import pseudo_heatmaps, reference_heatmaps
    device = torch.device(a.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    if a.threads > 0:
        torch.set_num_threads(a.threads)
    clip_len = a.clip_len or None
    frames_out = a.clips * (clip_len or a.frames)

    def sync():
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    rows = []
    for name in a.layouts:
        layout = get_layout(name)
        skel = synthetic(a.clips, a.persons, a.frames, layout.num_joints)
        batch = torch.from_numpy(skel).to(device)
        for mode in a.modes:
            kw = dict(mode=mode, edges=layout.edges, clip_len=clip_len, size=a.size)
            pseudo_heatmaps(batch[:1], **kw)                    # warm-up (allocator, kernels)
            runs = []
            for _ in range(max(1, a.repeat)):
                fast = None
                sync()
                t0 = time.perf_counter()
                fast = pseudo_heatmaps(batch, **kw)
                sync()
                runs.append(time.perf_counter() - t0)
            fast_s = float(np.median(runs))
            fast = fast.cpu().numpy()
            ref_s, diff = 0.0, 0.0
            for c in range(a.clips):
                t0 = time.perf_counter()
                ref = reference_heatmaps(skel[c], **kw)
                ref_s += time.perf_counter() - t0
                diff = max(diff, float(np.abs(fast[c] - ref).max()))
            del fast
            rows.append({"layout": name, "joints": layout.num_joints, "mode": mode,
                         "channels": layout.num_joints if mode == "joint" else len(layout.edges),
                         "reference_fps": round(frames_out / ref_s, 1), "vectorised_fps": round(frames_out / fast_s, 1),
                         "reference_s": round(ref_s, 3), "vectorised_s": round(fast_s, 3),
                         "speedup": round(ref_s / fast_s, 1), "max_abs_diff": diff})

    print(f"{a.clips} clips x {a.persons} persons x {a.frames} frames, {clip_len or a.frames} rendered per clip at "
          f"{a.size}x{a.size}; device {device}, torch threads {torch.get_num_threads()}")
    print(f"{'layout':<11}{'mode':<6}{'ch':>4}{'reference f/s':>15}{'vectorised f/s':>16}{'speed-up':>10}"
          f"{f'>= {a.target:g}x':>9}{'max |diff|':>12}")
    for r in rows:
        print(f"{r['layout']:<11}{r['mode']:<6}{r['channels']:>4}{r['reference_fps']:>15.1f}"
              f"{r['vectorised_fps']:>16.1f}{r['speedup']:>9.1f}x{'yes' if r['speedup'] >= a.target else 'NO':>9}"
              f"{r['max_abs_diff']:>12.1e}")
    if a.json:
        fig = {"device": str(device), "threads": torch.get_num_threads(), "target": a.target, "rows": rows}
        a.json.write_text(json.dumps(fig, indent=1))


if __name__ == "__main__":
    main()
