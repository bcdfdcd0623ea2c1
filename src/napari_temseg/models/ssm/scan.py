"""The selective scan of Mamba/VMamba, as a chunked parallel scan in PyTorch.

For every channel d and state n:
    dt_t  = softplus(delta_t + delta_bias)                  (if delta_softplus)
    h_t   = exp(dt_t * A[d, n]) * h_{t-1} + dt_t * B_t[n] * u_t
    y_t   = sum_n C_t[n] * h_t[n] + D[d] * u_t

Within a chunk of `chunk` steps the recurrence is solved at once from cumulative
sums in log space: with S_t the running sum of dt * A inside the chunk,
h_t = exp(S_t) * h_in + sum_{s<=t} exp(S_t - S_s) * x_s. Every factor
exp(S_t - S_s) with s <= t is at most 1, so any step size (extreme delta
included) stays finite and exact to float32 rounding. Chunks are solved in
parallel, in groups that bound memory; across chunks only the (B, D, N) state
is carried, in a short sequential loop. When the `mamba_ssm` CUDA kernel is
importable and the tensors are on CUDA, it is used instead.

`cross_scan` is SS2D's operation: the selective scan along four orders of an
H x W token grid (rows, columns, both reversed), summed. On CPU it runs as a
compiled loop (`cpu_kernel`, numba) that walks the grid in place; elsewhere it
reorders the tokens and calls `selective_scan`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

try:  # the official CUDA kernel, where it exists
    from mamba_ssm.ops.selective_scan_interface import selective_scan_fn as _cuda_scan
except Exception:  # noqa: BLE001 - any import failure means "not available"
    _cuda_scan = None

try:  # the compiled CPU loop
    from .cpu_kernel import compiled_cross_scan as _cpu_cross_scan
except ImportError:  # numba missing: the chunked scan serves the CPU too
    _cpu_cross_scan = None

METHODS = ("auto", "compiled", "chunked")


def _expand_groups(m: torch.Tensor, channels: int) -> torch.Tensor:
    """(B, G, N, L) grouped B/C -> (B, channels, N, L); (B, N, L) -> shared by all channels."""
    if m.dim() == 3:
        return m[:, None].expand(-1, channels, -1, -1)
    groups = m.shape[1]
    return m.repeat_interleave(channels // groups, dim=1)


def _prepare(u, delta, B, C, delta_bias, delta_softplus):
    """Step sizes and per-channel B, C in the compute dtype (float64 stays float64, else float32)."""
    dtype = torch.float64 if u.dtype == torch.float64 else torch.float32
    dt = delta.to(dtype) + (delta_bias.to(dtype)[None, :, None] if delta_bias is not None else 0.0)
    if delta_softplus:
        dt = F.softplus(dt)
    channels = u.shape[1]
    return dt, _expand_groups(B.to(dtype), channels), _expand_groups(C.to(dtype), channels)


def selective_scan_reference(u, delta, A, B, C, D=None, delta_bias=None, delta_softplus=False):
    """Step-by-step recurrence, for tests: u, delta (B, D, L); A (D, N); B, C (B, G, N, L)."""
    dt, Bx, Cx = _prepare(u, delta, B, C, delta_bias, delta_softplus)
    A, u = A.to(dt.dtype), u.to(dt.dtype)
    b, d, length = u.shape
    h = torch.zeros(b, d, A.shape[1], dtype=dt.dtype)
    ys = []
    for t in range(length):
        h = torch.exp(dt[:, :, t, None] * A) * h + (dt[:, :, t] * u[:, :, t])[..., None] * Bx[..., t]
        ys.append((h * Cx[..., t]).sum(-1))
    y = torch.stack(ys, dim=-1)
    return y + (D.to(dt.dtype)[None, :, None] * u if D is not None else 0.0)


#: Within-chunk decay (in e-folds) up to which the fast form keeps float32 rounding small.
SAFE_RANGE = 10.0


def _pairwise(log_step: torch.Tensor, x: torch.Tensor, budget: int = 1 << 24) -> torch.Tensor:
    """sum_{s<=t} exp(sum_{s<k<=t} log_step_k) x_s for rows of (M, T).

    Each exponent is summed over its own segment (not as a difference of two long
    running sums), so it is exact to rounding however steep the decay; every
    factor is at most 1. `budget` bounds the (T x T) matrix elements per pass.
    """
    m, t = log_step.shape
    later = torch.ones(t, t, dtype=torch.bool, device=x.device).tril(-1)  # k > s
    causal = torch.ones(t, t, dtype=torch.bool, device=x.device).tril()  # s <= t
    out = torch.empty_like(x)
    rows = max(1, budget // (t * t))
    for i in range(0, m, rows):
        steps = log_step[i : i + rows, :, None].expand(-1, t, t) * later  # [k, s]: step k if k > s
        seg = steps.cumsum(1).masked_fill(~causal, float("-inf"))  # [t, s]
        out[i : i + rows] = (torch.exp(seg) * x[i : i + rows, None, :]).sum(-1)
    return out


def _within_chunks(log_step: torch.Tensor, log_decay: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """sum_{s<=t} exp(S_t - S_s) x_s inside each chunk; (..., T) in and out.

    Where a chunk's decay stays within SAFE_RANGE e-folds (the usual case) this is
    exp(S_t) * cumsum(exp(-S_s) x_s); chunks that decay faster (extreme steps) are
    solved pairwise.
    """
    safe = log_decay[..., -1:] > -SAFE_RANGE  # S is non-increasing: the last step is the minimum
    stable = torch.where(safe, log_decay, torch.zeros_like(log_decay))
    out = torch.exp(stable) * torch.cumsum(torch.exp(-stable) * x, dim=-1)
    steep = ~safe[..., 0]
    if steep.any():
        out[steep] = _pairwise(log_step[steep], x[steep])
    return out


def selective_scan(
    u: torch.Tensor,
    delta: torch.Tensor,
    A: torch.Tensor,
    B: torch.Tensor,
    C: torch.Tensor,
    D: torch.Tensor | None = None,
    delta_bias: torch.Tensor | None = None,
    delta_softplus: bool = False,
    chunk: int = 16,
) -> torch.Tensor:
    """y (B, D, L) float32 from u, delta (B, D, L), A (D, N), B, C (B, G, N, L) or (B, N, L), D (D,)."""
    if _cuda_scan is not None and u.is_cuda:
        return _cuda_scan(u, delta, A, B, C, D, z=None, delta_bias=delta_bias, delta_softplus=delta_softplus).float()
    dt, Bx, Cx = _prepare(u, delta, B, C, delta_bias, delta_softplus)
    b, d, length = u.shape
    n = A.shape[1]
    pad = (-length) % chunk
    u_f = u.to(dt.dtype)
    if pad:  # padded steps have dt = 0: no decay, no input, so they change nothing
        dt, Bx, Cx, u_f = (F.pad(v, (0, pad)) for v in (dt, Bx, Cx, u_f))
    chunks = (length + pad) // chunk
    # (B, D, N, chunks, T): log decay within each chunk, and the input each step adds
    log_step = (dt[:, :, None, :] * A.to(dt.dtype)[None, :, :, None]).reshape(b, d, n, chunks, chunk)
    log_decay = log_step.cumsum(-1)
    x = (dt * u_f)[:, :, None, :] * Bx
    x = x.reshape(b, d, n, chunks, chunk)
    h_local = _within_chunks(log_step, log_decay, x)  # state from this chunk's inputs alone
    # carry the state across chunks: h_in[c] = exp(total decay of c-1) * h_in[c-1] + h_local[c-1, last]
    total = torch.exp(log_decay[..., -1])  # (B, D, N, chunks)
    h_in = [torch.zeros(b, d, n, device=u.device, dtype=dt.dtype)]
    for c in range(chunks - 1):
        h_in.append(total[..., c] * h_in[-1] + h_local[..., c, -1])
    carry = torch.stack(h_in, dim=-1)[..., None] * torch.exp(log_decay)  # (B, D, N, chunks, T)
    h = (h_local + carry).reshape(b, d, n, chunks * chunk)
    y = (h * Cx).sum(2)[..., :length]
    return y + (D.to(dt.dtype)[None, :, None] * u_f[..., :length] if D is not None else 0.0)


def scan_orders(height: int, width: int, device=None) -> torch.Tensor:
    """(4, H*W) row-major token index of each step in the four scan orders."""
    grid = torch.arange(height * width, device=device).reshape(height, width)
    rows, cols = grid.reshape(-1), grid.t().reshape(-1)
    return torch.stack([rows, cols, rows.flip(0), cols.flip(0)])


def cross_scan(
    u: torch.Tensor,
    dt_raw: torch.Tensor,
    A: torch.Tensor,
    B: torch.Tensor,
    C: torch.Tensor,
    skip: torch.Tensor,
    bias: torch.Tensor,
    height: int,
    method: str = "auto",
) -> torch.Tensor:
    """Sum of the selective scans along the four orders of a (height, L / height) token grid.

    Tokens in row-major order: u (batch, D, L); dt_raw (batch, 4, D, L) before bias and
    softplus; A (4, D, N); B, C (batch, 4, N, L); skip, bias (4, D). Returns y (batch, D, L)
    in float32. `method`: "auto" (the compiled loop for CPU tensors when numba is
    installed), "compiled", or "chunked" (reorders tokens and runs `selective_scan`).
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, not {method!r}")
    usable = _cpu_cross_scan is not None and not u.is_cuda
    if method == "compiled" and not usable:
        raise RuntimeError("the compiled scan needs numba (pip install numba) and CPU tensors")
    batch, channels, length = u.shape
    order = scan_orders(height, length // height, u.device)  # (4, L)
    if method == "compiled" or (method == "auto" and usable):
        dt = F.softplus(dt_raw.float() + bias.float()[None, :, :, None])
        rows = lambda m: m.float().transpose(-1, -2).contiguous()  # noqa: E731 - (batch, 4, L, N)
        return _cpu_cross_scan(u.float(), dt, A.float(), skip.float(), rows(B), rows(C), order)
    orders = A.shape[0]
    along = lambda m: m.gather(-1, order[None, :, None].expand(batch, -1, m.shape[2], -1))  # noqa: E731
    y = selective_scan(
        along(u[:, None].expand(-1, orders, -1, -1)).reshape(batch, -1, length),
        along(dt_raw).reshape(batch, -1, length), A.reshape(-1, A.shape[-1]), along(B), along(C), skip.reshape(-1),
        delta_bias=bias.reshape(-1), delta_softplus=True,
    ).reshape(batch, orders, channels, length)
    out = torch.zeros(batch, channels, length, dtype=y.dtype, device=y.device)
    out.scatter_add_(
        -1, order.reshape(1, 1, -1).expand(batch, channels, -1), y.permute(0, 2, 1, 3).reshape(batch, channels, -1)
    )
    return out.float()
