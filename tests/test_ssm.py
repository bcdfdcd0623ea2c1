"""The selective scans (chunked PyTorch, compiled CPU loop) match the step-by-step recurrence."""

import pytest
import torch

from napari_temseg.models.ssm import cross_scan, selective_scan, selective_scan_reference


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


def _cross_inputs(batch=2, channels=8, n=4, height=5, width=7, seed=0, delta_shift=-1.0):
    g = torch.Generator().manual_seed(seed)
    length = height * width
    return dict(
        u=torch.randn(batch, channels, length, generator=g),
        dt_raw=torch.randn(batch, 4, channels, length, generator=g) + delta_shift,
        A=-torch.exp(torch.randn(4, channels, n, generator=g)),
        B=torch.randn(batch, 4, n, length, generator=g) * 0.3,
        C=torch.randn(batch, 4, n, length, generator=g) * 0.3,
        skip=torch.randn(4, channels, generator=g),
        bias=torch.randn(4, channels, generator=g) * 0.1,
    ), height


def _cross_reference(u, dt_raw, A, B, C, skip, bias, height):
    """The four scans spelled out: reorder, scan step by step, put back, sum."""
    width = u.shape[-1] // height
    grid = torch.arange(height * width).reshape(height, width)
    y = torch.zeros_like(u)
    for k, order in enumerate([grid.reshape(-1), grid.t().reshape(-1), grid.reshape(-1).flip(0), grid.t().reshape(-1).flip(0)]):
        out = selective_scan_reference(
            u[..., order], dt_raw[:, k][..., order], A[k], B[:, k][..., order], C[:, k][..., order], skip[k],
            delta_bias=bias[k], delta_softplus=True,
        )
        y[..., order] += out
    return y


@pytest.mark.parametrize("method", ["chunked", "compiled"])
@pytest.mark.parametrize(
    "shape",
    [
        dict(height=5, width=7),
        dict(height=16, width=16, n=8, channels=5),
        dict(height=1, width=300, delta_shift=2.0),  # long rows, large steps
        dict(height=40, width=1, delta_shift=-6.0),  # one column, tiny steps
    ],
)
def test_cross_scan_matches_four_reference_scans(method, shape):
    inputs, height = _cross_inputs(**shape)
    ours = cross_scan(**inputs, height=height, method=method)
    exact = _cross_reference(*(v.double() for v in inputs.values()), height)
    assert ours.dtype == torch.float32
    assert (ours.double() - exact).abs().max().item() <= 1e-4


def test_compiled_cross_scan_gradients_match_autograd():
    """CPU training goes through the compiled backward pass (float32): its gradients match
    autograd through the chunked scan in float64 for every input."""
    inputs, height = _cross_inputs(seed=3)
    weights = torch.linspace(-1, 1, inputs["u"].shape[-1], dtype=torch.float64)
    grads = {}
    for method, dtype in (("chunked", torch.float64), ("compiled", torch.float32)):
        leaves = {k: v.to(dtype).requires_grad_() for k, v in inputs.items()}
        y = cross_scan(**leaves, height=height, method=method)
        (y.double() * weights).sum().backward()
        grads[method] = {k: v.grad.double() for k, v in leaves.items()}
    for name in inputs:
        ours, exact = grads["compiled"][name], grads["chunked"][name]
        assert (ours - exact).abs().max().item() <= 1e-4 * max(1.0, exact.abs().max().item()), name


def test_unknown_scan_method_is_refused():
    inputs, height = _cross_inputs()
    with pytest.raises(ValueError, match="method"):
        cross_scan(**inputs, height=height, method="fast")
