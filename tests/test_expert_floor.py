"""benchmarks/expert_floor.py in a tiny mode (2 runs per model): real TFLite models, its sums and ceilings
follow from the per-model times it prints."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_expert_floor_sums_its_models():
    out = subprocess.run([sys.executable, "benchmarks/expert_floor.py", "--runs", "2", "--persons", "3",
                          "--views", "2"], cwd=ROOT, capture_output=True, text=True, check=True,
                         env={**os.environ, "PYTHONPATH": str(ROOT)}).stdout
    fig = json.loads(out[:out.index("\n}\n") + 2])
    ms = fig["ms_per_model"]
    assert set(ms) == {"pose_detection", "pose_landmark_full", "hand_recrop", "hand_landmark_full", "face_landmark"}
    assert all(v > 0 for v in ms.values())
    roi = ms["pose_landmark_full"] + 2 * ms["hand_recrop"] + 2 * ms["hand_landmark_full"] + ms["face_landmark"]
    assert abs(fig["ms_per_person"]["roi_known"] - roi) < 0.1
    assert abs(fig["ms_per_person"]["holistic_as_run"] - (roi + 2 * ms["pose_detection"])) < 0.1
    frame = 3 * (roi + 2 * ms["pose_detection"]) + 2 * ms["pose_detection"]
    assert abs(fig["ms_per_frame_models_only"]["holistic_as_run"] - frame) < 0.2
    assert abs(fig["max_frames_per_s_per_core"]["roi_known"] - 1000 / (3 * roi)) < 0.1
