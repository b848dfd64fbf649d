"""Converter (paper 29): the linear-recurrence scan and Givens chains against loops, the unitary basis against the
product of dense rotation matrices, Synvolution against the dense operator, the Chebyshev kernel polynomial
against its definition and the dense matrix polynomial, Gibbs damping, padding, gradients, bad input."""

import math

import numpy as np
import pytest
import torch

from simrepro.methods.attention import converter as cv

C = torch.complex128
D = torch.float64


def _gen(seed):
    return torch.Generator().manual_seed(seed)


def _angles(*shape, seed=0):
    g = _gen(seed)
    return cv.givens(*(torch.rand(*shape, generator=g, dtype=D) * 2 - 1 for _ in range(3)))


def _cplx(*shape, seed=0):
    g = _gen(seed)
    return torch.complex(torch.randn(*shape, generator=g, dtype=D), torch.randn(*shape, generator=g, dtype=D))


def test_givens_is_special_unitary():
    g11, g12, g21, g22 = _angles(50, seed=1)
    for i in range(50):
        G = torch.tensor([[g11[i], g12[i]], [g21[i], g22[i]]], dtype=C)
        assert torch.allclose(G.conj().T @ G, torch.eye(2, dtype=C), atol=1e-14)
        assert abs(complex(torch.linalg.det(G)) - 1) < 1e-14


@pytest.mark.parametrize("N,d", [(1, 3), (2, 1), (5, 4), (17, 2), (64, 3), (100, 1)])
@pytest.mark.parametrize("reverse", [False, True])
def test_scan_equals_loop_and_is_stable(N, d, reverse):
    a = _cplx(3, N, 1, seed=2)
    a = a / a.abs().clamp_min(1.0)                          # |a| ≤ 1, as the rotations' entries
    a[0, N // 2] = 0                                        # an exact zero: the recurrence restarts there
    u = _cplx(3, N, d, seed=3)
    got = cv.linear_scan(a, u, reverse=reverse)
    want = cv.linear_scan_reference(a, u, reverse=reverse)
    assert torch.allclose(got, want, atol=1e-12, rtol=0)
    # real dtype and a per-channel a
    ar, ur = torch.rand(2, N, d, generator=_gen(4), dtype=D), torch.randn(2, N, d, generator=_gen(5), dtype=D)
    assert torch.allclose(cv.linear_scan(ar, ur, reverse=reverse), cv.linear_scan_reference(ar, ur, reverse=reverse),
                          atol=1e-12, rtol=0)


@pytest.mark.parametrize("reverse", [False, True])
def test_scan_gradient_is_the_adjoint(reverse):
    a = (0.9 * _cplx(2, 9, 1, seed=6)).requires_grad_()
    u = _cplx(2, 9, 3, seed=7).requires_grad_()
    assert torch.autograd.gradcheck(lambda a, u: cv.linear_scan(a, u, reverse=reverse), (a, u))
    ar = torch.rand(2, 9, 3, generator=_gen(8), dtype=D).requires_grad_()
    ur = torch.randn(2, 9, 3, generator=_gen(9), dtype=D).requires_grad_()
    assert torch.autograd.gradcheck(lambda a, u: cv.linear_scan(a, u, reverse=reverse), (ar, ur))


def test_scan_rejects_mismatched_input():
    with pytest.raises(TypeError, match="dtype"):
        cv.linear_scan(torch.ones(1, 4, 1), torch.ones(1, 4, 2, dtype=D))
    with pytest.raises(ValueError, match="share N"):
        cv.linear_scan(torch.ones(1, 3, 1, dtype=D), torch.ones(1, 4, 2, dtype=D))


@pytest.mark.parametrize("N", [1, 2, 3, 8, 31])
@pytest.mark.parametrize("reverse", [False, True])
def test_chain_equals_explicit_updates(N, reverse):
    g = _angles(2, 3, max(N - 1, 0), seed=10)
    x = _cplx(2, 3, N, 4, seed=11)
    assert torch.allclose(cv.givens_chain(x, g, reverse=reverse), cv.givens_chain_reference(x, g, reverse=reverse),
                          atol=1e-13, rtol=0)


@pytest.mark.parametrize("N", [2, 7, 33])
def test_unitary_apply_equals_dense_product_and_inverts(N):
    g_l, g_u = _angles(N - 1, seed=12), _angles(N - 1, seed=13)
    theta = torch.rand(N, generator=_gen(14), dtype=D)
    U = cv.unitary_matrix_reference(g_l, g_u, theta)
    assert torch.allclose(U.conj().T @ U, torch.eye(N, dtype=C), atol=1e-13)
    x = _cplx(N, 5, seed=15)
    assert torch.allclose(cv.unitary_apply(x, g_l, g_u, theta), U @ x, atol=1e-13)
    assert torch.allclose(cv.unitary_apply(x, g_l, g_u, theta, inverse=True), U.conj().T @ x, atol=1e-13)
    # the dense reference itself, written out for N = 2: U = D · G^l_0 · G^u_0
    if N == 2:
        G = lambda g: torch.tensor([[g[0][0], g[1][0]], [g[2][0], g[3][0]]], dtype=C)
        Dm = torch.diag(torch.exp(2j * math.pi * theta.to(C)))
        assert torch.allclose(U, Dm @ G(g_l) @ G(g_u), atol=1e-15)


def test_unitary_is_dense_mixing():
    """Both chains together reach every token from every other (no zero entry in U)."""
    N = 12
    U = cv.unitary_matrix_reference(_angles(N - 1, seed=16), _angles(N - 1, seed=17), torch.zeros(N, dtype=D))
    assert float(U.abs().min()) > 1e-8


def test_synvolution_equals_dense_operator():
    B, H, N, d = 2, 3, 19, 4
    g_l, g_u = _angles(B, H, N - 1, seed=18), _angles(B, H, N - 1, seed=19)
    theta = torch.rand(B, H, N, generator=_gen(20), dtype=D)
    spec = torch.exp(1j * torch.rand(B, H, N, generator=_gen(21), dtype=D) * 6)
    v = _cplx(B, H, N, d, seed=22)
    got = cv.synvolution(v, spec, g_l, g_u, theta)
    want = cv.synvolution_reference(v, spec, g_l, g_u, theta)
    assert torch.allclose(got, want, atol=1e-12)
    # a unitary operator keeps each channel's norm
    assert torch.allclose(got.abs().pow(2).sum(-2), v.abs().pow(2).sum(-2), rtol=1e-12)


def test_chebyshev_filter_against_the_closed_form():
    lam = torch.linspace(-1, 1, 101, dtype=D)
    coef = torch.tensor([0.3, -1.2, 0.7, 0.25, -0.4], dtype=D)
    theta = torch.arccos(lam)
    for kind in ("none", "jackson", "fejer"):
        g = cv.damping(kind, 4)
        want = sum(float(coef[k] * g[k]) * torch.cos(k * theta) for k in range(5))         # T_k(cos t) = cos kt
        assert torch.allclose(cv.chebyshev_filter(lam, coef, kind), want, atol=1e-13)


def test_damping_factors():
    K = 6
    assert torch.equal(cv.damping("none", K), torch.ones(K + 1, dtype=D))
    j = cv.damping("jackson", K)
    # Weiße et al. 2006 with N = K + 1 moments: g_n = [(N−n+1) cos(πn/(N+1)) + sin(πn/(N+1)) cot(π/(N+1))]/(N+1)
    Nm = K + 1
    c = math.pi / (Nm + 1)
    want = [((Nm - n + 1) * math.cos(c * n) + math.sin(c * n) / math.tan(c)) / (Nm + 1) for n in range(K + 1)]
    assert np.allclose(j.numpy(), want, atol=1e-15) and float(j[0]) == pytest.approx(1.0, abs=1e-15)
    assert bool((j[1:] < j[:-1]).all())                     # decreasing
    assert torch.allclose(cv.damping("fejer", 3), torch.tensor([1, 0.75, 0.5, 0.25], dtype=D))
    with pytest.raises(ValueError, match="unknown damping"):
        cv.damping("gauss", 3)
    with pytest.raises(ValueError, match="order"):
        cv.damping("none", -1)


def test_chebyshev_filter_equals_dense_matrix_polynomial():
    """h(S) for the Hermitian shift S = U^H diag(λ) U, by the dense recursion, equals U^H diag(h(λ)) U; and the
    matrix exponential exp(i h(S)) equals Synvolution's spectral form."""
    N = 10
    g_l, g_u = _angles(N - 1, seed=23), _angles(N - 1, seed=24)
    theta = torch.rand(N, generator=_gen(25), dtype=D)
    U = cv.unitary_matrix_reference(g_l, g_u, theta)
    lam = torch.rand(N, generator=_gen(26), dtype=D) * 2 - 1
    coef = torch.tensor([0.2, 0.9, -0.5, 0.3], dtype=D)
    S = U.conj().T @ torch.diag(lam.to(C)) @ U
    for kind in ("none", "jackson"):
        h = cv.chebyshev_filter(lam, coef, kind)
        Hd = cv.chebyshev_filter_dense(S, coef, kind)
        assert torch.allclose(Hd, U.conj().T @ torch.diag(h.to(C)) @ U, atol=1e-12)
        spec = torch.exp(1j * h.to(C))
        eye = torch.eye(N, dtype=C)
        assert torch.allclose(torch.linalg.matrix_exp(1j * Hd), cv.synvolution(eye, spec, g_l, g_u, theta), atol=1e-12)


def test_jackson_removes_gibbs_overshoot():
    for K in (8, 32):
        none, jackson = cv.gibbs_overshoot(K, "none"), cv.gibbs_overshoot(K, "jackson")
        assert 0.15 < none < 0.2                            # the Gibbs 9 % of the jump 2
        assert jackson <= 1e-12                             # positive kernel: no overshoot at all


def test_attention_padding_invariance_and_reference():
    torch.manual_seed(0)
    att = cv.ConverterAttention(6, 2).double()
    q, k, v = (torch.randn(2, 2, 15, 6, generator=_gen(s), dtype=D) for s in (27, 28, 29))
    mask = torch.arange(15)[None] < torch.tensor([15, 8])[:, None]
    out = att(q, k, v, key_mask=mask)
    assert torch.allclose(out, att(q, k, v, key_mask=mask, reference=True), atol=1e-12)
    alone = att(q[1:, :, :8], k[1:, :, :8], v[1:, :, :8])
    assert torch.allclose(out[1:, :, :8], alone, atol=1e-12)
    assert float(out[1, :, 8:].detach().abs().max()) == 0.0
    # padding values do not leak: change them, the real rows stay
    q2, v2 = q.clone(), v.clone()
    q2[1, :, 8:] += 5.0
    v2[1, :, 8:] -= 3.0
    assert torch.allclose(att(q2, k, v2, key_mask=mask)[1, :, :8], out[1, :, :8], atol=1e-12)


def test_attention_mixes_tokens_and_is_linear_in_v():
    att = cv.ConverterAttention(4, 1, kernel_type=None).double()
    q, k, v = (torch.randn(1, 1, 9, 4, generator=_gen(s), dtype=D) for s in (30, 31, 32))
    out = att(q, k, v)
    v2 = v.clone()
    v2[0, 0, 0] += 1.0
    assert float((att(q, k, v2) - out)[0, 0, 5:].detach().abs().max()) > 1e-6      # token 0 reaches the far end
    assert torch.allclose(att(q, k, 2 * v + v2), 2 * out + att(q, k, v2), atol=1e-12)


def test_attention_bad_input():
    att = cv.ConverterAttention(4, 2)
    q = torch.randn(1, 2, 5, 4)
    with pytest.raises(ValueError, match="not causal"):
        att(q, q, q, causal=True)
    with pytest.raises(ValueError, match="NaN"):
        att(q, q, torch.full_like(q, float("nan")))
    with pytest.raises(ValueError, match="heads of width"):
        att(torch.randn(1, 3, 5, 4), torch.randn(1, 3, 5, 4), torch.randn(1, 3, 5, 4))
    with pytest.raises(ValueError, match="N = M"):
        att(q, torch.randn(1, 2, 6, 4), torch.randn(1, 2, 6, 4))
    with pytest.raises(ValueError, match="key_mask"):
        att(q, q, q, key_mask=torch.ones(1, 5))
    with pytest.raises(ValueError, match="B, H, N, d"):
        att(q[0], q[0], q[0])
    assert att(q[:, :, :0], q[:, :, :0], q[:, :, :0]).shape == (1, 2, 0, 4)
    with pytest.raises(ValueError, match="unknown damping"):
        cv.ConverterAttention(4, 2, kernel_type="box")


def test_model_trains_and_parameter_matching():
    from simrepro.methods.attention.compare import ModelConfig, make_model
    from simrepro.kernels.attention import softmax_attention

    peer = cv.count_parameters(make_model(softmax_attention, 16, 10, 32, ModelConfig(d_model=16, d_ff=32)))
    kw = dict(vocab_size=16, n_classes=10, max_len=32, d_model=16, n_heads=2, n_layers=1)
    d_ff, n = cv.matched_d_ff(peer, d_ff=32, **kw)
    assert n <= peer and cv.count_parameters(cv.make_converter_model(d_ff=d_ff + 1, **kw)) > peer
    model = cv.make_converter_model(d_ff=d_ff, **kw)
    assert sum(1 for m in model.modules() if isinstance(m, cv.ConverterAttention)) == 1
    tokens = torch.randint(1, 16, (4, 11), generator=_gen(33))
    logits = model(tokens, torch.arange(11)[None] < torch.tensor([11, 5, 9, 2])[:, None])
    logits.sum().backward()
    att = model.blocks[0].attention
    assert logits.shape == (4, 10)
    assert all(p.grad is not None for p in (att.cheb_coef, att.givens.weight, att.eig1.weight))
    with pytest.raises(ValueError, match="no MLP width"):
        cv.matched_d_ff(100, d_ff=8, **kw)
