"""SMPL-X fitting (workers/fitting) on a SYNTHETIC SMPL-X model (tests/synthetic_smplx.py), CPU only.

Keypoints are rendered from known parameters (mild pose, 1-2 people, a few frames) through a known pinhole
camera, then fitted back. Tolerances (monocular: depth/scale is the weakest direction, and the L2 pose prior
biases towards the rest pose, so the 3D bounds are loose):
clean: mean 3D joint error < 0.30 m (camera frame), root-aligned < 0.12 m, mean reprojection < 4 px;
noisy (3 px Gaussian, 20% joints confidence 0): 3D < 0.40 m, root-aligned < 0.15 m, reprojection < 8 px;
the temporal term (weight 1000) lowers frame-to-frame jitter (mean joint acceleration) versus weight 0.
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch

sys.path.insert(0, str(Path(__file__).parent))
from synthetic_smplx import write_synthetic_smplx  # noqa: E402

from workers.fitting import priors  # noqa: E402
from workers.fitting.smplx_fit import _forward, fit, load_model  # noqa: E402

INTR = (1000.0, 1000.0, 640.0, 360.0)


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return load_model(write_synthetic_smplx(tmp_path_factory.mktemp("smplx_model")))


def _scene(model, T: int, P: int, seed: int = 1):
    rng = np.random.default_rng(seed)
    B, t = T * P, np.tile(np.linspace(0, 1, T), P)
    bp = np.zeros((B, 63))
    bp[:, 15 * 3 + 2], bp[:, 16 * 3 + 2] = -0.8 - 0.1 * t, 0.8 + 0.1 * t     # arms lowered
    bp[:, 17 * 3 + 1], bp[:, 18 * 3 + 1] = -0.4 * (1 + t), 0.3                # elbows bent the natural way
    bp[:, 3 * 3], bp[:, 4 * 3], bp[:, 0] = 0.2 + 0.1 * t, 0.1, -0.2 * t       # knees, hip
    person = np.repeat(np.arange(P), T)
    g = dict(global_orient=np.tile([np.pi * 0.97, 0.2, 0.05], (B, 1)), body_pose=bp,
             left_hand_pose=rng.normal(0, .5, (B, 12)), right_hand_pose=rng.normal(0, .5, (B, 12)),
             jaw_pose=np.tile([0.1, 0, 0], (B, 1)), expression=rng.normal(0, .5, (B, 10)),
             betas=rng.normal(0, .5, (P, 10)),
             transl=np.stack([-0.6 + 1.2 * person + 0.05 * t, 0.1 + 0 * t, 3.5 + 0.1 * t], 1))
    gt = {k: torch.tensor(v, dtype=torch.float32) for k, v in g.items()}
    with torch.no_grad():
        J = _forward(model, gt, torch.as_tensor(person))
    kp = np.concatenate([priors.project(J, *INTR).numpy(), np.ones((B, 118, 1))], -1)
    return kp, J.numpy(), person


def _errors(out, J):
    e3 = np.linalg.norm(out["joints"] - J, axis=-1).mean()
    rel = np.linalg.norm((out["joints"] - out["joints"][:, 8:9]) - (J - J[:, 8:9]), axis=-1).mean()
    return e3, rel, float(np.nanmean(out["reprojection_error"]))


def _noisy(kp, seed=2):
    rng = np.random.default_rng(seed)
    kp = kp.copy()
    kp[..., :2] += rng.normal(0, 3, kp[..., :2].shape)
    kp[..., 2] = rng.uniform(size=kp.shape[:2]) > 0.2
    return kp


def test_model_has_127_joints_and_118_mapping(model):
    from workers.fitting.joint_map import SMPLX_TO_NTU_X_118
    with torch.no_grad():
        assert model().joints.shape[1] == 127
    assert SMPLX_TO_NTU_X_118.shape == (118,) and SMPLX_TO_NTU_X_118.max() == 126


def test_clean_and_noisy_fit(model):
    kp, J, person = _scene(model, T=3, P=2)
    out = fit(model, kp, INTR, sequence_ids=person, iterations=30)
    e3, rel, rep = _errors(out, J)
    print(f"clean: 3D {e3:.3f} m, root-aligned {rel:.3f} m, reprojection {rep:.2f} px")
    assert out["joints"].shape == (6, 118, 3) and out["betas"].shape == (6, 10)
    assert np.allclose(out["betas"][0], out["betas"][2])           # one shape per sequence
    assert e3 < 0.30 and rel < 0.12 and rep < 4.0
    out_n = fit(model, _noisy(kp), INTR, sequence_ids=person, iterations=30)
    e3n, reln, repn = _errors(out_n, J)
    print(f"noisy: 3D {e3n:.3f} m, root-aligned {reln:.3f} m, reprojection {repn:.2f} px")
    assert np.isfinite(out_n["joints"]).all()
    assert e3n < 0.40 and reln < 0.15 and repn < 8.0


def test_temporal_term_reduces_jitter(model):
    kp, J, person = _scene(model, T=6, P=1, seed=3)
    kp = _noisy(kp, seed=4)
    acc = lambda X: np.linalg.norm(X[2:] - 2 * X[1:-1] + X[:-2], axis=-1).mean()  # noqa: E731
    j0 = acc(fit(model, kp, INTR, sequence_ids=person, iterations=20, temporal_weight=0.0)["joints"])
    j1 = acc(fit(model, kp, INTR, sequence_ids=person, iterations=20, temporal_weight=1000.0)["joints"])
    print(f"jitter (mean joint acceleration): weight 0 {j0:.4f} m, weight 1000 {j1:.4f} m, truth {acc(J):.4f} m")
    assert j1 < j0


def test_missing_model_dir_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="SMPLX_NEUTRAL.npz"):
        load_model(tmp_path / "nowhere")
    with pytest.raises(FileNotFoundError, match="licence"):
        load_model(tmp_path)
