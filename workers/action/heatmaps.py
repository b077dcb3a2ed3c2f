"""PoseConv3D's pseudo heatmap volumes from (x, y, score) skeletons (torch, vectorised, on the input's device).

Contract (pyskl's test/val pipeline UniformSampleFrames -> PoseCompact -> Resize -> GeneratePoseTarget, with
the differences noted):
- Skeletons are (M, T, V, 3) per clip or (N, M, T, V, 3) batched, channels (x, y, score) with x, y in pixels;
  a joint is *missing* where its score is not > 0 (or any of its values is not finite). With only 2 channels,
  a joint is missing where both coordinates are exactly 0 and present with score 1 otherwise.
  `nctvm_to_nmtvc` turns `workers.data.dataset` items (C, T, V, M) / batches (N, C, T, V, M) into that order.
- `uniform_sample_indices(T, clip_len)`: one frame per segment. For T >= clip_len the segments are pyskl's
  integer ones, [i*T//L, (i+1)*T//L), so indices are strictly increasing and never repeat; for T < clip_len a
  segment is the fraction [i*T/L, (i+1)*T/L) of the clip and the frame holding the chosen point is taken (each
  frame repeats about L/T times, in order; pyskl loops the clip instead). Test mode takes the segment's centre
  (deterministic); train mode a uniform random offset from `generator` (seeded -> reproducible), drawn per clip.
- `compact_crop`: the box of all valid joints of a clip over its sampled frames and persons, each side first
  widened to at least `min_size` (input units; pyskl's threshold of 10 px, below which it skips the crop),
  expanded by `padding` (0.25) around its centre, made `hw_ratio` (height / width, 1 = square) by growing the
  shorter side, then mapped onto the H x W grid (56 x 56): the box [x0, x1] goes to [-0.5, W - 0.5] (pixel
  centres at 0 .. W-1, so the box centre lands on the grid centre). With padding 0.25 every valid joint lies in
  [0.1 W - 0.5, 0.9 W - 0.5]. Coordinates are transformed; no image is resampled.
- `joint_heatmaps`: J_k(i, j) = exp(-((i - x_k)^2 + (j - y_k)^2) / (2 sigma^2)) * c_k on the full grid (i the
  column, j the row; pyskl truncates the Gaussian to a 3 sigma window, where it is < 0.012 of its peak), max
  over persons -> (N, V, T, H, W).
- `limb_heatmaps`: L_e(i, j) = exp(-d((i, j), [p_a, p_b])^2 / (2 sigma^2)) * min(c_a, c_b), d the distance to
  the segment (to p_a when a and b coincide), max over persons, one channel per edge (a, b) -> (N, E, T, H, W).
- `pseudo_heatmaps(skeleton, mode="joint" | "limb", edges, clip_len=48, size=56, sigma=0.6, train=False, ...)`:
  sampling + crop + heatmaps in one call; (N, C, clip_len, H, W) float32 for a batch, (C, clip_len, H, W) for
  one clip (`clip_len=None` keeps every frame). numpy input is rendered on the CPU. Work is done in blocks of
  frames so temporaries stay near `max_elements` floats (default 2^20 on a CPU, 2^26 on a GPU). Values at or
  below exp(-40) ~ 4.2e-18 (for c = 1: more than 5.4 px from the joint or limb at sigma 0.6) are exactly 0:
  CPUs are slow at exp() of very negative arguments, and such values are far below any precision that matters.
- `reference_heatmaps`: the same for one clip as naive Python loops over frames, persons and joints/limbs
  (numpy float64); for tests and `benchmarks/heatmaps.py` only.
"""
from __future__ import annotations

import math
from typing import Optional, Sequence, Union

import numpy as np
import torch

Size = Union[int, tuple[int, int]]


def _hw(size: Size) -> tuple[int, int]:
    return (size, size) if isinstance(size, int) else (int(size[0]), int(size[1]))


def nctvm_to_nmtvc(x):
    """(C, T, V, M) -> (M, T, V, C), or (N, C, T, V, M) -> (N, M, T, V, C); numpy arrays or torch tensors."""
    if x.ndim == 4:
        perm = (3, 1, 2, 0)
    elif x.ndim == 5:
        perm = (0, 4, 2, 3, 1)
    else:
        raise ValueError(f"expected (C, T, V, M) or (N, C, T, V, M), got shape {tuple(x.shape)}")
    return x.permute(*perm) if isinstance(x, torch.Tensor) else np.transpose(x, perm)


def uniform_sample_indices(num_frames: int, clip_len: int = 48, train: bool = False,
                           generator: Optional[torch.Generator] = None, num_clips: int = 1,
                           device: Union[str, torch.device, None] = None) -> torch.Tensor:
    """(num_clips, clip_len) int64 frame indices in [0, num_frames); see the module docstring."""
    if num_frames < 1 or clip_len < 1:
        raise ValueError("num_frames and clip_len must be >= 1")
    T, L = num_frames, clip_len
    i = torch.arange(L, dtype=torch.float64)
    if train:
        u = torch.rand((num_clips, L), generator=generator, dtype=torch.float64)
    else:
        u = torch.full((num_clips, L), 0.5, dtype=torch.float64)
    if T >= L:
        start = torch.arange(L) * T // L
        length = torch.arange(1, L + 1) * T // L - start
        idx = start + (u * length).floor().long()
    else:
        idx = ((i + u) * T / L).floor().long()
    return idx.clamp_(0, T - 1).to(device)


def _split_skeleton(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(..., C>=2) -> (xy (..., 2) with missing joints at 0, score (...) with missing joints at 0)."""
    xy = x[..., :2]
    if x.shape[-1] >= 3:
        score = x[..., 2]
    else:
        score = (xy != 0).any(-1).to(x.dtype)
    ok = torch.isfinite(xy).all(-1) & torch.isfinite(score) & (score > 0)
    return torch.where(ok[..., None], xy, 0.0), torch.where(ok, score, 0.0)


def compact_crop(xy: torch.Tensor, score: torch.Tensor, size: Size = 56, padding: float = 0.25,
                 hw_ratio: Optional[float] = 1.0, min_size: float = 10.0) -> torch.Tensor:
    """xy (..., M, T, V, 2), score (..., M, T, V) -> xy in heatmap pixels of the clip's padded joint box."""
    H, W = _hw(size)
    valid = (score > 0)[..., None]
    inf = torch.tensor(float("inf"), dtype=xy.dtype, device=xy.device)
    lo = torch.where(valid, xy, inf).amin(dim=(-4, -3, -2))
    hi = torch.where(valid, xy, -inf).amax(dim=(-4, -3, -2))
    found = valid.flatten(-4, -2).any(-2)
    lo, hi = torch.where(found, lo, 0.0), torch.where(found, hi, 0.0)
    center = (lo + hi) / 2
    half = (hi - lo).clamp_min(min_size) / 2 * (1 + padding)
    if hw_ratio is not None:
        hw, hh = half.unbind(-1)
        hh = torch.maximum(hw_ratio * hw, hh)
        hw = torch.maximum(hh / hw_ratio, hw)
        half = torch.stack([hw, hh], -1)
    half = half.clamp_min(1e-6)
    scale = torch.tensor([W, H], dtype=xy.dtype, device=xy.device) / (2 * half)
    origin = (center - half)[..., None, None, None, :]
    return (xy - origin) * scale[..., None, None, None, :] - 0.5


# exp() of arguments below about -87 (results under float32's normal range) takes a ~25x slower path on CPUs.
# Every value whose exponent (log c included) is at or below ARG_MIN is therefore exactly 0: arguments are
# clamped at ARG_MIN (joints: each separable half, so their sum stays >= 2 ARG_MIN) and results at or below
# FLUSH = exp(ARG_MIN) ~ 4.2e-18 are set to 0, which is exact for every value above FLUSH.
ARG_MIN = -40.0
FLUSH = math.exp(ARG_MIN) * (1 + 1e-5)


def _log_score(score: torch.Tensor) -> torch.Tensor:
    """log(c), with -inf (-> heat 0) for missing joints."""
    return torch.where(score > 0, score, 1.0).log().masked_fill_(score <= 0, float("-inf"))


def _max_over_persons(arg: torch.Tensor) -> torch.Tensor:
    """(n, M, ...) -> (n, ...): running in-place maximum into person 0 (no -inf fill, no new tensor)."""
    acc = arg[:, 0]
    for m in range(1, arg.shape[1]):
        torch.maximum(acc, arg[:, m], out=acc)
    return acc


def _joint_chunk(xy: torch.Tensor, score: torch.Tensor, H: int, W: int, sigma: float, *_) -> torch.Tensor:
    """xy (n, M, V, t, 2), score (n, M, V, t) -> exponents (n, V, t, H, W) of the joint heatmaps.

    Log domain: c exp(a + b) = exp(a + b + log c), and the max over persons commutes with exp, so the full
    grid costs one add and one max over persons per pixel before the single exp.
    """
    g = -0.5 / sigma ** 2
    xs = torch.arange(W, dtype=xy.dtype, device=xy.device)
    ys = torch.arange(H, dtype=xy.dtype, device=xy.device)
    ax = (xs - xy[..., 0:1]).square_().mul_(g).clamp_(min=ARG_MIN)                          # (n, M, V, t, W)
    ay = (ys - xy[..., 1:2]).square_().mul_(g).add_(_log_score(score)[..., None]).clamp_(min=ARG_MIN)
    arg = ay[..., :, None] + ax[..., None, :]                                                # (n, M, V, t, H, W)
    return _max_over_persons(arg)


def _limb_chunk(xy: torch.Tensor, score: torch.Tensor, H: int, W: int, sigma: float,
                ea: torch.Tensor, eb: torch.Tensor) -> torch.Tensor:
    """xy (n, M, V, t, 2), score (n, M, V, t), edges ea/eb (E,) -> exponents (n, E, t, H, W) of the limbs.

    In the segment's frame (unit direction u along b - a, length L): s = (p - a) . u and q = (p - a) x u are
    each a sum of a row and a column term, and the squared distance to the segment is
    q^2 + (s - clamp(s, 0, L))^2 (for a == b, u = (1, 0) and L = 0: the distance to a). min(c_a, c_b) enters as
    + log c before the max over persons.
    """
    g = -0.5 / sigma ** 2
    a, b = xy[:, :, ea], xy[:, :, eb]                                           # (n, M, E, t, 2)
    logc = _log_score(torch.minimum(score[:, :, ea], score[:, :, eb]))[..., None, None]
    d = b - a
    length = d.norm(dim=-1, keepdim=True)
    degenerate = length <= 1e-6
    u = torch.where(degenerate, torch.tensor([1.0, 0.0], dtype=xy.dtype, device=xy.device), d / length)
    length = torch.where(degenerate, 0.0, length)[..., None]                   # (n, M, E, t, 1, 1)
    px = torch.arange(W, dtype=xy.dtype, device=xy.device) - a[..., 0:1]       # (n, M, E, t, W)
    py = torch.arange(H, dtype=xy.dtype, device=xy.device) - a[..., 1:2]       # (n, M, E, t, H)
    ux, uy = u[..., 0:1], u[..., 1:2]
    s = (py * uy)[..., :, None] + (px * ux)[..., None, :]                       # (n, M, E, t, H, W)
    q = (py * -ux)[..., :, None] + (px * uy)[..., None, :]
    s.sub_(torch.minimum(s, length).clamp_(min=0.0))                           # s - clamp(s, 0, L)
    arg = torch.addcmul(logc, q, q, value=g, out=q).addcmul_(s, s, value=g)
    return _max_over_persons(arg).clamp_(min=ARG_MIN)


def _render(xy: torch.Tensor, score: torch.Tensor, size: Size, sigma: float, channels: int, chunk_fn,
            extra=(), max_elements: Optional[int] = None) -> torch.Tensor:
    """xy (N, M, T, V, 2), score (N, M, T, V) -> (N, channels, T, H, W), rendered in bounded blocks of frames
    (whole clips, or part of one clip), each exponentiated straight into its place in the output. The chunk
    functions see (n, M, V, t) so that their max over persons comes out in the output's (n, C, t, H, W) order."""
    H, W = _hw(size)
    N, M, T, V = score.shape
    xy_v = xy.permute(0, 1, 3, 2, 4)                                            # (N, M, V, T, 2)
    s_v = score.permute(0, 1, 3, 2)
    out = torch.empty((N, channels, T, H, W), dtype=xy.dtype, device=xy.device)
    if max_elements is None:                   # small blocks stay in cache on a CPU; big ones keep a GPU busy
        max_elements = 1 << (20 if xy.device.type == "cpu" else 26)
    frames = max(1, max_elements // max(1, M * channels * H * W))
    if frames >= T:
        blocks = [(n, min(N, n + frames // T), 0, T) for n in range(0, N, frames // T)]
    else:
        blocks = [(n, n + 1, t, min(T, t + frames)) for n in range(N) for t in range(0, T, frames)]
    for n0, n1, t0, t1 in blocks:
        arg = chunk_fn(xy_v[n0:n1, :, :, t0:t1], s_v[n0:n1, :, :, t0:t1], H, W, sigma, *extra)
        view = out[n0:n1, :, t0:t1]
        torch.nn.functional.threshold_(torch.exp(arg, out=view), FLUSH, 0.0)
    return out


def joint_heatmaps(xy: torch.Tensor, score: torch.Tensor, size: Size = 56, sigma: float = 0.6,
                   max_elements: Optional[int] = None) -> torch.Tensor:
    """xy (N, M, T, V, 2) in heatmap pixels, score (N, M, T, V) -> (N, V, T, H, W), max over persons."""
    return _render(xy, score, size, sigma, score.shape[-1], _joint_chunk, (), max_elements)


def limb_heatmaps(xy: torch.Tensor, score: torch.Tensor, edges: Sequence[tuple[int, int]], size: Size = 56,
                  sigma: float = 0.6, max_elements: Optional[int] = None) -> torch.Tensor:
    """xy (N, M, T, V, 2) in heatmap pixels, score (N, M, T, V), E edges -> (N, E, T, H, W), max over persons."""
    e = torch.as_tensor(np.asarray(edges, dtype=np.int64).reshape(-1, 2), device=xy.device)
    return _render(xy, score, size, sigma, len(e), _limb_chunk, (e[:, 0], e[:, 1]), max_elements)


def pseudo_heatmaps(skeleton, mode: str = "joint", edges: Optional[Sequence[tuple[int, int]]] = None,
                    clip_len: Optional[int] = 48, size: Size = 56, sigma: float = 0.6, train: bool = False,
                    generator: Optional[torch.Generator] = None, padding: float = 0.25,
                    hw_ratio: Optional[float] = 1.0, min_size: float = 10.0,
                    max_elements: Optional[int] = None) -> torch.Tensor:
    """(N, M, T, V, 3) or (M, T, V, 3) skeletons -> (N, C, clip_len, H, W) or (C, clip_len, H, W) heatmaps."""
    if mode not in ("joint", "limb"):
        raise ValueError("mode must be 'joint' or 'limb'")
    if mode == "limb" and not edges:
        raise ValueError("limb heatmaps need the layout's edges")
    x = torch.as_tensor(skeleton)
    single = x.dim() == 4
    if single:
        x = x[None]
    if x.dim() != 5:
        raise ValueError(f"expected (M, T, V, C) or (N, M, T, V, C) skeletons, got shape {tuple(x.shape)}")
    x = x.to(torch.float32)
    N, M, T, V, _ = x.shape
    if clip_len is not None:
        idx = uniform_sample_indices(T, clip_len, train, generator, N if train else 1, x.device)
        if train:
            x = x.gather(2, idx[:, None, :, None, None].expand(N, M, clip_len, V, x.shape[-1]))
        else:
            x = x[:, :, idx[0]]
    xy, score = _split_skeleton(x)
    xy = compact_crop(xy, score, size, padding, hw_ratio, min_size)
    if mode == "joint":
        out = joint_heatmaps(xy, score, size, sigma, max_elements)
    else:
        out = limb_heatmaps(xy, score, edges, size, sigma, max_elements)
    return out[0] if single else out


def reference_heatmaps(skeleton, mode: str = "joint", edges: Optional[Sequence[tuple[int, int]]] = None,
                       clip_len: Optional[int] = 48, size: Size = 56, sigma: float = 0.6, padding: float = 0.25,
                       hw_ratio: Optional[float] = 1.0, min_size: float = 10.0,
                       indices: Optional[Sequence[int]] = None) -> np.ndarray:
    """One clip (M, T, V, 3) -> (C, L, H, W) float64, by explicit loops (test mode, or the given `indices`)."""
    skel = np.asarray(skeleton, dtype=np.float64)
    M, T, V, C = skel.shape
    H, W = _hw(size)
    if indices is None:
        if clip_len is None:
            indices = list(range(T))
        elif T >= clip_len:
            indices = [i * T // clip_len + ((i + 1) * T // clip_len - i * T // clip_len) // 2 for i in range(clip_len)]
        else:
            indices = [(2 * i + 1) * T // (2 * clip_len) for i in range(clip_len)]

    def joint(m, t, v):
        x, y = skel[m, t, v, 0], skel[m, t, v, 1]
        s = skel[m, t, v, 2] if C >= 3 else float(x != 0 or y != 0)
        ok = np.isfinite(x) and np.isfinite(y) and np.isfinite(s) and s > 0
        return (x, y, s) if ok else (0.0, 0.0, 0.0)

    x0 = y0 = np.inf
    x1 = y1 = -np.inf
    for m in range(M):
        for t in indices:
            for v in range(V):
                x, y, s = joint(m, t, v)
                if s > 0:
                    x0, x1, y0, y1 = min(x0, x), max(x1, x), min(y0, y), max(y1, y)
    if x0 == np.inf:
        x0 = x1 = y0 = y1 = 0.0
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    hw = max(x1 - x0, min_size) / 2 * (1 + padding)
    hh = max(y1 - y0, min_size) / 2 * (1 + padding)
    if hw_ratio is not None:
        hh = max(hw_ratio * hw, hh)
        hw = max(hh / hw_ratio, hw)
    hw, hh = max(hw, 1e-6), max(hh, 1e-6)

    xs = np.arange(W, dtype=np.float64)[None, :]
    ys = np.arange(H, dtype=np.float64)[:, None]
    channels = V if mode == "joint" else len(edges)
    out = np.zeros((channels, len(indices), H, W))
    for li, t in enumerate(indices):
        for m in range(M):
            pts = []
            for v in range(V):
                x, y, s = joint(m, t, v)
                pts.append(((x - (cx - hw)) * W / (2 * hw) - 0.5, (y - (cy - hh)) * H / (2 * hh) - 0.5, s))
            if mode == "joint":
                for v, (x, y, s) in enumerate(pts):
                    if s <= 0:
                        continue
                    patch = np.exp(-((xs - x) ** 2 + (ys - y) ** 2) / (2 * sigma ** 2)) * s
                    out[v, li] = np.maximum(out[v, li], patch)
            else:
                for e, (a, b) in enumerate(edges):
                    (ax, ay, sa), (bx, by, sb) = pts[a], pts[b]
                    c = min(sa, sb)
                    if c <= 0:
                        continue
                    dx, dy = bx - ax, by - ay
                    l2 = dx * dx + dy * dy
                    tt = np.clip(((xs - ax) * dx + (ys - ay) * dy) / l2, 0, 1) if l2 > 0 else np.zeros((H, W))
                    d2 = (xs - ax - tt * dx) ** 2 + (ys - ay - tt * dy) ** 2
                    out[e, li] = np.maximum(out[e, li], np.exp(-d2 / (2 * sigma ** 2)) * c)
    return out
