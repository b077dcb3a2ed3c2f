"""MediaPipe/TFLite/absl native INFO and WARNING lines (absl ignores every log-level setting before its
initialisation) are filtered out of Dask worker processes' stderr; the workers' other stderr still comes through.
A real one-worker Dask build of a sample clip, with the filter switched off (SKELFORGE_NATIVE_LOGS=1) as the control."""
from __future__ import annotations

import os
import time

from tests.conftest import VIDEOS, run_build, stage_videos

FLOOD = ("landmark_projection_calculator.cc", "NORM_RECT without IMAGE_DIMENSIONS", "inference_feedback_manager.cc",
         "XNNPACK delegate", "absl::InitializeLog")
PROBE = "skelforge-worker-stderr-probe"
# Holistic's MediaPipe graph is the expert whose native log lines flood (the control below shows them)
CFG = {"frames": {"max_frames": 20}, "layouts": ["coco-17"],
       "experts": {"body": ["holistic"], "hands": ["holistic"], "face": ["holistic"]}}


def _write_native_and_probe():
    os.write(2, b"W0000 00:00:1796223424.477861    2790 landmark_projection_calculator.cc:186] Using NORM_RECT "
                b"without IMAGE_DIMENSIONS is only supported for the square ROI.\n" + PROBE.encode() + b"\n")


def _stderr_until(capfd, text: str, seconds: float = 10.0) -> str:
    err, end = "", time.monotonic() + seconds
    while text not in err and time.monotonic() < end:
        time.sleep(0.1)
        err += capfd.readouterr().err
    return err


def test_dask_workers_do_not_flood_stderr(tmp_path, capfd, monkeypatch, samples):
    from rich.console import Console

    from pipeline.runner import dask_client
    videos = stage_videos(tmp_path / "v", VIDEOS / "misc/mpeg4_25fps_320x240.avi")

    with monkeypatch.context() as m:                                   # control: filter off, the flood is there
        m.setenv("SKELFORGE_NATIVE_LOGS", "1")
        record = run_build(videos, tmp_path / "off", CFG, workers=1)
    assert record["counts"]["ok"] == 1
    assert "NORM_RECT without IMAGE_DIMENSIONS" in capfd.readouterr().err

    with dask_client(1, None, Console(quiet=True)) as client:
        record = run_build(videos, tmp_path / "on", CFG, workers=1, scheduler=client.scheduler.address)
        assert record["counts"]["ok"] == 1
        client.run(_write_native_and_probe)                            # a native line and a plain one
        err = _stderr_until(capfd, PROBE)
    assert err.count(PROBE) == 1, err
    assert not [f for f in FLOOD if f in err], err
