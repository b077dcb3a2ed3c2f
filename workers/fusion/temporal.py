"""Temporal clean-up after fusion: short-gap interpolation, then zero-phase smoothing, vectorised over persons
and joints. Arrays are (M, T, V, 2) positions with a (M, T, V) validity mask.

The whole clip is known offline, so the smoothers here are zero-phase (a skeleton must not trail its body):
  - `one_euro`: the One-Euro filter run forward then backward over the forward result (as filtfilt does),
    averaged with backward-then-forward: One-Euro adapts its cutoff to speed, so one order alone is not exactly
    symmetric in time, the average is (reversing the input reverses the output). Each pass uses the cutoffs
    x 1/sqrt(sqrt(2) - 1) so that two passes attenuate by 3 dB at `min_cutoff` (Hz), as set, when at rest;
  - `savgol`: centred Savitzky-Golay (polynomial fits at the ends of a run, `mode="interp"`).
`one_euro_causal` is the plain causal filter (Casiez et al. 2012), the building block of `one_euro`; on its own
it lags the motion by several frames and is kept to measure that (tests/test_temporal.py, benchmarks/lag.py).

Gaps: smoothing runs over each contiguous valid run of a trajectory on its own (after `interpolate_gaps`, the
missing runs left are longer than `refine.max_gap`, or at the ends of the clip), so nothing is smoothed across
them, and a missing value never enters a filter. Run ends are padded by odd reflection (value and slope kept),
so the ends are not pulled towards zero or towards the filter's start value. Runs too short for a filter's
support use a shorter support (Savitzky-Golay: the largest odd window that fits; One-Euro: a shorter pad);
runs of one or two frames stay as they are.
"""
from __future__ import annotations

from collections import defaultdict

import numpy as np

JOINT_CHUNK = 16        # joints per interpolation pass
PASS_FACTOR = 1.0 / np.sqrt(np.sqrt(2.0) - 1.0)   # cutoff per pass so two first-order passes are -3 dB at fc


def interpolate_gaps(P: np.ndarray, valid: np.ndarray, max_gap: int) -> tuple[np.ndarray, np.ndarray]:
    """Linear interpolation inside runs of <= max_gap missing frames bounded by valid frames on both sides.
    Returns (positions, filled mask). Joints are independent: done a chunk of joints at a time (bounded memory
    on long clips)."""
    out, fill = np.empty_like(P), np.zeros(valid.shape, bool)
    for j in range(0, valid.shape[2], JOINT_CHUNK):
        c = slice(j, j + JOINT_CHUNK)
        out[:, :, c], fill[:, :, c] = _interpolate(P[:, :, c], valid[:, :, c], max_gap)
    return out, fill


def _interpolate(P: np.ndarray, valid: np.ndarray, max_gap: int) -> tuple[np.ndarray, np.ndarray]:
    M, T, V = valid.shape
    idx = np.arange(T)[None, :, None]
    prev = np.maximum.accumulate(np.where(valid, idx, -1), axis=1)
    nxt = np.flip(np.minimum.accumulate(np.flip(np.where(valid, idx, T), 1), axis=1), 1)
    gap = nxt - prev - 1
    fill = ~valid & (prev >= 0) & (nxt < T) & (gap <= max_gap)
    p0 = np.take_along_axis(P, np.clip(prev, 0, T - 1)[..., None], 1)
    p1 = np.take_along_axis(P, np.clip(nxt, 0, T - 1)[..., None], 1)
    w = ((idx - prev) / np.maximum(nxt - prev, 1))[..., None]
    out = np.where(fill[..., None], p0 + w * (p1 - p0), P)
    return out, fill


def valid_runs(valid: np.ndarray) -> dict[tuple[int, int, int], np.ndarray]:
    """{(person, start, stop): joints} for every contiguous run of valid frames [start, stop) along axis 1;
    joints sharing the same run are grouped so a filter runs once over them."""
    M, T, V = valid.shape
    edge = np.zeros((M, V, 1), np.int8)
    d = np.diff(np.concatenate([edge, valid.transpose(0, 2, 1).astype(np.int8), edge], axis=2), axis=2)
    m0, v0, t0 = np.nonzero(d == 1)        # ordered by person, joint, time: starts and stops pair up
    t1 = np.nonzero(d == -1)[2]
    groups: dict[tuple[int, int, int], list[int]] = defaultdict(list)
    for m, v, a, b in zip(m0.tolist(), v0.tolist(), t0.tolist(), t1.tolist()):
        groups[(m, a, b)].append(v)
    return {k: np.array(v) for k, v in groups.items()}


MIN_RUN = 3   # frames: two samples cannot tell jitter from motion, so shorter runs stay as they are


def per_run(P: np.ndarray, valid: np.ndarray, fn) -> np.ndarray:
    """Apply `fn` ((L, J, 2) -> (L, J, 2), along axis 0) to every valid run of >= MIN_RUN frames; the rest
    (missing frames, shorter runs) unchanged."""
    out = P.copy()
    for (m, a, b), joints in valid_runs(valid).items():
        if b - a >= MIN_RUN:
            out[m, a:b][:, joints] = fn(P[m, a:b][:, joints])   # (L, J, 2): time first
    return out


def odd_pad(x: np.ndarray, n: int) -> np.ndarray:
    """Extend x along axis 0 by n frames each side, reflected through the end values (keeps value and slope)."""
    n = min(n, len(x) - 1)
    if n <= 0:
        return x
    return np.concatenate([2 * x[:1] - x[n:0:-1], x, 2 * x[-1:] - x[-2:-n - 2:-1]], axis=0)


def one_euro_causal(P: np.ndarray, valid: np.ndarray, fps: float, min_cutoff: float, beta: float,
                    d_cutoff: float = 1.0) -> np.ndarray:
    """Causal One-Euro filter (Casiez et al. 2012) along time; restarts after every missing frame. Lags."""
    def alpha(cutoff):
        tau = 1.0 / (2 * np.pi * cutoff)
        return 1.0 / (1.0 + tau * fps)

    out = P.copy()
    x_prev = P[:, 0].copy()
    dx_prev = np.zeros_like(x_prev)
    ok_prev = valid[:, 0].copy()
    ad = alpha(d_cutoff)
    for t in range(1, P.shape[1]):
        x = P[:, t]
        ok = valid[:, t]
        cont = (ok & ok_prev)[..., None]
        dx = np.where(cont, np.nan_to_num(x - x_prev) * fps, 0.0)
        dx_hat = ad * dx + (1 - ad) * dx_prev
        cutoff = min_cutoff + beta * np.linalg.norm(dx_hat, axis=-1, keepdims=True)
        a = alpha(cutoff)
        x_hat = np.where(cont, a * x + (1 - a) * x_prev, x)
        out[:, t] = np.where(ok[..., None], x_hat, P[:, t])
        x_prev = np.where(ok[..., None], x_hat, x_prev)
        dx_prev = np.where(cont, dx_hat, 0.0)
        ok_prev = ok
    return out


def one_euro(P: np.ndarray, valid: np.ndarray, fps: float, min_cutoff: float, beta: float,
             d_cutoff: float = 1.0) -> np.ndarray:
    """Zero-phase One-Euro over each valid run (odd-padded ends): the mean of forward-then-backward and
    backward-then-forward causal passes, cutoffs scaled by PASS_FACTOR (-3 dB at `min_cutoff` at rest).
    P in body-size units (beta is per body size per second)."""
    c, b = min_cutoff * PASS_FACTOR, beta * PASS_FACTOR
    pad = int(np.ceil(4 * fps / (2 * np.pi * c)))           # ~4 time constants of the slowest pass

    def pass_(x, reverse):
        ok = np.ones((1, *x.shape[:2]), bool)
        y = x[::-1] if reverse else x
        y = one_euro_causal(y[None], ok, fps, c, b, d_cutoff)[0]
        return y[::-1] if reverse else y

    def fb(x):
        xp = odd_pad(x, pad)
        n = (len(xp) - len(x)) // 2
        y = 0.5 * (pass_(pass_(xp, False), True) + pass_(pass_(xp, True), False))
        return y[n:n + len(x)]

    return per_run(P, valid, fb)


def savgol(P: np.ndarray, valid: np.ndarray, window: int, order: int) -> np.ndarray:
    """Centred Savitzky-Golay over each valid run; a run shorter than `window` uses the largest odd window
    that fits it, and one too short for a fit of `order` (window <= order) stays as it is."""
    from scipy.signal import savgol_filter

    def sg(x):
        w = min(window, len(x) - (1 - len(x) % 2))
        w -= 1 - w % 2
        return savgol_filter(x, w, order, axis=0, mode="interp") if w > order else x

    return per_run(P, valid, sg)
