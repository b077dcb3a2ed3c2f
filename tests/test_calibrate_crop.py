"""`skelforge calibrate` (3D -> 2D projection by least squares) and `skelforge crop` (actor-cropped videos)."""
import json
import shutil

import av
import numpy as np
import pytest
from typer.testing import CliRunner

import dagfile
from pipeline.cli import app, set_dag
from tests.conftest import VIDEOS, run_build, stage_videos
from workers.geometry.projection import Projection, fit_projection, pairs_from_clip, project
from workers.io.crop import crop_box, to_crop

set_dag(dagfile.DAG)
runner = CliRunner()
TRUE = Projection(cx=365.1, cy=-362.7, bx=258.4, by=207.9, rms_px=0.0, n=0)   # Kinect-v2-depth-like


def _skeletons(rng, frames=40, joints=25):
    """Camera-frame joints (F, V, 3) in metres: bodies 1.5-4 m in front of the camera."""
    centre = np.stack([rng.uniform(-1, 1, frames), rng.uniform(-0.5, 0.5, frames), rng.uniform(1.5, 4, frames)], 1)
    return centre[:, None] + rng.normal(0, 0.3, (frames, joints, 3))


def test_fit_recovers_known_coefficients_exactly():
    rng = np.random.default_rng(0)
    X = _skeletons(rng)
    uv = project(X, TRUE)
    score = rng.uniform(0.2, 1.0, X.shape[:2])
    # points a fit must skip: behind the camera, NaN, score 0 (with wildly wrong 2D)
    X[0, 0, 2] = -1.0
    X[0, 1] = np.nan
    uv[1, :5] += 500.0
    score[1, :5] = 0.0
    p = fit_projection(X, uv, score)                     # (F, V, 3) / (F, V, 2): flattened
    for k in ("cx", "cy", "bx", "by"):
        assert getattr(p, k) == pytest.approx(getattr(TRUE, k), abs=1e-7), k
    assert p.rms_px < 1e-6 and p.n == X.shape[0] * X.shape[1] - 2 - 5
    flat = fit_projection(X.reshape(-1, 3), uv.reshape(-1, 2), score.reshape(-1))
    assert flat == p
    with pytest.raises(ValueError, match="at least 2"):
        fit_projection(X[:1, :1], uv[:1, :1])


def test_fit_with_one_pixel_noise():
    rng = np.random.default_rng(1)
    X = _skeletons(rng, frames=200)
    uv = project(X, TRUE) + rng.normal(0, 1.0, X.shape[:2] + (2,))
    p = fit_projection(X, uv)
    assert abs(p.cx - TRUE.cx) < 0.01 * abs(TRUE.cx) and abs(p.cy - TRUE.cy) < 0.01 * abs(TRUE.cy)
    assert abs(p.bx - TRUE.bx) < 1.0 and abs(p.by - TRUE.by) < 1.0
    assert p.rms_px == pytest.approx(np.sqrt(2), rel=0.1)          # 1 px per axis


def test_pairs_from_shard_arrays():
    kp = np.zeros((1, 2, 3, 3), np.float32)
    k3 = np.zeros((1, 2, 3, 4), np.float32)
    kp[..., 2], k3[..., 3] = 1, 1
    kp[0, 0, 0, 2] = 0            # 2D missing
    k3[0, 0, 1, 3] = 0            # 3D missing
    k3[0, 1, 2, 0] = np.nan       # not finite
    xyz, uv, s = pairs_from_clip(kp, k3)
    assert len(xyz) == len(uv) == len(s) == 3


def test_calibrate_cli_on_npz(tmp_path):
    rng = np.random.default_rng(2)
    X = _skeletons(rng)
    uv = project(X, TRUE)
    score = np.ones(X.shape[:2])
    score[:, 0] = 0
    uv[:, 0] = 0.0                # garbage where the score is 0
    np.savez(tmp_path / "pairs.npz", xyz=X, uv=uv, score=score)
    r = runner.invoke(app, ["calibrate", "--pairs", str(tmp_path / "pairs.npz"), "--out", str(tmp_path / "c.json")])
    assert r.exit_code == 0, r.output
    c = json.loads((tmp_path / "c.json").read_text())
    for k in ("cx", "cy", "bx", "by"):
        assert c[k] == pytest.approx(getattr(TRUE, k), abs=1e-6)
    assert c["rms_px"] < 1e-6 and c["n"] == X.shape[0] * (X.shape[1] - 1)
    assert "cx=365.1000" in r.output and "rms=" in r.output
    np.savez(tmp_path / "bad.npz", xyz=X)
    r = runner.invoke(app, ["calibrate", "--pairs", str(tmp_path / "bad.npz"), "--out", str(tmp_path / "c.json")])
    assert r.exit_code == 2 and "uv" in r.output
    r = runner.invoke(app, ["calibrate", "--out", str(tmp_path / "c.json")])
    assert r.exit_code == 2


def test_crop_box_margin_and_capping():
    kp = np.zeros((2, 3, 4, 3), np.float32)
    kp[..., 2] = 1
    kp[0, :, :, :2] = [100, 50]
    kp[1, :, :, :2] = [200, 150]                                  # union over persons: 100..200 x 50..150
    kp[0, 1, 0] = [5, 5, 0]                                       # score 0: ignored
    kp[1, 2, 1] = [np.nan, np.nan, 0]
    assert crop_box(kp, 640, 480, 0.0) == (100, 50, 200, 150)
    assert crop_box(kp, 640, 480, 0.1) == (90, 40, 210, 160)      # 10% of 100 px each side
    kp[1, 0, 3, :2] = [630, 470]                                  # box 100..630 x 50..470: margin passes the frame
    assert crop_box(kp, 640, 480, 0.1) == (47, 8, 640, 480)
    kp[0, 0, 3, :2] = [-20, -30]                                  # joints outside the frame: capped at 0
    assert crop_box(kp, 640, 480, 0.1) == (0, 0, 640, 480)
    assert crop_box(np.zeros((1, 2, 3, 3)), 320, 240, 0.1) == (0, 0, 320, 240)   # nothing detected: whole frame
    x0, y0, x1, y1 = crop_box(np.array([[[[10.2, 20.7, 1.0]]]]), 320, 240, 0.1)   # a single joint: not empty
    assert x1 > x0 and y1 > y0 and x0 <= 10.2 <= x1 and y0 <= 20.7 <= y1


def test_crop_end_to_end(tmp_path):
    src = VIDEOS / "misc" / "mpeg4_25fps_320x240.avi"
    videos = stage_videos(tmp_path / "v", src, src, names=["walk.avi", "gone.avi"])
    out = tmp_path / "out"
    rec = run_build(videos, out, {"frames": {"max_frames": 20}, "layouts": ["coco-17"]})
    assert rec["counts"]["ok"] == 2
    (videos / "gone.avi").unlink()                               # a clip whose source has gone: recorded, others go on
    dest = tmp_path / "crops"
    r = runner.invoke(app, ["crop", str(out), "--dest", str(dest), "--layout", "coco-17"])
    assert r.exit_code == 0, r.output
    crops = json.loads((dest / "crops.json").read_text())
    assert crops["clips"]["gone"]["status"] == "failed" and "missing" in crops["clips"]["gone"]["reason"]
    assert not (dest / "gone.mp4").exists()
    entry = crops["clips"]["walk"]
    assert entry["status"] == "ok", entry

    from workers.io.shard_reader import iter_clips
    clip = next(c for c in iter_clips(out, "coco-17") if c["clip_id"] == "walk")
    kp = clip["keypoints"]
    T = kp.shape[1]
    h, w = clip["size"]
    box = tuple(entry["box"])
    assert box == crop_box(kp, w, h, 0.1) and T == 20 and entry["frames"] == T
    x0, y0, x1, y1 = box
    assert 0 <= x0 < x1 <= w and 0 <= y0 < y1 <= h and (x1 - x0, y1 - y0) != (w, h)

    with av.open(str(dest / "walk.mp4")) as c:
        s = c.streams.video[0]
        assert s.average_rate == 30 and s.codec_context.pix_fmt == "yuv420p"
        frames = [f.to_ndarray(format="rgb24") for f in c.decode(s)]
    assert len(frames) == T and all(f.shape == (256, 256, 3) for f in frames)

    # the skeleton mapped through the box lies inside the cropped frame (joints inside the source frame; this clip
    # is a head-and-hand close-up, and the pose model places the unseen legs and hips outside the frame — below
    # it with `holistic-roi`, 33% of points, at low scores; above it with `holistic`, 22% — which no crop of the
    # frame can contain)
    ok = kp[..., 2] > 0
    inside = ok & (kp[..., 0] >= 0) & (kp[..., 0] <= w) & (kp[..., 1] >= 0) & (kp[..., 1] <= h)
    assert inside.sum() >= 0.5 * ok.sum() > 0
    uv = to_crop(kp[..., :2], box, 256)[inside]
    assert (uv >= 0).all() and (uv <= 256).all()

    # and the cropped frames are the build's frames: frame k ≈ the resampled source frame k, cropped and resized
    import cv2

    from workers.report.viewer import frames_at_30fps     # the viewer's own decode + resample, independently
    refs = list(frames_at_30fps(str(videos / "walk.avi"), T, (h, w), tmp_path))
    assert len(refs) == T
    for k, ref in enumerate(refs):
        want = cv2.resize(ref[y0:y1, x0:x1], (256, 256), interpolation=cv2.INTER_AREA).astype(np.float32)
        assert np.abs(frames[k].astype(np.float32) - want).mean() < 4, k       # ~2 (codec loss); a frame 3 off is 3.5-8

    r = runner.invoke(app, ["crop", str(out), "--dest", str(dest), "--layout", "ntu-25"])
    assert r.exit_code == 2 and "no shards" in r.output
