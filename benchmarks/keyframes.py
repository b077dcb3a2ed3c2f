"""Keyframe detection against the detector on every frame, in one run: two builds of the same clips with the same
config but `detect.keyframe_stride` (1, then the config's), and per clip:

  - the share of frames the detector ran on, and the detect stage's milliseconds per frame in each build;
  - actor person-frames with a body in the refined output of each build;
  - how far the refined skeletons move: per person-frame posed in both, the median distance of the body points
    scored >= SURE in both builds (canonical body, `refine` output) as a share of the every-frame build's body
    size (bounding-box diagonal of its posed body points), then the median and 95th percentile over
    person-frames; the same for hands and face.

Actors are paired across the builds by their mean body-centre distance (the selection order may differ).
Usage: PYTHONPATH=. python benchmarks/keyframes.py --videos DIR [--config FILE.yaml] [--workers N]
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np
from scipy.optimize import linear_sum_assignment

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

PARTS = {"body": slice(0, 35), "hands": slice(35, 77), "face": slice(77, 145)}
SURE = 0.5      # points compared: scored at least this in both builds (close-ups guess the unseen body at ~0.2)


def _build(videos: Path, cfg, workers: int) -> tuple[Path, dict]:
    from rich.console import Console

    from dagfile import DAG
    from pipeline.build import build
    from pipeline.manifest import read_manifest
    out = Path(tempfile.mkdtemp(prefix="skelforge-keyframes-"))
    build(DAG, videos, out, cfg, workers, None, None, None, False, Console(quiet=True))
    return out, {r["clip_id"]: r for r in read_manifest(out).to_pylist()}


def _centre(points: np.ndarray) -> np.ndarray:
    """(M, 2) mean body position of each actor over the frames it is posed in."""
    body = points[:, :, PARTS["body"]]
    w = (body[..., 2:3] > 0) & np.isfinite(body[..., :2])
    return np.where(w, body[..., :2], 0).sum((1, 2)) / np.maximum(w.sum((1, 2)), 1)


def compare(a: np.ndarray, b: np.ndarray) -> dict:
    """Refined points a (every frame) and b (keyframes), (M, T, 145, 3) each: the figures of the docstring."""
    a, b = (np.where(np.isfinite(x[..., :2]).all(-1, keepdims=True), x, 0) for x in (a, b))
    out = {"person_frames": [int((a[:, :, PARTS["body"], 2] > 0).any(-1).sum()),
                             int((b[:, :, PARTS["body"], 2] > 0).any(-1).sum())]}
    if len(a) == 0 or len(b) == 0:
        return out
    ca, cb = _centre(a), _centre(b)
    r, c = linear_sum_assignment(np.linalg.norm(ca[:, None] - cb[None], axis=-1))
    dist = {p: [] for p in PARTS}
    for i, j in zip(r, c):
        for t in range(a.shape[1]):
            body = a[i, t, PARTS["body"]]
            ok = body[:, 2] > 0
            if ok.sum() < 2 or not (b[j, t, PARTS["body"], 2] > 0).any():
                continue
            size = float(np.linalg.norm(np.ptp(body[ok, :2], axis=0)))
            for part, s in PARTS.items():
                both = (a[i, t, s, 2] >= SURE) & (b[j, t, s, 2] >= SURE)
                if both.any() and size > 0:
                    d = np.linalg.norm(a[i, t, s, :2][both] - b[j, t, s, :2][both], axis=1)
                    dist[part].append(float(np.median(d)) / size)
    for part, v in dist.items():
        out[part] = {"median": round(float(np.median(v)), 4), "p95": round(float(np.percentile(v, 95)), 4)} if v \
            else None
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--videos", type=Path, required=True)
    ap.add_argument("--config", type=Path)
    ap.add_argument("--workers", type=int, default=1)
    args = ap.parse_args()
    from schemas.config import load_config
    cfg = load_config(args.config)
    every = cfg.model_copy(update={"detect": cfg.detect.model_copy(update={"keyframe_stride": 1})})
    builds = {"every": _build(args.videos, every, args.workers), "keyframes": _build(args.videos, cfg, args.workers)}
    try:
        summarise(builds, cfg.detect.keyframe_stride)
    finally:
        for out, _ in builds.values():
            shutil.rmtree(out, ignore_errors=True)


def summarise(builds: dict, stride: int) -> None:
    from pipeline.cache import Store
    stores = {k: Store(out / ".cache") for k, (out, _) in builds.items()}
    clips = {}
    for cid, row_a in builds["every"][1].items():
        row_b = builds["keyframes"][1].get(cid)
        if row_a["status"] != "ok" or row_b is None or row_b["status"] != "ok":
            clips[cid] = {"status": [row_a["status"], row_b["status"] if row_b else None]}
            continue
        det = stores["keyframes"].load("detect", row_b["detect_key"]).meta
        n = row_a["n_frames"]
        pts = [stores[k].load("refine", row["refine_key"]).arrays["points"] for k, row in
               (("every", row_a), ("keyframes", row_b))]
        clips[cid] = {"frames": n, "detector_share": round(det["detector_frames"] / n, 3),
                      "detect_ms_per_frame": [round(1000 * row["detect_seconds"] / n, 1) for row in (row_a, row_b)],
                      **compare(*pts)}
    total = sum(c.get("frames", 0) for c in clips.values())
    ran = sum(c["detector_share"] * c["frames"] for c in clips.values() if "frames" in c)
    detect_s = [sum(c["detect_ms_per_frame"][i] * c["frames"] for c in clips.values() if "frames" in c) / 1000
                for i in (0, 1)]
    print(json.dumps({"stride": stride, "clips": clips}))
    print(f"{'clip':34} {'frames':>6} {'ran':>5} {'detect ms/frame':>16} {'person-frames':>14}  body, hands, face "
          "(median / p95 of body size)")
    for cid, c in clips.items():
        if "frames" not in c:
            print(f"{cid:34} {c['status']}")
            continue
        parts = "  ".join(f"{c[p]['median']:.3f}/{c[p]['p95']:.3f}" if c.get(p) else "-" for p in PARTS)
        print(f"{cid:34} {c['frames']:>6} {c['detector_share']:>5.2f} {c['detect_ms_per_frame'][0]:>7.1f} ->"
              f"{c['detect_ms_per_frame'][1]:>6.1f} {c['person_frames'][0]:>6} ->{c['person_frames'][1]:>5}  {parts}")
    print(f"detector ran on {ran / max(total, 1):.2f} of {total} frames; detect stage {detect_s[0]:.1f} s -> "
          f"{detect_s[1]:.1f} s ({detect_s[1] / max(detect_s[0], 1e-9):.2f}x)")


if __name__ == "__main__":
    main()
