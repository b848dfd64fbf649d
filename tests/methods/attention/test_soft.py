"""SOFT: Gaussian kernel, Newton–Schulz pseudo-inverse, segment landmarks, Nyström attention (fast vs explicit),
padding, error falling with the number of landmarks, bad input."""

import math

import pytest
import torch

from simrepro.methods.attention.soft import (gaussian_attention_reference, gaussian_kernel, gaussian_matrix,
                                             newton_schulz_pinv, relative_error, segment_landmarks, soft_attention,
                                             soft_attention_reference, soft_matrix)

D = torch.float64


def _rand(*shape, seed=0, scale=1.0):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=D) * scale


def test_gaussian_kernel_against_a_loop():
    x, y = _rand(7, 5, seed=1), _rand(4, 5, seed=2)
    want = torch.tensor([[math.exp(-0.5 * float(((x[i] - y[j]) ** 2).sum())) for j in range(4)] for i in range(7)],
                        dtype=D)
    assert torch.allclose(gaussian_kernel(x, y), want, atol=1e-14)
    assert torch.allclose(gaussian_kernel(x, x).diagonal(), torch.ones(7, dtype=D))


@pytest.mark.parametrize("m,cond", [(1, 1.0), (5, 10.0), (17, 1e3), (8, 1e4), (33, 1e4)])
def test_newton_schulz_converges_to_pinv_on_well_conditioned_spd(m, cond):
    """For symmetric A and V0 = αA every iterate is a polynomial in A, and on an eigenvalue λ the error
    e = 1 − λ·x squares each step: e_t = (1 − αλ²)^(2^t). With α = 1.8/(‖A‖₁‖A‖_∞) computed here independently, the
    predicted step count t* (worst e_t < 1e-8) must reach relative error < 1e-5, and t* − 3 steps must not."""
    g = torch.Generator().manual_seed(m)
    u, _ = torch.linalg.qr(torch.randn(m, m, generator=g, dtype=D))
    lam = torch.logspace(0, math.log10(cond), m, dtype=D)
    a = u @ torch.diag(lam) @ u.T
    alpha = 1.8 / float(torch.linalg.matrix_norm(a, ord=1) * torch.linalg.matrix_norm(a, ord=math.inf))
    e0 = float((1 - alpha * lam ** 2).abs().max())
    t_star = max(1, math.ceil(math.log2(math.log(1e-8) / math.log(e0))))
    p = torch.linalg.pinv(a)

    def err(t):
        return float(torch.linalg.norm(newton_schulz_pinv(a, t) - p) / torch.linalg.norm(p))

    assert err(t_star) < 1e-5
    if t_star > 3 and e0 > 0.5:
        assert err(t_star - 3) > 1e-3
    if cond <= 1e3:
        assert t_star <= 30                 # within the plan's 30 steps; at cond 1e4 this α needs 31 (m = 8) to 35


def test_newton_schulz_reaches_the_moore_penrose_inverse_of_a_singular_matrix():
    g = torch.Generator().manual_seed(3)
    b = torch.randn(6, 3, generator=g, dtype=D)
    a = b @ b.T                                                              # rank 3 of 6
    ns = newton_schulz_pinv(a, 30)
    p = torch.linalg.pinv(a, hermitian=True)
    assert torch.allclose(ns, p, atol=1e-6 * float(p.abs().max()))
    assert torch.allclose(a @ ns @ a, a, atol=1e-9)                          # Penrose condition 1
    # round-off in the null space doubles every step: far too many steps drift away from pinv
    assert float((newton_schulz_pinv(a, 80) - p).abs().max()) > 1.0


def test_newton_schulz_few_steps_do_not_converge():
    """The test above can fail: 2 steps on a cond-1e4 matrix are far from the inverse."""
    a = torch.diag(torch.tensor([1.0, 1e-4], dtype=D))
    assert float(torch.linalg.norm(newton_schulz_pinv(a, 2) - torch.linalg.inv(a))) > 1.0


def test_newton_schulz_ridge_batch_and_edge_cases():
    a = gaussian_kernel(_rand(3, 8, 4, seed=5), _rand(3, 8, 4, seed=5))      # (3, 8, 8) batch, symmetric PSD
    ns = newton_schulz_pinv(a, 40, ridge=0.01)
    assert torch.allclose(ns, torch.linalg.inv(a + 0.01 * torch.eye(8, dtype=D)), atol=1e-8)
    assert newton_schulz_pinv(torch.zeros(2, 2), 5).abs().max() == 0        # pinv(0) = 0
    assert newton_schulz_pinv(torch.zeros(0, 0), 5).shape == (0, 0)
    with pytest.raises(ValueError, match="square"):
        newton_schulz_pinv(torch.ones(2, 3))
    with pytest.raises(ValueError, match="NaN"):
        newton_schulz_pinv(torch.tensor([[1.0, float("nan")], [0.0, 1.0]]))
    with pytest.raises(ValueError, match="iters"):
        newton_schulz_pinv(torch.eye(2), -1)


def test_segment_landmarks_are_segment_means_of_valid_tokens():
    x = torch.arange(10, dtype=D).reshape(1, 1, 10, 1).repeat(2, 1, 1, 1)
    mask = torch.tensor([[True] * 10, [True] * 5 + [False] * 5])
    lm, lmask = segment_landmarks(x, 3, mask)
    # 10 valid: segments floor(3j/10) -> [0..3], [4..6], [7..9]; 5 valid: floor(3j/5) -> [0,1], [2,3], [4]
    assert torch.allclose(lm[0, 0, :, 0], torch.tensor([1.5, 5.0, 8.0], dtype=D))
    assert torch.allclose(lm[1, 0, :, 0], torch.tensor([0.5, 2.5, 4.0], dtype=D))
    assert lmask.all()
    lm, lmask = segment_landmarks(x, 7, torch.tensor([[True] * 10, [True] * 3 + [False] * 7]))
    assert lmask[1].tolist() == [True] * 3 + [False] * 4                      # fewer tokens than landmarks
    assert torch.allclose(lm[1, 0, :3, 0], torch.tensor([0.0, 1.0, 2.0], dtype=D))
    with pytest.raises(ValueError, match="positive integer"):
        segment_landmarks(x, 0)


@pytest.mark.parametrize("shape", [(1, 1, 1, 3, 2), (2, 3, 37, 8, 5), (1, 2, 64, 16, 16)])
@pytest.mark.parametrize("normalize", ["none", "sym"])
def test_fast_equals_explicit_reference(shape, normalize):
    """Newton–Schulz (40 steps, ridge 0.01) path == the explicit Ŝ with torch.linalg.pinv: rel. error ≤ 1e-9."""
    B, H, N, d, dv = shape
    q, v = _rand(B, H, N, d, seed=7, scale=0.5), _rand(B, H, N, dv, seed=8)
    for m in (1, 4, 9):
        fast = soft_attention(q, q, v, num_landmarks=m, iters=40, normalize=normalize)
        ref = soft_attention_reference(q, q, v, num_landmarks=m, normalize=normalize)
        assert float((fast - ref).abs().max() / ref.abs().max()) <= 1e-9


def test_unshared_keys_and_n_ne_m():
    q, k, v = _rand(2, 2, 11, 6, seed=1, scale=0.5), _rand(2, 2, 29, 6, seed=2, scale=0.5), _rand(2, 2, 29, 3, seed=3)
    fast = soft_attention(q, k, v, shared_qk=False, num_landmarks=5, iters=40)
    ref = soft_attention_reference(q, k, v, shared_qk=False, num_landmarks=5)
    assert fast.shape == (2, 2, 11, 3)
    assert torch.allclose(fast, ref, atol=1e-10 * float(ref.abs().max()))
    with pytest.raises(ValueError, match="shared_qk"):
        soft_attention(q, k, v, num_landmarks=5)                              # tied keys need N = M


def test_all_landmarks_give_the_exact_gaussian_attention():
    """m = N with one token per segment and no ridge: Ŝ = S S⁻¹ S = S (Nyström identity)."""
    q, v = _rand(1, 2, 12, 4, seed=4), _rand(1, 2, 12, 3, seed=5)
    s_hat = soft_matrix(q, num_landmarks=12, inverse="pinv")
    assert torch.allclose(s_hat, gaussian_matrix(q), atol=1e-8)
    out = soft_attention_reference(q, q, v, num_landmarks=12, ridge=0.0)
    assert torch.allclose(out, gaussian_attention_reference(q, q, v), atol=1e-8)


def test_exact_gaussian_attention_against_a_loop():
    q, v = _rand(1, 1, 6, 4, seed=6), _rand(1, 1, 6, 2, seed=7)
    s = 4 ** -0.25
    want = torch.stack([sum(math.exp(-0.5 * float(((q[0, 0, i] - q[0, 0, j]) * s).pow(2).sum())) * v[0, 0, j]
                            for j in range(6)) for i in range(6)])
    assert torch.allclose(gaussian_attention_reference(q, q, v)[0, 0], want, atol=1e-12)


def test_approximation_error_falls_with_landmarks():
    """On tokens with structure (a smooth path through R^d plus noise), ‖Ŝ − S‖_F/‖S‖_F falls as m grows and is
    ~0 at m = N."""
    t = torch.linspace(0, 1, 128, dtype=D)[:, None]
    path = torch.cat([torch.sin(3 * t * (i + 1)) for i in range(8)], dim=-1) * 1.5
    q = (path + 0.05 * _rand(128, 8, seed=9))[None, None]
    s = gaussian_matrix(q)
    errs = [relative_error(soft_matrix(q, num_landmarks=m), s) for m in (2, 4, 8, 16, 32, 128)]
    assert all(a > b for a, b in zip(errs, errs[1:])), errs
    assert errs[-1] < 1e-6 and errs[0] > 0.1


def test_padding_invariance():
    q, v = _rand(2, 2, 40, 8, seed=10, scale=0.5), _rand(2, 2, 40, 4, seed=11)
    mask = torch.arange(40)[None] < torch.tensor([40, 17])[:, None]
    padded = soft_attention(q, q, v, key_mask=mask, num_landmarks=6)
    alone = soft_attention(q[1:, :, :17], q[1:, :, :17], v[1:, :, :17], num_landmarks=6)
    assert torch.allclose(padded[1:, :, :17], alone, atol=1e-12)
    ref = soft_attention_reference(q, q, v, key_mask=mask, num_landmarks=6)
    assert torch.allclose(padded, ref, atol=1e-9 * float(ref.abs().max()))
    g = gaussian_attention_reference(q, q, v, key_mask=mask)
    assert torch.allclose(g[1:, :, :17], gaussian_attention_reference(q[1:, :, :17], q[1:, :, :17], v[1:, :, :17]))


def test_gradients_flow_and_float32_is_close():
    q = _rand(1, 2, 30, 8, seed=12, scale=0.5).float().requires_grad_()
    v = _rand(1, 2, 30, 4, seed=13).float()
    out = soft_attention(q, q, v, num_landmarks=5)
    out.sum().backward()
    assert torch.isfinite(q.grad).all() and q.grad.abs().sum() > 0
    ref = soft_attention_reference(q.detach().double(), q.detach().double(), v.double(), num_landmarks=5)
    assert float((out.detach().double() - ref).abs().max() / ref.abs().max()) < 1e-4


def test_bad_input_errors():
    q = torch.ones(1, 1, 4, 2)
    with pytest.raises(ValueError, match="non-causal"):
        soft_attention(q, q, q, causal=True)
    with pytest.raises(ValueError, match="NaN"):
        soft_attention(q * float("nan"), q, q)
    with pytest.raises(ValueError, match="normalize"):
        soft_attention(q, q, q, normalize="row")
    with pytest.raises(ValueError, match="inverse"):
        soft_matrix(q, inverse="lu")
    with pytest.raises(ValueError, match="4 dimensions"):
        soft_attention(q[0], q[0], q[0])
    assert math.isnan(relative_error(torch.ones(2), torch.zeros(2)))


def test_gradient_through_the_inverse_matches_autograd_of_the_exact_inverse():
    """The custom backward (−G⁻ᵀ dOut G⁻ᵀ) equals autograd through torch.linalg.inv of G + ridge·I."""
    q = _rand(1, 2, 24, 6, seed=14, scale=0.5).requires_grad_()
    v = _rand(1, 2, 24, 3, seed=15)
    w = _rand(1, 2, 24, 3, seed=16)
    (soft_attention(q, q, v, num_landmarks=5, iters=40) * w).sum().backward()
    g_fast = q.grad.clone()
    q.grad = None
    (soft_attention_reference(q, q, v, num_landmarks=5) * w).sum().backward()
    assert torch.allclose(g_fast, q.grad, atol=1e-9 * float(q.grad.abs().max()))


def test_approximation_errors_and_newton_steps_needed():
    from simrepro.methods.attention.soft import approximation_errors, newton_steps_needed
    q = _rand(2, 1, 30, 4, seed=17, scale=0.5)
    mask = torch.arange(30)[None] < torch.tensor([30, 12])[:, None]
    errs = approximation_errors(q, [2, 30], key_mask=mask, inverse="pinv", ridge=0.0)
    assert errs[30] < 1e-6 < errs[2]                                          # every token a landmark: exact
    a = torch.diag(torch.tensor([1.0, 1e-2], dtype=D))
    t = newton_steps_needed(a, 1e-5)
    assert newton_schulz_pinv(a, t).sub(torch.linalg.inv(a)).norm() / torch.linalg.inv(a).norm() < 1e-5
    assert newton_schulz_pinv(a, t - 1).sub(torch.linalg.inv(a)).norm() / torch.linalg.inv(a).norm() >= 1e-5
    assert newton_steps_needed(a, 1e-5, max_iters=3) == 4


def test_landmark_gram():
    from simrepro.methods.attention.soft import landmark_gram
    q = _rand(2, 1, 10, 4, seed=18)
    mask = torch.arange(10)[None] < torch.tensor([10, 2])[:, None]
    g = landmark_gram(q, 3, mask)
    lm, _ = segment_landmarks(q * 4 ** -0.25, 3, mask)
    assert torch.allclose(g[0], gaussian_kernel(lm[0], lm[0]))
    assert torch.allclose(g[1, 0, 2], torch.tensor([0.0, 0.0, 1.0], dtype=D))    # unused third landmark
    assert torch.allclose(g, g.transpose(-2, -1))


def test_random_spd_and_newton_rel_error():
    from simrepro.methods.attention.soft import newton_rel_error, random_spd
    a = random_spd(9, 1e3, seed=4)
    assert torch.allclose(a, a.T) and float(torch.linalg.cond(a)) == pytest.approx(1e3, rel=1e-8)
    assert torch.equal(a, random_spd(9, 1e3, seed=4))
    assert newton_rel_error(a, 40) < 1e-10 < newton_rel_error(a, 5)
    with pytest.raises(ValueError):
        random_spd(0, 10.0)
