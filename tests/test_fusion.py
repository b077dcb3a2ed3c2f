"""Multi-expert fusion on the real three-expert clip (../shared/samples/experts: OpenPose, AlphaPose, LCR-Net++
on one Toyota Smarthome clip, COCO-17), plus constructed cases for swaps, gaps and outliers."""
import numpy as np
import pytest

from tests.conftest import SAMPLES
from pipeline.stages.refine import fusion_params
from schemas.config import BuildConfig
from workers.fusion.fuse import INTERPOLATED, fuse
from workers.fusion.repair import apply_swaps, bone_outliers, find_swaps
from workers.fusion.temporal import interpolate_gaps

NAMES = ["OP2d", "Alphapose2d", "LCRNet2d"]
BONES = np.array([(5, 7), (7, 9), (6, 8), (8, 10), (11, 13), (13, 15), (12, 14), (14, 16), (5, 6), (11, 12),
                  (5, 11), (6, 12)])
SWAPS = [(np.array([5, 7, 9]), np.array([6, 8, 10])), (np.array([11, 13, 15]), np.array([12, 14, 16]))]
LIMBS = np.arange(5, 17)


@pytest.fixture(scope="module")
def experts(samples):
    arrs = [np.load(SAMPLES / "experts" / f"WatchTV_p02_r03_v05_c05_{n}.npz")["kpts"] for n in NAMES]
    T = min(len(a) for a in arrs)
    X = np.stack([a[:T] for a in arrs])[:, None].astype(np.float64)         # (E=3, M=1, T, 17, 2)
    S = np.ones(X.shape[:-1])
    S[(X == 0).all(-1)] = 0          # OpenPose writes missing points as (0, 0)
    S[2][..., 1:5] = 0               # LCR-Net's head copied into the eye/ear slots: not estimates
    return np.where(S[..., None] > 0, X, np.nan), S


def params(**overrides):
    """The build's fusion settings (config defaults) with test overrides."""
    return fusion_params(BuildConfig(), **overrides)


def run(X, S, **kw):
    return fuse(X, S, params(**kw), LIMBS, BONES, SWAPS, LIMBS)


def acceleration(P, valid):
    a = P[:, 2:] - 2 * P[:, 1:-1] + P[:, :-2]
    ok = valid[:, 2:] & valid[:, 1:-1] & valid[:, :-2]
    return np.linalg.norm(a, axis=-1)[ok].mean()


def test_smoother_than_every_expert_and_closer_to_consensus(experts):
    X, S = experts
    f = run(X, S)
    P, ok = f.points[..., :2], f.points[..., 2] > 0
    common = (S > 0).all(0)                          # compare every method on the same points
    consensus = np.nanmedian(X, axis=0)
    fused_acc = acceleration(P, common & ok)
    fused_err = np.linalg.norm(P - consensus, axis=-1)[common & ok].mean()
    for e, name in enumerate(NAMES):
        assert fused_acc < acceleration(X[e], common), name
        assert fused_err < np.linalg.norm(X[e] - consensus, axis=-1)[common].mean(), name
    assert ok.mean() > 0.95                          # fusion covers what single experts miss (OpenPose: 40%)
    assert set(np.unique(f.provenance)) <= {-2, -1, 0, 1, 2}
    assert (f.frame_confidence >= 0).all() and (f.frame_confidence <= 1).all()
    assert np.median(f.frame_confidence) > 0.5


def test_corrupted_expert_is_outvoted(experts):
    X, S = experts
    rng = np.random.default_rng(0)
    clean = run(X, S)
    Xc = X.copy()
    hit = rng.random(S[1].shape) < 0.2                                   # 20% of AlphaPose's points
    offset = rng.normal(size=hit.shape + (2,))
    offset *= (rng.uniform(60, 150, size=hit.shape) / np.linalg.norm(offset, axis=-1))[..., None]
    Xc[1] = np.where(hit[..., None], X[1] + offset, X[1])                 # 60-150 px off (body ~ 250 px)
    f = run(Xc, S)
    # Where AlphaPose is the only expert (head points with OpenPose missing) nothing can outvote it. Where one
    # other expert is present, continuity breaks the tie; where two are, agreement decides.
    n_valid = (S > 0).sum(0)
    corrupted = hit & (S[1] > 0)
    assert (f.provenance[corrupted & (n_valid >= 2)] == 1).mean() < 0.10
    assert (f.provenance[corrupted & (n_valid == 3)] == 1).mean() < 0.05
    # Against the consensus of the clean experts, the fused output on corrupted input stays as good as on clean
    # input, and better than any single clean expert; the corrupted expert itself is far off. (Fused points do
    # move: with AlphaPose unreliable the chain leans on LCR-Net, which differs from it systematically.)
    consensus = np.nanmedian(X, axis=0)
    ok = (clean.points[..., 2] > 0) & (f.points[..., 2] > 0) & (n_valid == 3)
    err = lambda P: np.linalg.norm(P - consensus, axis=-1)[ok].mean()  # noqa: E731
    assert err(f.points[..., :2]) < 1.1 * err(clean.points[..., :2])
    assert err(f.points[..., :2]) < min(err(X[0]), err(X[1]), err(X[2]))
    assert err(Xc[1]) > 2 * err(f.points[..., :2])


def test_single_expert_passes_through_unsmoothed():
    rng = np.random.default_rng(1)
    X = rng.uniform(0, 100, size=(1, 1, 5, 17, 2))
    S = np.full(X.shape[:-1], 0.8)
    f = fuse(X, S, params(smoothing="none", bone_tolerance=100), LIMBS)
    np.testing.assert_allclose(f.points[..., :2], X[0], rtol=1e-6)
    np.testing.assert_allclose(f.points[..., 2], 0.8, rtol=1e-6)
    assert (f.provenance == 0).all()


def test_two_agree_one_disagrees_per_joint():
    X = np.zeros((3, 1, 4, 17, 2))
    X[..., 0] = np.arange(17) * 10.0
    X[..., 1] = 100.0
    X[2, :, :, 9] += 80                                # expert 2 puts the left wrist far away
    S = np.ones(X.shape[:-1])
    f = fuse(X, S, params(smoothing="none"), LIMBS)
    assert (f.provenance[..., 9] != 2).all()
    np.testing.assert_allclose(f.points[..., 9, :2], X[0, :, :, 9], atol=1e-6)


def test_gap_interpolation_limits():
    T = 20
    P = np.zeros((1, T, 1, 2))
    P[0, :, 0, 0] = np.arange(T, dtype=float)
    valid = np.ones((1, T, 1), dtype=bool)
    valid[0, 3:6] = False          # gap of 3
    valid[0, 9:17] = False         # gap of 8
    out, filled = interpolate_gaps(np.where(valid[..., None], P, np.nan), valid, max_gap=4)
    assert filled[0, 3:6].all() and not filled[0, 9:17].any()
    np.testing.assert_allclose(out[0, 3:6, 0, 0], [3, 4, 5])


def test_bone_outliers_only_flag_stretched_bones():
    T = 50
    P = np.zeros((1, T, 2, 2))
    P[0, :, 1, 0] = 10.0
    P[0, 10:40, 1, 0] = 4.0        # long foreshortened stretch: not an outlier
    P[0, 45, 1, 0] = 30.0          # stretched 3x: outlier
    out = bone_outliers(P, np.ones((1, T, 2), bool), np.array([[0, 1]]), 0.5)
    assert out[0, :, 1].sum() == 1 and out[0, 45, 1] and not out[0, :, 0].any()


def test_left_right_swap_repair():
    T = 6
    P = np.zeros((1, T, 17, 2))
    P[..., 5, 0], P[..., 6, 0] = 0.0, 100.0      # left shoulder at x=0, right at x=100
    P[..., 7, 0], P[..., 8, 0] = 0.0, 100.0
    P[..., 9, 0], P[..., 10, 0] = 0.0, 100.0
    P[0, 3, [5, 7, 9], 0], P[0, 3, [6, 8, 10], 0] = 100.0, 0.0    # frame 3: arms swapped
    valid = np.ones((1, T, 17), bool)
    sw = find_swaps(P, valid, SWAPS[:1])
    assert sw[0, :, 0].tolist() == [False, False, False, True, False, False]
    fixed = apply_swaps(P, sw, SWAPS[:1])
    assert (fixed[0, :, 5, 0] == 0).all() and (fixed[0, :, 6, 0] == 100).all()


def test_interpolated_points_are_marked(experts):
    X, S = experts
    f = run(X, S, max_gap=10)
    interp = f.provenance == INTERPOLATED
    assert interp.any()
    assert (f.points[..., 2][interp] > 0).all() and (f.points[..., 2][interp] <= 0.5).all()


def test_same_model_experts_are_one_voter():
    """Experts 0 and 1 run one network (same family) and agree; expert 2 is different and surer. Counted as
    independent, the pair outvotes it; as one family, their agreement is no evidence and scores decide."""
    X = np.zeros((3, 1, 1, 17, 2))
    X[2, ..., 0] = 40.0                                  # expert 2 elsewhere
    X[..., 5:, 1] = np.arange(12) * 20.0                 # give the body an extent (scale)
    S = np.stack([np.full((1, 1, 17), 0.6), np.full((1, 1, 17), 0.6), np.full((1, 1, 17), 0.9)])
    p = params(smoothing="none", max_gap=0)
    assert (fuse(X, S, p, LIMBS).provenance[0, 0, 9] in (0, 1))
    fam = np.array([[0] * 17, [0] * 17, [1] * 17])
    assert fuse(X, S, p, LIMBS, families=fam).provenance[0, 0, 9] == 2


def test_reliability_decides_between_equally_scored_experts():
    """Two independent experts disagree with equal scores: the one calibrated as more reliable is chosen, and
    the output confidence is built from that expert's own score (reliability is a weight, not a new score):
    0.7 x (0.5 + 0.5 x agreement 0) = 0.35, whichever expert won."""
    X = np.zeros((2, 1, 1, 17, 2))
    X[..., 5:, 1] = np.arange(12) * 20.0
    X[1, ..., 0] = 40.0
    S = np.full((2, 1, 1, 17), 0.7)
    p = params(smoothing="none", max_gap=0)
    for better in (0, 1):
        r = np.full((2, 17), 0.5)
        r[better] = 1.0
        f = fuse(X, S, p, LIMBS, reliability=r)
        assert (f.provenance[0, 0] == better).all()
        np.testing.assert_allclose(f.points[0, 0, :, :2], X[better, 0, 0], atol=1e-9)
        np.testing.assert_allclose(f.points[0, 0, :, 2], 0.35, atol=2e-3)       # agreement ~0, not exactly


def test_consensus_counts_one_family_once():
    """Three near candidates, two from one network: the family's weight is shared, so the mean lies halfway
    between the family's mean and the independent expert, not two-thirds of the way to the family."""
    X = np.zeros((3, 1, 1, 17, 2))
    X[..., 5:, 1] = np.arange(12) * 20.0
    X[2, ..., 0] = 3.0                                   # within the consensus radius
    S = np.ones((3, 1, 1, 17))
    fam = np.array([[0] * 17, [0] * 17, [1] * 17])
    f = fuse(X, S, params(smoothing="none", max_gap=0, consensus_radius=0.5), LIMBS, families=fam)
    np.testing.assert_allclose(f.points[0, 0, :, 0], 1.5, atol=1e-9)
    f = fuse(X, S, params(smoothing="none", max_gap=0, consensus_radius=0.5), LIMBS)
    np.testing.assert_allclose(f.points[0, 0, :, 0], 1.0, atol=1e-9)
