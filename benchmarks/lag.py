"""Lag and jerk of the refine stage's smoothing on real clips (issue 12, item 1).

For every sample clip (the NTU clip, each Kinetics clip, each clip in misc/), bounded to --max-frames output
frames: a real in-process build with `refine.smoothing: none`, then with the configured default; the causal
One-Euro filter (the old default) is applied to the unsmoothed refine output as refine did it (body-size
units, default parameters). Per clip and method it prints
  lag    frames by which the smoothed trajectory trails the unsmoothed one (workers.fusion.motion_metrics)
  jerk x how many times less jerky than unsmoothed (mean |third difference| / body size)
Usage: python benchmarks/lag.py [--samples ../shared/samples] [--max-frames 48] [--work DIR]
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def refine_points(videos: Path, out: Path, max_frames: int, smoothing: str | None) -> dict:
    """{clip id: refine points (M, T, V, 3)} of the ok clips of one build (smoothing None = config default)."""
    import pyarrow.parquet as pq

    from pipeline.cache import Store
    from tests.conftest import run_build
    refine = {} if smoothing is None else {"smoothing": smoothing}
    run_build(videos, out, {"frames": {"max_frames": max_frames}, "refine": refine})
    store = Store(out / ".cache")
    return {r["clip_id"]: store.load("refine", r["refine_key"]).arrays["points"].astype(float)
            for r in pq.read_table(out / "manifest.parquet").to_pylist() if r["status"] == "ok"}


def measure(raw, smoothed) -> dict:
    """{method: (lag frames, jerk ratio)} of each smoothed (M, T, V, 3) against the unsmoothed `raw`."""
    import numpy as np

    from schemas.config import BuildConfig
    from schemas.layouts import SOURCE_PARTS
    from workers.fusion.motion_metrics import body_size, jerk_ratio, lag_frames
    from workers.fusion.temporal import one_euro_causal
    P, conf = raw[..., :2], raw[..., 2]
    ok = conf > 0
    size = body_size(raw, np.arange(SOURCE_PARTS["body"]))
    s = size[:, None, None, None]
    cfg = BuildConfig()
    d = cfg.refine
    causal = one_euro_causal(P / s, ok, float(cfg.frames.fps), d.one_euro_min_cutoff, d.one_euro_beta) * s
    out = {}
    for name, S in {"none": P, "causal one-euro": causal, **smoothed}.items():
        out[name] = (lag_frames(P, S, conf)[0], jerk_ratio(P, S, ok, size))
    return out


def stage(samples: Path, work: Path) -> list[Path]:
    """Input folders: the NTU clip under its NTU name, the Kinetics class folders, misc clips one class each."""
    from tests.conftest import stage_videos
    v = samples / "videos"
    ntu = stage_videos(work / "ntu", v / "ntu" / "ntu_sample.avi", names=["S001C002P003R001A055.avi"])
    kin = [p for p in sorted((v / "kinetics").glob("*/*")) if p.is_file()]
    misc = [p for p in sorted((v / "misc").iterdir()) if p.is_file()]
    other = stage_videos(work / "other", *kin, *misc,
                         names=[f"{p.parent.name}/{p.name}" for p in kin] + [f"{p.stem}/{p.name}" for p in misc])
    return [ntu, other]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--samples", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "samples")
    ap.add_argument("--max-frames", type=int, default=48)
    ap.add_argument("--work", type=Path, default=None, help="scratch folder (default: a temporary one)")
    a = ap.parse_args()
    from schemas.config import RefineConfig
    default = RefineConfig().smoothing
    with tempfile.TemporaryDirectory() as tmp:
        work = a.work or Path(tmp)
        rows = []
        for videos in stage(a.samples, work / "videos"):
            out = work / "out" / videos.name
            raw = refine_points(videos, out, a.max_frames, "none")
            sm = refine_points(videos, out, a.max_frames, None)
            for clip in sorted(raw):
                rows.append((clip, measure(raw[clip], {f"default ({default}, zero-phase)": sm[clip][..., :2]})))
    methods = list(rows[0][1])
    print(f"{'clip':34s}" + "".join(f"{m:>30s}" for m in methods))
    for clip, res in rows:
        print(f"{clip[:34]:34s}" + "".join(f"{f'lag {lag:+d}  jerk /{jr:5.1f}':>30s}" for lag, jr in res.values()))


if __name__ == "__main__":
    main()
