"""Deep Action Stamps (workers/action/stamps.py) against the paper's formulas on a hand-made clip with known
values (SYNTHETIC: constructed arrays, no video), the scaling statistics, and what a body-only layout gives."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from schemas.layouts import get_layout
from workers.action.stamps import MissingModality, StampStats, body_edges, raw_stamps, to_images

NTUX = get_layout("ntu-x-118")
COCO = get_layout("coco-17")
BODY = list(NTUX.regions["body"])
HANDS = list(NTUX.regions["left_hand"]) + list(NTUX.regions["right_hand"])
FACE = list(NTUX.regions["face"])


def handmade(M: int = 1, T: int = 3, with3d: bool = True):
    """x = 10 j + t + 100 m, y = 2 j - t, scores 1; 3D = (j, -j, 0.5 t) metres; flow = (t, -j)."""
    V = len(NTUX.joint_names)
    j = np.arange(V, dtype=np.float32)[None, None, :]
    t = np.arange(T, dtype=np.float32)[None, :, None]
    m = np.arange(M, dtype=np.float32)[:, None, None]
    kp = np.stack(np.broadcast_arrays(10 * j + t + 100 * m, 2 * j - t + 0 * m, np.ones((M, T, V), np.float32)), -1)
    kp3 = np.stack(np.broadcast_arrays(j + 0 * t + 0 * m, -j + 0 * t + 0 * m, 0.5 * t + 0 * j + 0 * m,
                                       np.ones((M, T, V), np.float32)), -1)
    jb = np.arange(25, dtype=np.float32)[None, None, :]
    flow = np.stack(np.broadcast_arrays(t + 0 * jb + 0 * m, -jb + 0 * t + 0 * m), -1)
    return kp.astype(np.float32), (kp3.astype(np.float32) if with3d else None), flow.astype(np.float32)


def test_each_stamp_follows_its_formula_on_a_synthetic_clip():
    kp, kp3, flow = handmade()
    s = raw_stamps(NTUX, kp, kp3, flow, ("body", "hands", "face", "bones", "flow"))
    # body: 3D centred on the person's mean body position over the clip
    b3 = kp3[0][:, BODY, :3]
    c3 = b3.reshape(-1, 3).mean(0)
    np.testing.assert_allclose(s["body"], (b3 - c3).transpose(2, 0, 1), atol=1e-5)
    # hands / face: x, y, x + y, centred on the 2D body centre
    c2 = kp[0][:, BODY, :2].reshape(-1, 2).mean(0)
    for name, idx in (("hands", HANDS), ("face", FACE)):
        p = kp[0][:, idx, :2] - c2
        want = np.concatenate([p, p[..., :1] + p[..., 1:]], -1).transpose(2, 0, 1)
        np.testing.assert_allclose(s[name], want, atol=1e-4)
        assert s[name].shape == (3, 3, len(idx))
    # bones: target minus source along the body's edges (3D)
    edges = body_edges(NTUX)
    assert len(edges) == 24                                  # a tree over the 25 body joints
    for k, (a, b) in enumerate(edges):
        np.testing.assert_allclose(s["bones"][:, :, k], (b3[:, b] - b3[:, a]).T, atol=1e-5)
    # flow: fx, fy, fx + fy
    np.testing.assert_allclose(s["flow"][0], np.broadcast_to(np.arange(3.0)[:, None], (3, 25)))
    np.testing.assert_allclose(s["flow"][2], s["flow"][0] + s["flow"][1])


def test_people_stack_along_the_joint_axis_and_missing_stays_missing():
    kp, kp3, flow = handmade(M=2)
    s = raw_stamps(NTUX, kp, kp3, flow, ("body", "hands"))
    assert s["body"].shape == (3, 3, 50) and s["hands"].shape == (3, 3, 84)
    one = raw_stamps(NTUX, kp[:1], kp3[:1], flow[:1], ("hands",))["hands"]
    np.testing.assert_allclose(s["hands"][:, :, :42], one, atol=1e-4)
    # person 2 stands 100 px right: after centring on its own body its hands equal person 1's
    np.testing.assert_allclose(s["hands"][:, :, 42:], one, atol=1e-3)
    kp3[1, 1, BODY[3], 3] = 0                               # one joint of person 2 missing at t = 1
    s = raw_stamps(NTUX, kp, kp3, flow, ("body",))
    assert np.isnan(s["body"][:, 1, 25 + 3]).all() and np.isfinite(s["body"][:, 1, 3]).all()


def test_without_3d_body_and_bones_take_2d_with_z_zero():
    kp, _, flow = handmade(with3d=False)
    s = raw_stamps(NTUX, kp, None, flow, ("body", "bones"))
    c2 = kp[0][:, BODY, :2].reshape(-1, 2).mean(0)
    np.testing.assert_allclose(s["body"][:2], (kp[0][:, BODY, :2] - c2).transpose(2, 0, 1), atol=1e-4)
    assert (s["body"][2] == 0).all() and (s["bones"][2] == 0).all()


def test_scaling_maps_the_training_range_to_0_255():
    stats = StampStats()
    a = {"flow": np.array([[[0.0, 2.0]], [[-1.0, 1.0]], [[5.0, 5.0]]], np.float32)}        # (3, 1, 2)
    b = {"flow": np.array([[[4.0, np.nan]], [[3.0, -3.0]], [[5.0, 5.0]]], np.float32)}
    stats.update(a)
    stats.update(b)
    assert stats.low["flow"] == [0.0, -3.0, 5.0] and stats.high["flow"] == [4.0, 3.0, 5.0]
    out = stats.scale(b)["flow"]
    np.testing.assert_allclose(out[0, 0], [255.0, 0.0])     # max -> 255, missing -> 0
    np.testing.assert_allclose(out[1, 0], [255.0, 0.0])
    np.testing.assert_allclose(out[2, 0], [0.0, 0.0])       # constant in training: 0
    beyond = stats.scale({"flow": np.array([[[8.0]], [[-9.0]], [[5.0]]], np.float32)})["flow"]
    assert beyond[0, 0, 0] == 255.0 and beyond[1, 0, 0] == 0.0
    with pytest.raises(KeyError, match="body"):
        stats.scale({"body": a["flow"]})


def test_stats_round_trip_through_the_run_dir(tmp_path):
    stats = StampStats()
    stats.update(raw_stamps(NTUX, *handmade(), ("body", "face")))
    stats.save(tmp_path / "stamps.json")
    again = StampStats.load(tmp_path / "stamps.json")
    assert again.low == stats.low and again.high == stats.high


def test_coco_17_gives_body_bones_and_flow_only():
    kp, _, flow = handmade()
    kp = kp[:, :, :17]
    s = raw_stamps(COCO, kp, None, flow[:, :, :17], ("body", "bones", "flow"))
    # bones along the BFS tree from the centre: one per non-root joint, though COCO's head edges close cycles
    assert len(COCO.edges) > 16
    assert s["body"].shape == (3, 3, 17) and s["bones"].shape == (3, 3, 16)
    for mod in ("hands", "face"):
        with pytest.raises(MissingModality, match="coco-17.*body"):
            raw_stamps(COCO, kp, None, None, (mod,))
    with pytest.raises(MissingModality, match="flow"):
        raw_stamps(COCO, kp, None, None, ("flow",))


def test_to_images_resizes_a_batch_to_224():
    x = torch.full((2, 3, 60, 50), 7.0)
    y = to_images(x)
    assert y.shape == (2, 3, 224, 224) and torch.allclose(y, torch.full_like(y, 7.0))
