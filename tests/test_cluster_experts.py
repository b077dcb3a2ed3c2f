"""Cluster experts and detectors (user-supplied weights) through their real code paths, offline:
RTMPose / RTMW / YOLOX via rtmlib + onnxruntime on tiny ONNX models made here with the real I/O signatures
(tests/onnx_models.py), Ultralytics YOLO-pose built from yolov8n-pose.yaml with random weights. Synthetic
weights, real adapters: shapes, coordinate mapping back to frame pixels, batching, config errors, a build."""
import json
from pathlib import Path

import numpy as np
import pytest

from schemas.config import BuildConfig
from tests.conftest import VIDEOS, run_build, stage_videos
from tests.onnx_models import simcc_model, yolox_model
from workers.detect.registry import build as build_detector
from workers.experts.base import Crop
from workers.experts.canonical import to_canonical
from workers.experts.registry import EXPERTS


@pytest.fixture(scope="module")
def models_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("weights")
    simcc_model(d / "rtmpose.onnx", 17, 192, 256, seed=1)
    simcc_model(d / "rtmpose_peak.onnx", 17, 192, 256, peak=(96, 384))
    simcc_model(d / "rtmw.onnx", 133, 288, 384, seed=2)
    yolox_model(d / "yolox.onnx", 320, centre=(160, 120), box=96)
    import os
    os.environ.setdefault("YOLO_OFFLINE", "1")
    from ultralytics import YOLO
    YOLO("yolov8n-pose.yaml", task="pose").save(str(d / "yolo-pose.pt"))     # random weights, real architecture
    return d


def frame_and_crop(side=256, x0=100.0, y0=50.0):
    rng = np.random.default_rng(0)
    frame = rng.integers(0, 255, size=(600, 800, 3), dtype=np.uint8)
    img = np.ascontiguousarray(frame[int(y0):int(y0) + side, int(x0):int(x0) + side])
    return frame, Crop(img, x0, y0, 1.0, np.array([150, 60, 250, 160], np.float32), frame)


def test_rtmpose_maps_points_back_to_frame_pixels(models_dir):
    """A model whose SimCC peaks at known bins: the point must land where rtmlib's affine + our crop offset say."""
    e = EXPERTS["rtmpose"](onnx=str(models_dir / "rtmpose_peak.onnx"), min_score=0.0)
    _, crop = frame_and_crop()
    res = e.process([crop])[0]
    assert res.points.shape == (17, 3)
    side = crop.image.shape[0]
    s = side * e.settings["box_shrink"]
    w = s * 1.25                              # rtmlib pads the box by 1.25 then fixes the aspect to 192:256
    h = w / (192 / 256)
    expect_x = 96 / 2 / 192 * w + side / 2 - w / 2 + crop.x0
    expect_y = 384 / 2 / 256 * h + side / 2 - h / 2 + crop.y0
    np.testing.assert_allclose(res.points[:, 0], expect_x, atol=1e-3)
    np.testing.assert_allclose(res.points[:, 1], expect_y, atol=1e-3)
    np.testing.assert_allclose(res.points[:, 2], 0.9, atol=1e-6)


@pytest.mark.parametrize("name,onnx,n", [("rtmpose", "rtmpose.onnx", 17), ("rtmw", "rtmw.onnx", 133)])
def test_rtm_experts_random_models(models_dir, name, onnx, n):
    e = EXPERTS[name](onnx=str(models_dir / onnx), min_score=0.0)
    _, crop = frame_and_crop()
    out = e.process([crop, crop])
    assert len(out) == 2 and out[0].points.shape == (n, 3)
    can = to_canonical(e.native, out[0].points)
    assert (can[:, 2] > 0).sum() == n                                    # every native point lands somewhere
    v = e.version()
    assert len(v["model_sha256"]) == 64 and "rtmlib" in v["package"]


def test_yolo_pose_expert_batched(models_dir):
    e = EXPERTS["yolo-pose"](weights=str(models_dir / "yolo-pose.pt"), conf=0.0001, min_score=0.0, imgsz=256)
    _, crop = frame_and_crop()
    out = e.process([crop, crop, crop])
    assert len(out) == 3 and out[0].points.shape == (17, 3)
    p = out[0].points
    found = p[:, 2] > 0
    assert found.any()                                                  # random weights still detect something
    assert ((p[found, 0] >= crop.x0 - 1) & (p[found, 0] <= crop.x0 + 257)).all()   # frame pixels, inside crop
    assert "ultralytics" in e.version()["package"]


def test_detectors(models_dir):
    frame = np.zeros((240, 320, 3), np.uint8)
    s = {"weights": str(models_dir / "yolox.onnx"), "input_size": 320, "score_threshold": 0.5, "nms_iou": 0.45,
         "device": "cpu"}
    d = build_detector("yolox", s)(frame)
    assert d.shape == (1, 9)
    # ratio = 320 / 320: the person box is centred on (160, 120), side 96 -> body circle radius 48
    np.testing.assert_allclose(d[0, 5:7], [160, 120], atol=1e-3)
    np.testing.assert_allclose(np.hypot(*(d[0, 7:9] - d[0, 5:7])), 48, atol=1e-3)
    y = build_detector("yolo-pose", {**s, "weights": str(models_dir / "yolo-pose.pt"), "score_threshold": 0.0001})
    dets = y(np.random.default_rng(0).integers(0, 255, (240, 320, 3), dtype=np.uint8))
    assert dets.ndim == 2 and dets.shape[1] == 9 and len(dets) > 0


def test_missing_weights_fail_before_compute(tmp_path):
    with pytest.raises(Exception, match="detect.weights"):
        BuildConfig.model_validate({"detect": {"detector": "yolox"}})
    videos = stage_videos(tmp_path / "v", VIDEOS / "misc/mpeg4_25fps_320x240.avi")
    from pipeline.build import BuildError
    for cfg, msg in [({"experts": {"body": ["rtmpose"]}}, "expert_settings.rtmpose.onnx"),
                     ({"experts": {"body": ["yolo-pose"]}, "expert_settings": {"yolo-pose": {"weights": "/no/such.pt"}}},
                      "/no/such.pt"),
                     ({"detect": {"detector": "yolox", "weights": "/no/det.onnx"}}, "/no/det.onnx")]:
        with pytest.raises(BuildError, match=msg):
            run_build(videos, tmp_path / "out", cfg)
        assert not (tmp_path / "out" / ".cache" / "frames").exists()


def test_build_with_cluster_detector_and_experts(models_dir, tmp_path, samples):
    """yolox detector + rtmpose/yolo-pose body experts next to holistic: the real pipeline path end to end."""
    videos = stage_videos(tmp_path / "v", VIDEOS / "misc/mpeg4_25fps_320x240.avi")
    cfg = {"frames": {"max_frames": 8}, "layouts": ["coco-17"], "filter": {"min_frames": None},
           "detect": {"detector": "yolox", "weights": str(models_dir / "yolox.onnx"), "input_size": 320},
           "experts": {"body": ["holistic", "rtmpose", "yolo-pose"], "hands": [], "face": []},
           "expert_settings": {"rtmpose": {"onnx": str(models_dir / "rtmpose.onnx"), "min_score": 0.0},
                               "yolo-pose": {"weights": str(models_dir / "yolo-pose.pt"), "conf": 0.0001,
                                             "min_score": 0.0, "imgsz": 256}}}
    record = run_build(videos, tmp_path / "out", cfg)
    assert record["counts"]["ok"] == 1, record
    assert [e["name"] for e in record["experts"]] == ["yolox-detector", "holistic", "rtmpose", "yolo-pose"]
    from pipeline.cache import Store
    from pipeline.manifest import read_manifest
    row = read_manifest(tmp_path / "out").to_pylist()[0]
    pose = Store(tmp_path / "out" / ".cache").load("pose", row["pose_key"]).meta["experts"]
    assert set(pose) == {"holistic", "rtmpose", "yolo-pose"} and pose["rtmpose"]["person_frames"] == 8
    assert set(json.loads(row["provenance"])["body"]) <= {"holistic", "rtmpose", "yolo-pose", "interpolated"}
