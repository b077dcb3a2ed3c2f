"""Zero-phase smoothing in refine (workers/fusion/temporal.py) and its measures (workers/fusion/motion_metrics.py).

Real data: one in-process build of the NTU sample clip (48 frames) with `refine.smoothing: none`, then with the
default; the refine stage's points are read from the cache. The causal One-Euro filter (the old default) is
applied to the unsmoothed points as refine applied it, to show the measure sees its lag.
Synthetic arrays (named so) only for gap handling and for a known shift of the lag measure.
"""
from __future__ import annotations

import numpy as np
import pyarrow.parquet as pq
import pytest

from pipeline.cache import Store
from schemas.config import BuildConfig
from schemas.layouts import SOURCE_PARTS, source_offset
from tests.conftest import NTU_CLIP, run_build, stage_videos
from workers.fusion.motion_metrics import body_size, jerk_ratio, lag_frames
from workers.fusion.temporal import interpolate_gaps, one_euro, one_euro_causal, savgol, valid_runs

BODY = np.arange(SOURCE_PARTS["body"])


def refine_points(videos, out, smoothing: str | None) -> np.ndarray:
    refine = {} if smoothing is None else {"smoothing": smoothing}
    run_build(videos, out, {"frames": {"max_frames": 48}, "refine": refine})
    row = pq.read_table(out / "manifest.parquet").to_pylist()[0]
    assert row["status"] == "ok"
    return Store(out / ".cache").load("refine", row["refine_key"]).arrays["points"].astype(float)


@pytest.fixture(scope="module")
def ntu_refined(tmp_path_factory):
    root = tmp_path_factory.mktemp("lag")
    videos = stage_videos(root / "videos", NTU_CLIP, names=["S001C002P003R001A055.avi"])
    raw = refine_points(videos, root / "out", "none")
    default = refine_points(videos, root / "out", None)          # pose cached: only refine runs again
    return raw, default


def test_default_smoothing_has_no_lag_and_cuts_jerk_on_the_ntu_clip(ntu_refined):
    raw, default = ntu_refined
    assert BuildConfig().refine.smoothing == "one_euro"
    P, conf = raw[..., :2], raw[..., 2]
    ok = conf > 0
    ok_default = default[..., 2] > 0
    assert np.array_equal(ok[..., BODY], ok_default[..., BODY]), "smoothing changes no body point's validity"
    # a hand or face is kept or cleared whole by the part-to-body check, which judges the output (smoothed or
    # not) against its own body: it may decide differently on the smoothed body, never point by point
    for part in ("left_hand", "right_hand", "face"):
        o = source_offset(part)
        sl = slice(o, o + SOURCE_PARTS[part])
        differs = ok[..., sl] != ok_default[..., sl]
        whole = ~ok[..., sl].any(-1) | ~ok_default[..., sl].any(-1)
        assert (whole[differs.any(-1)]).all(), part
    size = body_size(raw, BODY)
    lag = lag_frames(P, default[..., :2], conf)[0]
    assert lag == 0
    assert jerk_ratio(P, default[..., :2], ok & ok_default, size) >= 3
    # the old causal filter, as refine ran it (body-size units, default parameters), trails the body
    cfg = BuildConfig()
    r = cfg.refine
    s = size[:, None, None, None]
    causal = one_euro_causal(P / s, ok, float(cfg.frames.fps), r.one_euro_min_cutoff, r.one_euro_beta) * s
    assert lag_frames(P, causal, conf)[0] >= 2
    # centred Savitzky-Golay is zero-phase too
    assert lag_frames(P, savgol(P, ok, r.savgol_window, r.savgol_order), conf)[0] == 0


def test_lag_measure_finds_a_known_shift_synthetic():
    rng = np.random.default_rng(0)
    t = np.arange(120)
    base = np.stack([200 * np.sin(t / 9.0), 150 * np.cos(t / 13.0)], -1)[None, :, None]      # (1, T, 1, 2)
    ref = base + rng.normal(0, 3, base.shape)
    conf = np.ones(ref.shape[:3])
    for k in (3, -2, 0):
        shifted = np.roll(ref, k, axis=1)                 # shifted[t + k] = ref[t]: trails by k
        c = conf.copy()
        c[:, : max(k, 0)] = 0
        c[:, ref.shape[1] + min(k, 0):] = 0
        assert lag_frames(ref, shifted, c)[0] == k


def gapped_synthetic(rng, T=60, gaps=((10, 25), (40, 41), (55, 60))):
    """(1, T, 2, 2) noisy ramp + sine far from the origin, with NaN runs at `gaps` (joint 0) and none (joint 1)."""
    t = np.arange(T)[:, None]
    clean = np.concatenate([500 + 4 * t, 300 + 40 * np.sin(t / 15.0)], -1)
    P = np.stack([clean, clean], 1)[None] + rng.normal(0, 2, (1, T, 2, 2))
    valid = np.ones((1, T, 2), bool)
    for a, b in gaps:
        valid[0, a:b, 0] = False
    return np.where(valid[..., None], P, np.nan), valid


@pytest.mark.parametrize("smoother", [lambda P, ok: one_euro(P / 100, ok, 30.0, 0.7, 0.2) * 100,
                                      lambda P, ok: savgol(P, ok, 7, 2)], ids=["one_euro", "savgol"])
def test_smoothing_respects_gaps_synthetic_nan_runs(smoother):
    rng = np.random.default_rng(1)
    P, valid = gapped_synthetic(rng)
    max_gap = 3
    Pf, filled = interpolate_gaps(P, valid, max_gap)
    ok = valid | filled
    assert filled[0, 40, 0] and not filled[0, 10:25, 0].any() and not filled[0, 55:, 0].any()
    out = smoother(Pf, ok)
    # missing stays missing, nothing else becomes NaN
    assert np.isnan(out[~ok]).all() and np.isfinite(out[ok]).all()
    # nothing crosses the long gap: each side smoothed alone equals the whole
    left = smoother(Pf[:, :10], ok[:, :10])
    right = smoother(Pf[:, 25:55], ok[:, 25:55])
    assert np.allclose(out[:, :10, 0], left[:, :, 0]) and np.allclose(out[:, 25:55, 0], right[:, :, 0])
    # ...while the short (interpolated) gap is smoothed through: the joint without gaps sees the same 25..55
    assert np.abs(out[:, 25:55, 0] - out[:, 25:55, 1]).max() < 10
    # run ends are not pulled towards zero or the NaN side: close to the clean signal there
    t = np.arange(P.shape[1])
    clean_x = 500 + 4 * t
    for end in (0, 9, 25, 54):
        assert abs(out[0, end, 0, 0] - clean_x[end]) < 12, end
    # closer to the clean signal than the noisy input, over the whole joint without gaps
    clean = np.stack([clean_x, 300 + 40 * np.sin(t / 15.0)], -1)
    assert np.abs(out[0, :, 1] - clean).mean() < np.abs(P[0, :, 1] - clean).mean()


@pytest.mark.parametrize("smoother", [lambda P, ok: one_euro(P, ok, 30.0, 0.7, 0.2),
                                      lambda P, ok: savgol(P, ok, 7, 2)], ids=["one_euro", "savgol"])
def test_short_runs_synthetic(smoother):
    P = np.array([[[[5.0, 5.0]], [[np.nan, np.nan]], [[7.0, 1.0]], [[9.0, 3.0]], [[np.nan, np.nan]],
                   [[1.0, 1.0]], [[2.0, 4.0]], [[3.0, 2.0]]]])[:, :, :, :]          # (1, 8, 1, 2)
    ok = np.isfinite(P).all(-1)
    out = smoother(P, ok)
    assert np.array_equal(np.isfinite(out).all(-1), ok)
    assert np.array_equal(out[0, :4], P[0, :4], equal_nan=True), "runs of one and two frames stay as they are"
    seg, run = out[0, 5:8], P[0, 5:8]                  # a run of 3 frames: near its own values
    half = (run.max(0) - run.min(0)) / 2
    assert (seg >= run.min(0) - half).all() and (seg <= run.max(0) + half).all()


def test_valid_runs_group_joints_synthetic():
    valid = np.array([[[1, 1], [1, 1], [0, 1], [1, 1]]], bool)             # (1, T=4, V=2)
    runs = {k: v.tolist() for k, v in valid_runs(valid).items()}
    assert runs == {(0, 0, 2): [0], (0, 3, 4): [0], (0, 0, 4): [1]}


def test_one_euro_is_symmetric_in_time_synthetic():
    rng = np.random.default_rng(2)
    P = np.cumsum(rng.normal(0, 1, (1, 50, 3, 2)), axis=1)
    ok = np.ones(P.shape[:3], bool)
    fwd = one_euro(P, ok, 30.0, 0.7, 0.2)
    rev = one_euro(P[:, ::-1], ok, 30.0, 0.7, 0.2)[:, ::-1]
    assert np.allclose(fwd, rev)
