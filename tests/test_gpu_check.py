"""benchmarks/gpu_check.py without a GPU: its every path (ONNX experts, YOLO-pose, a build of a real sample clip,
an AMP-capable training epoch with heatmaps, an SMPL-X fit) run on the CPU with the real code and tiny sizes, and
the figures it prints; and its loud failure when a path asked to run on CUDA ends up on the CPU — shown with
onnxruntime's real silent fallback (a session asked for CUDAExecutionProvider on a machine that cannot give it)."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import torch

from tests.conftest import NTU_CLIP, ROOT, stage_videos
from tests.onnx_models import simcc_model

SCRIPT = ROOT / "benchmarks" / "gpu_check.py"
TINY = ["--threads", "2", "--crops", "4", "--onnx", "rtmpose-m", "--yolo-arch", "yolov8n-pose", "--yolo-imgsz", "320",
        "--clips", "1", "--frames", "12", "--build-rtm", "rtmpose-m", "--train-clips", "8", "--train-frames", "8",
        "--train-width", "4", "--train-batch", "4", "--heatmap-clips", "2", "--smplx-frames", "2",
        "--smplx-persons", "1", "--smplx-iterations", "5"]


def run(*args, timeout=600) -> tuple[int, dict, str]:
    p = subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=timeout,
                       cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
    lines = p.stdout.strip().splitlines()
    return p.returncode, json.loads(lines[-1]), p.stdout + p.stderr


@pytest.mark.slow
def test_cpu_mode_runs_every_path_and_prints_its_figures(tmp_path):
    videos = stage_videos(tmp_path / "v", NTU_CLIP, names=["ntu/ntu_sample.avi"])
    rc, rep, log = run("--device", "cpu", "--videos", str(videos), "--work", str(tmp_path / "w"), *TINY)
    assert rc == 0 and rep["failed"] == [], log
    c = rep["checks"]
    assert set(c) == {"onnx", "yolo", "build", "train", "smplx"}
    assert rep["environment"]["device"] == "cpu"
    o = c["onnx"]["rtmpose-m"]
    assert o["provider"] == "CPUExecutionProvider" and o["crops"] == 4 and o["crops_per_s"] > 0
    assert o["parameters_m"] == 13.59                     # the published RTMPose-m size (tests/rtm_arch.py)
    assert c["onnx"]["yolox_detector_provider"] == "CPUExecutionProvider"
    assert c["yolo"]["device"] == "cpu" and c["yolo"]["crops_per_s"] > 0
    b = c["build"]
    assert b["clips"] == 1 and b["frames"] == 12 and b["frames_per_s"] > 0
    assert b["crops"] > 0 and b["pose_crops_per_s"] > 0        # the NTU clip's two actors were posed
    assert b["onnx_providers"] == ["CPUExecutionProvider"] and b["yolo_devices"] == ["cpu"]
    t = c["train"]
    assert t["amp"] is False and t["train_clips"] == 8 and t["clips_per_s"] > 0   # AMP is for CUDA only
    assert t["heatmaps"]["device"] == "cpu" and t["heatmaps"]["frames"] == 200 and t["heatmaps"]["frames_per_s"] > 0
    s = c["smplx"]
    assert s["device"] == "cpu" and s["person_frames"] == 2 and s["s_per_person_frame"] > 0
    assert "torch_max_allocated_mib" not in o                 # GPU memory figures only on CUDA
    assert "| build (1 clips, 12 frames" in log and "crops/s" in log


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a CUDA device")
def test_cuda_asked_where_torch_sees_none_exits_1_naming_it():
    rc, rep, log = run("--device", "cuda", "--checks", "onnx", timeout=120)
    assert rc == 1, log
    assert rep["failed"] == [{"check": "all", "error": f"torch {torch.__version__} sees no CUDA device"}]


def test_a_session_that_fell_back_to_the_cpu_is_a_failure(tmp_path):
    """rtmlib asks onnxruntime for CUDAExecutionProvider only; where it cannot load (the CPU wheel, or no GPU),
    onnxruntime runs the session on the CPU without an error. The check must catch exactly that."""
    import onnxruntime as ort

    from benchmarks.gpu_check import RanOnCPU, onnx_provider, torch_device_of
    from workers.experts.registry import EXPERTS
    e = EXPERTS["rtmpose"](onnx=str(simcc_model(tmp_path / "m.onnx", 17, 192, 256)), device="cuda")
    e.setup()
    if e._m.session.get_providers()[0] == "CUDAExecutionProvider":
        pytest.skip("onnxruntime runs CUDA here: no fallback to show")
    assert e._m.session.get_providers() == ["CPUExecutionProvider"]          # the silent fallback
    with pytest.raises(RanOnCPU, match="runs on CPUExecutionProvider, not CUDAExecutionProvider.*"
                                       "use_onnxruntime_gpu.sh"):
        onnx_provider(e._m.session, "cuda", "rtmpose")
    assert onnx_provider(ort.InferenceSession(str(tmp_path / "m.onnx"), providers=["CPUExecutionProvider"]),
                         "cpu", "x") == "CPUExecutionProvider"
    with pytest.raises(RanOnCPU, match="weights are on cpu, not cuda"):
        torch_device_of(torch.nn.Linear(2, 2), "cuda", "m")
