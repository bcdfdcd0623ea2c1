"""SS2D's four-order selective scan as a compiled CPU loop (numba), forward and backward.

The recurrence costs a few multiply-adds and one exponential per (channel,
state, step). Done step by step in compiled code it reads each input once and
never builds the (batch, channel, state, length) tensors that a scan written in
PyTorch operations writes and reads several times; walking the token grid in
each scan order by index also saves the reordered copies of the input and the
flips of the outputs (the orders are `scan.scan_orders`, the same table the
chunked scan gathers with). The exponential is written in plain arithmetic
(`fast_exp`, a few float32 ulps), three times faster than the library call.
Channels run in parallel threads. The backward pass recomputes one channel's
states at a time and walks the recurrence in reverse.

Layouts (tokens in row-major order of the H x W grid, L = H * W, K = 4 orders,
everything float32): u (batch, D, L); dt (batch, K, D, L), the step after bias
and softplus (autograd handles those in PyTorch); A (K, D, N); skip (K, D);
B, C (batch, K, L, N); orders (K, L), the row-major token of each step. Output
y (batch, D, L): the sum of the K scans.
"""

from __future__ import annotations

import numba as nb
import numpy as np
import torch
from llvmlite import ir
from numba import types
from numba.extending import intrinsic

_LOG2E = np.float32(1.4426950408889634)
_LN2_HI = np.float32(0.693359375)  # Cody-Waite split of ln 2: k * _LN2_HI is exact
_LN2_LO = np.float32(-2.12194440e-4)
_MIN_EXPONENT = np.float32(-87.0)  # exp below this is under float32's normal range: clamp


@intrinsic
def _float_from_bits(typingctx, bits):  # pragma: no cover - compiled
    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.FloatType())

    return types.float32(types.int32), codegen


@nb.njit(inline="always", fastmath=True)
def fast_exp(x):  # pragma: no cover - compiled
    """exp(x) for float32 x <= 0 within a few float32 ulps (x < -87 gives about 1.6e-38)."""
    x = x if x > _MIN_EXPONENT else _MIN_EXPONENT
    ki = np.int32(x * _LOG2E - np.float32(0.5))  # nearest integer (x <= 0: truncation rounds up)
    k = np.float32(ki)
    r = (x - k * _LN2_HI) - k * _LN2_LO  # |r| <= ln(2) / 2: degree 7 is exact to float32
    p = np.float32(1 / 5040) * r + np.float32(1 / 720)
    p = p * r + np.float32(1 / 120)
    p = p * r + np.float32(1 / 24)
    p = p * r + np.float32(1 / 6)
    p = p * r + np.float32(0.5)
    p = p * r + np.float32(1.0)
    p = p * r + np.float32(1.0)
    return p * _float_from_bits((ki + np.int32(127)) << np.int32(23))


@nb.njit(parallel=True, fastmath=True, cache=True)
def _forward(u, dt, A, skip, B, C, orders, y):  # pragma: no cover - compiled
    batch, channels, length = u.shape
    n_state = A.shape[2]
    for k in range(orders.shape[0]):  # orders in sequence: a thread's channels share B, C of one order in cache
        tokens = orders[k]
        for job in nb.prange(batch * channels):
            b, d = job // channels, job % channels
            a = A[k, d]
            h = np.zeros(n_state, dtype=np.float32)
            for t in range(length):
                p = tokens[t]
                x, step = u[b, d, p], dt[b, k, d, p]
                du = step * x
                acc = skip[k, d] * x
                for n in range(n_state):
                    h[n] = fast_exp(step * a[n]) * h[n] + du * B[b, k, p, n]
                    acc += h[n] * C[b, k, p, n]
                y[b, d, p] += acc


@nb.njit(parallel=True, fastmath=True, cache=True)
def _backward(u, dt, A, skip, B, C, orders, gy, du, ddt, dA, dskip, dB, dC):  # pragma: no cover - compiled
    """One job per (batch, order): it owns dB/dC of that order and every per-order output,
    so threads never share a write; the caller sums du over orders and dA/dskip over batch."""
    batch, channels, length = u.shape
    n_orders, n_state = orders.shape[0], A.shape[2]
    for job in nb.prange(batch * n_orders):
        b, k = job // n_orders, job % n_orders
        tokens = orders[k]
        hs = np.empty((length + 1, n_state), dtype=np.float32)  # hs[t + 1]: state after step t
        gh = np.empty(n_state, dtype=np.float32)
        for d in range(channels):
            a = A[k, d]
            hs[0] = 0.0
            for t in range(length):  # recompute this channel's states in scan order
                p = tokens[t]
                step = dt[b, k, d, p]
                du_in = step * u[b, d, p]
                for n in range(n_state):
                    hs[t + 1, n] = fast_exp(step * a[n]) * hs[t, n] + du_in * B[b, k, p, n]
            gh[:] = 0.0
            for t in range(length - 1, -1, -1):
                p = tokens[t]
                x, g_out, step = u[b, d, p], gy[b, d, p], dt[b, k, d, p]
                g_step, g_x = np.float32(0.0), g_out * skip[k, d]
                dskip[b, k, d] += g_out * x
                for n in range(n_state):
                    decay = fast_exp(step * a[n])
                    dC[b, k, p, n] += g_out * hs[t + 1, n]
                    total = gh[n] + g_out * C[b, k, p, n]  # dLoss/dh_t
                    g_decay = total * hs[t, n] * decay
                    g_step += g_decay * a[n] + total * x * B[b, k, p, n]
                    dA[b, k, d, n] += g_decay * step
                    g_x += total * step * B[b, k, p, n]
                    dB[b, k, p, n] += total * step * x
                    gh[n] = total * decay
                du[b, k, d, p] = g_x
                ddt[b, k, d, p] = g_step


def _numpy(t: torch.Tensor) -> np.ndarray:
    return t.detach().contiguous().numpy()


class CompiledCrossScan(torch.autograd.Function):
    """y = sum over the four scan orders of the selective scan; gradients for every input."""

    @staticmethod
    def forward(ctx, u, dt, A, skip, B, C, orders):  # noqa: D102
        y = torch.zeros_like(u)
        _forward(*(_numpy(v) for v in (u, dt, A, skip, B, C, orders)), y.numpy())
        ctx.save_for_backward(u, dt, A, skip, B, C, orders)
        return y

    @staticmethod
    def backward(ctx, gy):  # noqa: D102
        u, dt, A, skip, B, C, orders = ctx.saved_tensors
        batch = u.shape[0]
        du, ddt = torch.empty_like(dt), torch.empty_like(dt)
        dA, dskip = torch.zeros(batch, *A.shape), torch.zeros(batch, *skip.shape)
        dB, dC = torch.zeros_like(B), torch.zeros_like(C)
        grads = (du, ddt, dA, dskip, dB, dC)
        _backward(*(_numpy(v) for v in (u, dt, A, skip, B, C, orders, gy)), *(g.numpy() for g in grads))
        return du.sum(1), ddt, dA.sum(0), dskip.sum(0), dB, dC, None


def compiled_cross_scan(u, dt, A, skip, B, C, orders: torch.Tensor) -> torch.Tensor:
    """float32 CPU tensors laid out as the module docstring says; `orders` (K, L) int64."""
    nb.set_num_threads(max(1, min(torch.get_num_threads(), nb.config.NUMBA_NUM_THREADS)))
    return CompiledCrossScan.apply(u, dt, A, skip, B, C, orders)
