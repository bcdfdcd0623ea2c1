"""The chunked selective scan matches the step-by-step recurrence (float64 reference)."""

import pytest
import torch

from napari_temseg.models.ssm import selective_scan, selective_scan_reference


def _inputs(b, d, n, length, groups, delta_scale, delta_shift=0.0, seed=0):
    g = torch.Generator().manual_seed(seed)
    u = torch.randn(b, d, length, generator=g)
    delta = torch.randn(b, d, length, generator=g) * delta_scale + delta_shift
    A = -torch.exp(torch.randn(d, n, generator=g))
    B = torch.randn(b, groups, n, length, generator=g) * 0.3
    C = torch.randn(b, groups, n, length, generator=g) * 0.3
    D = torch.randn(d, generator=g)
    bias = torch.randn(d, generator=g) * 0.1
    return u, delta, A, B, C, D, bias


@pytest.mark.parametrize(
    "shape, delta_scale, delta_shift",
    [
        ((2, 8, 4, 50, 2), 1.0, 0.0),  # short, grouped B/C
        ((1, 4, 16, 3000, 1), 1.0, 0.0),  # long sequence
        ((1, 4, 8, 1000, 4), 0.5, -6.0),  # tiny steps: slow decay over many chunks
        ((1, 4, 4, 2000, 1), 30.0, 0.0),  # extreme steps: decay of hundreds of e-folds per chunk
        ((1, 3, 4, 37, 1), 1.0, 0.0),  # length not a multiple of the chunk
    ],
)
def test_chunked_scan_matches_recurrence(shape, delta_scale, delta_shift):
    args = _inputs(*shape, delta_scale, delta_shift)
    fast = selective_scan(*args[:6], delta_bias=args[6], delta_softplus=True)
    exact = selective_scan_reference(*(a.double() for a in args[:6]), delta_bias=args[6].double(), delta_softplus=True)
    assert fast.dtype == torch.float32
    assert (fast.double() - exact).abs().max().item() <= 1e-4


def test_no_softplus_no_bias_no_skip():
    u, delta, A, B, C, _, _ = _inputs(1, 2, 3, 40, 1, 0.2, 0.5)
    fast = selective_scan(u, delta.abs(), A, B[:, 0], C[:, 0])  # (B, N, L) shared by all channels
    exact = selective_scan_reference(u.double(), delta.abs().double(), A.double(), B[:, 0].double(), C[:, 0].double())
    assert (fast.double() - exact).abs().max().item() <= 1e-5


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_cpu():
    args = _inputs(1, 4, 8, 500, 1, 1.0)
    cpu = selective_scan(*args[:6], delta_bias=args[6], delta_softplus=True)
    gpu = selective_scan(*(a.cuda() for a in args[:6]), delta_bias=args[6].cuda(), delta_softplus=True)
    assert (gpu.cpu() - cpu).abs().max().item() <= 1e-4
