r"""Spectrally transformed kernel regression, STKR (Zhai, Pukdee, Jin, Balcan & Ravikumar, ICLR 2024,
arXiv 2402.00645): kernel ridge regression with a kernel whose spectrum is transformed using unlabeled data.

Base kernel K with integral operator T_K f = ∫ K(·, x) f(x) dP(x), eigenpairs (λ_i, ψ_i). STKR regresses with
K_s(x, x') = Σ_i s(λ_i) ψ_i(x) ψ_i(x'). With N = n + m labeled plus unlabeled points X and Gram G = K(X, X), the
empirical operator is G/N, and for a polynomial s(λ) = Σ_{p≥1} π_p λ^p

    K_s(x, x') = π_1 K(x, x') + Σ_{p≥2} π_p N^{-(p-1)} K(x, X) G^{p-2} K(X, x'),

which needs only K(x, X): predictions extend to new points (the *inductive* setting; *transductive* = the test
points are among the unlabeled X). The inverse Laplacian s(λ) = λ / (1 − ηλ) = Σ_p η^{p−1} λ^p (η < 1/λ_max)
sums in closed form:  K_s(x, x') = K(x, x') + (η/N) K(x, X) (I − ηG/N)^{-1} K(X, x').
The estimator is KRR with K_s on the n labeled points: f(x) = K_s(x, X_n) α, α = (K_s(X_n, X_n) + nβ I)^{-1} y;
s(λ) = λ is plain KRR, which ignores the unlabeled data.

Unknown s — STKR with kernel PCA: the top-d eigenpairs (λ_j, v_j) of G/N give eigenfunctions
ψ_j(x) = K(x, X) v_j / (λ_j √N) (so ψ_j(X) = √N v_j), and f is ridge regression on (ψ_1 … ψ_d).

Costs: a polynomial of degree q costs q products of G with an (N, n) block — never a power of G; the inverse
Laplacian one (N, N) solve; KPCA one top-d symmetric eigendecomposition.
"""

from __future__ import annotations

import numpy as np
import scipy.linalg
import torch
from scipy.sparse.linalg import eigsh

from simrepro.kernels._validate import as_matrix
from simrepro.kernels.pairwise import pairwise_similarity


def local_scale_gamma(X, k: int = 10) -> float:
    """γ = 1 / mean squared distance to the k-th nearest neighbour: a local bandwidth for manifold-like data."""
    D = pairwise_similarity(as_matrix(X, "X", dtype=torch.float64), metric="l2").numpy()
    if not 1 <= k < D.shape[0]:
        raise ValueError(f"k must satisfy 1 ≤ k < n = {D.shape[0]}, got {k}")
    np.fill_diagonal(D, np.inf)
    kth = np.partition(D, k - 1, axis=1)[:, k - 1]
    if not kth.mean() > 0:
        raise ValueError("k-th neighbour distances are all 0 (duplicate points?): choose gamma by hand")
    return 1.0 / float(kth.mean())


def gaussian_kernel(X, Y=None, *, gamma: float) -> np.ndarray:
    """K[i, j] = exp(−γ‖x_i − y_j‖²): (n, d) × (m, d) → (n, m) float64 via the shared pairwise kernel."""
    x = as_matrix(X, "X", dtype=torch.float64)
    y = None if Y is None else as_matrix(Y, "Y", dtype=torch.float64)
    return pairwise_similarity(x, y, metric="gaussian", gamma=gamma).numpy()


def _check_targets(y, n: int) -> np.ndarray:
    Y = np.asarray(y, dtype=np.float64)
    Y = Y[:, None] if Y.ndim == 1 else Y
    if Y.shape[0] != n:
        raise ValueError(f"y has {Y.shape[0]} rows but there are {n} labeled points")
    if not np.all(np.isfinite(Y)):
        raise ValueError("y contains NaN or inf")
    return Y


def _check_beta(beta: float) -> None:
    if not beta > 0:
        raise ValueError(f"beta (ridge) must be > 0, got {beta}")


def polynomial_transformed_kernel(G, K_rows, K_cols, k_rows_cols, coeffs) -> np.ndarray:
    """K_s(A, B) for s(λ) = Σ_p coeffs[p−1] λ^p: (a, b) matrix.

    ``G`` = K(X, X) (N, N); ``K_rows`` = K(A, X) (a, N); ``K_cols`` = K(X, B) (N, b); ``k_rows_cols`` = K(A, B)."""
    G = np.asarray(G, dtype=np.float64)
    pi = np.asarray(coeffs, dtype=np.float64).ravel()
    if pi.size == 0 or not np.all(np.isfinite(pi)):
        raise ValueError(f"coeffs must be a non-empty list of finite π_p (p = 1, 2, …), got {coeffs}")
    N = G.shape[0]
    out = pi[0] * np.asarray(k_rows_cols, dtype=np.float64)
    Z = np.asarray(K_cols, dtype=np.float64) / N              # Z_2 = K(X, B) / N
    for p in range(2, pi.size + 1):
        if pi[p - 1] != 0.0:
            out = out + pi[p - 1] * (K_rows @ Z)                # π_p N^{-(p-1)} K(A, X) G^{p-2} K(X, B)
        if p < pi.size:
            Z = G @ Z / N                                       # Z_{p+1} = G Z_p / N
    return out


def top_eigenvalue(G) -> float:
    """λ_max(G/N) of a symmetric PSD Gram matrix (Lanczos): the scale η of the inverse Laplacian must stay below."""
    G = np.asarray(G, dtype=np.float64)
    N = G.shape[0]
    if N <= 2:
        return float(np.linalg.eigvalsh(G / N).max())
    v0 = np.ones(N) / np.sqrt(N)
    return float(eigsh(G / N, k=1, which="LA", v0=v0, return_eigenvectors=False)[0])


def inverse_laplacian_kernel(G, K_rows, K_cols, k_rows_cols, eta: float, *, lam_max: float | None = None):
    """K_s(A, B) for s(λ) = λ/(1 − ηλ): K(A, B) + (η/N) K(A, X)(I − ηG/N)^{-1} K(X, B); needs η·λ_max(G/N) < 1."""
    G = np.asarray(G, dtype=np.float64)
    N = G.shape[0]
    lam_max = top_eigenvalue(G) if lam_max is None else lam_max
    if not 0 < eta * lam_max < 1:
        raise ValueError(f"eta must satisfy 0 < η·λ_max < 1 (λ_max(G/N) = {lam_max:.4g}), got η = {eta}")
    Z = scipy.linalg.solve(np.eye(N) - (eta / N) * G, np.asarray(K_cols, dtype=np.float64), assume_a="pos")
    return np.asarray(k_rows_cols, dtype=np.float64) + (eta / N) * (np.asarray(K_rows) @ Z)


def krr_fit_predict(K_train, y, K_test, beta: float) -> np.ndarray:
    """KRR with any kernel: α = (K_train + nβ I)^{-1} y, prediction K_test α. (n, n), (n, c), (t, n) → (t, c)."""
    _check_beta(beta)
    K_train = np.asarray(K_train, dtype=np.float64)
    n = K_train.shape[0]
    Y = _check_targets(y, n)
    alpha = scipy.linalg.solve((K_train + K_train.T) / 2 + n * beta * np.eye(n), Y, assume_a="sym")
    return np.asarray(K_test, dtype=np.float64) @ alpha


TRANSFORMS = ("linear", "poly", "laplacian", "kpca")


class SpectralKernel:
    """The base kernel on the N labeled + unlabeled points ``X_all``, with G = K(X, X), λ_max(G/N) and (if
    ``n_eig`` > 0) the top eigenpairs of G/N computed once and reused by every transform and label set.

    K is the Gaussian kernel, degree-normalised when ``normalize``: K̃(x, x') = K(x, x') / √(d(x) d(x')),
    d(x) = (1/N) Σ_j K(x, X_j) — the point-cloud analogue of a normalised graph adjacency (top eigenvalue of
    G̃/N is 1, cluster eigenfunctions come next), still PSD, and defined for new points (inductive).

    ``neighbors`` = k keeps, in each row, only the k largest affinities (the point itself included), the
    abstract's "ε-neighbour kernel" in kNN form: G is symmetrised by max, a new point keeps its own k nearest.
    This sparsified kernel need not be PSD, and a training point queried as a new one sees its un-symmetrised
    row; both are the usual price of a kNN graph."""

    def __init__(self, X_all, *, gamma: float, n_eig: int = 0, normalize: bool = True,
                 neighbors: int | None = None):
        self.X = as_matrix(X_all, "X_all", dtype=torch.float64, allow_empty=False).numpy()
        if not gamma > 0:
            raise ValueError(f"gamma must be > 0, got {gamma}")
        if neighbors is not None and not 1 <= neighbors < self.X.shape[0]:
            raise ValueError(f"neighbors must satisfy 1 ≤ k < N = {self.X.shape[0]}, got {neighbors}")
        self.gamma, self.normalize, self.neighbors = float(gamma), normalize, neighbors
        G = self._affinity(self.X)
        if neighbors is not None:
            G = np.maximum(G, G.T)
        self.N = G.shape[0]
        self.degree = G.mean(axis=1)
        self.G = G / np.sqrt(np.outer(self.degree, self.degree)) if normalize else G
        self.lam_max = top_eigenvalue(self.G)
        if not 0 <= n_eig < self.N:
            raise ValueError(f"n_eig must satisfy 0 ≤ n_eig < N = {self.N}, got {n_eig}")
        self.eigvals = self.eigvecs = None
        if n_eig:
            lam, V = eigsh(self.G / self.N, k=n_eig, which="LA", v0=np.ones(self.N) / np.sqrt(self.N))
            order = np.argsort(-lam)
            self.eigvals, self.eigvecs = lam[order], V[:, order]

    def _affinity(self, X_new) -> np.ndarray:
        """Gaussian affinities K(X_new, X) (t, N), each row cut to its ``neighbors`` largest entries if set."""
        K = gaussian_kernel(X_new, self.X, gamma=self.gamma)
        if self.neighbors is not None:
            cut = np.partition(K, K.shape[1] - self.neighbors, axis=1)[:, K.shape[1] - self.neighbors]
            K = np.where(K >= cut[:, None], K, 0.0)
        return K

    def cross(self, X_new) -> np.ndarray:
        """K(X_new, X) (t, N), normalised with the new points' own degrees when ``normalize``."""
        K = self._affinity(X_new)
        if not self.normalize:
            return K
        d_new = K.mean(axis=1)
        return K / np.sqrt(np.outer(d_new, self.degree))

    def kpca_features(self, K_rows, d: int) -> np.ndarray:
        """ψ_1..ψ_d at rows K(A, X): K(A, X) v_j / (λ_j √N) (so ψ_j(X) = √N v_j): (a, d)."""
        if self.eigvals is None or not 1 <= d <= self.eigvals.size:
            raise ValueError(f"d must satisfy 1 ≤ d ≤ n_eig = {0 if self.eigvals is None else self.eigvals.size}")
        lam, V = self.eigvals[:d], self.eigvecs[:, :d]
        if lam[-1] <= 0:
            raise ValueError(f"G/N has fewer than {d} positive eigenvalues; lower d")
        return np.asarray(K_rows, dtype=np.float64) @ V / (lam * np.sqrt(self.N))

    def transformed(self, labeled, K_test, transform: str, *, degree: int = 8, eta_frac: float = 0.9,
                    d: int = 16) -> tuple[np.ndarray, np.ndarray]:
        """(K_s(X_n, X_n) (n, n), K_s(X_test, X_n) (t, n)) for one transform; ``K_test`` = K(X_test, X).

        'linear': s = λ (KRR); 'poly': s = λ^degree; 'laplacian': s = λ/(1 − ηλ), η = eta_frac/λ_max;
        'kpca': s = 1 on the top-d eigenvalues, 0 elsewhere (ridge on ψ_1..ψ_d)."""
        lab = np.asarray(labeled, dtype=np.int64)
        K_test = np.asarray(K_test, dtype=np.float64)
        G = self.G
        k_nn, k_tn = G[np.ix_(lab, lab)], K_test[:, lab]
        if transform == "linear":
            return k_nn, k_tn
        rows, k_rows = np.vstack([G[lab], K_test]), np.vstack([k_nn, k_tn])
        if transform == "poly":
            if not (isinstance(degree, (int, np.integer)) and degree >= 1):
                raise ValueError(f"degree must be an integer ≥ 1, got {degree!r}")
            coeffs = np.zeros(int(degree))
            coeffs[-1] = 1.0
            both = polynomial_transformed_kernel(G, rows, G[:, lab], k_rows, coeffs)
        elif transform == "laplacian":
            if not 0 < eta_frac < 1:
                raise ValueError(f"eta_frac must lie in (0, 1), got {eta_frac}")
            both = inverse_laplacian_kernel(G, rows, G[:, lab], k_rows, eta_frac / self.lam_max,
                                            lam_max=self.lam_max)
        elif transform == "kpca":
            F = self.kpca_features(rows, d)
            both = F @ F[:lab.size].T
        else:
            raise ValueError(f"transform must be one of {', '.join(TRANSFORMS)}, got {transform!r}")
        return both[:lab.size], both[lab.size:]


def stkr_predict(kernel: SpectralKernel, labeled, y, X_test, transform: str, *, beta: float, **kw) -> np.ndarray:
    """STKR predictions (t, c) at ``X_test`` from labels ``y`` of ``kernel.X[labeled]`` (test rows may belong
    to X_all — transductive — or not — inductive)."""
    Ks_nn, Ks_tn = kernel.transformed(labeled, kernel.cross(X_test), transform, **kw)
    return krr_fit_predict(Ks_nn, y, Ks_tn, beta)


def ssl_split(n: int, label_frac: float, test_frac: float, *, seed: int = 0, stratify=None):
    """Random split of n points into (train, val, test, other) index arrays, the paper's four sets: train and
    val labeled (each ``label_frac``·n, at least one point per class when ``stratify`` labels are given), test
    ``test_frac``·n, the rest unlabeled."""
    if not (0 < label_frac and 0 < test_frac and 2 * label_frac + test_frac < 1):
        raise ValueError(f"need label_frac > 0, test_frac > 0 and 2·label_frac + test_frac < 1, "
                         f"got {label_frac}, {test_frac}")
    rng = np.random.default_rng(seed)
    perm = rng.permutation(n)
    n_lab = max(1, int(round(label_frac * n)))
    n_test = max(1, int(round(test_frac * n)))
    if stratify is not None:                      # put one point of every class first, then fill at random
        lab = np.asarray(stratify)[perm]
        firsts = [perm[np.flatnonzero(lab == c)[0]] for c in np.unique(lab)]
        perm = np.concatenate([firsts, perm[~np.isin(perm, firsts)]])
        n_lab = max(n_lab, len(firsts))
    train = perm[:n_lab]
    rest = rng.permutation(perm[n_lab:])
    return train, rest[:n_lab], rest[n_lab:n_lab + n_test], rest[n_lab + n_test:]


def ssl_benchmark(X, labels, *, label_frac: float, test_frac: float = 0.1, seed: int = 0, gamma: float,
                  betas=(1e-4, 1e-3, 1e-2, 1e-1), degree: int = 8, eta_fracs=(0.5, 0.9, 0.99),
                  dims=(8, 16, 32, 64), lp_alphas=(0.2, 0.5, 0.8, 0.99),
                  neighbors: int | None = None) -> dict[str, float]:
    """Test accuracy of KRR, STKR (poly λ^degree, inverse Laplacian, KPCA top-d) and label spreading on one
    split, transductive ('…_t': test points among the unlabeled) and inductive ('…_i': test points unseen).

    Every method picks its hyper-parameters on the labeled validation set (as the paper's train/val/test/other
    protocol does) and is then scored once on the test set. Classes are one-hot targets, prediction = argmax.
    ``neighbors`` switches the base kernel to its kNN-sparsified form, and label spreading to sklearn's kNN
    graph with the same k."""
    from sklearn.semi_supervised import LabelSpreading
    X = as_matrix(X, "X", dtype=torch.float64, allow_empty=False).numpy()
    labels = np.asarray(labels)
    classes, y_int = np.unique(labels, return_inverse=True)
    Y = np.eye(classes.size)[y_int]
    train, val, test, other = ssl_split(X.shape[0], label_frac, test_frac, seed=seed, stratify=y_int)
    grids = {"linear": [{}], "poly": [{"degree": degree}], "laplacian": [{"eta_frac": e} for e in eta_fracs],
             "kpca": [{"d": d} for d in dims]}
    names = {"linear": "krr", "poly": "sp_poly", "laplacian": "sp_lap", "kpca": "sp_topd"}
    out: dict[str, float] = {}
    for setting, pool in (("t", np.concatenate([train, val, test, other])),
                          ("i", np.concatenate([train, val, other]))):
        kernel = SpectralKernel(X[pool], gamma=gamma, n_eig=max(dims), neighbors=neighbors)
        lab = np.arange(train.size)                           # train comes first in the pool
        K_eval = kernel.cross(np.vstack([X[val], X[test]]))
        for transform, grid in grids.items():
            best = (-1.0, None)
            for kw in grid:
                Ks_nn, Ks_et = kernel.transformed(lab, K_eval, transform, **kw)
                for beta in betas:
                    pred = krr_fit_predict(Ks_nn, Y[train], Ks_et, beta).argmax(1)
                    acc_val = float(np.mean(pred[:val.size] == y_int[val]))
                    if acc_val > best[0]:
                        best = (acc_val, float(np.mean(pred[val.size:] == y_int[test])))
            out[f"{names[transform]}_{setting}"] = best[1]
    pool = np.concatenate([train, val, test, other])
    partial = np.full(pool.size, -1)
    partial[:train.size] = y_int[train]
    best = (-1.0, None)
    for a in lp_alphas:
        graph = {"kernel": "rbf", "gamma": gamma} if neighbors is None else {"kernel": "knn", "n_neighbors": neighbors}
        lp = LabelSpreading(alpha=a, max_iter=1000, **graph).fit(X[pool], partial)
        pred = lp.transduction_
        acc_val = float(np.mean(pred[train.size:train.size + val.size] == y_int[val]))
        if acc_val > best[0]:
            best = (acc_val, float(np.mean(pred[train.size + val.size:train.size + val.size + test.size]
                                           == y_int[test])))
    out["lp_t"] = best[1]
    return out
