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
  one clip (`clip_len=None` keeps every frame). numpy input is rendered on the CPU. Values at or below
  exp(-40) ~ 4.2e-18 (for c = 1: more than 5.4 px from the joint or limb at sigma 0.6) are exactly 0: CPUs are
  slow at exp() of very negative arguments, and such values are far below any precision that matters. So each
  joint or limb of each person only touches the grid's 8 x 8 tiles it reaches (a few of the 49; the test is
  conservative, never dropping a value above 4.2e-18): only those are computed, in batches of tiles, and copied
  into the zeroed output, a second person on the same tile merging in by a maximum. Work goes in blocks of
  whole channel-frames of about `max_elements` output values (default 2^22 on a CPU, 2^26 on a GPU).
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


# Every value whose exponent g d^2 + log c (g = -1 / (2 sigma^2), log c included) is at or below ARG_MIN is
# exactly 0: results at or below FLUSH = exp(ARG_MIN) ~ 4.2e-18 are set to 0 (exact for every value above FLUSH),
# and arguments are clamped at ARG_MIN first (exp() of arguments below about -87, results under float32's
# normal range, takes a ~25x slower path on CPUs). So a joint or limb reaches no farther than
# sqrt((log c - ARG_MIN) / -g) px (5.4 px for c = 1 at sigma 0.6): the grid is cut into tiles of TILE pixels
# and each person's joint or limb is only computed on the tiles it reaches; every other pixel is 0, as it is
# in the full-grid formula after the flush.
ARG_MIN = -40.0
FLUSH = math.exp(ARG_MIN) * (1 + 1e-5)
TILE = (8, 8)                                   # rows, columns


def _log_score(score: torch.Tensor) -> torch.Tensor:
    """log(c), with -inf (-> heat 0) for missing joints."""
    return torch.where(score > 0, score, 1.0).log().masked_fill_(score <= 0, float("-inf"))


def _tile_len(n: int, t: int) -> int:
    """The tile side along an axis of n pixels: the largest divisor of n that is <= t (tiles must not overlap),
    or n itself where that would be under t / 2."""
    d = next(d for d in range(min(t, n), 0, -1) if n % d == 0)
    return d if 2 * d >= min(t, n) else n


def _joint_params(xy: torch.Tensor, score: torch.Tensor) -> torch.Tensor:
    """xy (N, M, T, V, 2), score (N, M, T, V) -> (N*V*T, M, 3): x, y, log c per output channel-frame and person."""
    N, M, T, V = score.shape
    p = torch.cat([xy, _log_score(score)[..., None]], -1)                       # (N, M, T, V, 3)
    return p.permute(0, 3, 2, 1, 4).reshape(N * V * T, M, 3)


def _limb_params(xy: torch.Tensor, score: torch.Tensor, ea: torch.Tensor, eb: torch.Tensor) -> torch.Tensor:
    """-> (N*E*T, M, 6): a_x, a_y, u_x, u_y, L / 2, log min(c_a, c_b) (u the unit direction a -> b, L the
    length; for a == b, u = (1, 0) and L = 0)."""
    a, b = xy[..., ea, :], xy[..., eb, :]                                      # (N, M, T, E, 2)
    logc = _log_score(torch.minimum(score[..., ea], score[..., eb]))[..., None]
    d = b - a
    length = d.norm(dim=-1, keepdim=True)
    degenerate = length <= 1e-6
    u = torch.where(degenerate, torch.tensor([1.0, 0.0], dtype=xy.dtype, device=xy.device), d / length)
    half = torch.where(degenerate, 0.0, length * 0.5)
    p = torch.cat([a, u, half, logc], -1)                                      # (N, M, T, E, 6)
    N, M, T, E, _ = p.shape
    return p.permute(0, 3, 2, 1, 4).reshape(N * E * T, M, 6)


def _joint_near(p: torch.Tensor, cx: torch.Tensor, cy: torch.Tensor, half, reach: torch.Tensor) -> torch.Tensor:
    """p (F, M, 3), tile centres cx (nx,), cy (ny,), tile half-sizes (rows, columns), reach (F, M)
    -> (F, M, ny, nx): whether the box of the tile's pixel centres is within reach of the joint (exact)."""
    dx = ((cx - p[..., 0:1]).abs_() - half[1]).clamp_(min=0.0).square_()
    dy = ((cy - p[..., 1:2]).abs_() - half[0]).clamp_(min=0.0).square_()
    return (dy[..., :, None] + dx[..., None, :]) < reach.square()[..., None, None]


def _joint_prep(p: torch.Tensor, ox: torch.Tensor, oy: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """p (K, 3) of K (tile, person) entries, their tile origins ox, oy (K,) -> (origin - joint) x and y, log c,
    each (K, 1)."""
    return (ox - p[:, 0])[:, None], (oy - p[:, 1])[:, None], p[:, 2:3]


def _joint_tiles(coef: tuple[torch.Tensor, ...], ij: torch.Tensor, g: float, ws: torch.Tensor) -> torch.Tensor:
    """`_joint_prep`'s (K, 1) terms, the pixel offsets in a tile ij = [1, column, row] (3, P), workspace ws
    (2, >= K P) -> g |pixel - joint|^2 + log c (K, P), a view of ws[0]."""
    x0, y0, logc = coef
    K, P = x0.shape[0], ij.shape[1]
    dx = torch.add(ij[1], x0, out=ws[0, :K * P].view(K, P))
    dy = torch.add(ij[2], y0, out=ws[1, :K * P].view(K, P))
    return torch.addcmul(logc, dx, dx, value=g, out=dx).addcmul_(dy, dy, value=g)


def _limb_near(p: torch.Tensor, cx: torch.Tensor, cy: torch.Tensor, half, reach: torch.Tensor) -> torch.Tensor:
    """p (F, M, 6), tile centres, tile half-sizes, reach (F, M) -> (F, M, ny, nx): whether the tile's centre is
    within reach + the tile's half-diagonal of the segment (true for every tile with a pixel within reach)."""
    px, py = cx - p[..., 0:1], cy - p[..., 1:2]                                # (F, M, nx), (F, M, ny)
    ux, uy = p[..., 2:3], p[..., 3:4]
    s = (py * uy)[..., :, None] + (px * ux)[..., None, :]                      # (F, M, ny, nx)
    q = (py * -ux)[..., :, None] + (px * uy)[..., None, :]
    s.sub_(p[..., 4:5, None]).abs_().sub_(p[..., 4:5, None]).clamp_(min=0.0)
    return q.square_().addcmul_(s, s) < (reach + math.hypot(*half)).square_()[..., None, None]


def _limb_prep(p: torch.Tensor, ox: torch.Tensor, oy: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """p (K, 6) of K (tile, person) entries, their tile origins ox, oy (K,) -> the coefficients of s and q below
    on [1, column, row] offsets (K, 3) each, L/2 and log c (K, 1) each.

    In the segment's frame (unit direction u along b - a, half-length L/2), s = (pixel - a) . u - L/2 (along,
    from the middle) and q = (pixel - a) x u (across) are affine in the pixel offsets in a tile, and the squared
    distance to the segment is q^2 + max(|s| - L/2, 0)^2 (for a == b, u = (1, 0) and L = 0: the distance to a).
    """
    px, py = ox - p[:, 0], oy - p[:, 1]                                        # the tile origin - a
    ux, uy, half = p[:, 2], p[:, 3], p[:, 4]
    s = torch.stack([px * ux + py * uy - half, ux, uy], 1)
    q = torch.stack([px * uy - py * ux, uy, -ux], 1)
    return s, q, p[:, 4:5], p[:, 5:6]


def _limb_tiles(coef: tuple[torch.Tensor, ...], ij: torch.Tensor, g: float, ws: torch.Tensor) -> torch.Tensor:
    """`_limb_prep`'s terms, the pixel offsets in a tile ij = [1, column, row] (3, P), workspace ws (2, >= K P)
    -> g d^2 + log c (K, P), a view of ws[1], d the distance to the segment."""
    s_coef, q_coef, half, logc = coef
    K, P = s_coef.shape[0], ij.shape[1]
    # elementwise, not a matrix product: BLAS picks its kernel (and so its rounding, FMA or not) by the number of
    # rows K, which would make a pixel's value depend on how many tiles share its batch (i.e. on the block size)
    s = torch.mul(s_coef[:, 1:2], ij[1], out=ws[0, :K * P].view(K, P)).add_(s_coef[:, 0:1]) \
        .addcmul_(s_coef[:, 2:3], ij[2])
    q = torch.mul(q_coef[:, 1:2], ij[1], out=ws[1, :K * P].view(K, P)).add_(q_coef[:, 0:1]) \
        .addcmul_(q_coef[:, 2:3], ij[2])
    s.abs_().sub_(half).clamp_(min=0.0)                                        # beyond the ends, else 0
    return torch.addcmul(logc, q, q, value=g, out=q).addcmul_(s, s, value=g)


def _empty(numel: int, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """A new 1-D buffer. On a CPU it comes from numpy, which asks Linux for transparent huge pages (madvise) for
    buffers of 4 MB and more; torch's allocator does not (unless THP_MEM_ALLOC_ENABLE=1 is set at startup). A
    batch's heatmaps easily take a GB, and first touching that much memory (the kernel's page faults) costs
    about half as long in 2 MB pages as in 4 kB ones."""
    if device.type == "cpu" and dtype in (torch.float32, torch.float64):
        return torch.from_numpy(np.empty(numel, dtype=np.float32 if dtype == torch.float32 else np.float64))
    return torch.empty(numel, dtype=dtype, device=device)


def _render(p: torch.Tensor, near_fn, prep_fn, tiles_fn, N: int, C: int, T: int, size: Size, sigma: float,
            max_elements: Optional[int] = None, tile: tuple[int, int] = TILE) -> torch.Tensor:
    """Per-(channel-frame, person) parameters p (N*C*T, M, k) -> (N, C, T, H, W) heatmaps, max over persons.

    Blocks of about `max_elements` output values (whole channel-frames): `near_fn` finds the (tile, person)
    entries where the person reaches the tile, `prep_fn` turns the entries of the first person reaching each
    tile into per-entry terms and, in batches of `batch` entries that stay in cache, `tiles_fn` computes the
    exponents of their pixels, which are clamped, exponentiated, flushed and copied into the output (zeroed,
    on a CPU, stretch by stretch just before the copy, to be still in cache); then the second person reaching a
    tile (few tiles) merges in by a maximum, and so on.
    """
    H, W = _hw(size)
    F, M, _ = p.shape
    dtype, device = p.dtype, p.device
    cpu = device.type == "cpu"
    g = -0.5 / sigma ** 2
    th, tw = _tile_len(H, tile[0]), _tile_len(W, tile[1])
    ny, nx, P, HW = H // th, W // tw, th * tw, H * W
    half = ((th - 1) / 2, (tw - 1) / 2)
    cy = torch.arange(ny, dtype=dtype, device=device) * th + half[0]          # tile centres
    cx = torch.arange(nx, dtype=dtype, device=device) * tw + half[1]
    ij = torch.stack([torch.ones(P, dtype=dtype, device=device),
                      torch.arange(tw, dtype=dtype, device=device).repeat(th),
                      torch.arange(th, dtype=dtype, device=device).repeat_interleave(tw)])   # (3, P), row-major
    row_step = torch.arange(th, device=device) * nx
    logc = p[..., -1]
    reach = ((logc - ARG_MIN).clamp(min=0.0) / -g).sqrt_().add_(1e-3)        # (F, M), with a margin
    reach.masked_fill_(logc <= ARG_MIN, math.nan)                              # NaN: reaches no tile
    params = p.reshape(F * M, p.shape[2])
    out = _empty(F * HW, dtype, device)
    rows_of = out.view(-1, tw)                                                 # (F*H*nx, tw): tile rows
    if max_elements is None:
        max_elements = 1 << (22 if cpu else 26)
    fc = max(1, max_elements // HW)                                            # channel-frames per block
    batch = max(1, (1 << (18 if cpu else 26)) // (2 * P))                     # entries per batch
    ws = torch.empty((2, 0), dtype=dtype, device=device)                       # workspace, reused by every batch
    if M == 0:
        return out.zero_().view(N, C, T, H, W)
    for f0 in range(0, F, fc):
        f1 = min(F, f0 + fc)
        cum = near_fn(p[f0:f1], cx, cy, half, reach[f0:f1]).cumsum(1, dtype=torch.int32)   # (Fc, M, ny, nx)
        zeroed = f0
        for r in range(M):
            tiles = (cum[:, -1] > r).view(-1).nonzero().squeeze(1)             # tiles reached by > r persons
            if tiles.numel() == 0:
                break
            m = (cum <= r).sum(1).view(-1).index_select(0, tiles)              # the (r+1)-th of them
            f, ty, tx = tiles // (ny * nx) + f0, tiles // nx % ny, tiles % nx
            coef = prep_fn(params.index_select(0, f * M + m), (tx * tw).to(dtype), (ty * th).to(dtype))
            rows = ((f * H + ty * th) * nx + tx)[:, None] + row_step           # (K, th) tile rows in rows_of
            if ws.shape[1] < min(batch, f.numel()) * P:
                ws = torch.empty((2, min(batch, f.numel()) * P), dtype=dtype, device=device)
            for k0 in range(0, f.numel(), batch):
                vals = tiles_fn([c[k0:k0 + batch] for c in coef], ij, g, ws)  # (K, P)
                torch.nn.functional.threshold_(vals.clamp_(min=ARG_MIN).exp_(), FLUSH, 0.0)
                vals, rows_k = vals.view(-1, tw), rows[k0:k0 + batch].view(-1)
                if r:
                    torch.maximum(vals, rows_of.index_select(0, rows_k), out=vals)
                else:
                    upto = int(f[min(k0 + batch, f.numel()) - 1]) + 1 if cpu else f1   # f is sorted
                    out[zeroed * HW:upto * HW].zero_()
                    zeroed = upto
                rows_of.index_copy_(0, rows_k, vals)
            if r == 0:
                out[zeroed * HW:f1 * HW].zero_()
                zeroed = f1
        out[zeroed * HW:f1 * HW].zero_()                                       # a block that nobody reaches
    return out.view(N, C, T, H, W)


def joint_heatmaps(xy: torch.Tensor, score: torch.Tensor, size: Size = 56, sigma: float = 0.6,
                   max_elements: Optional[int] = None) -> torch.Tensor:
    """xy (N, M, T, V, 2) in heatmap pixels, score (N, M, T, V) -> (N, V, T, H, W), max over persons."""
    N, M, T, V = score.shape
    return _render(_joint_params(xy, score), _joint_near, _joint_prep, _joint_tiles, N, V, T, size, sigma,
                   max_elements)


def limb_heatmaps(xy: torch.Tensor, score: torch.Tensor, edges: Sequence[tuple[int, int]], size: Size = 56,
                  sigma: float = 0.6, max_elements: Optional[int] = None) -> torch.Tensor:
    """xy (N, M, T, V, 2) in heatmap pixels, score (N, M, T, V), E edges -> (N, E, T, H, W), max over persons."""
    e = torch.as_tensor(np.asarray(edges, dtype=np.int64).reshape(-1, 2), device=xy.device)
    N, M, T, _ = score.shape
    return _render(_limb_params(xy, score, e[:, 0], e[:, 1]), _limb_near, _limb_prep, _limb_tiles, N, len(e), T,
                   size, sigma, max_elements)


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
