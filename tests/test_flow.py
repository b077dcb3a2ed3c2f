"""Dense optical flow at the joints (workers/flow/dense.py), issue 16's flow modality.

Sampling is checked against a SYNTHETIC linear flow field (bilinear sampling and the neighbourhood mean are
exact on it); the methods against SYNTHETIC motion made from a real frame of a sample clip moved by a known
sub-pixel shift each frame (true flow known everywhere)."""
from __future__ import annotations

import av
import cv2
import numpy as np
import pytest

from tests.conftest import NTU_CLIP, SAMPLES
from workers.flow.dense import METHODS, joint_flow, sample_at

TAI_CHI = SAMPLES / "videos" / "kinetics" / "tai_chi" / "ta_chi.mp4"


def first_frame(path) -> np.ndarray:
    with av.open(str(path)) as c:
        return next(c.decode(video=0)).to_ndarray(format="rgb24")


def moving(frame: np.ndarray, step: tuple[float, float], n: int) -> list[np.ndarray]:
    """n frames: the real frame moved by k * step at frame k (what is at x in frame k is at x + step in k+1)."""
    h, w = frame.shape[:2]
    return [cv2.warpAffine(frame, np.float32([[1, 0, k * step[0]], [0, 1, k * step[1]]]), (w, h),
                           flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT) for k in range(n)]


def test_sampling_is_exact_on_a_synthetic_linear_field_and_nan_outside():
    h, w = 60, 80
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    flow = np.stack([0.5 + 0.1 * xs, -1.0 + 0.05 * ys], axis=2)
    pts = np.array([[10.3, 20.7], [40.0, 30.5], [np.nan, 5.0], [-3.0, 10.0], [80.2, 3.0], [79.4, 10.0]],
                   np.float32)
    out = sample_at(flow, pts, radius=1)
    np.testing.assert_allclose(out[:2, 0], 0.5 + 0.1 * pts[:2, 0], atol=1e-4)
    np.testing.assert_allclose(out[:2, 1], -1.0 + 0.05 * pts[:2, 1], atol=1e-4)
    assert np.isnan(out[2:5]).all()
    assert np.isfinite(out[5]).all()                      # inside the last pixel: sampled (edge clamped)
    assert sample_at(flow, pts.reshape(1, 6, 2)).shape == (1, 6, 2)


def spread_joints(h: int, w: int, step: tuple[float, float], T: int, n: int = 20) -> np.ndarray:
    """(1, T, n, 2): n seeded points over the inner 70% of the frame, moving with the frame."""
    rng = np.random.default_rng(0)
    base = np.stack([rng.uniform(0.15 * w, 0.85 * w, n), rng.uniform(0.15 * h, 0.85 * h, n)], 1)
    return np.stack([base + np.multiply(step, t) for t in range(T)])[None].astype(np.float32)


@pytest.mark.parametrize("method", sorted(METHODS))
def test_each_method_recovers_a_synthetic_shift_of_a_real_frame_at_the_joints(method):
    step = (2.6, -1.4)
    frames = moving(first_frame(TAI_CHI), step, 4)
    h, w = frames[0].shape[:2]
    joints = spread_joints(h, w, step, len(frames))
    joints[0, :, 0] = np.nan                               # one absent joint
    out = joint_flow(iter(frames), joints, method=method)
    assert out.shape == joints.shape
    assert np.isnan(out[:, -1]).all()                      # no next frame
    assert np.isnan(out[0, :, 0]).all()                    # absent joint
    err = np.linalg.norm(out[0, :-1, 1:] - np.float32(step), axis=-1)
    # zero flow would be 2.95 px off everywhere; textureless spots may be off, most points are not
    assert np.median(err) < 0.6 and (err < 1.0).mean() >= 0.5, np.round(err, 2)


def test_flow_is_in_frame_pixels_when_the_frame_is_shrunk_for_flow():
    step = (6.0, 3.0)
    frames = moving(first_frame(NTU_CLIP), step, 3)        # 1920x1080, flow computed at 480 px long side
    h, w = frames[0].shape[:2]
    out = joint_flow(frames, spread_joints(h, w, step, 3), method="dis-fast", work_side=480)
    err = np.linalg.norm(out[0, :2] - np.float32(step), axis=-1)
    assert np.median(err) < 1.0, np.round(err, 2)          # in working pixels the shift is 1.5 x 0.75


def test_more_frames_than_joints_reads_only_t_frames():
    frames = moving(first_frame(TAI_CHI), (1.0, 0.0), 6)
    read = []

    def gen():
        for f in frames:
            read.append(1)
            yield f
    joints = np.full((1, 3, 1, 2), 100.0, np.float32)
    out = joint_flow(gen(), joints, method="dis-ultrafast")
    assert len(read) == 3 and np.isnan(out[0, 2]).all() and np.isfinite(out[0, :2]).all()
