r"""Baseline recommenders on a binary training matrix X (U, I) (CSR; x_ui = 1 if u interacted with i).

Each returns scores for :mod:`~simrepro.methods.recommendation.evaluation` (a dense (U, I) matrix or factors
``(P, Q)`` with S = P Qᵀ):

- :func:`popularity_scores`: s_ui = c_i = Σ_u x_ui (factors: P = 1, Q = c).
- :func:`random_scores`: s_ui ~ U(0, 1) i.i.d., seeded.
- :func:`item_knn_scores`: s_ui = Σ_j x_uj · sim_k(j, i), sim_k the item–item cosine (with shrinkage λ) kept
  to each item's k nearest neighbours (:func:`simrepro.kernels.sparse_similarity.sparse_cosine_similarity`).
- :func:`als_factors`, :func:`bpr_factors`: implicit 0.7.3's CPU ALS (Hu, Koren & Volinsky 2008, confidence
  1 + α·x_ui) and BPR-MF (Rendle et al. 2009), one thread (``num_threads=1``, BLAS limited to 1 thread as
  implicit advises), ``random_state`` = seed: deterministic for a seed.
- :class:`BiasBaseline`: rating prediction r̂_ui = μ + b_u + b_i (Koren 2010), ridge-regularised biases
  fitted by alternating exact updates.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from simrepro.kernels.sparse_similarity import sparse_cosine_similarity


def _csr(X) -> sp.csr_matrix:
    X = sp.csr_matrix(X, dtype=np.float64)
    if not np.isfinite(X.data).all():
        raise ValueError("training matrix contains NaN or inf")
    return X


def popularity_scores(X) -> tuple[np.ndarray, np.ndarray]:
    """Factors (P = ones (U, 1), Q = item counts (I, 1)): every user gets the most popular items."""
    X = _csr(X)
    c = np.asarray((X != 0).sum(axis=0), dtype=np.float64).reshape(-1, 1)
    return np.ones((X.shape[0], 1)), c


def random_scores(X, seed: int = 0) -> np.ndarray:
    """Dense (U, I) i.i.d. U(0, 1) scores, seeded."""
    X = _csr(X)
    return np.random.default_rng(seed).random(X.shape)


def item_knn_scores(X, k: int = 50, shrink: float = 10.0) -> np.ndarray:
    """Dense (U, I) item-kNN scores X · S_k (S_k: cosine kept to each item's ``k`` neighbours, rows = items)."""
    X = _csr(X)
    S = sparse_cosine_similarity(X, shrink=shrink, topk=k)                       # (I, I): row j = j's neighbours
    return np.asarray((X @ S).todense())


def _implicit_fit(model, X):
    from threadpoolctl import threadpool_limits
    with threadpool_limits(1, "blas"):
        model.fit(sp.csr_matrix(X, dtype=np.float32), show_progress=False)
    return np.asarray(model.user_factors, np.float64), np.asarray(model.item_factors, np.float64)


def als_factors(X, factors: int = 64, regularization: float = 0.05, alpha: float = 2.0, iterations: int = 15,
                seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """implicit's ALS on X (confidence 1 + α·x_ui): factors (P (U, d), Q (I, d))."""
    from implicit.cpu.als import AlternatingLeastSquares
    model = AlternatingLeastSquares(factors=factors, regularization=regularization, alpha=alpha,
                                    iterations=iterations, num_threads=1, random_state=seed)
    return _implicit_fit(model, _csr(X))


def bpr_factors(X, factors: int = 64, learning_rate: float = 0.05, regularization: float = 0.01,
                iterations: int = 100, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """implicit's BPR-MF on X: factors (P (U, d+1), Q (I, d+1)), the last column carrying the item bias."""
    from implicit.cpu.bpr import BayesianPersonalizedRanking
    model = BayesianPersonalizedRanking(factors=factors, learning_rate=learning_rate,
                                        regularization=regularization, iterations=iterations, num_threads=1,
                                        random_state=seed)
    return _implicit_fit(model, _csr(X))


class BiasBaseline:
    """r̂_ui = μ + b_u + b_i; b minimises Σ (r_ui − μ − b_u − b_i)² + λ_u Σ b_u² + λ_i Σ b_i² (alternating
    exact updates: b_i = Σ_u (r − μ − b_u) / (λ_i + n_i), then b_u likewise)."""

    def __init__(self, reg_user: float = 10.0, reg_item: float = 10.0, sweeps: int = 10):
        if reg_user < 0 or reg_item < 0 or sweeps < 1:
            raise ValueError("regularisation must be ≥ 0 and sweeps ≥ 1")
        self.reg_user, self.reg_item, self.sweeps = reg_user, reg_item, sweeps

    def fit(self, users, items, ratings, n_users: int, n_items: int) -> BiasBaseline:
        u, i, r = (np.asarray(a) for a in (users, items, ratings))
        if len(r) == 0 or not np.isfinite(r).all():
            raise ValueError("need a non-empty set of finite ratings")
        self.mu = float(r.mean())
        self.bu, self.bi = np.zeros(n_users), np.zeros(n_items)
        nu, ni = np.bincount(u, minlength=n_users), np.bincount(i, minlength=n_items)
        for _ in range(self.sweeps):
            self.bi = np.bincount(i, r - self.mu - self.bu[u], n_items) / (self.reg_item + ni)
            self.bu = np.bincount(u, r - self.mu - self.bi[i], n_users) / (self.reg_user + nu)
        return self

    def predict(self, users, items) -> np.ndarray:
        return self.mu + self.bu[np.asarray(users)] + self.bi[np.asarray(items)]


BASELINES = ("popularity", "random", "item_knn", "als", "bpr")


def fit_baselines(X, seed: int = 0, names: tuple[str, ...] = BASELINES, *, knn_k: int = 50, knn_shrink: float = 10.0,
                  factors: int = 64, als_iterations: int = 15, bpr_iterations: int = 100) -> dict:
    """Scores of each named baseline on X (name → dense (U, I) scores or factors), seeded where random."""
    fits = {"popularity": lambda: popularity_scores(X), "random": lambda: random_scores(X, seed),
            "item_knn": lambda: item_knn_scores(X, k=knn_k, shrink=knn_shrink),
            "als": lambda: als_factors(X, factors=factors, iterations=als_iterations, seed=seed),
            "bpr": lambda: bpr_factors(X, factors=factors, iterations=bpr_iterations, seed=seed)}
    unknown = set(names) - set(fits)
    if unknown:
        raise ValueError(f"unknown baselines {sorted(unknown)}; choose from {BASELINES}")
    return {n: fits[n]() for n in names}
