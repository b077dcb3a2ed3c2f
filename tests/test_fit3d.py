"""fit3d: direct 3D in the camera frame (constructed cases + the real sample clips), the chooser, and the stage
in a build (manifest columns, shards in metres)."""
from __future__ import annotations

import json

import numpy as np
import pyarrow.parquet as pq
import pytest

from schemas.layouts import SOURCE_SIZE, get_layout
from schemas.layouts.mediapipe import B
from tests.conftest import VIDEOS, run_build, stage_videos
from workers.lift.choose import choose, reprojection_error
from workers.lift.direct import camera_translation, default_intrinsics, lift_direct, project
from workers.io.shard_codec import read_rows

K = (1000.0, 1000.0, 640.0, 360.0)


def _scene(rng, M=2, T=5):
    """Random metric bodies (hip-centred, ~1.7 m) at known translations, and their exact projections."""
    world = np.zeros((M, T, 33, 4))
    world[..., :3] = rng.normal(0, [0.25, 0.5, 0.1], size=(M, T, 33, 3))
    world[..., 3] = 0.9
    t = np.stack([rng.uniform(-1, 1, (M, T)), rng.uniform(-0.3, 0.3, (M, T)), rng.uniform(3, 6, (M, T))], -1)
    pts = np.zeros((M, T, SOURCE_SIZE, 3))
    pts[:, :, :33, :2] = project(world[..., :3] + t[:, :, None], K)
    pts[:, :, :33, 2] = 0.8
    return world, t, pts


def test_translation_is_recovered_exactly():
    rng = np.random.default_rng(0)
    world, t, pts = _scene(rng)
    est, ok = camera_translation(world, pts[:, :, :33], K)
    assert ok.all()
    np.testing.assert_allclose(est, t, atol=1e-6)
    world[0, 1, 3:, 3] = 0                                          # 3 points (< 4): no placement
    est, ok = camera_translation(world, pts[:, :, :33], K)
    assert not ok[0, 1] and np.isnan(est[0, 1]).all() and ok[0, 0]


def test_hands_and_face_are_lifted_at_their_anchor_depth():
    rng = np.random.default_rng(1)
    world, t, pts = _scene(rng, M=1, T=2)
    lo, fo = 35, 35 + 42
    pts[:, :, lo:lo + 21, :2] = pts[:, :, B["left_wrist"], None, :2] + rng.normal(0, 20, (1, 2, 21, 2))
    pts[:, :, lo:lo + 21, 2] = 0.7
    pts[:, :, fo:fo + 68, :2] = pts[:, :, B["nose"], None, :2] + rng.normal(0, 15, (1, 2, 68, 2))
    pts[:, :, fo:fo + 68, 2] = 0.95
    X = lift_direct(pts, world, K)
    wrist_z = world[:, :, B["left_wrist"], 2] + t[..., 2]
    np.testing.assert_allclose(X[:, :, lo:lo + 21, 2], np.repeat(wrist_z[..., None], 21, -1), atol=1e-9)
    np.testing.assert_allclose(project(X[:, :, lo:lo + 21, :3], K), pts[:, :, lo:lo + 21, :2], atol=1e-6)
    assert (X[:, :, lo:lo + 21, 3] == pytest.approx(0.7))            # min(2D 0.7, wrist min(0.9, 0.8))
    assert (X[:, :, fo:fo + 68, 3] == pytest.approx(0.8))            # min(2D 0.95, nose min(3D 0.9, 2D 0.8))
    assert np.isnan(X[:, :, lo + 21:lo + 42, :3]).all() and (X[:, :, lo + 21:lo + 42, 3] == 0).all()
    err, _ = reprojection_error(X, pts, K)
    assert err[0] < 1e-6


def test_chooser_picks_lower_reprojection_error_and_ignores_omission():
    rng = np.random.default_rng(2)
    world, t, pts = _scene(rng)
    good = lift_direct(pts, world, K)
    bad = good.copy()
    bad[1, ..., :3] *= np.array([1.1, 0.9, 1.0])                             # person 1 distorted in 'b'
    picks = choose({"a": good, "b": bad}, pts, K)
    assert [p["method"] for p in picks] == ["a", "a"]
    assert picks[1]["errors"]["b"] > picks[1]["errors"]["a"] and picks[0]["errors"]["a"] == picks[0]["errors"]["b"]
    better = good.copy()
    good2 = good.copy()
    good2[0, ..., 0] += 0.05                                                 # now 'a' is worse for person 0
    assert choose({"a": good2, "b": better}, pts, K)[0]["method"] == "b"
    sparse = good.copy()
    sparse[:, :, 5:, 3] = 0                                                  # perfect on 5 points, absent elsewhere
    picks = choose({"sparse": sparse, "a": good2}, pts, K)
    assert picks[0]["method"] == "a"


def test_default_intrinsics():
    assert default_intrinsics(1920, 1080) == (1920.0, 1920.0, 960.0, 540.0)


def test_build_writes_camera_frame_3d_and_records_the_choice(built3d):
    man = {r["clip_id"]: r for r in pq.read_table(built3d / "manifest.parquet").to_pylist()}
    assert all(r["status"] == "ok" for r in man.values()), man
    for r in man.values():
        methods = json.loads(r["fit3d_method"])
        errors = json.loads(r["fit3d_errors"])
        assert methods and all(m == "direct" for m in methods)
        assert all(e["direct"] is not None and e["direct"] < 0.05 for e in errors)   # < 5% of body size
    for layout in ("ntu-x-118", "posetics-17"):
        f = next((built3d / "shards" / layout).glob("*.parquet"))
        meta = json.loads(pq.read_schema(f).metadata[b"skelforge"])
        assert meta["coordinates_3d"].startswith("metres, camera frame")
        for row in read_rows(f):
            k3 = np.asarray(row["keypoints_3d"]).reshape(row["keypoints_3d_shape"])
            k2 = np.asarray(row["keypoints"]).reshape(row["keypoints_shape"])
            ok = k3[..., 3] > 0
            assert not (ok & ~(k2[..., 2] > 0)).any()                        # no 3D without 2D
            assert ok.sum() >= 0.9 * (k2[..., 2] > 0).sum(), (layout, row["clip_id"])
            z = k3[..., 2][ok]
            assert (z > 0.5).all() and np.median(z) < 15                    # in front of the camera, metres


def test_direct_3d_bones_are_stable_and_sides_agree_with_2d(built3d):
    """Direct 3D on the real clips: the forearm and shin lengths vary little over time (coefficient of
    variation < 0.25), and a left joint is left of the right one in 3D exactly when it is in 2D."""
    layout = get_layout("ntu-x-118")
    names = layout.joint_names
    for f in sorted((built3d / "shards" / "ntu-x-118").glob("*.parquet")):
        for row in read_rows(f):
            k3 = np.asarray(row["keypoints_3d"]).reshape(row["keypoints_3d_shape"])
            k2 = np.asarray(row["keypoints"]).reshape(row["keypoints_shape"])
            for a, b in (("LElbow", "LWrist"), ("RElbow", "RWrist"), ("LKnee", "LAnkle"), ("RKnee", "RAnkle")):
                i, j = names.index(a), names.index(b)
                ok = (k3[..., i, 3] > 0) & (k3[..., j, 3] > 0)
                if ok.sum() < 10:
                    continue
                length = np.linalg.norm(k3[..., i, :3] - k3[..., j, :3], axis=-1)[ok]
                assert length.std() / length.mean() < 0.25, (row["clip_id"], a, b)
            li, ri = names.index("LShoulder"), names.index("RShoulder")
            ok = (k3[..., li, 3] > 0) & (k3[..., ri, 3] > 0) & (k2[..., li, 2] > 0) & (k2[..., ri, 2] > 0)
            # a side is only defined where the shoulders are apart in the image: a person turned sideways has
            # them within a few pixels, where either sign is right (within a tenth of the shoulder width)
            dx2 = k2[..., li, 0] - k2[..., ri, 0]
            width = np.linalg.norm(k2[..., li, :2] - k2[..., ri, :2], axis=-1)
            ok &= np.abs(dx2) > 0.1 * np.nanmedian(np.where(ok, width, np.nan))
            side3 = np.sign(k3[..., li, 0] - k3[..., ri, 0])[ok]
            side2 = np.sign(dx2)[ok]
            assert (side3 == side2).mean() > 0.95, row["clip_id"]


def test_report_shows_the_per_class_choice(built3d):
    q = json.loads((built3d / "report" / "quality.json").read_text())
    rows = {c["class"]: c["fit3d"] for c in q["classes"]}
    for summary in rows.values():
        assert summary["won"].get("direct", 0) >= 1
        assert summary["error"]["direct"]["median"] < 0.05
    html = (built3d / "report" / "index.html").read_text()
    assert "3D per class (fit3d)" in html and "direct" in html


def test_build_with_smplx_fitting_chooses_per_person_by_reprojection(tmp_path, samples):
    """fit3d with a SYNTHETIC SMPL-X model file (tests/synthetic_smplx.py; the real one is licence-gated):
    both candidates are scored per person in the manifest, the lower error wins, and the shards hold the
    chosen candidate's 3D."""
    from tests.synthetic_smplx import write_synthetic_smplx
    model_dir = write_synthetic_smplx(tmp_path / "model")
    videos = stage_videos(tmp_path / "v", VIDEOS / "kinetics/tai_chi/ta_chi.mp4", names=["tai_chi/t.mp4"])
    out = tmp_path / "out"
    run_build(videos, out, {"frames": {"max_frames": 16}, "layouts": ["ntu-x-118"],
                            "fit3d": {"enabled": True, "smplx": {"model_dir": str(model_dir), "iterations": 5,
                                                                 "device": "cpu"}}})
    row = pq.read_table(out / "manifest.parquet").to_pylist()[0]
    assert row["status"] == "ok", row
    methods, errors = json.loads(row["fit3d_method"]), json.loads(row["fit3d_errors"])
    for method, err in zip(methods, errors):
        assert set(err) == {"direct", "smplx"} and err["smplx"] is not None
        assert method == min(err, key=lambda k: err[k])
    q = json.loads((out / "report" / "quality.json").read_text())
    assert set(q["classes"][0]["fit3d"]["error"]) == {"direct", "smplx"}
    f = next((out / "shards" / "ntu-x-118").glob("*.parquet"))
    meta = json.loads(pq.read_schema(f).metadata[b"skelforge"])
    names = [n for n, _ in meta["smplx_params"]]
    assert names[:2] == ["global_orient", "body_pose"] and "transl" in names
    shard = pq.read_table(f).to_pylist()[0]
    P = sum(n for _, n in meta["smplx_params"])
    params = np.asarray(shard["smplx_params"]).reshape(shard["smplx_params_shape"])
    assert params.shape[-1] == P and params.shape[:2] == tuple(shard["keypoints_shape"][:2])
    assert np.isfinite(params).all(-1).any()                                 # fitted frames have every value


def test_missing_smplx_model_fails_before_compute(tmp_path):
    from pipeline.build import BuildError
    videos = stage_videos(tmp_path / "v", VIDEOS / "misc/mpeg4_25fps_320x240.avi")
    with pytest.raises(BuildError, match="fit3d.smplx.model_dir: SMPL-X model directory .* does not exist"):
        run_build(videos, tmp_path / "o", {"fit3d": {"enabled": True, "smplx": {"model_dir": str(tmp_path / "no")}}})


def test_the_smplx_model_file_is_part_of_the_fit3d_cache_key(tmp_path):
    """Another model file in the same folder is another result: fit3d's key carries the file's hash."""
    from pipeline.stages.fit3d import STAGE
    from schemas.config import BuildConfig
    from tests.synthetic_smplx import write_synthetic_smplx
    from workers import models
    a, b = write_synthetic_smplx(tmp_path / "a", seed=0), write_synthetic_smplx(tmp_path / "b", seed=1)
    cfg = lambda d, on=True: BuildConfig(fit3d={"enabled": on, "smplx": {"model_dir": str(d)}})  # noqa: E731
    assert STAGE.weights(cfg(a)) == {"smplx": models.smplx_model_hash(str(a), "neutral")}
    assert STAGE.weights(cfg(a)) != STAGE.weights(cfg(b))
    assert STAGE.weights(cfg(a, on=False)) == {} and STAGE.weights(BuildConfig()) == {}
