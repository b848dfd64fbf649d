import numpy as np
import pytest
from sklearn.kernel_ridge import KernelRidge

from simrepro.methods.representation.stkr import (SpectralKernel, gaussian_kernel, inverse_laplacian_kernel, krr_fit_predict,
                                   local_scale_gamma, polynomial_transformed_kernel, ssl_benchmark, ssl_split,
                                   stkr_predict, top_eigenvalue)


def _blobs(n, seed):
    rng = np.random.default_rng(seed)
    centers = np.array([[0.0, 0.0], [4.0, 0.0], [0.0, 4.0]])
    lab = rng.integers(0, 3, n)
    return centers[lab] + rng.normal(size=(n, 2)), lab


def test_polynomial_kernel_on_data_points_is_spectral_definition():
    X, _ = _blobs(47, 0)
    G = gaussian_kernel(X, gamma=0.5)
    N = G.shape[0]
    lam, V = np.linalg.eigh(G / N)
    for p in (1, 2, 5):
        coeffs = np.zeros(p); coeffs[-1] = 1.0
        Ks = polynomial_transformed_kernel(G, G, G, G, coeffs)
        ref = N * (V * lam ** p) @ V.T                     # Σ λ^p ψ ψᵀ with ψ(X) = √N v
        print(p, np.abs(Ks - ref).max())
        np.testing.assert_allclose(Ks, ref, atol=1e-10 * N)


def test_polynomial_kernel_mixed_coefficients_and_new_points():
    X, _ = _blobs(30, 1)
    Xn, _ = _blobs(7, 2)
    G, Kn = gaussian_kernel(X, gamma=0.3), gaussian_kernel(Xn, X, gamma=0.3)
    knn = gaussian_kernel(Xn, gamma=0.3)
    N = 30
    ref = 0.5 * knn + 2.0 * Kn @ Kn.T / N + 3.0 * Kn @ G @ Kn.T / N ** 2
    np.testing.assert_allclose(polynomial_transformed_kernel(G, Kn, Kn.T, knn, [0.5, 2.0, 3.0]), ref, rtol=1e-12)


def test_inverse_laplacian_closed_form_equals_series_and_spectrum():
    X, _ = _blobs(40, 3)
    G = gaussian_kernel(X, gamma=0.5)
    N = G.shape[0]
    lam, V = np.linalg.eigh(G / N)
    eta = 0.8 / lam.max()
    closed = inverse_laplacian_kernel(G, G, G, G, eta)
    series = polynomial_transformed_kernel(G, G, G, G, [eta ** (p - 1) for p in range(1, 200)])
    spectral = N * (V * (lam / (1 - eta * lam))) @ V.T
    print("closed-series", np.abs(closed - series).max(), "closed-spectral", np.abs(closed - spectral).max())
    np.testing.assert_allclose(closed, series, atol=1e-8)
    np.testing.assert_allclose(closed, spectral, atol=1e-8)
    assert top_eigenvalue(G) == pytest.approx(lam.max(), rel=1e-10)


def test_normalised_kernel_inductive_rows_match_transductive():
    X, _ = _blobs(35, 4)
    k = SpectralKernel(X, gamma=0.4, n_eig=5)
    np.testing.assert_allclose(k.cross(X), k.G, rtol=1e-12)       # a training point seen as "new"
    assert k.lam_max == pytest.approx(1.0, abs=1e-10)             # degree-normalised: top eigenvalue 1
    F = k.kpca_features(k.G, 5)
    np.testing.assert_allclose(F, np.sqrt(k.N) * k.eigvecs, atol=1e-9)   # ψ_j(X) = √N v_j
    np.testing.assert_allclose(F.T @ F / k.N, np.eye(5), atol=1e-9)


def test_krr_matches_sklearn():
    rng = np.random.default_rng(5)
    X = rng.normal(size=(25, 3)); Xt = rng.normal(size=(6, 3)); y = rng.normal(size=(25, 2))
    K, Kt = gaussian_kernel(X, gamma=0.7), gaussian_kernel(Xt, X, gamma=0.7)
    ours = krr_fit_predict(K, y, Kt, beta=0.01)
    peer = KernelRidge(alpha=25 * 0.01, kernel="precomputed").fit(K, y).predict(Kt)
    np.testing.assert_allclose(ours, peer, rtol=1e-8)


def test_stkr_linear_is_krr_and_transforms_help_on_blobs():
    X, lab = _blobs(300, 6)
    k = SpectralKernel(X, gamma=1.0, n_eig=8)
    train = np.array([np.flatnonzero(lab == c)[0] for c in range(3)])
    Y = np.eye(3)[lab[train]]
    lin = stkr_predict(k, train, Y, X, "linear", beta=1e-3)
    np.testing.assert_allclose(lin, krr_fit_predict(k.G[np.ix_(train, train)], Y, k.G[:, train], 1e-3))
    accs = {t: np.mean(stkr_predict(k, train, Y, X, t, beta=1e-3, d=3).argmax(1) == lab)
            for t in ("linear", "poly", "laplacian", "kpca")}
    print(accs)
    assert min(accs.values()) > 0.8                         # 3 labels, well-separated blobs


def test_split_is_a_partition_with_every_class():
    labels = np.repeat(np.arange(10), 50)
    tr, va, te, ot = ssl_split(500, 0.01, 0.1, seed=3, stratify=labels)
    allidx = np.concatenate([tr, va, te, ot])
    assert np.array_equal(np.sort(allidx), np.arange(500))
    assert set(labels[tr]) == set(range(10)) and va.size == tr.size and te.size == 50


def test_benchmark_keys_and_ranges():
    X, lab = _blobs(200, 7)
    r = ssl_benchmark(X, lab, label_frac=0.03, seed=0, gamma=local_scale_gamma(X), dims=(4, 8))
    assert set(r) == {f"{m}_{s}" for m in ("krr", "sp_poly", "sp_lap", "sp_topd") for s in "ti"} | {"lp_t"}
    assert all(0.0 <= v <= 1.0 for v in r.values())


@pytest.mark.parametrize("call,msg", [
    (lambda k: k.transformed([0], k.G[:2], "cubic"), "transform"),
    (lambda k: k.transformed([0], k.G[:2], "laplacian", eta_frac=1.0), "eta_frac"),
    (lambda k: k.transformed([0], k.G[:2], "poly", degree=0), "degree"),
    (lambda k: k.transformed([0], k.G[:2], "kpca", d=9), "d must"),
    (lambda k: krr_fit_predict(np.eye(2), np.ones(3), np.eye(2), 0.1), "rows"),
    (lambda k: krr_fit_predict(np.eye(2), np.ones(2), np.eye(2), 0.0), "beta"),
    (lambda k: inverse_laplacian_kernel(k.G, k.G, k.G, k.G, 2.0), "eta"),
    (lambda k: SpectralKernel(np.array([[np.nan, 0.0]]), gamma=1.0), "NaN"),
    (lambda k: SpectralKernel(np.ones((3, 2)), gamma=0.0), "gamma"),
    (lambda k: ssl_split(10, 0.5, 0.1), "label_frac"),
    (lambda k: local_scale_gamma(np.zeros((5, 2)), 2), "duplicate"),
])
def test_errors(call, msg):
    k = SpectralKernel(_blobs(12, 8)[0], gamma=1.0, n_eig=3)
    with pytest.raises(ValueError, match=msg):
        call(k)


def test_knn_sparsified_kernel():
    X, _ = _blobs(60, 9)
    k = SpectralKernel(X, gamma=0.5, neighbors=5, normalize=False)
    full = gaussian_kernel(X, gamma=0.5)
    assert np.allclose(k.G, k.G.T)
    assert (np.count_nonzero(k.G, axis=1) >= 5).all()
    kept = k.G > 0
    np.testing.assert_allclose(k.G[kept], full[kept])          # kept entries are the Gaussian affinities
    rows = k.cross(X[:4])
    assert (np.count_nonzero(rows, axis=1) == 5).all()          # a queried point keeps exactly its 5 nearest
    assert np.all(rows[np.arange(4), np.arange(4)] == 1.0)      # itself included
    r = ssl_benchmark(X, _blobs(60, 9)[1], label_frac=0.05, seed=0, gamma=0.5, dims=(3,), neighbors=8)
    assert all(0.0 <= v <= 1.0 for v in r.values())
