"""SMPL-X fitting (workers/fitting) on a SYNTHETIC SMPL-X model (tests/synthetic_smplx.py), CPU only.

Keypoints are rendered from known parameters (mild pose, 1-2 people, 3-8 frames; hands and expression move
smoothly) through a known pinhole camera at 3.5 m, then fitted back (fit's defaults: 4 stages, up to 600 L-BFGS
iterations each). "Guided" = with `init["joints"]`, as the build runs it (the direct candidate's 3D); here the
guide is SYNTHETIC: the true body joints plus 4 cm Gaussian noise. Stated tolerances, with what the current code
gets in brackets (`pytest -s` prints them):
- clean, 2D only (6 person-frames): mean 3D joint error (camera frame) < 0.03 m [0.016], root-aligned < 0.025 m
  [0.012], Procrustes-aligned < 0.015 m [0.009], reprojection < 0.2 px [0.05]. 2D alone cannot tell which way
  a limb points in depth; on other scenes an arm can flip (a 4-frame scene: one wrist 0.56 m off), which is why
  the build guides the fit.
- clean, guided (16 person-frames): same 3D bounds [0.012 / 0.015 / 0.007], reprojection < 0.3 px [0.14].
- noisy (3 px Gaussian on every point, 20% of the joints confidence 0), guided: 3D < 0.20 m [0.14], root-aligned
  < 0.10 m [0.07], Procrustes < 0.04 m [0.026], reprojection < 4 px [2.8]; unguided root-aligned is worse [0.10]
  (a leg and an arm flip).
- the temporal term (weight 1000) lowers frame-to-frame jitter (mean joint acceleration) versus weight 0.
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

    def moving(n: int) -> np.ndarray:       # per person: from one random value to another over the clip
        a, b = rng.normal(0, .5, (2, P, n))
        return a[person] + t[:, None] * (b - a)[person]
    g = dict(global_orient=np.tile([np.pi * 0.97, 0.2, 0.05], (B, 1)), body_pose=bp,
             left_hand_pose=moving(12), right_hand_pose=moving(12),
             jaw_pose=np.tile([0.1, 0, 0], (B, 1)), expression=moving(10),
             betas=rng.normal(0, .5, (P, 10)),
             transl=np.stack([-0.6 + 1.2 * person + 0.05 * t, 0.1 + 0 * t, 3.5 + 0.1 * t], 1))
    gt = {k: torch.tensor(v, dtype=torch.float32) for k, v in g.items()}
    with torch.no_grad():
        J = _forward(model, gt, torch.as_tensor(person))
    kp = np.concatenate([priors.project(J, *INTR).numpy(), np.ones((B, 118, 1))], -1)
    return kp, J.numpy(), person


def _procrustes(X: np.ndarray, Y: np.ndarray) -> float:
    """Mean joint error after the best similarity transform of each frame of X onto Y."""
    errs = []
    for x, y in zip(X, Y):
        x0, y0 = x - x.mean(0), y - y.mean(0)
        U, S, Vt = np.linalg.svd(x0.T @ y0)
        d = np.sign(np.linalg.det(U @ Vt))
        S[-1] *= d
        U[:, -1] *= d
        errs.append(np.linalg.norm(S.sum() / (x0 ** 2).sum() * x0 @ (U @ Vt) - y0, axis=-1).mean())
    return float(np.mean(errs))


def _errors(out, J):
    e3 = np.linalg.norm(out["joints"] - J, axis=-1).mean()
    rel = np.linalg.norm((out["joints"] - out["joints"][:, 8:9]) - (J - J[:, 8:9]), axis=-1).mean()
    return e3, rel, _procrustes(out["joints"], J), float(np.nanmean(out["reprojection_error"]))


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


def test_forward_matches_the_smplx_model(model):
    """The fit's forward (joints only, global rotation applied about the root) = smplx's own joints, NTU-X order."""
    from workers.fitting.joint_map import SMPLX_TO_NTU_X_118
    g = torch.Generator().manual_seed(0)
    B = 4
    kw = dict(betas=torch.randn(B, 10, generator=g) * .5, expression=torch.randn(B, 10, generator=g) * .5,
              global_orient=torch.randn(B, 3, generator=g), body_pose=torch.randn(B, 63, generator=g) * .3,
              left_hand_pose=torch.randn(B, 12, generator=g) * .5, right_hand_pose=torch.randn(B, 12, generator=g),
              jaw_pose=torch.randn(B, 3, generator=g) * .1, transl=torch.randn(B, 3, generator=g))
    with torch.no_grad():
        ref = model(**kw, leye_pose=torch.zeros(B, 3), reye_pose=torch.zeros(B, 3)).joints[:, SMPLX_TO_NTU_X_118]
        ours = _forward(model, kw, torch.arange(B))
    assert torch.allclose(ours, ref, atol=2e-6)


def test_rigid_init_recovers_a_known_placement(model):
    from scipy.spatial.transform import Rotation

    from workers.fitting.joint_map import TORSO
    from workers.fitting.rigid_init import rigid_init
    zero = {k: torch.zeros(1, n) for k, n in (("betas", 10), ("expression", 10), ("global_orient", 3),
                                              ("body_pose", 63), ("left_hand_pose", 12), ("right_hand_pose", 12),
                                              ("jaw_pose", 3), ("transl", 3))}
    with torch.no_grad():
        rest = _forward(model, zero, torch.zeros(1, dtype=torch.long))[0]
    orient = torch.tensor([[np.pi * 0.9, 0.3, -0.2], [0.1, 2.0, 0.3]])
    transl = torch.tensor([[0.4, -0.1, 3.0], [-1.0, 0.2, 5.0]])
    with torch.no_grad():
        target = _forward(model, {**{k: v.expand(2, -1) for k, v in zero.items()}, "global_orient": orient,
                                  "transl": transl}, torch.zeros(2, dtype=torch.long))
    target[1, [1, 2, 5]] = float("nan")                          # 3 torso joints left: still enough
    R, t, ok = rigid_init(rest[TORSO], rest[8], target)
    assert ok.all()
    assert np.allclose(R.numpy(), Rotation.from_rotvec(orient.numpy()).as_matrix(), atol=1e-4)
    assert torch.allclose(t, transl, atol=1e-4)
    target[1, [8, 9]] = float("nan")
    assert rigid_init(rest[TORSO], rest[8], target)[2].tolist() == [True, False]


def test_acceleration_prior_is_zero_for_uniform_motion_and_stops_at_sequence_ends():
    x = torch.arange(6, dtype=torch.float32)[:, None] * torch.tensor([[0.5, -1.0]])   # uniform motion
    same = torch.tensor([1.0, 1.0, 0.0, 1.0, 1.0])                                    # two sequences of 3
    assert torch.count_nonzero(priors.acceleration(x, same)) == 0
    x[1] += 1.0                                                                        # a jolt in sequence 1
    acc = priors.acceleration(x, same)
    assert acc[1] > 0 and acc[3:].abs().sum() == 0                                     # sequence 2 unaffected


def _guide(J: np.ndarray, seed: int = 7) -> np.ndarray:
    """SYNTHETIC stand-in for the direct candidate (MediaPipe's world landmarks): true body joints + 4 cm noise."""
    guide = J + np.random.default_rng(seed).normal(0, 0.04, J.shape)
    guide[:, 25:] = np.nan                                             # its hands and face are not used
    return guide


def test_clean_fit_comes_back_close(model):
    kp, J, person = _scene(model, T=3, P=2)
    out = fit(model, kp, INTR, sequence_ids=person)                    # 2D only
    e3, rel, pa, rep = _errors(out, J)
    print(f"clean, 2D only: 3D {e3:.3f} m, root-aligned {rel:.3f} m, Procrustes {pa:.3f} m, reprojection {rep:.2f} px")
    assert out["joints"].shape == (6, 118, 3) and out["betas"].shape == (6, 10)
    assert np.allclose(out["betas"][0], out["betas"][2])           # one shape per sequence
    assert e3 < 0.03 and rel < 0.025 and pa < 0.015 and rep < 0.2
    kp, J, person = _scene(model, T=8, P=2, seed=5)                     # the build's way: guided by direct 3D
    e3, rel, pa, rep = _errors(fit(model, kp, INTR, sequence_ids=person, init={"joints": _guide(J)}), J)
    print(f"clean, guided, 16 person-frames: 3D {e3:.3f} m, root-aligned {rel:.3f} m, Procrustes {pa:.3f} m, "
          f"reprojection {rep:.2f} px")
    assert e3 < 0.03 and rel < 0.025 and pa < 0.015 and rep < 0.3


def test_noisy_fit_degrades_gracefully_and_the_3d_guide_helps(model):
    kp, J, person = _scene(model, T=3, P=2)
    noisy = _noisy(kp)
    out = fit(model, noisy, INTR, sequence_ids=person, init={"joints": _guide(J)})
    e3, rel, pa, rep = _errors(out, J)
    print(f"noisy, guided: 3D {e3:.3f} m, root-aligned {rel:.3f} m, Procrustes {pa:.3f} m, reprojection {rep:.2f} px")
    assert np.isfinite(out["joints"]).all()
    assert e3 < 0.20 and rel < 0.10 and pa < 0.04 and rep < 4.0
    rel_unguided = _errors(fit(model, noisy, INTR, sequence_ids=person), J)[1]
    print(f"noisy, unguided: root-aligned {rel_unguided:.3f} m")
    assert rel < rel_unguided


def test_temporal_term_reduces_jitter(model):
    kp, J, person = _scene(model, T=6, P=1, seed=3)
    kp = _noisy(kp, seed=4)
    acc = lambda X: np.linalg.norm(X[2:] - 2 * X[1:-1] + X[:-2], axis=-1).mean()  # noqa: E731
    j0 = acc(fit(model, kp, INTR, sequence_ids=person, iterations=300, temporal_weight=0.0)["joints"])
    j1 = acc(fit(model, kp, INTR, sequence_ids=person, iterations=300, temporal_weight=1000.0)["joints"])
    print(f"jitter (mean joint acceleration): weight 0 {j0:.4f} m, weight 1000 {j1:.4f} m, truth {acc(J):.4f} m")
    assert j1 < j0


def test_missing_model_dir_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="SMPLX_NEUTRAL.npz"):
        load_model(tmp_path / "nowhere")
    with pytest.raises(FileNotFoundError, match="licence"):
        load_model(tmp_path)
