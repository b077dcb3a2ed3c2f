"""Peak RSS and peak scratch of the frame path vs clip length, on 1080p clips made by looping a real sample.

  clips     the NTU 1080p sample (h264, 72 frames) remuxed end to end, without re-encoding, into 30 s / 2 min /
            10 min videos (`loop_clip`) in a temp dir that is deleted afterwards
  measured  per clip, in a fresh child process: the frames stage's decode (`open_frames`: the pass that checks
            the clip is complete and spools it when it fits the budget), then `--passes` (2) in-order reads of
            every output frame, the reads the detect and pose stages make, without their models (model memory
            does not grow with clip length; `--full` adds the real per-clip task, `run_video` with the default
            config, models included, on the 30 s clip)
  peak RSS      the child's ru_maxrss (with --full also the peak so far when each stage's result is stored, and
                each stage's seconds)
  peak scratch  the largest total, over samples every 0.1 s, of the blocks held by files the child has open
                under the scratch dir (the spool is an unnamed file, so it is found through /proc/PID/fd) plus
                any named files there

The child inherits the environment: run it as a Dask worker runs (the nanny sets MALLOC_TRIM_THRESHOLD_=65536
for every worker process) by setting that variable.

Usage: PYTHONPATH=. python benchmarks/memory.py [--lengths 30 120 600] [--video V] [--scratch DIR] [--full]
       [--full-only]
"""
from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

NTU = Path(__file__).resolve().parents[2] / "shared" / "samples" / "videos" / "ntu" / "ntu_sample.avi"


def loop_clip(src: Path, dest: Path, seconds: float) -> int:
    """Write `src`'s video packets over and over (timestamps shifted, no re-encoding) until `dest` lasts at least
    `seconds`; returns the number of frames written. Each copy starts on the source's first (key) frame."""
    import av
    with av.open(str(src)) as inp:
        stream = inp.streams.video[0]
        tb = stream.time_base
        packets = [(bytes(p), p.pts, p.dts, p.duration or 0, p.is_keyframe) for p in inp.demux(stream) if p.size]
        with av.open(str(dest), "w") as out:
            ostream = out.add_stream_from_template(stream)
            first = min(p[1] for p in packets)
            span = max(p[1] for p in packets) - first + (packets[-1][3] or 1)
            copies = max(1, math.ceil(seconds / float(span * tb)))
            for c in range(copies):
                for data, pts, dts, dur, key in packets:
                    pk = av.Packet(data)
                    pk.pts, pk.dts = pts + c * span, dts + c * span
                    pk.duration, pk.is_keyframe, pk.time_base, pk.stream = dur, key, tb, ostream
                    out.mux(pk)
    return copies * len(packets)


def scratch_bytes(pid: int, scratch: Path) -> int:
    """Blocks held by the files `pid` has open under `scratch` (unnamed ones included) and the files named there."""
    total, seen = 0, set()
    fd_dir = Path(f"/proc/{pid}/fd")
    try:
        fds = os.listdir(fd_dir)
    except OSError:
        fds = []
    for fd in fds:
        try:
            if os.readlink(fd_dir / fd).startswith(str(scratch)):
                st = os.stat(fd_dir / fd)
                if (st.st_dev, st.st_ino) not in seen:
                    seen.add((st.st_dev, st.st_ino))
                    total += st.st_blocks * 512
        except OSError:
            continue
    for p in scratch.rglob("*"):
        try:
            st = p.stat()
        except OSError:
            continue
        if p.is_file() and (st.st_dev, st.st_ino) not in seen:
            total += st.st_blocks * 512
    return total


def child(video: str, scratch: str, passes: int, full: bool) -> None:
    import resource
    t0 = time.perf_counter()
    if full:
        from dagfile import DAG
        from pipeline.adapters.base import VideoItem
        from pipeline.cache import Store
        from pipeline.video_task import run_video
        from schemas.config import BuildConfig
        cfg = BuildConfig()
        plan = DAG.plan()
        item = VideoItem(Path(video).stem, video, 0, "looped", "train")
        stages = {}
        save = Store.save

        def save_and_note(self, stage, key, art):          # the peak so far when each stage's result is stored
            stages[stage] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
            return save(self, stage, key, art)

        Store.save = save_and_note
        res = run_video(item, cfg, DAG, plan, str(Path(scratch).parent / "cache"), scratch)
        info = {"status": res["row"]["status"], "reason": res["row"]["reason"], "n_frames": res["row"]["n_frames"],
                "peak_rss_mb_after_stage": stages,
                "stage_seconds": {k: round(v["seconds"], 1) for k, v in res["stages"].items()}}
    else:
        from workers.decode.resample import presentation_times, resample_indices
        from workers.decode.spool import open_frames
        times, end = presentation_times(video)
        idx = resample_indices(times, end, 30)
        with open_frames(video, idx, Path(scratch)) as source:
            for _ in range(passes):
                for frame in source:
                    frame[0, 0, 0]
            info = {"n_frames": len(source), "spooled": source.spooled, "size": list(source.size)}
    info.update(seconds=round(time.perf_counter() - t0, 1),
                peak_rss_mb=round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1))
    print(json.dumps(info))


def measure(video: Path, scratch: Path, passes: int, full: bool) -> dict:
    cmd = [sys.executable, __file__, "--child", str(video), "--scratch", str(scratch), "--passes", str(passes)]
    proc = subprocess.Popen(cmd + (["--full"] if full else []), stdout=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])})
    peak = 0
    while proc.poll() is None:
        peak = max(peak, scratch_bytes(proc.pid, scratch))
        time.sleep(0.1)
    out = proc.stdout.read()
    if proc.returncode:
        raise SystemExit(f"child failed ({proc.returncode}) on {video}")
    info = json.loads(out.strip().splitlines()[-1])
    info["peak_scratch_mb"] = round(peak / 2**20, 1)
    return info


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--lengths", type=float, nargs="+", default=[30, 120, 600], help="clip lengths in seconds")
    ap.add_argument("--video", type=Path, default=NTU, help="the clip to loop (default: the NTU 1080p sample)")
    ap.add_argument("--scratch", type=Path, default=None, help="scratch dir (default: a fresh temp dir)")
    ap.add_argument("--passes", type=int, default=2, help="in-order reads of every frame after the decode")
    ap.add_argument("--full", action="store_true", help="also run the real per-clip task on the shortest clip")
    ap.add_argument("--full-only", action="store_true",
                    help="run only the real per-clip task, on every length (no frame-path runs)")
    ap.add_argument("--child", default=None, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child:
        return child(a.child, str(a.scratch), a.passes, a.full)
    work = Path(tempfile.mkdtemp(prefix="skelforge-bench-memory-"))
    scratch = a.scratch or work / "scratch"
    scratch.mkdir(parents=True, exist_ok=True)
    try:
        runs = ([(s, True) for s in a.lengths] if a.full_only else
                [(s, False) for s in a.lengths] + ([(min(a.lengths), True)] if a.full else []))
        for seconds, full in runs:
            clip = work / f"loop-{int(seconds)}s{Path(a.video).suffix}"
            if not clip.exists():
                frames = loop_clip(a.video, clip, seconds)
                print(f"# {clip.name}: {frames} source frames, {clip.stat().st_size / 2**20:.0f} MB", flush=True)
            info = measure(clip, scratch, a.passes, full)
            what = "per-clip task (run_video, models)" if full else f"decode + {a.passes} frame passes"
            print(json.dumps({"clip_s": seconds, "measured": what, **info}), flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
