"""ESSA: the spectral correlation coefficient against numpy, the official ESSA maps against their element-wise
definition, the linear path against the explicit per-channel-SCC form (2), the exact Taylor SCC kernel against the
formed SCC matrix, invariances, masks, irregular shapes and bad input."""

import math

import numpy as np
import pytest
import torch

from simrepro.kernels.attention import softmax_attention
from simrepro.methods.attention.essa import (centred_unit, essa_attention, essa_attention_reference,
                                             essa_key_features, essa_query_features, scc_kernel_attention,
                                             scc_kernel_attention_reference, scc_matrix, scc_taylor_features)

D = torch.float64


def _rand(*shape, seed=0, scale=1.0, shift=0.0):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=D) * scale + shift


def _rel(a, b):
    err = float((a - b).abs().max() / b.abs().max())
    print(f"max rel err {err:.2e}")
    return err


def test_scc_equals_numpy_corrcoef_on_irregular_shapes():
    x, y = _rand(7, 5, seed=1), _rand(13, 5, seed=2, shift=3.0)
    ref = np.corrcoef(x.numpy(), y.numpy())[:7, 7:]
    got = scc_matrix(x, y).numpy()
    print(np.abs(got - ref).max())
    assert got.shape == (7, 13)
    np.testing.assert_allclose(got, ref, atol=1e-13)
    np.testing.assert_allclose(scc_matrix(x).numpy(), np.corrcoef(x.numpy()), atol=1e-13)


def test_scc_bounds_and_per_token_affine_invariance():
    x, y = _rand(9, 6, seed=3), _rand(4, 6, seed=4)
    s = scc_matrix(x, y)
    assert float(s.abs().max()) <= 1.0 + 1e-12
    a, b = _rand(9, 1, seed=5).abs() + 0.1, _rand(9, 1, seed=6, scale=10.0)
    c, d = _rand(4, 1, seed=7).abs() * 100 + 1e-3, _rand(4, 1, seed=8)
    assert torch.allclose(scc_matrix(a * x + b, c * y + d), s, atol=1e-12, rtol=0)
    assert torch.allclose(scc_matrix(-x, y), -s, atol=1e-12, rtol=0)          # a negative gain flips the sign


def test_constant_tokens_have_no_shape():
    x = _rand(3, 5, seed=9)
    x[1] = 2.5
    s = scc_matrix(x)
    assert torch.equal(centred_unit(x)[1], torch.zeros(5, dtype=D))
    assert float(s[1].abs().max()) == 0.0 and float(s[:, 1].abs().max()) == 0.0
    assert float(s[0, 0]) == pytest.approx(1.0, abs=1e-14)
    assert torch.equal(centred_unit(torch.zeros(2, 4)), torch.zeros(2, 4))
    tiny = _rand(2, 6, seed=10, scale=1e-9, shift=1e-6).float()                 # small but not constant
    assert torch.allclose(centred_unit(tiny).norm(dim=-1), torch.ones(2), atol=1e-5)


def test_scc_bad_input():
    with pytest.raises(ValueError, match="d ≥ 2"):
        scc_matrix(torch.ones(3, 1))
    with pytest.raises(ValueError, match="NaN"):
        scc_matrix(torch.tensor([[1.0, float("nan")], [0.0, 1.0]]))
    with pytest.raises(ValueError, match="tokens"):
        scc_matrix(torch.ones(4))


def test_essa_features_against_the_elementwise_definition():
    q, k = _rand(5, 4, seed=11), _rand(6, 4, seed=12)
    fq, fk = essa_query_features(q, eps=0.0), essa_key_features(k, eps=0.0)
    u = [[(float(q[i, c]) - float(q[i].mean())) for c in range(4)] for i in range(5)]
    w = [[(float(k[j, c]) - float(k[j].mean())) for c in range(4)] for j in range(6)]
    for i in range(5):
        sq = [t * t / sum(z * z for z in u[i]) for t in u[i]]
        n = math.sqrt(sum(t * t for t in sq))
        for c in range(4):
            assert float(fq[i, c]) == pytest.approx(sq[c] / n, rel=1e-12)
    wsq = [[t * t / sum(z * z for z in w[j]) for t in w[j]] for j in range(6)]
    for c in range(4):
        n = math.sqrt(sum(wsq[j][c] ** 2 for j in range(6)))
        for j in range(6):
            assert float(fk[j, c]) == pytest.approx(wsq[j][c] / n, rel=1e-12)


@pytest.mark.parametrize("shape", [(2, 3, 19, 6), (1, 1, 1, 2), (3, 2, 37, 9)])
def test_essa_linear_path_equals_explicit_form(shape):
    q, k, v = (_rand(*shape, seed=s) for s in (20, 21, 22))
    assert _rel(essa_attention(q, k, v), essa_attention_reference(q, k, v)) <= 1e-12
    assert _rel(essa_attention(q, k, v, residual=False), essa_attention_reference(q, k, v, residual=False)) <= 1e-12


def test_essa_cross_attention_and_float32_budget():
    q, k, v = _rand(2, 1, 11, 5, seed=23), _rand(2, 1, 29, 5, seed=24), _rand(2, 1, 29, 3, seed=25)
    ref = essa_attention_reference(q, k, v, residual=False)
    assert ref.shape == (2, 1, 11, 3)
    assert _rel(essa_attention(q, k, v, residual=False), ref) <= 1e-12
    q32, k32, v32 = q.float(), k.float(), v.float()
    err32 = _rel(essa_attention(q32, k32, v32, residual=False).double(), ref)
    base32 = _rel(essa_attention_reference(q32, k32, v32, residual=False).double(), ref)
    assert err32 <= 4 * base32 + 1e-6                                           # float32 path vs float32 baseline


def test_essa_explicit_form_is_built_from_scc_terms():
    # the per-channel products summed over channels give SCC: the reference's kernel is a function of those terms
    q, k = _rand(4, 6, seed=26), _rand(5, 6, seed=27)
    u, w = centred_unit(q), centred_unit(k)
    assert torch.allclose((u[:, None, :] * w[None, :, :]).sum(-1), scc_matrix(q, k), atol=1e-14)


def test_essa_invariant_to_per_token_affine_maps_softmax_is_not():
    q, k, v = (_rand(1, 2, 23, 7, seed=s) for s in (30, 31, 32))
    a = _rand(1, 2, 23, 1, seed=33)                                            # any sign: squares remove it
    a = torch.where(a.abs() < 0.1, torch.full_like(a, 0.5), a)
    b = _rand(1, 2, 23, 1, seed=34, scale=5.0)
    c, d = _rand(1, 2, 23, 1, seed=35).abs() + 0.2, _rand(1, 2, 23, 1, seed=36)
    base = essa_attention(q, k, v, eps=0.0)
    moved = essa_attention(a * q + b, c * k + d, v, eps=0.0)
    assert _rel(moved, base) <= 1e-12
    assert _rel(essa_attention(a * q + b, c * k + d, v), essa_attention(q, k, v)) <= 1e-6   # official eps = 1e-7
    assert _rel(softmax_attention(a * q + b, c * k + d, v), softmax_attention(q, k, v)) > 1e-2


def test_essa_constant_token_gets_only_the_residual():
    q, k, v = (_rand(1, 1, 8, 4, seed=s) for s in (40, 41, 42))
    q[0, 0, 3] = 1.7
    out = essa_attention(q, k, v)
    assert torch.allclose(out[0, 0, 3], v[0, 0, 3], atol=1e-15)


def test_essa_bad_input():
    q = _rand(1, 1, 5, 4)
    with pytest.raises(ValueError, match="causal"):
        essa_attention(q, q, q, causal=True)
    with pytest.raises(ValueError, match="residual"):
        essa_attention(q, _rand(1, 1, 6, 4), _rand(1, 1, 6, 4))
    bad = q.clone()
    bad[0, 0, 0, 0] = float("nan")
    with pytest.raises(ValueError, match="NaN"):
        essa_attention(bad, q, q)


@pytest.mark.parametrize("order", [1, 2])
def test_taylor_features_give_the_scc_polynomial(order):
    x, y = _rand(6, 5, seed=50), _rand(8, 5, seed=51)
    s = scc_matrix(x, y)
    want = 1.0 + s + (s * s / 2 if order == 2 else 0.0)
    got = scc_taylor_features(x, order) @ scc_taylor_features(y, order).T
    assert scc_taylor_features(x, order).shape[-1] == 1 + 5 + (25 if order == 2 else 0)
    assert torch.allclose(got, want, atol=1e-13)
    assert float(want.min()) >= -1e-15                                        # a non-negative kernel on [−1, 1]


@pytest.mark.parametrize("order", [1, 2])
def test_scc_kernel_linear_equals_explicit(order):
    q, k, v = _rand(2, 2, 17, 6, seed=60), _rand(2, 2, 31, 6, seed=61), _rand(2, 2, 31, 3, seed=62)
    mask = torch.arange(31)[None] < torch.tensor([31, 12])[:, None]
    assert _rel(scc_kernel_attention(q, k, v, order=order, key_mask=mask),
                scc_kernel_attention_reference(q, k, v, order=order, key_mask=mask)) <= 1e-12
    qc, kc, vc = (_rand(1, 2, 70, 6, seed=s) for s in (63, 64, 65))
    assert _rel(scc_kernel_attention(qc, kc, vc, order=order, causal=True),
                scc_kernel_attention_reference(qc, kc, vc, order=order, causal=True)) <= 1e-12


def test_scc_kernel_bad_order_and_dim():
    q = _rand(1, 1, 4, 3)
    with pytest.raises(ValueError, match="order"):
        scc_kernel_attention(q, q, q, order=3)
    with pytest.raises(ValueError, match="d ≥ 2"):
        scc_kernel_attention(q[..., :1], q[..., :1], q[..., :1])
