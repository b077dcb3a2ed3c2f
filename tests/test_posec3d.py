"""PoseConv3D: pseudo heatmaps (formulas, vectorised == loop reference, sampling, crop) and Pose-SlowOnly
(size against the paper, forward shapes, it learns). CPU only, small."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from schemas.layouts import get_layout
from tests.conftest import fit_steps
from workers.action.heatmaps import (FLUSH, compact_crop, joint_heatmaps, limb_heatmaps, nctvm_to_nmtvc,
                                     pseudo_heatmaps, reference_heatmaps, uniform_sample_indices)
from workers.action.posec3d import PoseC3D, PoseSlowOnly, backbone_gmacs, count_parameters

SIGMA = 0.6
H = W = 56


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def gaussian(x: float, y: float, c: float) -> np.ndarray:
    i = np.arange(W)[None, :]
    j = np.arange(H)[:, None]
    return np.exp(-((i - x) ** 2 + (j - y) ** 2) / (2 * SIGMA ** 2)) * c


def grid_points(points) -> tuple[torch.Tensor, torch.Tensor]:
    """[[(x, y, score) per joint] per person] -> xy (1, M, 1, V, 2), score (1, M, 1, V) on the heatmap grid."""
    p = torch.tensor(points, dtype=torch.float32)[None, :, None]
    return p[..., :2], p[..., 2]


def random_clip(rng, M=2, T=37, V=17, missing=0.2) -> np.ndarray:
    xy = rng.uniform([200, 100], [900, 700], (M, T, V, 2))
    score = rng.uniform(0.05, 1.0, (M, T, V, 1))
    score[rng.uniform(size=score.shape) < missing] = 0
    return np.concatenate([xy, score], -1)


# --- heatmap formulas -------------------------------------------------------------------------------------

def test_joint_heatmap_is_the_scored_gaussian_peaking_at_the_joint():
    xy, s = grid_points([[(20, 30, 0.7), (41.3, 7.8, 1.0)]])
    out = joint_heatmaps(xy, s, (H, W), SIGMA)
    assert out.shape == (1, 2, 1, H, W)
    on_grid = out[0, 0, 0].numpy()
    assert on_grid[30, 20] == pytest.approx(0.7, abs=1e-6)                 # peak = score at the joint's pixel
    assert np.unravel_index(on_grid.argmax(), on_grid.shape) == (30, 20)
    np.testing.assert_allclose(on_grid, gaussian(20, 30, 0.7), atol=1e-6)
    np.testing.assert_allclose(out[0, 1, 0].numpy(), gaussian(41.3, 7.8, 1.0), atol=1e-6)   # off-grid joint


def test_limb_heatmap_is_min_score_along_the_segment_and_gaussian_of_the_distance():
    xy, s = grid_points([[(10, 10, 0.9), (40, 10, 0.6), (40, 10, 0.8)]])
    out = limb_heatmaps(xy, s, [(0, 1), (1, 2)], (H, W), SIGMA)[0, :, 0].numpy()
    np.testing.assert_allclose(out[0, 10, 10:41], 0.6, atol=1e-6)         # min(c_a, c_b) all along the segment
    assert out[0, 12, 25] == pytest.approx(0.6 * np.exp(-4 / (2 * SIGMA ** 2)), rel=1e-5)   # 2 px off the middle
    i, j = np.arange(W)[None, :], np.arange(H)[:, None]
    t = np.clip((i - 10) / 30, 0, 1)
    d2 = (i - 10 - 30 * t) ** 2 + (j - 10) ** 2                             # distance to the segment, caps included
    np.testing.assert_allclose(out[0], np.exp(-d2 / (2 * SIGMA ** 2)) * 0.6, atol=1e-6)
    np.testing.assert_allclose(out[1], gaussian(40, 10, 0.6), atol=1e-6)  # degenerate limb: Gaussian at the point


def test_max_over_persons_and_missing_joints_produce_nothing():
    a = [(20, 20, 0.5), (30, 20, 0.9)]
    b = [(22, 20, 0.8), (30, 40, 0.0)]                                   # b's second joint is missing
    xy, s = grid_points([a, b])
    joints = joint_heatmaps(xy, s, (H, W), SIGMA)[0, :, 0].numpy()
    np.testing.assert_allclose(joints[0], np.maximum(gaussian(20, 20, 0.5), gaussian(22, 20, 0.8)), atol=1e-6)
    np.testing.assert_allclose(joints[1], gaussian(30, 20, 0.9), atol=1e-6)
    limbs = limb_heatmaps(xy, s, [(0, 1)], (H, W), SIGMA)[0, 0, 0].numpy()
    np.testing.assert_allclose(limbs, limb_heatmaps(*grid_points([a]), [(0, 1)], (H, W), SIGMA)[0, 0, 0].numpy())
    none_xy, none_s = grid_points([[(20, 20, 0.0), (30, 20, 0.0)]])
    assert joint_heatmaps(none_xy, none_s, (H, W), SIGMA).abs().max() == 0
    assert limb_heatmaps(none_xy, none_s, [(0, 1)], (H, W), SIGMA).abs().max() == 0
    empty = pseudo_heatmaps(np.zeros((2, 10, 17, 3)), clip_len=8)           # nobody anywhere: all zero, no NaN
    assert empty.shape == (17, 8, H, W) and empty.abs().max() == 0


@pytest.mark.parametrize("layout,T,clip_len", [("coco-17", 37, 16), ("coco-17", 20, 48), ("ntu-x-67", 12, 12)])
def test_vectorised_matches_the_loop_reference(layout, T, clip_len):
    rng = np.random.default_rng(T)
    lay = get_layout(layout)
    clips = np.stack([random_clip(rng, T=T, V=lay.num_joints) for _ in range(2)])
    clips[0, 1, 3, 5] = [np.nan, 300.0, 0.9]                             # a non-finite joint counts as missing
    for mode in ("joint", "limb"):
        fast = pseudo_heatmaps(torch.from_numpy(clips), mode=mode, edges=lay.edges, clip_len=clip_len).numpy()
        assert fast.shape == (2, lay.num_joints if mode == "joint" else len(lay.edges), clip_len, H, W)
        for c in range(2):
            ref = reference_heatmaps(clips[c], mode=mode, edges=lay.edges, clip_len=clip_len)
            np.testing.assert_allclose(fast[c], ref, atol=2e-5)
            assert np.isfinite(fast[c]).all()


def full_grid(xy: np.ndarray, score: np.ndarray, edges, hw) -> tuple[np.ndarray, np.ndarray]:
    """The formulas on every pixel in float64, no tiles, no flush: xy (M, V, 2), score (M, V) -> joints (V, H, W),
    limbs (E, H, W), max over persons."""
    i, j = np.arange(hw[1])[None, :], np.arange(hw[0])[:, None]
    joints = np.zeros((xy.shape[1],) + hw)
    limbs = np.zeros((len(edges),) + hw)
    for m in range(xy.shape[0]):
        for v in range(xy.shape[1]):
            if score[m, v] > 0:
                d2 = (i - xy[m, v, 0]) ** 2 + (j - xy[m, v, 1]) ** 2
                joints[v] = np.maximum(joints[v], np.exp(-d2 / (2 * SIGMA ** 2)) * score[m, v])
        for e, (a, b) in enumerate(edges):
            c = min(score[m, a], score[m, b])
            if c > 0:
                (ax, ay), (bx, by) = xy[m, a], xy[m, b]
                l2 = (bx - ax) ** 2 + (by - ay) ** 2
                t = np.clip(((i - ax) * (bx - ax) + (j - ay) * (by - ay)) / l2, 0, 1) if l2 > 0 else 0.0
                d2 = (i - ax - t * (bx - ax)) ** 2 + (j - ay - t * (by - ay)) ** 2
                limbs[e] = np.maximum(limbs[e], np.exp(-d2 / (2 * SIGMA ** 2)) * c)
    return joints, limbs


@pytest.mark.parametrize("hw", [(56, 56), (30, 45), (53, 57), (7, 5)])
def test_tiles_leave_out_only_zeros_on_any_grid(hw):
    """The renderer computes only the tiles a person's joint or limb reaches: on grids the tiles divide or not,
    with joints off the grid, scores above 1, coinciding joints and three persons sharing tiles, it matches the
    formulas on the full grid, and does not depend on its block size."""
    rng = np.random.default_rng(sum(hw))
    M, V, T = 3, 9, 4
    edges = [(0, 1), (1, 2), (2, 3), (3, 4), (4, 5), (5, 6), (6, 7), (7, 8), (8, 0), (2, 2), (0, 5)]
    centre = rng.uniform(0, 1, (1, T, 1, 2)) * [hw[1], hw[0]]
    xy = centre + rng.normal(0, 0.3, (M, T, V, 2)) * [hw[1], hw[0]]                 # persons overlap
    xy[1, :, 4] = xy[1, :, 3]                                                        # a limb of length 0
    score = rng.uniform(0.05, 1.5, (M, T, V))
    score[rng.uniform(size=score.shape) < 0.15] = 0
    xy, score = xy.astype(np.float32).astype(np.float64), score.astype(np.float32).astype(np.float64)
    x, s = torch.from_numpy(xy).float()[None], torch.from_numpy(score).float()[None]
    joints, limbs = joint_heatmaps(x, s, hw, SIGMA)[0], limb_heatmaps(x, s, edges, hw, SIGMA)[0]
    assert joints.shape == (V, T) + hw and limbs.shape == (len(edges), T) + hw
    for t in range(T):
        refs = full_grid(xy[:, t], score[:, t], edges, hw)
        for fast, ref in zip((joints[:, t].numpy(), limbs[:, t].numpy()), refs):
            np.testing.assert_allclose(fast, ref, atol=2e-5)
            # down to the flush: values above FLUSH to float precision, the rest exactly 0 (except a hair around it)
            clear = np.abs(np.log(np.maximum(ref, 1e-300) / FLUSH)) > 1e-2
            np.testing.assert_allclose(fast[clear], np.where(ref > FLUSH, ref, 0.0)[clear], rtol=1e-3, atol=0)
    assert torch.equal(joint_heatmaps(x, s, hw, SIGMA, max_elements=1)[0], joints)  # one channel-frame per block
    assert torch.equal(limb_heatmaps(x, s, edges, hw, SIGMA, max_elements=1)[0], limbs)


def test_train_mode_sampling_matches_the_reference_given_the_same_indices():
    rng = np.random.default_rng(1)
    clip = random_clip(rng, T=90)
    fast = pseudo_heatmaps(clip, clip_len=16, train=True, generator=torch.Generator().manual_seed(7))
    idx = uniform_sample_indices(90, 16, train=True, generator=torch.Generator().manual_seed(7))[0]
    np.testing.assert_allclose(fast.numpy(), reference_heatmaps(clip, clip_len=16, indices=idx.tolist()), atol=2e-5)


# --- sampling and crop ------------------------------------------------------------------------------------

def test_uniform_sampling_longer_than_clip_len():
    T, L = 100, 48
    seg = [(i * T // L, (i + 1) * T // L) for i in range(L)]
    test = uniform_sample_indices(T, L)[0].tolist()
    assert test == [a + (b - a) // 2 for a, b in seg]                    # segment centres
    assert test == uniform_sample_indices(T, L).tolist()[0]              # deterministic
    train = uniform_sample_indices(T, L, train=True, generator=torch.Generator().manual_seed(0), num_clips=4)
    assert train.shape == (4, L)
    for row in train.tolist():
        assert all(a <= k < b for k, (a, b) in zip(row, seg))            # one frame per segment, never repeated
    again = uniform_sample_indices(T, L, train=True, generator=torch.Generator().manual_seed(0), num_clips=4)
    assert torch.equal(train, again)                                      # seeded -> reproducible
    other = uniform_sample_indices(T, L, train=True, generator=torch.Generator().manual_seed(1), num_clips=4)
    assert not torch.equal(train, other)
    assert uniform_sample_indices(L, L)[0].tolist() == list(range(L))     # T == L: every frame once


def test_uniform_sampling_shorter_than_clip_len():
    T, L = 20, 48
    for idx in (uniform_sample_indices(T, L)[0],
                uniform_sample_indices(T, L, train=True, generator=torch.Generator().manual_seed(3))[0]):
        assert idx.shape == (L,) and idx.min() >= 0 and idx.max() < T
        assert (idx[1:] >= idx[:-1]).all()                               # in order
        assert set(idx.tolist()) == set(range(T))                         # every frame used
        counts = torch.bincount(idx, minlength=T)
        assert counts.min() >= L // T and counts.max() <= -(-L // T)      # each about L/T times
    assert uniform_sample_indices(1, L)[0].tolist() == [0] * L


def test_crop_keeps_every_valid_joint_inside_the_grid_and_keeps_the_aspect():
    rng = np.random.default_rng(5)
    clips = np.stack([random_clip(rng, T=30, V=17), random_clip(rng, T=30, V=17)])
    clips[1, ..., :2] = clips[1, ..., :2] * 0.01 + 5                      # a tiny far skeleton (< min_size)
    x = torch.from_numpy(clips).float()
    xy = compact_crop(x[..., :2], x[..., 2], (H, W))
    for c in range(2):
        valid = x[c, ..., 2] > 0
        pts = xy[c][valid]
        assert pts.min() >= 0 and pts.max() <= W - 1
        if c == 0:                                                         # padding 0.25: within [0.1, 0.9] W
            assert pts.min() >= 0.1 * W - 0.5 - 1e-3 and pts.max() <= 0.9 * W - 0.5 + 1e-3
        src = x[c, ..., :2][valid]
        scale = (pts.amax(0) - pts.amin(0)) / (src.amax(0) - src.amin(0))  # square box: one scale for x and y
        assert scale[0] == pytest.approx(scale[1].item(), rel=1e-3)
    big = x.clone()
    big[..., :2] *= 3                                                      # the crop makes the output scale-free
    np.testing.assert_allclose(pseudo_heatmaps(big[:1]).numpy(), pseudo_heatmaps(x[:1]).numpy(), atol=1e-5)


def test_dataset_layout_adapter():
    item = torch.arange(3 * 5 * 17 * 2, dtype=torch.float32).reshape(3, 5, 17, 2)     # (C, T, V, M)
    out = nctvm_to_nmtvc(item)
    assert out.shape == (2, 5, 17, 3) and out[1, 4, 16, 2] == item[2, 4, 16, 1]
    assert nctvm_to_nmtvc(item[None]).shape == (1, 2, 5, 17, 3)
    assert nctvm_to_nmtvc(item.numpy()).shape == (2, 5, 17, 3)


# --- Pose-SlowOnly ----------------------------------------------------------------------------------------

def test_pose_slowonly_matches_the_papers_size():
    """Paper (Duan et al. 2022): Pose-SlowOnly has 2.0M parameters and 15.9 GFLOPs for a 17x48x56x56 input,
    FLOPs counted as pyskl/mmcv do, i.e. multiply-adds. FlopCounterMode counts 2 per multiply-add, and
    `backbone_gmacs` halves it. The count runs the real module's operators on the meta device (shapes only)."""
    params = count_parameters(PoseSlowOnly(17))
    assert params == 1_994_080, params                               # the README's count (paper: 2.0M)
    meta = PoseSlowOnly(17).to("meta")
    assert round(backbone_gmacs(meta, (1, 17, 48, 56, 56), "meta"), 2) == 15.63     # README (paper: 15.9)
    assert meta(torch.zeros(1, 17, 48, 56, 56, device="meta")).shape == (1, 512, 24, 7, 7)
    small = (1, 17, 8, 32, 32)                                             # meta counts == counts of a real run
    assert backbone_gmacs(PoseSlowOnly(17), small, "cpu") == backbone_gmacs(meta, small, "meta")
    assert count_parameters(PoseSlowOnly(118)) > params                    # any number of input channels


def tiny(mode="joint", **kw) -> PoseC3D:
    return PoseC3D(5, "coco-17", mode=mode, clip_len=8, size=32, base_channels=4, stage_blocks=(1, 1, 1), **kw)


def test_posec3d_forward_shapes():
    torch.manual_seed(0)
    clips = np.stack([random_clip(np.random.default_rng(s), T=20) for s in range(2)])     # (N, M, T, V, C)
    batch = torch.from_numpy(clips).float().permute(0, 4, 2, 3, 1)        # (N, C, T, V, M) like dataset batches
    model = tiny().eval()
    assert model.heatmaps(batch).shape == (2, 17, 8, 32, 32)
    logits = model(batch)
    assert logits.shape == (2, 5)
    feats = model.features(batch)
    assert feats.shape == (2, model.backbone.feat_dim) == (2, 64)
    assert torch.allclose(model.classifier(feats), logits, atol=1e-6)
    limb = tiny("limb").eval()
    assert limb.heatmaps(batch).shape == (2, len(get_layout("coco-17").edges), 8, 32, 32)
    assert limb(batch).shape == (2, 5)
    nmtvc = tiny(input_format="nmtvc").eval()
    nmtvc.load_state_dict(model.state_dict())
    assert torch.allclose(nmtvc(nctvm_to_nmtvc(batch)), logits, atol=1e-6)


def test_posec3d_learns_a_tiny_fixed_batch_and_can_be_linear_probed():
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    skel = torch.from_numpy(np.stack([random_clip(rng, T=16, missing=0.0) for _ in range(6)])).float()
    batch, labels = skel.permute(0, 4, 2, 3, 1), torch.tensor([0, 1, 2, 3, 4, 0])
    model = tiny(dropout=0.0).train()
    losses = fit_steps(model, batch, labels, lr=3e-2)
    assert losses[-1] < 0.5 * losses[0], losses

    model.freeze_backbone()
    model.zero_grad()
    model.train()
    assert not model.backbone.training and model.classifier.training
    before = {k: v.clone() for k, v in model.backbone.state_dict().items()}
    loss = torch.nn.functional.cross_entropy(model(batch), labels)
    loss.backward()
    assert all(p.grad is None for p in model.backbone.parameters()) and model.classifier.weight.grad is not None
    assert all(torch.equal(before[k], v) for k, v in model.backbone.state_dict().items())   # BN stats fixed too
