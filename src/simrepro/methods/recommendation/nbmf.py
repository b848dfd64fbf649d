r"""Collaborative filtering by non-negative/binary matrix factorisation with masked unrated entries
(Terui, Inoue, Hamakawa, Tatsumura & Kudo, arXiv 2410.10381; Frontiers in Big Data 2025).

The rating matrix V (users × items, ratings 1..5, unrated = 0) is factorised V ≈ W H with W ≥ 0 and
H ∈ {0,1}^{k×m} (the kernel :func:`simrepro.kernels.masked_factorization.masked_nbmf`):

- *masked* NBMF (the paper's modification): the loss and both updates see only the rated training entries,
  L = Σ_ij M_ij (V_ij − (WH)_ij)² + λ‖W‖², M_ij = 1 iff user i rated item j in the training split;
- *unmasked* NBMF (the earlier, image-style NBMF): M = 1 everywhere, unrated entries fitted as 0.

The H-step the paper hands to an Ising machine (a QUBO per item) is solved here exactly by enumeration
(k ≤ 12). Predictions r̂_ij = (WH)_ij are clipped to the rating range [1, 5] before RMSE / MAE (the same
for every method; the unclipped errors are available through ``clip=None``).

Splits: :func:`random_rating_split` holds out a uniformly random ``test_fraction`` of all observed ratings
(seeded), returned as the wave harness's :class:`~simrepro.methods.recommendation.evaluation.Split`.
"""

from __future__ import annotations

import numpy as np

from simrepro.kernels import masked_factorization as mf
from simrepro.methods.recommendation import evaluation as ev

RATING_RANGE = (1.0, 5.0)


def random_rating_split(inter: ev.Interactions, test_fraction: float = 0.2, *, seed: int = 0) -> ev.Split:
    """A uniformly random ``test_fraction`` of the ratings is test (⌊f·n⌉ of them), the rest train; seeded."""
    return _random_split(inter.n_users, inter.n_items, inter.users, inter.items, inter.ratings, test_fraction, seed)


def _random_split(n_users, n_items, users, items, ratings, test_fraction, seed) -> ev.Split:
    if not 0 < test_fraction < 1:
        raise ValueError(f"test_fraction must be in (0, 1), got {test_fraction}")
    n = len(users)
    n_test = int(round(test_fraction * n))
    if n_test == 0 or n_test == n:
        raise ValueError(f"{n} ratings cannot be split with test_fraction={test_fraction} (empty train or test)")
    perm = np.random.default_rng(seed).permutation(n)
    te, tr = np.sort(perm[:n_test]), np.sort(perm[n_test:])
    return ev.Split(n_users, n_items, users[tr], items[tr], ratings[tr], users[te], items[te], ratings[te])


def train_arrays(split: ev.Split) -> tuple[np.ndarray, np.ndarray]:
    """Dense training ratings V (U, I) float64 (0 where unrated) and the mask M (1 where rated)."""
    V = np.zeros((split.n_users, split.n_items))
    M = np.zeros_like(V)
    V[split.train_users, split.train_items] = split.train_ratings
    M[split.train_users, split.train_items] = 1.0
    return V, M


def predict_pairs(P: np.ndarray, users, items, clip=RATING_RANGE) -> np.ndarray:
    """r̂ = P[u, i] for the given pairs, clipped to ``clip`` (None: raw)."""
    p = np.asarray(P)[np.asarray(users), np.asarray(items)]
    return p if clip is None else np.clip(p, *clip)


def fit_nbmf(split: ev.Split, k: int = 10, *, masked: bool = True, reg: float = 1.0, n_iter: int = 30,
             w_iters: int = 100, seed: int = 0) -> mf.Factorisation:
    """Masked (the paper's) or unmasked NBMF of the split's training ratings."""
    V, M = train_arrays(split)
    return mf.masked_nbmf(V, M if masked else None, k, n_iter=n_iter, w_iters=w_iters, reg=reg, seed=seed)


def fit_masked_nmf(split: ev.Split, k: int = 10, *, masked: bool = True, n_iter: int = 200,
                   seed: int = 0) -> mf.Factorisation:
    """Masked (or unmasked) NMF by multiplicative updates on the split's training ratings."""
    V, M = train_arrays(split)
    return mf.masked_nmf(V, M if masked else None, k, n_iter=n_iter, seed=seed)


def sklearn_nmf(split: ev.Split, k: int = 10, *, max_iter: int = 200, seed: int = 0) -> np.ndarray:
    """scikit-learn NMF (frobenius, coordinate descent, nndsvda init) of the zero-filled training matrix:
    the unmasked peer. Returns W H (U, I)."""
    from sklearn.decomposition import NMF
    V, _ = train_arrays(split)
    model = NMF(n_components=k, init="nndsvda", max_iter=max_iter, random_state=seed, tol=1e-4)
    W = model.fit_transform(V)
    return W @ model.components_


def errors(split: ev.Split, P: np.ndarray, clip=RATING_RANGE) -> dict[str, float]:
    """Held-out RMSE and MAE of the prediction matrix P on the split's test ratings (harness metrics)."""
    p = predict_pairs(P, split.test_users, split.test_items, clip)
    return {"rmse": ev.rmse(split.test_ratings, p), "mae": ev.mae(split.test_ratings, p)}


def tune_reg(split: ev.Split, grid, k: int = 10, *, masked: bool = True, n_iter: int = 30, w_iters: int = 100,
             validation_fraction: float = 0.1, seed: int = 0) -> tuple[float, dict[float, float]]:
    """λ from ``grid`` minimising validation RMSE, the validation ratings carved (seeded) out of the split's
    *training* ratings only (the test ratings are never seen). Returns (best λ, {λ: validation RMSE})."""
    grid = [float(g) for g in grid]
    if not grid:
        raise ValueError("grid is empty; give at least one regularisation value")
    inner = _random_split(split.n_users, split.n_items, split.train_users, split.train_items,
                          split.train_ratings, validation_fraction, seed + 7919)
    scores = {}
    for lam in grid:
        f = fit_nbmf(inner, k, masked=masked, reg=lam, n_iter=n_iter, w_iters=w_iters, seed=seed)
        scores[lam] = errors(inner, f.predict())["rmse"]
    best = min(grid, key=lambda g: (scores[g], g))
    return best, scores
