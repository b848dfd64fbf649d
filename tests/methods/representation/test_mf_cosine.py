"""mf_cosine against its definitions: the closed forms are stationary points that beat perturbations, the
invariances hold to float64 round-off, gradient descent lands on the closed form, bad input fails clearly."""

import numpy as np
import pytest
import torch

from simrepro.kernels import pairwise_similarity_reference
from simrepro.methods.representation import mf_cosine as mc


def _data(n=37, p=23, seed=0):
    rng = np.random.default_rng(seed)
    return (rng.random((n, p)) < 0.3).astype(np.float64)


def _random_orthogonal(k, seed=1):
    q, r = np.linalg.qr(np.random.default_rng(seed).standard_normal((k, k)))
    return q * np.sign(np.diag(r))[None, :]


def test_top_spectrum_matches_numpy_svd():
    X = _data()
    spec = mc.top_spectrum(X, 7)
    s = np.linalg.svd(X, compute_uv=False)[:7]
    print("max |Δσ|", np.abs(spec.sigma - s).max())
    assert np.allclose(spec.sigma, s, rtol=1e-12)
    assert np.allclose(spec.V.T @ spec.V, np.eye(7), atol=1e-12)
    # V_k spans the top-k eigenvectors of XᵀX: XᵀX V = V Σ²
    assert np.allclose(X.T @ X @ spec.V, spec.V * spec.sigma ** 2, atol=1e-9)


def test_objective1_closed_form_is_the_minimum_over_rank_k():
    X, k, lam = _data(), 5, 3.0
    f = mc.closed_form_objective1(mc.top_spectrum(X, k), lam)
    s = np.linalg.svd(X, compute_uv=False)
    assert np.allclose(np.diag(f.B.T @ f.W @ f.B), s[:k] ** 2 / (s[:k] ** 2 + lam), atol=1e-12)
    best = mc.objective1_loss(X, f, lam)
    rng = np.random.default_rng(2)
    for _ in range(20):   # any rank-k perturbation is worse
        g = mc.Factorization(f.A + 1e-3 * rng.standard_normal(f.A.shape), f.B + 1e-3 * rng.standard_normal(f.B.shape))
        assert mc.objective1_loss(X, g, lam) > best
    # a rank-k solution built on the wrong directions (k smallest σ) is worse
    V_all = np.linalg.svd(X, full_matrices=False)[2].T
    s2 = s ** 2
    wrong = mc.Factorization(V_all[:, -k:] * (s2[-k:] / (s2[-k:] + lam))[None, :], V_all[:, -k:])
    assert mc.objective1_loss(X, wrong, lam) > best


def test_objective1_gauge_leaves_predictions_but_not_cosines():
    X, lam = _data(), 2.0
    spec = mc.top_spectrum(X, 6)
    f = mc.closed_form_objective1(spec, lam)
    base_loss = mc.objective1_loss(X, f, lam)
    cosines = []
    for name, d in mc.objective1_gauges(spec, lam, seed=3).items():
        g = mc.rescale(f, d)
        err = np.abs(X @ g.W - X @ f.W).max()
        print(name, "max |Δ XABᵀ|", err)
        assert err < 1e-12 * max(1.0, np.abs(X @ f.W).max())
        assert mc.objective1_loss(X, g, lam) == pytest.approx(base_loss, rel=1e-12)
        cosines.append(mc.item_cosine(g))
    spread = max(mc.cosine_disagreement(cosines[0], c)[0] for c in cosines[1:])
    assert spread > 1e-3   # the gauge really moves the cosines


def test_symmetric_gauge_gives_equal_factors():
    spec = mc.top_spectrum(_data(), 4)
    f = mc.rescale(mc.closed_form_objective1(spec, 1.0), mc.objective1_gauges(spec, 1.0)["B=V·w^½"])
    assert np.allclose(f.A, f.B, atol=1e-14)


def test_objective2_closed_form_is_stationary_and_beats_perturbations():
    X, k, lam = _data(), 5, 1.5
    spec = mc.top_spectrum(X, k)
    assert np.all(spec.sigma > lam)
    f = mc.closed_form_objective2(spec, lam)
    At = torch.tensor(f.A, requires_grad=True)
    Bt = torch.tensor(f.B, requires_grad=True)
    Xt = torch.tensor(X)
    loss = ((Xt - Xt @ At @ Bt.T) ** 2).sum() + lam * ((Xt @ At) ** 2).sum() + lam * (Bt ** 2).sum()
    loss.backward()
    grad = max(At.grad.abs().max().item(), Bt.grad.abs().max().item())
    print("max |∇| at the closed form", grad)
    assert grad < 1e-9 * loss.item()
    best = mc.objective2_loss(X, f, lam)
    rng = np.random.default_rng(4)
    for _ in range(20):
        g = mc.Factorization(f.A + 1e-3 * rng.standard_normal(f.A.shape), f.B + 1e-3 * rng.standard_normal(f.B.shape))
        assert mc.objective2_loss(X, g, lam) > best


def test_objective2_equals_regularised_mf_of_x():
    """P = XA, Q = B solve min ‖X − PQᵀ‖² + λ(‖P‖² + ‖Q‖²): PQᵀ = U_k diag((σ − λ)₊) V_kᵀ."""
    X, lam = _data(), 2.5
    f = mc.closed_form_objective2(mc.top_spectrum(X, 4), lam)
    U, s, Vt = np.linalg.svd(X, full_matrices=False)
    expected = U[:, :4] * np.clip(s[:4] - lam, 0, None)[None, :] @ Vt[:4]
    assert np.allclose(X @ f.W, expected, atol=1e-10)


def test_objective2_cosines_invariant_to_rotation():
    X = _data()
    f = mc.closed_form_objective2(mc.top_spectrum(X, 6), 1.0)
    g = mc.rotate(f, _random_orthogonal(6))
    assert np.abs(mc.item_cosine(g) - mc.item_cosine(f)).max() < 1e-12
    assert np.abs(mc.user_cosine(X, g) - mc.user_cosine(X, f)).max() < 1e-12
    assert np.abs(X @ g.W - X @ f.W).max() < 1e-12


def test_objective2_drops_directions_below_lambda():
    spec = mc.top_spectrum(_data(), 6)
    lam = float(spec.sigma[3]) + 1e-9        # σ₄, σ₅, σ₆ ≤ λ
    f = mc.closed_form_objective2(spec, lam)
    assert np.all(f.B[:, 3:] == 0) and np.all(f.A[:, 3:] == 0)
    assert np.all(np.abs(f.B[:, :3]).sum(0) > 0)


def test_cosines_match_reference_definition():
    f = mc.closed_form_objective1(mc.top_spectrum(_data(), 5), 1.0)
    assert np.allclose(mc.item_cosine(f), pairwise_similarity_reference(f.B), atol=1e-12)


def test_rank_deficient_data_gives_zero_weight_not_nan():
    X = np.zeros((5, 4))
    X[:, 0] = 1.0                                   # rank 1
    spec = mc.top_spectrum(X, 3)
    assert spec.sigma[1] == 0 and spec.sigma[2] == 0
    for f in (mc.closed_form_objective1(spec, 1.0), mc.closed_form_objective2(spec, 1.0)):
        assert np.all(np.isfinite(f.A)) and np.all(np.isfinite(f.B))
    assert np.all(np.isfinite(mc.objective1_gauges(spec, 1.0)["B=V·w"]))


def test_adam_reaches_the_closed_form():
    X, k, lam = _data(60, 15, seed=5), 4, 2.0
    f = mc.closed_form_objective1(mc.top_spectrum(X, k), lam)
    g = mc.fit_objective1_adam(X, k, lam, steps=3000, lr=0.02, seed=0)
    rel = np.linalg.norm(g.W - f.W) / np.linalg.norm(f.W)
    print("relative Frobenius error", rel)
    assert rel < 1e-3


def test_cluster_contrast_and_neighbour_agreement_on_known_matrix():
    cos = np.array([[1, .9, .1, .0], [.9, 1, .0, .1], [.1, .0, 1, .8], [.0, .1, .8, 1]])
    assert mc.cluster_contrast(cos, [0, 0, 1, 1]) == pytest.approx((.9 + .8) / 2 - (.1 + .0 + .0 + .1) / 4)
    assert mc.neighbour_label_agreement(cos, [{"a"}, {"a"}, {"b"}, {"b", "a"}], k=1) == 1.0
    assert mc.neighbour_label_agreement(cos, [{"a"}, {"c"}, {"b"}, {"d"}], k=1) == 0.0
    # ties at the k-th neighbour are broken by index
    tie = np.array([[1, .5, .5], [.5, 1, .5], [.5, .5, 1]])
    assert mc.neighbour_label_agreement(tie, [{"a"}, {"a"}, {"b"}], k=1) == pytest.approx(2 / 3)


@pytest.mark.parametrize("bad, msg", [
    (np.full((3, 3), np.nan), "NaN"),
    (np.ones(4), "2-D"),
    (np.zeros((0, 3)), "empty"),
])
def test_bad_matrix_is_rejected(bad, msg):
    with pytest.raises(ValueError, match=msg):
        mc.top_spectrum(bad, 1)


def test_bad_arguments_are_rejected():
    spec = mc.top_spectrum(_data(), 3)
    f = mc.closed_form_objective1(spec, 1.0)
    with pytest.raises(ValueError, match="k must be"):
        mc.top_spectrum(_data(), 100)
    with pytest.raises(ValueError, match="lam"):
        mc.closed_form_objective2(spec, -1.0)
    with pytest.raises(ValueError, match="invertible"):
        mc.rescale(f, np.array([1.0, 0.0, 1.0]))
    with pytest.raises(ValueError, match="shape"):
        mc.rescale(f, np.ones(2))
    with pytest.raises(ValueError, match="orthogonal"):
        mc.rotate(f, np.ones((3, 3)))
    with pytest.raises(ValueError, match="2 items"):
        mc.cosine_disagreement(np.ones((1, 1)), np.ones((1, 1)))
    with pytest.raises(ValueError, match="equal shape"):
        mc.mean_abs_cosine_diff(np.ones((2, 2)), np.ones((3, 3)))


def test_disagreement_measures_on_known_matrices():
    a = np.array([[1, .5, .2], [.5, 1, .1], [.2, .1, 1]])
    b = np.array([[1, .1, .2], [.1, 1, .5], [.2, .5, 1]])
    assert mc.mean_abs_cosine_diff(a, b) == pytest.approx((.4 + 0 + .4) / 3)
    mad, rho = mc.cosine_disagreement(a, b)
    assert mad == mc.mean_abs_cosine_diff(a, b) and rho == pytest.approx(-1.0)   # ranks (3,2,1) vs (1,2,3)
