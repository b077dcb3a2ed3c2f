"""Crops/s against batch size for the two batching expert kinds, through the experts' own `process` (the pose
stage's call, pre- and post-processing included), in one run:

- `rtm`: an RTMPose-size ONNX network (tests/rtm_arch.py: RTMPose-m by default, or RTMW-l) with random weights,
  exported with a dynamic batch axis, run by the `rtmpose` / `rtmw` expert on onnxruntime;
- `yolo`: the `yolo-pose` expert on an Ultralytics architecture built from its yaml with random weights.

Compute cost does not depend on weight values, so the crops/s are those of the released networks (their
keypoints mean nothing). Crops are real frames of the sample clips (benchmarks/gpu_check.py `real_crops`).
Each batch size runs the same crops in batches of that size; `--rounds` interleaves the sizes (each round
starting one size later) and the mean time per size counts, so a shared machine's load falls on every size
alike. Every batch size's keypoints are compared with the smallest size's: `max_abs_diff` is 0.0 where they
are bit-identical (on the CPU they are; on a GPU this shows what a batched kernel changes). The YOLO comparison
needs keypoints: random weights find none at the expert's default confidence, so pass `--yolo-conf 0.0001` for it
(that adds NMS work to the timing).

Usage: python benchmarks/batching.py [--device cpu|cuda] [--sizes 1,2,4,8,16,32] [--crops 64] [--json F]
Prints a table and, last, one JSON line.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def parse(argv=None) -> argparse.Namespace:
    from benchmarks.gpu_check import default_videos
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N")
    ap.add_argument("--sizes", default="1,2,4,8,16,32", help="batch sizes (crops per expert call)")
    ap.add_argument("--crops", type=int, default=64, help="real-frame crops run at every batch size")
    ap.add_argument("--models", default="rtm,yolo", help="rtm, yolo or both")
    ap.add_argument("--rtm", default="rtmpose-m", help="the ONNX network (tests/rtm_arch.py ARCHS)")
    ap.add_argument("--yolo-arch", default="yolov8n-pose", help="Ultralytics architecture (its .yaml)")
    ap.add_argument("--yolo-imgsz", type=int, default=640)
    ap.add_argument("--yolo-conf", type=float, default=0.25, help="its detection confidence (the expert's default)")
    ap.add_argument("--rounds", type=int, default=3, help="passes over the batch sizes; the mean time counts")
    ap.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    ap.add_argument("--videos", type=Path, default=default_videos(), help="the sample clips")
    ap.add_argument("--work", type=Path, default=None, help="where the random-weight models go (default: temp)")
    ap.add_argument("--json", type=Path, default=None, help="also write the figures here")
    a = ap.parse_args(argv)
    from tests.rtm_arch import ARCHS
    try:
        a.sizes = sorted({int(s) for s in a.sizes.split(",") if s})
    except ValueError:
        ap.error(f"--sizes {a.sizes!r}: comma-separated integers")
    a.models = [m for m in a.models.split(",") if m]
    if not a.sizes or a.sizes[0] < 1:
        ap.error("--sizes: batch sizes >= 1")
    if a.crops < a.sizes[-1]:
        ap.error(f"--crops {a.crops}: at least the largest batch size ({a.sizes[-1]})")
    if a.rtm not in ARCHS or set(a.models) - {"rtm", "yolo"} or not a.models:
        ap.error(f"--rtm: one of {', '.join(ARCHS)}; --models: rtm and/or yolo")
    if not (a.device == "cpu" or a.device == "cuda" or (a.device.startswith("cuda:") and a.device[5:].isdigit())):
        ap.error(f"--device {a.device!r}: cuda, cuda:N or cpu")
    if a.rounds < 1:
        ap.error("--rounds: at least 1")
    return a


def experts(a, work: Path) -> dict:
    """name -> (set-up expert, what it runs), each checked to run on the device asked for."""
    from benchmarks.gpu_check import onnx_provider, rtm_expert_name, rtm_model, torch_device_of, yolo_weights
    from tests.rtm_arch import ARCHS
    from workers.experts.registry import EXPERTS
    out = {}
    if "rtm" in a.models:
        spec = ARCHS[a.rtm]
        e = EXPERTS[rtm_expert_name(a.rtm)](onnx=str(rtm_model(a.rtm, work)), input_size=(spec.w, spec.h),
                                             device=a.device, min_score=0.0)
        e.setup()
        where = onnx_provider(e._m.session, a.device, f"{e.name} ({a.rtm})")
        if e._session.max_batch is not None:
            raise RuntimeError(f"{a.rtm}: the exported file has a fixed batch of {e._session.max_batch}")
        out[a.rtm] = (e, f"{e.name} expert, {spec.w}x{spec.h}, onnxruntime {where}")
    if "yolo" in a.models:
        e = EXPERTS["yolo-pose"](weights=str(yolo_weights(a.yolo_arch, work)), device=a.device, imgsz=a.yolo_imgsz,
                                 conf=a.yolo_conf, min_score=0.0)
        e.setup()
        out[a.yolo_arch] = (e, f"yolo-pose expert, {a.yolo_imgsz} px, conf {a.yolo_conf}, torch")
    return out


def in_batches(e, crops: list, size: int) -> list:
    out = []
    for i in range(0, len(crops), size):
        out += e.process(crops[i:i + size])
    return out


def measure(a, e, crops: list) -> dict:
    """Per batch size: mean seconds over the rounds, crops/s, ratio to the smallest size, max |diff| to it, and
    the crops with any keypoint (where none has one, the comparison says nothing)."""
    import numpy as np

    from benchmarks.gpu_check import sync
    in_batches(e, crops[:a.sizes[-1]], a.sizes[-1])                     # warm-up at the largest batch
    total, points = dict.fromkeys(a.sizes, 0.0), {}
    for i in range(a.rounds):
        for b in a.sizes[i % len(a.sizes):] + a.sizes[:i % len(a.sizes)]:   # each round starts one size later
            sync(a.device)
            t0 = time.perf_counter()
            res = in_batches(e, crops, b)
            sync(a.device)
            total[b] += time.perf_counter() - t0
            points[b] = np.stack([r.points for r in res])
    mean = {b: t / a.rounds for b, t in total.items()}
    ref = points[a.sizes[0]]
    rows = {}
    for b in a.sizes:
        same = np.array_equal(points[b], ref, equal_nan=True)
        diff = 0.0 if same else float(np.nanmax(np.abs(points[b] - ref)))
        rows[b] = {"seconds": round(mean[b], 3), "crops_per_s": round(len(crops) / mean[b], 1), "max_abs_diff": diff,
                   "identical": bool(same), "crops_with_points": int((points[b][..., 2] > 0).any(-1).sum())}
    for b in a.sizes:
        rows[b]["ratio"] = round(rows[b]["crops_per_s"] / rows[a.sizes[0]]["crops_per_s"], 2)
    return rows


def table(a, results: dict) -> str:
    names = list(results["models"])
    head = "| batch | " + " | ".join(f"{n} crops/s | × vs {a.sizes[0]}" for n in names) + " |"
    lines = [head, "|---|" + "---|---|" * len(names)]
    for b in a.sizes:
        cells = []
        for n in names:
            r = results["models"][n]["sizes"][str(b)]
            cells.append(f"{r['crops_per_s']} | {r['ratio']}" + ("" if r["identical"] else
                                                                 f" (max diff {r['max_abs_diff']:.3g})"))
        lines.append(f"| {b} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv=None) -> int:
    a = parse(argv)
    import onnxruntime as ort
    import torch

    from benchmarks.gpu_check import real_crops
    if a.threads:
        torch.set_num_threads(a.threads)
    work = a.work or Path(tempfile.mkdtemp(prefix="skelforge-batching-"))
    work.mkdir(parents=True, exist_ok=True)
    crops = real_crops(a.videos, a.crops)
    results = {"device": a.device, "crops": len(crops), "sizes": a.sizes, "rounds": a.rounds,
               "torch_threads": torch.get_num_threads(), "onnxruntime": ort.__version__, "torch": torch.__version__,
               "models": {}}
    for name, (e, what) in experts(a, work).items():
        rows = measure(a, e, crops)
        results["models"][name] = {"runs": what, "sizes": {str(b): r for b, r in rows.items()}}
    print(f"{len(crops)} real-frame crops, {a.device}, mean of {a.rounds} interleaved round(s), torch threads "
          f"{results['torch_threads']}")
    for name, m in results["models"].items():
        first = m["sizes"][str(a.sizes[0])]
        same = all(r["identical"] for r in m["sizes"].values())
        print(f"  {name}: {m['runs']}; crops with keypoints {first['crops_with_points']}/{len(crops)}; keypoints "
              f"{'bit-identical at every batch size' if same else 'differ between batch sizes (see max diff)'}")
    print(table(a, results))
    line = json.dumps(results)
    if a.json:
        a.json.write_text(line + "\n")
    print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
