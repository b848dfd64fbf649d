"""Tiled InfoNCE against the definition.

Ground truth: the loss and its analytic gradient (module docstring of ``kernels/contrastive.py``) evaluated in
numpy ``longdouble`` from the same inputs. Error budgets (flash-attention style): the relative max error of a
tiled path is at most 2× (loss) or 4× (gradients) that of the naive same-precision PyTorch loss, where a
baseline error below one unit roundoff of the dtype counts as one unit roundoff.
"""

import math

import numpy as np
import pytest
import torch

from simrepro.kernels.contrastive import info_nce_reference, peak_allocated_bytes, tiled_info_nce

TAU = 0.3
EPS = {torch.float32: torch.finfo(torch.float32).eps, torch.float64: torch.finfo(torch.float64).eps}


def _logsumexp(x, axis):
    m = x.max(axis=axis, keepdims=True)
    return (m + np.log(np.exp(x - m).sum(axis=axis, keepdims=True))).squeeze(axis)


def ground_truth(q, k, tau, symmetric):
    """(loss, ∂L/∂q, ∂L/∂k) in extended precision from the formulas, independent of torch."""
    ql, kl = q.detach().double().numpy().astype(np.longdouble), k.detach().double().numpy().astype(np.longdouble)
    b = ql.shape[0]
    s = ql @ kl.T / np.longdouble(tau)
    lse_r, lse_c = _logsumexp(s, 1), _logsumexp(s, 0)
    eye = np.eye(b, dtype=np.longdouble)
    loss_r = (lse_r - np.diag(s)).mean()
    g = (np.exp(s - lse_r[:, None]) - eye) / b
    loss = loss_r
    if symmetric:
        loss = 0.5 * (loss_r + (lse_c - np.diag(s)).mean())
        g = 0.5 * (g + (np.exp(s - lse_c[None, :]) - eye) / b)
    return loss, g @ kl / np.longdouble(tau), g.T @ ql / np.longdouble(tau)


def rel_err(x, truth):
    x = np.asarray(x.detach().double().numpy(), dtype=np.longdouble)
    return float(np.abs(x - truth).max() / max(np.abs(truth).max(), np.longdouble(1e-30)))


def loss_and_grads(fn, q, k):
    q, k = q.clone().requires_grad_(), k.clone().requires_grad_()
    loss = fn(q, k)
    loss.backward()
    return loss, q.grad, k.grad


def inputs(b, d, dtype, seed=0):
    g = torch.Generator().manual_seed(seed)
    q = torch.nn.functional.normalize(torch.randn(b, d, generator=g, dtype=torch.float64), dim=1)
    k = torch.nn.functional.normalize(q + 0.5 * torch.randn(b, d, generator=g, dtype=torch.float64), dim=1)
    return q.to(dtype), k.to(dtype)


CASES = [(2, 33), (97, 33), (257, 33), (130, 64)]


@pytest.mark.parametrize("backend,tile_size", [("torch", 16), ("torch", None), ("triton", None)])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("b,d", CASES)
@pytest.mark.parametrize("symmetric", [False, True])
def test_matches_ground_truth_within_baseline_budget(backend, tile_size, dtype, b, d, symmetric):
    q, k = inputs(b, d, dtype, seed=b + d)
    truth = ground_truth(q, k, TAU, symmetric)
    base = loss_and_grads(lambda a, c: info_nce_reference(a, c, TAU, symmetric=symmetric), q, k)
    ours = loss_and_grads(lambda a, c: tiled_info_nce(a, c, TAU, tile_size=tile_size, symmetric=symmetric,
                                                      backend=backend), q, k)
    for name, factor, x, x_base, t in zip(("loss", "dq", "dk"), (2, 4, 4), ours, base, truth):
        assert x.dtype == dtype
        err, err_base = rel_err(x, t), rel_err(x_base, t)
        print(f"{backend} {dtype} b={b} d={d} sym={symmetric} {name}: ours {err:.2e}, pytorch {err_base:.2e}")
        assert err <= factor * max(err_base, EPS[dtype]), name


@pytest.mark.parametrize("backend", ["torch", "triton"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_single_pair_has_zero_loss_and_gradient(backend, dtype):
    q, k = inputs(1, 5, dtype)
    loss, dq, dk = loss_and_grads(lambda a, c: tiled_info_nce(a, c, 0.1, symmetric=True, backend=backend), q, k)
    scale = 4 * EPS[dtype] * 10                       # a few roundoffs of |S_11| ≤ 1/τ = 10
    print(f"b=1 {backend} {dtype}: loss {loss.item():.1e}, |dq| {dq.abs().max():.1e}, |dk| {dk.abs().max():.1e}")
    assert abs(loss.item()) <= scale and dq.abs().max() <= scale and dk.abs().max() <= scale


@pytest.mark.parametrize("backend", ["torch", "triton"])
def test_large_logits_are_stable(backend):
    q, k = inputs(64, 16, torch.float32)
    loss = tiled_info_nce(q * 30, k * 30, 0.01, backend=backend)          # logits up to ±9e4
    ref = info_nce_reference(q.double() * 30, k.double() * 30, 0.01)
    assert math.isfinite(loss.item())
    assert abs(loss.item() - ref.item()) <= 1e-5 * abs(ref.item())


def test_temperature_gradient_matches_reference():
    q, k = inputs(50, 8, torch.float64)
    grads = []
    for fn in (info_nce_reference, tiled_info_nce):
        tau = torch.tensor(0.2, dtype=torch.float64, requires_grad=True)
        fn(q, k, tau, symmetric=True).backward()
        grads.append(tau.grad.item())
    assert grads[0] == pytest.approx(grads[1], rel=1e-10)


def test_numpy_input_and_dtype_promotion():
    q, k = inputs(20, 4, torch.float64)
    ours = tiled_info_nce(q.numpy(), k.float(), TAU)
    assert ours.dtype == torch.float64
    assert ours.item() == pytest.approx(info_nce_reference(q, k.float().double(), TAU).item(), rel=1e-12)


@pytest.mark.parametrize("fn", [tiled_info_nce, info_nce_reference])
def test_bad_input_raises_clear_errors(fn):
    q, k = inputs(8, 4, torch.float32)
    with pytest.raises(ValueError, match="empty"):
        fn(q[:0], k[:0], TAU)
    bad = q.clone()
    bad[3, 1] = float("nan")
    with pytest.raises(ValueError, match="NaN"):
        fn(bad, k, TAU)
    for tau in (0.0, -0.5, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="temperature"):
            fn(q, k, tau)
    with pytest.raises(ValueError, match="rows"):
        fn(q, k[:7], TAU)
    with pytest.raises(ValueError, match="dimension"):
        fn(q, k[:, :3], TAU)


def test_bad_knobs_raise():
    q, k = inputs(8, 4, torch.float32)
    with pytest.raises(ValueError, match="tile_size"):
        tiled_info_nce(q, k, TAU, tile_size=0)
    with pytest.raises(ValueError, match="backend"):
        tiled_info_nce(q, k, TAU, backend="cuda")


def _peak(fn, b, tile=None, d=32):
    q, k = inputs(b, d, torch.float32)
    q.requires_grad_()
    k.requires_grad_()
    kwargs = {} if tile is None else {"tile_size": tile}
    return peak_allocated_bytes(lambda: fn(q, k, TAU, **kwargs).backward())


def test_peak_memory_grows_linearly_for_tiled_and_quadratically_for_naive():
    naive = [_peak(info_nce_reference, b) for b in (512, 2048)]
    tiled = [_peak(tiled_info_nce, b, tile=64) for b in (512, 2048)]
    print(f"naive {naive}, tiled {tiled}")
    assert naive[1] / naive[0] > 12            # O(b²): 16× for 4× the batch
    assert tiled[1] / tiled[0] < 5             # O(b·tile + b·d): 4×
    assert tiled[1] < naive[1] / 10
    assert naive[1] >= 3 * 2048 * 2048 * 4     # logits, log-softmax and their gradient are (b, b)
