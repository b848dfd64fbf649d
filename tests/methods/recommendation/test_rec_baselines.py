"""Baseline recommenders: definitions, references, determinism under a seed."""

import warnings

import numpy as np
import pytest
import scipy.sparse as sp

from simrepro.kernels.sparse_similarity import sparse_cosine_similarity_reference
from simrepro.methods.recommendation import baselines as bl


def _X(seed=0, n=40, m=25):
    rng = np.random.default_rng(seed)
    return sp.csr_matrix((rng.random((n, m)) < 0.2).astype(float))


def test_popularity_and_random():
    X = _X()
    P, Q = bl.popularity_scores(X)
    np.testing.assert_array_equal((P @ Q.T)[0], X.toarray().sum(0))
    R1, R2, R3 = bl.random_scores(X, 1), bl.random_scores(X, 1), bl.random_scores(X, 2)
    np.testing.assert_array_equal(R1, R2)
    assert not np.array_equal(R1, R3) and R1.shape == X.shape


def test_item_knn_matches_dense_reference():
    X = _X(1)
    got = bl.item_knn_scores(X, k=5, shrink=2.0)
    ref = X.toarray() @ sparse_cosine_similarity_reference(X, shrink=2.0, topk=5)
    np.testing.assert_allclose(got, ref, atol=1e-12)


@pytest.mark.parametrize("fit", [bl.als_factors, bl.bpr_factors])
def test_implicit_models_deterministic_per_seed(fit):
    X = _X(2)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)                           # no BLAS-threads warning
        kw = {"factors": 8, "iterations": 5}
        a, b, c = fit(X, seed=3, **kw), fit(X, seed=3, **kw), fit(X, seed=4, **kw)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    assert not np.allclose(a[1], c[1])
    assert a[0].shape[0] == 40 and a[1].shape[0] == 25 and a[0].shape[1] == a[1].shape[1]
    assert np.isfinite(a[0]).all() and np.isfinite(a[1]).all()


def test_als_fits_training_data_better_than_chance():
    X = _X(3, n=60, m=30)
    P, Q = bl.als_factors(X, factors=16, iterations=10, seed=0)
    S = P @ Q.T
    dense = X.toarray()
    assert S[dense == 1].mean() > S[dense == 0].mean() + 0.2


def test_bias_baseline():
    rng = np.random.default_rng(0)
    bu, bi = rng.normal(size=20), rng.normal(size=15)
    u, i = np.meshgrid(np.arange(20), np.arange(15), indexing="ij")
    u, i = u.ravel(), i.ravel()
    r = 3.0 + bu[u] + bi[i]
    m = bl.BiasBaseline(reg_user=0.0, reg_item=0.0, sweeps=50).fit(u, i, r, 20, 15)
    np.testing.assert_allclose(m.predict(u, i), r, atol=1e-8)                    # exact additive data recovered
    big = bl.BiasBaseline(reg_user=1e12, reg_item=1e12).fit(u, i, r, 20, 15)
    np.testing.assert_allclose(big.predict(u, i), r.mean(), atol=1e-6)           # huge ridge -> global mean
    with pytest.raises(ValueError):
        bl.BiasBaseline(reg_user=-1)
    with pytest.raises(ValueError, match="finite"):
        bl.BiasBaseline().fit([0], [0], [np.nan], 1, 1)


def test_fit_baselines_names():
    out = bl.fit_baselines(_X(4), seed=1, names=("popularity", "random", "item_knn"))
    assert set(out) == {"popularity", "random", "item_knn"}
    with pytest.raises(ValueError, match="unknown baselines"):
        bl.fit_baselines(_X(4), names=("svd",))
