"""Masked NMF / NBMF kernels against plain references, planted recovery, mask handling and bad input."""

import numpy as np
import pytest

from simrepro.kernels import masked_factorization as mf


def _planted(n=40, m=30, k=4, density=0.6, seed=0):
    rng = np.random.default_rng(seed)
    W = rng.uniform(0.2, 2.0, (n, k))
    H = (rng.random((k, m)) < 0.5).astype(float)
    M = (rng.random((n, m)) < density).astype(float)
    return W, H, M


@pytest.mark.parametrize("shape,k", [((5, 7), 2), ((1, 9), 3), ((8, 1), 1), ((6, 4), 5)])
def test_mu_step_equals_reference(shape, k):
    rng = np.random.default_rng(1)
    V = rng.uniform(0, 5, shape)
    M = (rng.random(shape) < 0.5).astype(float)
    M[0, 0] = 1
    W, H = rng.uniform(0.1, 1, (shape[0], k)), rng.uniform(0.1, 1, (k, shape[1]))
    Wf, Hf = mf.masked_mu_step(V, M, W, H)
    Wr, Hr = mf.masked_mu_step_reference(V, M, W, H)
    np.testing.assert_allclose(Wf, Wr, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(Hf, Hr, rtol=1e-10, atol=1e-12)


def test_nmf_loss_monotone_and_fits_planted():
    rng = np.random.default_rng(2)
    W, H = rng.uniform(0, 1, (30, 3)), rng.uniform(0, 1, (3, 25))
    M = (rng.random((30, 25)) < 0.7).astype(float)
    V = W @ H
    f = mf.masked_nmf(V * M, M, 3, n_iter=2000, seed=0)
    d = np.diff(f.losses)
    assert (d <= 1e-9 * f.losses[0]).all()                       # Lee–Seung: never increases
    assert f.losses[-1] < 1e-3 * f.losses[0]
    held = M == 0                                                # planted low rank: unobserved cells recovered
    err = np.abs(f.predict() - V)[held].mean() / V[held].mean()
    assert err < 0.1


def test_nmf_full_mask_equals_sklearn_mu():
    from sklearn.decomposition import NMF
    rng = np.random.default_rng(3)
    V = rng.uniform(0, 3, (23, 17))
    W0, H0 = rng.uniform(0.1, 1, (23, 4)), rng.uniform(0.1, 1, (4, 17))
    ours = mf.masked_nmf(V, None, 4, n_iter=50, W0=W0, H0=H0)
    sk = NMF(4, init="custom", solver="mu", beta_loss="frobenius", max_iter=50, tol=0)
    Ws = sk.fit_transform(V, W=W0.copy(), H=H0.copy())
    np.testing.assert_allclose(ours.W @ ours.H, Ws @ sk.components_, rtol=1e-8, atol=1e-10)


@pytest.mark.parametrize("n,m,k", [(7, 5, 3), (1, 4, 2), (6, 1, 4), (9, 6, 1)])
def test_h_step_equals_reference(n, m, k):
    rng = np.random.default_rng(n * 31 + m)
    V = rng.uniform(0, 5, (n, m))
    M = (rng.random((n, m)) < 0.6).astype(float)
    W = rng.uniform(0, 2, (n, k))
    np.testing.assert_array_equal(mf.binary_h_step(V, M, W, chunk=2), mf.binary_h_step_reference(V, M, W))


def test_h_step_is_global_minimum():
    rng = np.random.default_rng(4)
    V, M, W = rng.uniform(0, 5, (10, 8)), (rng.random((10, 8)) < 0.5).astype(float), rng.uniform(0, 2, (10, 5))
    H = mf.binary_h_step(V, M, W)
    best = ((M * (V - W @ H)) ** 2).sum(axis=0)
    for c in mf.candidates(5):
        assert (((M * (V - (W @ c)[:, None])) ** 2).sum(axis=0) >= best - 1e-9).all()


def test_h_step_ties_and_empty_columns():
    V = np.array([[2.0, 0.0], [2.0, 0.0]])
    M = np.array([[1.0, 0.0], [1.0, 0.0]])          # column 1 unobserved: every h ties → all zeros
    W = np.array([[2.0, 2.0], [2.0, 2.0]])          # identical factors: (1,0) and (0,1) tie → lowest index (1,0)
    H = mf.binary_h_step(V, M, W)
    np.testing.assert_array_equal(H, [[1, 0], [0, 0]])
    np.testing.assert_array_equal(mf.binary_h_step_reference(V, M, W), H)


def test_h_step_recovers_planted_h_given_w():
    W, H, M = _planted()
    V = W @ H
    np.testing.assert_array_equal(mf.binary_h_step(V * M, M, W), H)


def test_w_step_pg_matches_scipy_nnls():
    rng = np.random.default_rng(5)
    V = rng.uniform(0, 5, (25, 40))
    M = (rng.random((25, 40)) < 0.3).astype(float)
    H = (rng.random((4, 40)) < 0.5).astype(float)
    for reg in (0.5, 2.0):
        Wp = mf.nnls_w_step(V, M, H, np.ones((25, 4)), reg=reg, n_iter=3000)
        Wr = mf.nnls_w_step_reference(V, M, H, reg=reg)
        lp, lr = mf.masked_loss(V, M, Wp, H, reg), mf.masked_loss(V, M, Wr, H, reg)
        assert lp <= lr * (1 + 1e-8)
        np.testing.assert_allclose(Wp, Wr, atol=1e-5)             # ridge > 0: unique minimiser
        assert (Wp >= 0).all()


def test_nbmf_monotone_mask_respected_and_recovers_planted():
    W, H, M = _planted(60, 50, 3, 0.7, seed=6)
    V = W @ H
    best = min((mf.masked_nbmf(V * M, M, 3, n_iter=30, w_iters=200, reg=1e-6, seed=s) for s in range(6)),
               key=lambda f: f.losses[-1])
    assert (np.diff(best.losses) <= 1e-9 * best.losses[0]).all()
    held = M == 0
    assert np.abs(best.predict() - V)[held].mean() / V[held].mean() < 0.05
    # garbage in the unobserved cells changes nothing
    junk = V * M + (1 - M) * np.random.default_rng(0).uniform(0, 100, V.shape)
    f1 = mf.masked_nbmf(V * M, M, 3, n_iter=5, seed=1)
    f2 = mf.masked_nbmf(junk, M, 3, n_iter=5, seed=1)
    np.testing.assert_array_equal(f1.H, f2.H)
    np.testing.assert_allclose(f1.W, f2.W, rtol=1e-12, atol=1e-12)


def test_unmasked_differs_from_masked():
    W, H, M = _planted(20, 15, 2, 0.5, seed=7)
    V = W @ H * M
    a, b = mf.masked_nbmf(V, M, 2, n_iter=3, seed=0), mf.masked_nbmf(V, None, 2, n_iter=3, seed=0)
    assert not np.allclose(a.predict(), b.predict())


@pytest.mark.parametrize("call,msg", [
    (lambda: mf.masked_nbmf(np.array([[1.0, np.nan]]), None, 1), "NaN"),
    (lambda: mf.masked_nmf(np.array([[1.0, -1.0]]), None, 1), "negative"),
    (lambda: mf.masked_nbmf(np.ones((3, 3)), np.ones((3, 2)), 1), "shape"),
    (lambda: mf.masked_nbmf(np.ones((3, 3)), np.full((3, 3), 0.5), 1), "0/1"),
    (lambda: mf.masked_nbmf(np.ones((3, 3)), np.zeros((3, 3)), 1), "no entry"),
    (lambda: mf.masked_nbmf(np.ones((3, 3)), None, 13), "k ≤ 12"),
    (lambda: mf.masked_nmf(np.ones((3, 3)), None, 0), "positive integer"),
    (lambda: mf.masked_nmf(np.zeros((0, 3)), None, 1), "empty"),
    (lambda: mf.masked_nmf(np.ones(3), None, 1), "2-D"),
    (lambda: mf.nnls_w_step(np.ones((2, 2)), np.ones((2, 2)), np.ones((1, 2)), np.ones((2, 1)), reg=-1), "reg"),
])
def test_bad_input(call, msg):
    with pytest.raises(ValueError, match=msg):
        call()


def test_negative_outside_mask_is_allowed():
    V = np.array([[1.0, -5.0], [2.0, 3.0]])
    M = np.array([[1, 0], [1, 1]])
    f = mf.masked_nmf(V, M, 1, n_iter=10)
    assert np.isfinite(f.W).all()
