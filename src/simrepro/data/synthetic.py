"""Seeded synthetic data sets, one function per generator; each returns its data together with its ground truth.

Generators are deterministic given ``seed`` (numpy ``default_rng``) and never touch the asset store.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def _check_positive_ints(**kw) -> None:
    for name, v in kw.items():
        if not (isinstance(v, (int, np.integer)) and v >= 1):
            raise ValueError(f"{name} must be a positive integer, got {v!r}")


def _check_probability(name: str, v: float) -> None:
    if not (0.0 <= v <= 1.0):
        raise ValueError(f"{name} must lie in [0, 1], got {v}")


@dataclass(frozen=True)
class ClusteredInteractions:
    """Binary user × item matrix with planted item clusters.

    X (n_users, n_items) float64 ∈ {0, 1}; item_cluster (n_items,) and user_cluster (n_users,) int labels (items
    are sorted by cluster, so heatmaps in item order show the blocks); item_popularity (n_items,) the power-law
    weights that drive how often each item is consumed (sum 1)."""

    X: np.ndarray
    item_cluster: np.ndarray
    user_cluster: np.ndarray
    item_popularity: np.ndarray


def clustered_interactions(n_users: int = 2000, n_items: int = 200, n_clusters: int = 5, *,
                           popularity_exponent: float = 1.0, mean_items_per_user: float = 10.0,
                           off_cluster: float = 0.1, seed: int = 0) -> ClusteredInteractions:
    """Users consume items mostly from their own cluster, popular items more often.

    Item i has popularity πᵢ ∝ rᵢ^(−a) (rᵢ a random rank 1..n_items, a = ``popularity_exponent``: a power law);
    user u belongs to cluster c(u) and draws its interactions with probability
        P(u, i) = 1 − exp(−m · πᵢ · aff(u, i) / Z_c(u)),   aff = 1 if c(u) = c(i) else ``off_cluster``,
    Z_c = Σᵢ πᵢ·aff, so that a user expects about m = ``mean_items_per_user`` items (fewer when rates saturate).
    Items are numbered cluster by cluster (cluster sizes differ by at most one).
    """
    _check_positive_ints(n_users=n_users, n_items=n_items, n_clusters=n_clusters)
    if n_clusters > n_items:
        raise ValueError(f"n_clusters ({n_clusters}) cannot exceed n_items ({n_items})")
    _check_probability("off_cluster", off_cluster)
    if not (popularity_exponent >= 0 and mean_items_per_user > 0):
        raise ValueError("popularity_exponent must be ≥ 0 and mean_items_per_user > 0")
    rng = np.random.default_rng(seed)
    item_cluster = np.arange(n_items) * n_clusters // n_items          # sorted, sizes differ by ≤ 1
    ranks = rng.permutation(n_items) + 1.0
    pop = ranks ** (-popularity_exponent)
    pop /= pop.sum()
    user_cluster = rng.integers(0, n_clusters, size=n_users)
    X = np.zeros((n_users, n_items))
    for c in range(n_clusters):
        users = np.flatnonzero(user_cluster == c)
        aff = np.where(item_cluster == c, 1.0, off_cluster)
        rate = pop * aff
        rate *= mean_items_per_user / rate.sum()
        prob = 1.0 - np.exp(-rate)
        X[users] = (rng.random((len(users), n_items)) < prob[None, :]).astype(np.float64)
    return ClusteredInteractions(X=X, item_cluster=item_cluster, user_cluster=user_cluster, item_popularity=pop)
