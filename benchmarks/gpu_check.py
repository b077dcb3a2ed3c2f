"""GPU check: every CUDA path of skelforge run end to end on one device, with its throughput and GPU memory, and
a loud failure (exit 1) when a path that was asked to run on CUDA ran on the CPU.

Checks (`--checks`, all by default), each on `--device` (cuda, or cpu: the same code on the CPU, quickly, for the
test that keeps this script working on machines without a GPU):
  onnx    the rtmpose / rtmw experts (rtmlib + onnxruntime) on RTMPose-m and RTMW-l-size networks with random
          weights (tests/rtm_arch.py: real-size compute, meaningless keypoints), and the YOLOX detector's session
          (tests/onnx_models.py's constant-output model: only its provider is checked); crops/s per network,
          `--batch-size` crops per expert call (the pose stage's `pose.batch_size`).
          On CUDA every session must run on CUDAExecutionProvider — onnxruntime silently falls back to the CPU
          when the CUDA provider cannot load (the CPU wheel, a missing cuDNN), and that is reported as a failure.
  yolo    the yolo-pose expert (Ultralytics, built from `--yolo-arch`.yaml, random weights) on the device; crops/s,
          `--batch-size` crops per call.
  build   a build of the sample clips, in this process (`--workers 0`), with the rtm expert (`--build-rtm`) and
          yolo-pose on the device, every other stage as configured by default (the BlazePose detector finds the
          real people, on the CPU); frames/s of the build, crops/s of its pose stage; afterwards every
          onnxruntime session and YOLO model the build left loaded must be on the device.
  train   one training epoch of PoseConv3D on a SYNTHETIC shard set (tests/synthetic_shards.py), AMP on CUDA
          (the run's checkpoint must hold an enabled GradScaler), and pseudo heatmaps rendered on the device.
  smplx   an SMPL-X fit on the device on the SYNTHETIC SMPL-X model the tests generate (tests/synthetic_smplx.py:
          the real model is licence-gated; cost depends on its size, which matches the real one).
GPU memory per check: torch.cuda.max_memory_allocated (torch only) and nvidia-smi's figure for this process
(onnxruntime's CUDA allocations included), or the GPU's total used memory where this process is not listed.

Output: a table, then the figures as one JSON line (the last line of stdout; also `--json FILE`).
Exit 0 when every check ran on the device asked for; 1 when any failed (each failure named); 2 for bad options.
Usage (benchmarks/gpu_check.sh finds the environment and runs this with --device cuda):
  PYTHONPATH=. python benchmarks/gpu_check.py --device cuda [--checks onnx,yolo,build,train,smplx] [--json F]
"""
from __future__ import annotations

import argparse
import gc
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
CHECKS = ("onnx", "yolo", "build", "train", "smplx")


class RanOnCPU(RuntimeError):
    """A path asked to run on CUDA ran on the CPU."""


# ---------------------------------------------------------------- device and memory
def onnx_provider(session, device: str, what: str) -> str:
    """The provider `session` runs on; RanOnCPU when it is not the one `device` asks for."""
    import onnxruntime as ort
    want = "CUDAExecutionProvider" if device.startswith("cuda") else "CPUExecutionProvider"
    got = session.get_providers()[0]
    if got != want:
        raise RanOnCPU(f"{what}: onnxruntime session runs on {got}, not {want} (onnxruntime {ort.__version__}, "
                       f"providers available: {ort.get_available_providers()}); onnxruntime-gpu must replace the "
                       f"CPU wheel: bash scripts/use_onnxruntime_gpu.sh PYTHON")
    return got


def torch_device_of(module, device: str, what: str) -> str:
    got = next(module.parameters()).device.type
    if got != device.split(":")[0]:
        raise RanOnCPU(f"{what}: the model's weights are on {got}, not {device}")
    return got


class Memory:
    """Peak GPU memory over one check (torch's allocator, and nvidia-smi's view of this process)."""

    def __init__(self, device: str):
        self.cuda = device.startswith("cuda")

    def start(self) -> None:
        if self.cuda:
            import torch
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()

    def figures(self) -> dict:
        if not self.cuda:
            return {}
        import torch
        torch.cuda.synchronize()
        return {"torch_max_allocated_mib": round(torch.cuda.max_memory_allocated() / 2 ** 20, 1), **nvidia_smi()}


def nvidia_smi() -> dict:
    """This process's GPU memory from nvidia-smi (MiB), or the GPU's total used memory where it is not listed."""
    if shutil.which("nvidia-smi") is None:
        return {"nvidia_smi": "not on PATH"}
    q = lambda *a: subprocess.run(["nvidia-smi", *a, "--format=csv,noheader,nounits"], capture_output=True,  # noqa
                                  text=True, timeout=30).stdout
    mine = [int(line.split(",")[1]) for line in q("--query-compute-apps=pid,used_memory").splitlines()
            if line.strip() and line.split(",")[0].strip() == str(os.getpid())]
    if mine:
        return {"nvidia_smi_process_mib": sum(mine)}
    used = [int(x) for x in q("--query-gpu=memory.used").split() if x.strip().isdigit()]
    return {"nvidia_smi_gpu_used_mib": used[0] if used else None}


def sync(device: str) -> None:
    if device.startswith("cuda"):
        import torch
        torch.cuda.synchronize()


# ---------------------------------------------------------------- inputs
def real_crops(videos: Path, n: int, side: int = 256) -> list:
    """`n` square crops of real frames (the centre of the sample clips' frames, cycled)."""
    import av

    from workers.experts.base import Crop
    from workers.pose.crops import square_crop
    frames = []
    for path in sorted(p for p in videos.rglob("*") if p.suffix in (".mp4", ".avi")):
        with av.open(str(path)) as c:
            for i, f in enumerate(c.decode(video=0)):
                frames.append(f.to_ndarray(format="rgb24"))
                if i >= 3:
                    break
        if len(frames) >= n:
            break
    crops = []
    for i in range(n):
        fr = frames[i % len(frames)]
        h, w = fr.shape[:2]
        img, x0, y0, s = square_crop(fr, w / 2, h / 2, min(h, w, side * 2))
        crops.append(Crop(img, x0, y0, 1.0, None, fr))
    return crops


def yolo_weights(arch: str, work: Path) -> Path:
    os.environ.setdefault("YOLO_OFFLINE", "1")
    from ultralytics import YOLO
    pt = work / f"{arch}-random.pt"
    if not pt.exists():
        YOLO(f"{arch}.yaml", task="pose").save(str(pt))        # real architecture, random weights
    return pt


def rtm_model(name: str, work: Path) -> Path:
    from tests import rtm_arch
    path = work / f"{name}-random.onnx"
    return path if path.exists() else rtm_arch.export(name, path)


def rtm_expert_name(arch: str) -> str:
    from tests.rtm_arch import ARCHS
    return "rtmw" if ARCHS[arch].k == 133 else "rtmpose"


def in_batches(e, crops: list, size: int) -> list:
    """The expert on the crops, `size` per call (as the pose stage hands them at `pose.batch_size`)."""
    return [r for i in range(0, len(crops), size) for r in e.process(crops[i:i + size])]


def timed(fn, device: str) -> tuple[object, float]:
    sync(device)
    t0 = time.perf_counter()
    out = fn()
    sync(device)
    return out, time.perf_counter() - t0


# ---------------------------------------------------------------- checks
def check_onnx(a, work: Path, mem: Memory) -> dict:
    from tests import rtm_arch
    from tests.onnx_models import yolox_model
    from workers.detect.yolox import YoloxDetector
    from workers.experts.registry import EXPERTS
    crops = real_crops(a.videos, a.crops)
    out = {}
    for arch in a.onnx:
        spec = rtm_arch.ARCHS[arch]
        e = EXPERTS[rtm_expert_name(arch)](onnx=str(rtm_model(arch, work)), input_size=(spec.w, spec.h),
                                            device=a.device, min_score=0.0)
        e.setup()
        provider = onnx_provider(e._m.session, a.device, f"{e.name} ({arch})")
        e.process(crops[:2])                                         # warm-up (CUDA kernels, allocator)
        mem.start()
        _, dt = timed(lambda: in_batches(e, crops, a.batch_size), a.device)
        out[arch] = {"expert": e.name, "provider": provider, "parameters_m": round(rtm_arch.parameters(arch) / 1e6, 2),
                     "input": f"{spec.w}x{spec.h}", "crops": len(crops), "batch_size": a.batch_size,
                     "seconds": round(dt, 3),
                     "crops_per_s": round(len(crops) / dt, 1), **mem.figures()}
        del e
    det = YoloxDetector(str(yolox_model(work / "yolox-const.onnx", 320, (160, 120), 96)), input_size=320,
                        device=a.device)
    out["yolox_detector_provider"] = onnx_provider(det._m.session, a.device, "yolox detector")
    del det
    gc.collect()
    return out


def check_yolo(a, work: Path, mem: Memory) -> dict:
    from workers.experts.registry import EXPERTS
    crops = real_crops(a.videos, a.crops)
    e = EXPERTS["yolo-pose"](weights=str(yolo_weights(a.yolo_arch, work)), device=a.device, imgsz=a.yolo_imgsz,
                             conf=0.25, min_score=0.0)
    e.setup()
    e.process(crops[:2])
    where = torch_device_of(e._m.predictor.model.model, a.device, "yolo-pose")
    mem.start()
    _, dt = timed(lambda: in_batches(e, crops, a.batch_size), a.device)
    res = {"arch": a.yolo_arch, "imgsz": a.yolo_imgsz, "device": where, "crops": len(crops),
           "batch_size": a.batch_size, "seconds": round(dt, 3),
           "crops_per_s": round(len(crops) / dt, 1), **mem.figures()}
    del e
    gc.collect()
    return res


def _loaded_models(onnx_path: str):
    """The onnxruntime sessions on `onnx_path` and the Ultralytics models alive in this process."""
    import onnxruntime as ort
    from ultralytics.nn.autobackend import AutoBackend
    gc.collect()
    objs = gc.get_objects()
    with warnings.catch_warnings():                  # isinstance on torch's lazy modules warns of deprecations
        warnings.simplefilter("ignore")
        sessions = [o for o in objs if isinstance(o, ort.InferenceSession)
                    and getattr(o, "_model_path", None) == onnx_path]
        yolos = [o for o in objs if isinstance(o, AutoBackend)]
    return sessions, yolos


def check_build(a, work: Path, mem: Memory) -> dict:
    import numpy as np
    from rich.console import Console

    from dagfile import DAG
    from pipeline.build import build
    from pipeline.cache import Store
    from pipeline.manifest import read_manifest
    from schemas.config import BuildConfig
    from tests import rtm_arch
    videos = work / "videos"
    if not videos.exists():
        clips = sorted(p for p in a.videos.rglob("*") if p.suffix in (".mp4", ".avi"))[:a.clips]
        for p in clips:                                   # one class folder per clip's parent, as in the samples
            (videos / p.parent.name).mkdir(parents=True, exist_ok=True)
            shutil.copy(p, videos / p.parent.name / p.name)
    rtm = rtm_expert_name(a.build_rtm)
    onnx = str(rtm_model(a.build_rtm, work))
    spec = rtm_arch.ARCHS[a.build_rtm]
    whole = rtm == "rtmw"
    cfg = {"frames": {"max_frames": a.frames}, "layouts": ["coco-17"],
           "experts": {"body": [rtm, "yolo-pose"], "hands": [rtm] if whole else [], "face": [rtm] if whole else []},
           "expert_settings": {rtm: {"onnx": onnx, "input_size": [spec.w, spec.h], "device": a.device},
                               "yolo-pose": {"weights": str(yolo_weights(a.yolo_arch, work)), "device": a.device,
                                             "imgsz": a.yolo_imgsz}}}
    cfg["pose"] = {"batch_size": a.batch_size}
    out = work / "build-out"
    shutil.rmtree(out, ignore_errors=True)
    mem.start()
    _, dt = timed(lambda: build(DAG, videos, out, BuildConfig.model_validate(cfg), 0, None, None, None, False,
                                Console(quiet=True)), a.device)
    memory = mem.figures()
    rows = read_manifest(out).to_pylist()
    bad = [f"{r['clip_id']}: {r['status']} at {r['stage']} ({r['reason']})" for r in rows if r["status"] == "failed"]
    if bad:
        raise RuntimeError("build: failed clips: " + "; ".join(bad))
    store = Store(out / ".cache")
    crops = 0
    for r in rows:                                        # person-frames the pose stage cropped
        if r.get("pose_key"):
            det = store.load("detect", r["detect_key"]).arrays
            crops += int((~np.isnan(det["tracks"][det["actors"]][..., 0])).sum())
    sessions, yolos = _loaded_models(onnx)
    if not sessions or not yolos:
        raise RuntimeError(f"build: expected the build's {rtm} session and yolo-pose model in this process, found "
                           f"{len(sessions)} session(s) and {len(yolos)} YOLO model(s)")
    providers = sorted({onnx_provider(s, a.device, f"build's {rtm}") for s in sessions})
    places = sorted({torch_device_of(y.model, a.device, "build's yolo-pose") for y in yolos})
    frames = sum(r["n_frames"] or 0 for r in rows)
    pose_s = sum(r.get("pose_seconds") or 0 for r in rows)
    return {"clips": len(rows), "ok": sum(r["status"] == "ok" for r in rows), "frames": frames, "crops": crops,
            "experts": f"{rtm} ({a.build_rtm}), yolo-pose ({a.yolo_arch})", "pose_batch_size": a.batch_size,
            "seconds": round(dt, 2), "frames_per_s": round(frames / dt, 2),
            "pose_seconds": round(pose_s, 2), "pose_crops_per_s": round(crops / pose_s, 1) if pose_s else None,
            "onnx_providers": providers, "yolo_devices": places, **memory}


def check_train(a, work: Path, mem: Memory) -> dict:
    import numpy as np
    import torch

    from benchmarks.heatmaps import synthetic
    from schemas.layouts import get_layout
    from schemas.train import TrainConfig
    from tests.synthetic_shards import write_build
    from workers.action.experiment import run_experiment
    from workers.action.heatmaps import pseudo_heatmaps
    from workers.action.trainer import load_checkpoint
    data = work / "train-shards"
    if not data.exists():
        write_build(data, n_train=a.train_clips, n_val=max(2, a.train_clips // 4), T=a.train_frames)
    run = work / "train-run"
    shutil.rmtree(run, ignore_errors=True)
    tc = TrainConfig(model="posec3d", layout="ntu-x-118", epochs=1, batch_size=a.train_batch, device=a.device,
                     amp=True, width=a.train_width, frames=a.train_frames, seed=0)
    mem.start()
    m = run_experiment(data, tc, run)
    train_mem = mem.figures()
    hist = m["streams"]["joint"]["history"][0]
    scaler = load_checkpoint(run / "checkpoint.pt", "cpu")["scaler"]
    amp = bool(scaler) and scaler.get("scale") is not None
    if a.device.startswith("cuda") and not amp:
        raise RanOnCPU(f"train: AMP was not enabled on {a.device} (the checkpoint's GradScaler state is {scaler})")
    if m["device"] != a.device:
        raise RanOnCPU(f"train: ran on {m['device']}, not {a.device}")
    # pseudo heatmaps (PoseConv3D's input) on the device, alone: frames/s
    layout = get_layout("ntu-x-118")
    skel = torch.from_numpy(synthetic(a.heatmap_clips, 2, 100, layout.num_joints)).to(a.device)
    pseudo_heatmaps(skel[:1], mode="joint", clip_len=None)
    mem.start()
    hm, dt = timed(lambda: pseudo_heatmaps(skel, mode="joint", clip_len=None), a.device)
    if hm.device.type != a.device.split(":")[0]:
        raise RanOnCPU(f"heatmaps: rendered on {hm.device.type}, not {a.device}")
    frames = a.heatmap_clips * 100
    return {"model": "posec3d", "layout": "ntu-x-118", "train_clips": m["train_clips"], "amp": amp,
            "epoch_seconds": round(hist["seconds"], 2),                 # training + evaluation of the epoch
            "clips_per_s": round(hist["train_samples"] / hist["seconds"], 1),
            "loss": round(float(hist["loss"]), 4) if np.isfinite(hist["loss"]) else None, **train_mem,
            "heatmaps": {"clips": a.heatmap_clips, "frames": frames, "joints": layout.num_joints, "size": 56,
                         "device": hm.device.type, "frames_per_s": round(frames / dt, 1), **mem.figures()}}


def check_smplx(a, work: Path, mem: Memory) -> dict:
    import numpy as np
    import torch

    from tests.synthetic_smplx import write_synthetic_smplx
    from tests.test_smplx_fit import INTR, _guide, _scene
    from workers.fitting.smplx_fit import fit, load_model
    model_dir = work / "smplx-model"
    if not model_dir.exists():
        write_synthetic_smplx(model_dir)
    model = load_model(model_dir, device="cpu")
    kp, J, person = _scene(model, T=a.smplx_frames, P=a.smplx_persons)
    model = model.to(a.device)
    model_bytes = sum(t.numel() * t.element_size() for t in [*model.parameters(), *model.buffers()])
    mem.start()
    res, dt = timed(lambda: fit(model, kp, INTR, sequence_ids=person, init={"joints": _guide(J)}, device=a.device,
                                iterations=a.smplx_iterations), a.device)
    memory = mem.figures()
    where = torch_device_of(model, a.device, "smplx")
    if a.device.startswith("cuda") and torch.cuda.max_memory_allocated() <= model_bytes:
        raise RanOnCPU("smplx: the fit allocated nothing on the GPU beyond the model itself")
    B = len(kp)
    return {"model": "SYNTHETIC SMPL-X (tests/synthetic_smplx.py)", "person_frames": B, "device": where,
            "iterations_per_stage": a.smplx_iterations, "seconds": round(dt, 2),
            "s_per_person_frame": round(dt / B, 3),
            "mean_joint_error_m": round(float(np.linalg.norm(res["joints"] - J, axis=-1).mean()), 3), **memory}


RUNNERS = {"onnx": check_onnx, "yolo": check_yolo, "build": check_build, "train": check_train, "smplx": check_smplx}


# ---------------------------------------------------------------- main
def default_videos() -> Path:
    for p in (ROOT.parent / "shared" / "samples" / "videos", ROOT / "shared" / "samples" / "videos"):
        if p.is_dir():
            return p
    return ROOT.parent / "shared" / "samples" / "videos"


def parse(argv=None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--device", default="cuda", help="cuda (or cuda:N), or cpu")
    ap.add_argument("--checks", default=",".join(CHECKS), help=f"comma-separated, from {', '.join(CHECKS)}")
    ap.add_argument("--videos", type=Path, default=default_videos(), help="the sample clips (class folders)")
    ap.add_argument("--crops", type=int, default=512, help="real-frame crops timed per ONNX network / YOLO")
    ap.add_argument("--onnx", default="rtmpose-m,rtmw-l", help="networks timed in the onnx check")
    ap.add_argument("--yolo-arch", default="yolo11m-pose", help="Ultralytics architecture (its .yaml)")
    ap.add_argument("--yolo-imgsz", type=int, default=640)
    ap.add_argument("--clips", type=int, default=9, help="sample clips in the build")
    ap.add_argument("--frames", type=int, default=60, help="frames.max_frames of the build")
    ap.add_argument("--build-rtm", default="rtmw-l", help="the rtm expert's network in the build")
    ap.add_argument("--batch-size", type=int, default=64, help="crops per expert call: the onnx and yolo checks' "
                    "and the build's pose.batch_size")
    ap.add_argument("--train-clips", type=int, default=256)
    ap.add_argument("--train-frames", type=int, default=48)
    ap.add_argument("--train-width", type=int, default=None, help="PoseConv3D base width (default: the paper's)")
    ap.add_argument("--train-batch", type=int, default=32)
    ap.add_argument("--heatmap-clips", type=int, default=16)
    ap.add_argument("--smplx-frames", type=int, default=32)
    ap.add_argument("--smplx-persons", type=int, default=2)
    ap.add_argument("--smplx-iterations", type=int, default=100, help="per fitting stage")
    ap.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    ap.add_argument("--work", type=Path, default=None, help="working folder (default: a temporary one)")
    ap.add_argument("--json", type=Path, default=None, help="also write the figures here")
    a = ap.parse_args(argv)
    a.checks = [c for c in a.checks.split(",") if c]
    a.onnx = [n for n in a.onnx.split(",") if n]
    from tests.rtm_arch import ARCHS
    unknown = [c for c in a.checks if c not in RUNNERS] + [n for n in [*a.onnx, a.build_rtm] if n not in ARCHS]
    if unknown:
        ap.error(f"unknown check(s) or network(s): {unknown}; checks: {', '.join(CHECKS)}; "
                 f"networks: {', '.join(ARCHS)}")
    if not (a.device == "cpu" or a.device == "cuda" or (a.device.startswith("cuda:") and a.device[5:].isdigit())):
        ap.error(f"--device {a.device!r}: cuda, cuda:N or cpu")
    if not a.videos.is_dir():
        ap.error(f"--videos {a.videos}: not a folder (the sample clips; ../shared/samples/videos beside the repo)")
    return a


def environment(device: str) -> dict:
    import onnxruntime as ort
    import torch
    env = {"device": device, "python": sys.version.split()[0], "torch": torch.__version__,
           "torch_cuda": torch.version.cuda, "onnxruntime": ort.__version__,
           "onnxruntime_providers": ort.get_available_providers()}
    if device.startswith("cuda"):
        env["gpu"] = torch.cuda.get_device_name(torch.device(device))
        env["gpu_memory_mib"] = torch.cuda.get_device_properties(torch.device(device)).total_memory // 2 ** 20
    return env


def table(results: dict) -> str:
    rows = ["| check | figure | GPU memory (torch peak / nvidia-smi, MiB) |", "|---|---|---|"]

    def mem(r):
        smi = r.get("nvidia_smi_process_mib", r.get("nvidia_smi_gpu_used_mib"))
        return f"{r['torch_max_allocated_mib']} / {smi}" if "torch_max_allocated_mib" in r else "—"
    for arch, r in results.get("onnx", {}).items():
        if isinstance(r, dict):
            rows.append(f"| onnx {r['expert']} ({arch}, {r['provider']}) | {r['crops_per_s']} crops/s | {mem(r)} |")
    if "yolo" in results:
        r = results["yolo"]
        rows.append(f"| yolo-pose ({r['arch']}, {r['imgsz']} px, {r['device']}) | {r['crops_per_s']} crops/s "
                    f"| {mem(r)} |")
    if "build" in results:
        r = results["build"]
        rows.append(f"| build ({r['clips']} clips, {r['frames']} frames, {r['experts']}) | {r['frames_per_s']} "
                    f"frames/s; pose stage {r['pose_crops_per_s']} crops/s | {mem(r)} |")
    if "train" in results:
        r = results["train"]
        rows.append(f"| train posec3d 1 epoch (AMP {r['amp']}) | {r['clips_per_s']} clips/s | {mem(r)} |")
        h = r["heatmaps"]
        rows.append(f"| heatmaps ({h['joints']} joints, {h['size']}x{h['size']}, {h['device']}) | "
                    f"{h['frames_per_s']} frames/s | {mem(h)} |")
    if "smplx" in results:
        r = results["smplx"]
        rows.append(f"| SMPL-X fit ({r['person_frames']} person-frames, {r['device']}) | {r['s_per_person_frame']} "
                    f"s/person-frame | {mem(r)} |")
    return "\n".join(rows)


def main(argv=None) -> int:
    a = parse(argv)
    os.environ.setdefault("YOLO_OFFLINE", "1")
    import torch
    if a.threads:
        torch.set_num_threads(a.threads)
    t_start = time.perf_counter()
    report = {"environment": environment(a.device) if not a.device.startswith("cuda") or torch.cuda.is_available()
              else {"device": a.device}, "checks": {}, "failed": []}
    if a.device.startswith("cuda") and not torch.cuda.is_available():
        report["failed"].append({"check": "all", "error": f"torch {torch.__version__} sees no CUDA device"})
    else:
        work = a.work or Path(tempfile.mkdtemp(prefix="skelforge-gpu-check-"))
        work.mkdir(parents=True, exist_ok=True)
        mem = Memory(a.device)
        for name in a.checks:
            t0 = time.perf_counter()
            try:
                report["checks"][name] = RUNNERS[name](a, work, mem)
                report["checks"][name]["check_seconds"] = round(time.perf_counter() - t0, 1)
            except Exception as e:                     # every check runs; each failure is named
                report["failed"].append({"check": name, "error": f"{type(e).__name__}: {e}"})
            print(f"{name}: {'FAILED' if report['failed'] and report['failed'][-1]['check'] == name else 'ok'} "
                  f"({time.perf_counter() - t0:.1f} s)", file=sys.stderr, flush=True)
        if a.work is None:
            shutil.rmtree(work, ignore_errors=True)
    report["seconds"] = round(time.perf_counter() - t_start, 1)
    print(table(report["checks"]))
    for f in report["failed"]:
        print(f"FAILED {f['check']}: {f['error']}")
    if a.json:
        a.json.write_text(json.dumps(report, indent=1))
    print(json.dumps(report))
    return 1 if report["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
