"""Batching across frames (issue 14, item 3): the pose stage hands batching experts (rtmpose, rtmw, yolo-pose)
`pose.batch_size` person crops per call gathered across a clip's frames, the detect stage hands YOLOX / YOLO-pose
`detect.batch_size` frames per call, models load once per process and device; the batch sizes are execution
settings, so they change neither cache keys nor results.

Real code paths on real sample frames and clips. The weights are random (SYNTHETIC: the released files cannot be
had offline): an RTMPose-m-size network (tests/rtm_arch.py) exported with a dynamic batch axis, as mmdeploy's
dynamic exports are, so onnxruntime's real batched convolution kernels run; Ultralytics YOLOv8n-pose built from
its yaml; tiny ONNX models with the real I/O signatures (tests/onnx_models.py), with a dynamic or a fixed batch.
On the CPU every batched output is bit-identical to one crop (or frame) at a time, so the comparisons are exact.
"""
from __future__ import annotations

import json
import subprocess
import sys
import threading

import numpy as np
import pytest

from tests.conftest import NTU_CLIP, ROOT, VIDEOS, run_build, stage_videos, write_config
from tests.onnx_models import simcc_model, yolox_model

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    import os

    from tests import rtm_arch
    d = tmp_path_factory.mktemp("weights")
    rtm_arch.export("rtmpose-m", d / "rtmpose-m.onnx")                    # real size, dynamic batch axis
    simcc_model(d / "rtmpose-fixed.onnx", 17, 192, 256, seed=3, batch=1)    # a static export: batch 1 only
    simcc_model(d / "rtmpose-dynamic.onnx", 17, 192, 256, seed=3)
    yolox_model(d / "yolox.onnx", 320, centre=(160, 120), box=96)
    yolox_model(d / "yolox-fixed.onnx", 320, centre=(160, 120), box=96, batch=1)
    os.environ.setdefault("YOLO_OFFLINE", "1")
    from ultralytics import YOLO
    YOLO("yolov8n-pose.yaml", task="pose").save(str(d / "yolo-pose.pt"))
    return d


@pytest.fixture(scope="module")
def ntu_frames() -> list[np.ndarray]:
    """The first 10 frames of the real NTU sample (two people hugging)."""
    import av
    with av.open(str(NTU_CLIP)) as c:
        out = []
        for f in c.decode(video=0):
            out.append(f.to_ndarray(format="rgb24"))
            if len(out) == 10:
                break
    return out


def crops_of(frames) -> list:
    """Square crops of varied size and place on real frames (as the pose stage cuts them)."""
    from workers.experts.base import Crop
    from workers.pose.crops import square_crop
    out = []
    for i, fr in enumerate(frames):
        h, w = fr.shape[:2]
        for j, (fx, side) in enumerate(((0.4, 300 + 20 * i), (0.6, 420 - 10 * i))):
            img, x0, y0, _ = square_crop(fr, w * fx, h * (0.45 + 0.02 * j), side)
            out.append(Crop(img, x0, y0, 1.0, None, fr))
    return out


def one_at_a_time(e, crops):
    return np.stack([e.process([c])[0].points for c in crops])


def test_batches_are_full_batches_in_arrival_order_then_the_rest():
    from workers.pose.batches import Batches
    q = Batches(3)
    assert q.add([1, 2]) == []
    assert q.add([3, 4, 5, 6, 7]) == [[1, 2, 3], [4, 5, 6]]
    assert q.add([8]) == []
    assert q.rest() == [[7, 8]] and q.rest() == []
    assert Batches(1).add(["a", "b"]) == [["a"], ["b"]]
    with pytest.raises(ValueError, match="batch size"):
        Batches(0)


def test_rtm_expert_batched_equals_one_crop_at_a_time(weights, ntu_frames):
    """RTMPose-m-size network, 20 real crops of different sizes: one session run on all of them, and runs of 7
    (a short last one), give the bit-identical keypoints of 20 single-crop runs."""
    from workers.experts.registry import EXPERTS
    e = EXPERTS["rtmpose"](onnx=str(weights / "rtmpose-m.onnx"), min_score=0.0)
    crops = crops_of(ntu_frames)
    single = one_at_a_time(e, crops)
    assert e._session.max_batch is None                                     # the dynamic axis was seen
    assert (single[..., 2] > 0).all() and np.isfinite(single).all()        # every point found: a real comparison
    np.testing.assert_array_equal(np.stack([r.points for r in e.process(crops)]), single)
    sevens = [r.points for i in range(0, 20, 7) for r in e.process(crops[i:i + 7])]
    np.testing.assert_array_equal(np.stack(sevens), single)


def test_rtm_file_with_a_fixed_batch_runs_crop_by_crop(weights, ntu_frames):
    from workers.experts.registry import EXPERTS
    crops = crops_of(ntu_frames[:3])
    fixed = EXPERTS["rtmpose"](onnx=str(weights / "rtmpose-fixed.onnx"), min_score=0.0)
    dynamic = EXPERTS["rtmpose"](onnx=str(weights / "rtmpose-dynamic.onnx"), min_score=0.0)
    out = np.stack([r.points for r in fixed.process(crops)])                # 6 crops through a batch-1 input
    assert fixed._session.max_batch == 1 and out.shape == (6, 17, 3)
    np.testing.assert_array_equal(out, np.stack([r.points for r in dynamic.process(crops)]))


def test_yolo_pose_expert_batched_equals_one_crop_at_a_time(weights, ntu_frames):
    from workers.experts.registry import EXPERTS
    e = EXPERTS["yolo-pose"](weights=str(weights / "yolo-pose.pt"), conf=0.0001, min_score=0.0, imgsz=256)
    crops = crops_of(ntu_frames[:6])
    single = one_at_a_time(e, crops)
    assert (single[..., 2] > 0).any(-1).all()                               # random weights, yet keypoints
    np.testing.assert_array_equal(np.stack([r.points for r in e.process(crops)]), single)


@pytest.mark.parametrize("name,file", [("yolox", "yolox.onnx"), ("yolox", "yolox-fixed.onnx"),
                                       ("yolo-pose", "yolo-pose.pt")])
def test_detectors_batched_equal_frame_by_frame(weights, ntu_frames, name, file):
    from workers.detect.registry import build
    det = build(name, {"weights": str(weights / file), "input_size": 320, "score_threshold": 0.0001,
                       "nms_iou": 0.45, "device": "cpu"})
    frames = ntu_frames[:6]
    alone = [det(f) for f in frames]
    together = det.batch(frames)
    assert len(together) == 6 and all(len(d) for d in alone)
    for a, b in zip(alone, together):
        np.testing.assert_array_equal(a, b)


@pytest.mark.filterwarnings("ignore:Specified provider .CUDAExecutionProvider.")
def test_one_model_instance_per_process_and_device_even_from_threads(weights):
    """Eight threads asking at once get one instance; another device (or other settings) is another instance;
    a batch size is not part of a detector's identity."""
    from workers import models
    settings = json.dumps({"onnx": str(weights / "rtmpose-dynamic.onnx"), "min_score": 0.0}, sort_keys=True)
    got, barrier = [], threading.Barrier(8)

    def ask():
        barrier.wait()
        got.append(models.expert("rtmpose", settings))
    threads = [threading.Thread(target=ask) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(got) == 8 and len({id(e) for e in got}) == 1
    other = json.dumps({"onnx": str(weights / "rtmpose-dynamic.onnx"), "min_score": 0.0, "device": "cuda"},
                       sort_keys=True)
    assert models.expert("rtmpose", other) is not got[0]
    assert models.expert("rtmpose", settings) is got[0]
    from pipeline.stages.detect import load_detector
    from schemas.config import BuildConfig
    sections = [BuildConfig.model_validate({"detect": {"detector": "yolox", "weights": str(weights / "yolox.onnx"),
                                                       "input_size": 320, "batch_size": bs}}).detect for bs in (1, 32)]
    assert load_detector(sections[0]) is load_detector(sections[1])


def test_batch_sizes_are_validated_and_stay_out_of_cache_keys(tmp_path):
    from typer.testing import CliRunner

    import dagfile
    from pipeline.cli import app, set_dag
    from schemas.config import BuildConfig, ConfigError, load_config
    for bad, key in (({"pose": {"batch_size": 0}}, "pose.batch_size"),
                     ({"pose": {"batch_size": True}}, "pose.batch_size"),
                     ({"detect": {"batch_size": "eight"}}, "detect.batch_size"),
                     ({"detect": {"batch_size": 100000}}, "detect.batch_size")):
        with pytest.raises(ConfigError) as e:
            load_config(write_config(tmp_path / "c.yaml", bad))
        assert key in str(e.value), str(e.value)
    set_dag(dagfile.DAG)
    videos = stage_videos(tmp_path / "v", NTU_CLIP)
    cfg = write_config(tmp_path / "bad.yaml", {"pose": {"batch_size": -4}})
    r = CliRunner().invoke(app, ["build", "--videos", str(videos), "--out", str(tmp_path / "out"), "--config",
                                 str(cfg), "--workers", "0"])
    assert r.exit_code == 2 and "pose.batch_size" in r.output, r.output
    assert not (tmp_path / "out" / ".cache").exists()
    a = BuildConfig.model_validate({"pose": {"batch_size": 1}, "detect": {"batch_size": 1}})
    b = BuildConfig.model_validate({"pose": {"batch_size": 64}, "detect": {"batch_size": 32}})
    assert a.key_value("pose") == b.key_value("pose") and a.key_value("detect") == b.key_value("detect")
    assert "batch_size" not in a.key_value("pose")


def test_build_results_do_not_depend_on_batch_size(tmp_path, samples, weights):
    """Two real clips (NTU's two people hugging, Kinetics tai chi), Holistic + RTMPose-m-size + YOLOv8n-pose for
    the body: built with pose.batch_size 1 / detect.batch_size 1 and with 7 / 5 (batches spanning frames and
    actors, a short last one), each into its own cache. Same stage keys, bit-identical expert outputs, same
    shard bytes."""
    from pipeline.cache import Store
    from tests.test_reliability import rows, shard_bytes
    videos = stage_videos(tmp_path / "v", NTU_CLIP, VIDEOS / "kinetics" / "tai_chi" / "ta_chi.mp4")
    experts = ["holistic", "rtmpose", "yolo-pose"]
    base = {"frames": {"max_frames": 12}, "filter": {"min_frames": 5}, "layouts": ["coco-17"],
            "experts": {"body": experts, "hands": [], "face": []},
            "expert_settings": {"rtmpose": {"onnx": str(weights / "rtmpose-m.onnx"), "min_score": 0.0},
                                "yolo-pose": {"weights": str(weights / "yolo-pose.pt"), "conf": 0.0001,
                                              "min_score": 0.0, "imgsz": 256}}}
    outs = {}
    for name, (pose_bs, det_bs) in {"one": (1, 1), "many": (7, 5)}.items():
        out = tmp_path / name
        r = run_build(videos, out, {**base, "pose": {"batch_size": pose_bs}, "detect": {"batch_size": det_bs}})
        assert r["counts"]["failed"] == 0 and r["counts"]["ok"] == 2, r
        outs[name] = out
    strip = lambda out: {c: {k: v for k, v in r.items() if not k.endswith("_seconds")}   # noqa: E731
                         for c, r in rows(out).items()}
    assert strip(outs["one"]) == strip(outs["many"])                        # same rows, same stage keys
    assert shard_bytes(outs["one"]) and shard_bytes(outs["one"]) == shard_bytes(outs["many"])
    stores = {n: Store(o / ".cache") for n, o in outs.items()}
    crops = 0
    for row in rows(outs["one"]).values():
        pose = stores["one"].load("pose", row["pose_key"]).meta["experts"]
        for n in experts:
            key = pose[n]["key"]
            a, b = stores["one"].load(f"pose.{n}", key), stores["many"].load(f"pose.{n}", key)
            assert set(a.arrays) == set(b.arrays)
            for k in a.arrays:
                np.testing.assert_array_equal(a.arrays[k], b.arrays[k], err_msg=f"{n} {k}")
            assert a.meta["person_frames"] > 0
        crops += stores["one"].load("pose.rtmpose", pose["rtmpose"]["key"]).meta["crops"]
        det_one = stores["one"].load("detect", row["detect_key"]).arrays
        det_many = stores["many"].load("detect", row["detect_key"]).arrays
        for k in det_one:
            np.testing.assert_array_equal(det_one[k], det_many[k])
    assert crops > 7 * 2                                                    # several batches of 7 were run


def test_benchmark_tiny_mode(tmp_path):
    """benchmarks/batching.py on 4 real crops at batch sizes 1, 2, 4 (YOLO at 64 px): its figures and its check
    that every batch size gave batch 1's keypoints."""
    cmd = [sys.executable, str(ROOT / "benchmarks" / "batching.py"), "--crops", "4", "--sizes", "4,1,2",
           "--yolo-imgsz", "64", "--yolo-conf", "0.0001", "--rounds", "1", "--threads", "1", "--work",
           str(tmp_path), "--json", str(tmp_path / "b.json")]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert p.returncode == 0, p.stdout + p.stderr
    rep = json.loads(p.stdout.strip().splitlines()[-1])
    assert rep == json.loads((tmp_path / "b.json").read_text())
    assert rep["sizes"] == [1, 2, 4] and rep["crops"] == 4 and set(rep["models"]) == {"rtmpose-m", "yolov8n-pose"}
    for m in rep["models"].values():
        s = m["sizes"]
        assert set(s) == {"1", "2", "4"} and s["1"]["ratio"] == 1.0
        for r in s.values():
            assert r["crops_per_s"] > 0 and r["identical"] and r["max_abs_diff"] == 0.0
            assert r["crops_with_points"] > 0
            assert r["ratio"] == pytest.approx(r["crops_per_s"] / s["1"]["crops_per_s"], abs=0.01)
    assert "| batch | rtmpose-m crops/s |" in p.stdout and "bit-identical at every batch size" in p.stdout
    bad = subprocess.run([*cmd[:2], "--crops", "2", "--sizes", "1,4"], capture_output=True, text=True, cwd=ROOT)
    assert bad.returncode == 2 and "--crops" in bad.stderr
