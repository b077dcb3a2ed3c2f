"""Optical flow methods for the `flow` stage (issue 16): cost and accuracy on real clips, in one run.

For each method in `workers.flow.dense.METHODS`, on the first `--frames` frames of every clip under `--videos`
(sources above 30 FPS thinned to about 30), at the working size (`--work-side`, long side):
  - ms per frame pair, grey conversion and shrinking included, one thread (cv2.setNumThreads(1));
  - warp error: frame t+1 warped back by the flow of t, mean absolute grey difference to frame t, as a ratio of
    the difference with no flow (1.0 = the flow explains nothing; lower is better);
  - SYNTHETIC translation: each clip's first frame shifted by a known sub-pixel (2.6, -1.7) px at the working
    size; end-point error (px) over the frame's inner 80% (where no border is invented), mean and median (the
    mean carries the failures in textureless areas).

    PYTHONPATH=. python benchmarks/flow.py --videos ../shared/samples/videos [--frames 60] [--work-side 480]
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import av
import cv2
import numpy as np

from workers.flow.dense import METHODS, grey, work_scale

SHIFT = (2.6, -1.7)
VIDEO = {".mp4", ".avi", ".mkv", ".webm", ".mov"}


def clip_frames(path: Path, n: int) -> list[np.ndarray]:
    out = []
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        rate = float(s.average_rate or 30)
        step = max(1, round(rate / 30))
        for i, f in enumerate(c.decode(s)):
            if i % step == 0:
                out.append(f.to_ndarray(format="rgb24"))
            if len(out) == n:
                break
    return out


def warp_back(nxt: np.ndarray, flow: np.ndarray) -> np.ndarray:
    h, w = flow.shape[:2]
    xs, ys = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    return cv2.remap(nxt, xs + flow[..., 0], ys + flow[..., 1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def measure(method: str, clips: list[list[np.ndarray]], work_side: int) -> dict:
    fn = METHODS[method]()
    seconds, pairs, ratios, epes, medians = 0.0, 0, [], [], []
    for frames in clips:
        scale = work_scale(*frames[0].shape[:2], work_side)
        err = base = 0.0
        t0 = time.perf_counter()
        prev = grey(frames[0], scale)
        for f in frames[1:]:
            cur = grey(f, scale)
            flow = fn(prev, cur)
            seconds += time.perf_counter() - t0
            err += np.abs(prev.astype(np.float32) - warp_back(cur, flow).astype(np.float32)).mean()
            base += np.abs(prev.astype(np.float32) - cur.astype(np.float32)).mean()
            pairs += 1
            prev = cur
            t0 = time.perf_counter()
        ratios.append(err / max(base, 1e-6))
        g = grey(frames[0], scale)
        h, w = g.shape
        # frame t+1 = frame t moved by SHIFT: what is at x in t is at x + SHIFT in t+1
        moved = cv2.warpAffine(g, np.float32([[1, 0, SHIFT[0]], [0, 1, SHIFT[1]]]), (w, h),
                               flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
        flow = fn(g, moved)
        inner = flow[h // 10: h - h // 10, w // 10: w - w // 10]
        e = np.linalg.norm(inner - np.float32(SHIFT), axis=2)
        epes.append(float(e.mean()))
        medians.append(float(np.median(e)))
    return {"ms_per_frame": round(seconds / max(pairs, 1) * 1e3, 2), "warp_error_ratio": round(float(np.mean(ratios)), 3),
            "synthetic_shift_epe_px": round(float(np.mean(epes)), 3),
            "synthetic_shift_median_epe_px": round(float(np.mean(medians)), 3), "pairs": pairs}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--videos", type=Path, required=True)
    ap.add_argument("--frames", type=int, default=60)
    ap.add_argument("--work-side", type=int, default=480)
    ap.add_argument("--methods", default=",".join(METHODS))
    args = ap.parse_args()
    cv2.setNumThreads(1)
    paths = sorted(p for p in args.videos.rglob("*") if p.suffix.lower() in VIDEO)
    clips = [f for f in (clip_frames(p, args.frames) for p in paths) if len(f) >= 2]
    fig = {m: measure(m, clips, args.work_side) for m in args.methods.split(",")}
    print(json.dumps({"clips": len(clips), "work_side": args.work_side, "methods": fig}, indent=1))
    print("\n| method | ms per frame | warp error / no-flow error | synthetic shift EPE, mean / median (px) |")
    print("|---|---|---|---|")
    for m, r in fig.items():
        print(f"| {m} | {r['ms_per_frame']} | {r['warp_error_ratio']} | {r['synthetic_shift_epe_px']} / "
              f"{r['synthetic_shift_median_epe_px']} |")


if __name__ == "__main__":
    main()
