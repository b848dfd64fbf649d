r"""Click A, Buy B: conversion attribution with CABA / CABB heads and taxonomy-aware CF weights (Zeng, Jaspal, Liu,
Panneeru, Huang, Bievre, Jaggi, Maniraju & Jain, Meta, arXiv 2507.15113, 2025). No official code, proprietary
data: this module implements the method as the abstract states it, on a seeded simulation with ground truth.

**Simulation** (:func:`simulate_clicks`, the replication plan's). A 3-level product taxonomy (top → mid → leaf);
every item sits in one leaf; every leaf has ``n_complements`` complement leaves in other top categories (the phone
and its case). A click session (user u, clicked item A) ends in at most one purchase, drawn in order:

    buy A (CABA)               with  π = σ(c_A + a_A + z_u)
    else buy a related B       with  ρ = σ(c_R + r_A)        B from A's leaf (substitute) or a complement leaf
    else buy an unrelated B    with  κ = σ(c_U + s_u)        B uniform over items: coincidental

s_u is the user's shopping propensity; users click items with probability ∝ exp(h_A·s_u), so heavy shoppers
favour some items, whose raw conversions are inflated by coincidental purchases ("items that merely correlate with
purchases"). The genuine label is y* = 1{CABA or related CABB}; the raw last-click label y = 1{any purchase}.

**Category similarity from co-engagement** (:func:`category_similarity_ppmi`, peer :func:`category_similarity_als`).
Browsing sessions view items of a leaf, of its complements and a few random ones; with S the (sessions × leaves)
0/1 matrix, C = SᵀS (diagonal zeroed), P = PPMI(C) (``kernels.pmi``) and

    sim(ℓ, m) = cos(P_ℓ, P_m) (``kernels.sparse_similarity``),  sim(ℓ, ℓ) = 1;
    peer: sim = cos(Q_ℓ, Q_m) with Q the leaf factors of implicit's ALS on S.

**Models** (logistic heads on one-hot item, leaf and user-segment features, L2, :func:`fit_logistic`):

    last-click:  p̂ = σ(f(x))   trained on y (any purchase)
    multi-task:  p̂ = p̂_CABA + p̂_CABB,  p̂_CABA trained on 1{buy A},  p̂_CABB on the soft label w(A, B)·1{buy B ≠ A}
    with w(A, B) = clip(sim(leaf A, leaf B), 0, 1) ('weighted'), w = 1 ('unweighted'), or w = 1{same mid
    category} ('taxonomy only'), or w = the true relation ('oracle').

The soft-label head minimises Σ_i [−t_i log p_i − (1 − t_i) log(1 − p_i)] + (λ/2)‖β‖² (intercept free), so its
prediction estimates E[w·1{CABB}] — the probability of an informative CABB conversion when w separates related
from coincidental pairs. CABA and CABB are exclusive events, hence the sum.

**Normalised entropy** (He et al., ADKDD 2014): NE = [−(1/N) Σ y log p + (1 − y) log(1 − p)] / H(ȳ), H the binary
entropy of the label's base rate; NE < 1 beats predicting the base rate. Evaluated on the genuine label y*.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from scipy.optimize import minimize
from scipy.special import expit

EPS = 1e-12


# --------------------------------------------------------------------------------------------- taxonomy

@dataclass
class Taxonomy:
    """A 3-level tree: ``mid_of_leaf`` (L,), ``top_of_mid`` (M,), ``complements`` (L, c) leaf ids."""

    mid_of_leaf: np.ndarray
    top_of_mid: np.ndarray
    complements: np.ndarray

    @property
    def n_leaves(self) -> int:
        return len(self.mid_of_leaf)

    def top_of_leaf(self) -> np.ndarray:
        return self.top_of_mid[self.mid_of_leaf]

    def related(self) -> np.ndarray:
        """(L, L) bool: the same leaf or a complement pair (symmetrised)."""
        R = np.eye(self.n_leaves, dtype=bool)
        rows = np.repeat(np.arange(self.n_leaves), self.complements.shape[1])
        R[rows, self.complements.ravel()] = True
        return R | R.T


def make_taxonomy(n_top: int = 5, mids_per_top: int = 5, leaves_per_mid: int = 8, n_complements: int = 2,
                  seed: int = 0) -> Taxonomy:
    """Balanced tree (n_top · mids_per_top · leaves_per_mid leaves; the plan's 200 by default); each leaf gets
    ``n_complements`` complement leaves drawn from other top categories."""
    if min(n_top, mids_per_top, leaves_per_mid) < 1 or n_top < 2:
        raise ValueError("need n_top ≥ 2 and mids_per_top, leaves_per_mid ≥ 1")
    rng = np.random.default_rng(seed)
    top_of_mid = np.repeat(np.arange(n_top), mids_per_top)
    mid_of_leaf = np.repeat(np.arange(n_top * mids_per_top), leaves_per_mid)
    top = top_of_mid[mid_of_leaf]
    L = len(mid_of_leaf)
    comp = np.empty((L, n_complements), dtype=np.int64)
    for leaf in range(L):
        pool = np.flatnonzero(top != top[leaf])
        comp[leaf] = rng.choice(pool, size=n_complements, replace=False)
    return Taxonomy(mid_of_leaf=mid_of_leaf, top_of_mid=top_of_mid, complements=comp)


# ------------------------------------------------------------------------------------------- simulation

@dataclass
class ClickLog:
    """One row per click session: ``user``, ``item`` (A), ``segment`` (observed user bucket), ``bought``
    (item id or −1), ``kind`` (0 none, 1 CABA, 2 related CABB, 3 coincidental CABB)."""

    user: np.ndarray
    item: np.ndarray
    segment: np.ndarray
    bought: np.ndarray
    kind: np.ndarray

    def __len__(self) -> int:
        return len(self.user)

    @property
    def y_last_click(self) -> np.ndarray:
        return (self.kind > 0).astype(float)

    @property
    def y_genuine(self) -> np.ndarray:
        return ((self.kind == 1) | (self.kind == 2)).astype(float)

    @property
    def y_caba(self) -> np.ndarray:
        return (self.kind == 1).astype(float)

    @property
    def is_cabb(self) -> np.ndarray:
        return self.kind >= 2

    def subset(self, idx) -> "ClickLog":
        return ClickLog(self.user[idx], self.item[idx], self.segment[idx], self.bought[idx], self.kind[idx])


@dataclass
class Market:
    """Items and users of a simulation: ``leaf_of_item`` (I,), item effects ``a``, ``r``, ``h`` (I,), user
    ``s``, ``z`` (U,), the noisy observed ``segment`` (U,) and the intercepts ``c`` = (c_A, c_R, c_U)."""

    taxonomy: Taxonomy
    leaf_of_item: np.ndarray
    a: np.ndarray
    r: np.ndarray
    h: np.ndarray
    s: np.ndarray
    z: np.ndarray
    segment: np.ndarray
    c: tuple[float, float, float]

    @property
    def n_items(self) -> int:
        return len(self.leaf_of_item)


def make_market(taxonomy: Taxonomy, *, n_items: int = 2000, n_users: int = 5000, c_caba: float = -3.0,
                c_related: float = -3.0, c_unrelated: float = -3.0, item_sd: float = 0.7, shopper_sd: float = 1.0,
                appeal_sd: float = 1.0, n_segments: int = 4, segment_noise: float = 1.0, seed: int = 0) -> Market:
    """Items spread uniformly over leaves (each leaf ≥ 1 item), item effects a, r ~ N(0, item_sd²), heavy-shopper
    appeal h ~ N(0, appeal_sd²); user propensity s ~ N(0, shopper_sd²), taste z ~ N(0, 0.5²); the observed segment
    is the quantile bucket of s + N(0, segment_noise²) (a noisy proxy, as a platform would have)."""
    L = taxonomy.n_leaves
    if n_items < L:
        raise ValueError(f"n_items={n_items} < {L} leaves: every leaf needs an item")
    rng = np.random.default_rng(seed)
    leaf = np.r_[np.arange(L), rng.integers(0, L, size=n_items - L)]
    leaf = rng.permutation(leaf)
    s = rng.normal(0, shopper_sd, n_users)
    proxy = s + rng.normal(0, segment_noise, n_users)
    seg = np.searchsorted(np.quantile(proxy, np.linspace(0, 1, n_segments + 1)[1:-1]), proxy)
    return Market(taxonomy=taxonomy, leaf_of_item=leaf, a=rng.normal(0, item_sd, n_items),
                  r=rng.normal(0, item_sd, n_items), h=rng.normal(0, appeal_sd, n_items), s=s,
                  z=rng.normal(0, 0.5, n_users), segment=seg, c=(c_caba, c_related, c_unrelated))


def simulate_clicks(market: Market, n_sessions: int, *, p_substitute: float = 0.6, seed: int = 0) -> ClickLog:
    """Draw ``n_sessions`` click sessions (module docstring). Users uniform; the clicked item of user u drawn
    ∝ exp(h_A·s_u) by inverting each user's CDF (one (U, I) table, U·I floats: memory bound of this function)."""
    if n_sessions < 1:
        raise ValueError("n_sessions must be ≥ 1")
    rng = np.random.default_rng(seed)
    tax, I, U = market.taxonomy, market.n_items, len(market.s)
    user = rng.integers(0, U, n_sessions)
    logits = np.outer(market.s, market.h)
    P = np.exp(logits - logits.max(1, keepdims=True))
    cdf = np.cumsum(P, 1)
    cdf /= cdf[:, -1:]
    flat = (cdf + np.arange(U)[:, None]).ravel()                 # row u lives in (u, u + 1]
    pos = np.searchsorted(flat, user + rng.random(n_sessions) * (1 - 1e-12), side="left")
    item = np.minimum(pos - user * I, I - 1)
    cA, cR, cU = market.c
    p_a = expit(cA + market.a[item] + market.z[user])
    p_r = expit(cR + market.r[item])
    p_u = expit(cU + market.s[user])
    u1, u2, u3 = rng.random((3, n_sessions))
    kind = np.where(u1 < p_a, 1, np.where(u2 < p_r, 2, np.where(u3 < p_u, 3, 0)))
    items_by_leaf = [np.flatnonzero(market.leaf_of_item == ell) for ell in range(tax.n_leaves)]
    bought = np.full(n_sessions, -1, dtype=np.int64)
    bought[kind == 1] = item[kind == 1]
    for i in np.flatnonzero(kind == 2):
        leaf = market.leaf_of_item[item[i]]
        target = leaf if rng.random() < p_substitute else tax.complements[leaf, rng.integers(tax.complements.shape[1])]
        pool = items_by_leaf[target]
        pool = pool[pool != item[i]] if len(pool) > 1 else pool
        bought[i] = rng.choice(pool)
    n3 = int((kind == 3).sum())
    bought[kind == 3] = rng.integers(0, I, n3)
    return ClickLog(user=user, item=item, segment=market.segment[user], bought=bought, kind=kind)


def simulate_coengagement(taxonomy: Taxonomy, n_sessions: int, *, complement_views: int = 2,
                          noise_views: int = 1, seed: int = 0) -> sp.csr_matrix:
    """(n_sessions, L) 0/1 browsing sessions: the session's leaf, ``complement_views`` draws among its complement
    leaves and ``noise_views`` uniform leaves (repeats collapse to 1): the co-engagement logs."""
    rng = np.random.default_rng(seed)
    L = taxonomy.n_leaves
    base = rng.integers(0, L, n_sessions)
    cols = [base]
    for _ in range(complement_views):
        cols.append(taxonomy.complements[base, rng.integers(taxonomy.complements.shape[1], size=n_sessions)])
    for _ in range(noise_views):
        cols.append(rng.integers(0, L, n_sessions))
    C = np.stack(cols, 1)
    S = sp.csr_matrix((np.ones(C.size), (np.repeat(np.arange(n_sessions), C.shape[1]), C.ravel())),
                      shape=(n_sessions, L))
    S.data[:] = 1.0
    return S


# --------------------------------------------------------------------------------- category similarity

def _with_unit_diagonal(S: np.ndarray) -> np.ndarray:
    S = np.asarray(S, dtype=np.float64).copy()
    np.fill_diagonal(S, 1.0)
    return S


def category_similarity_ppmi(sessions) -> np.ndarray:
    """(L, L) sim = cosine of the rows of PPMI(SᵀS, diagonal zeroed), unit diagonal (module docstring)."""
    from simrepro.kernels.pmi import pmi
    from simrepro.kernels.sparse_similarity import sparse_cosine_similarity

    S = sp.csr_matrix(sessions, dtype=np.float64)
    C = (S.T @ S).tolil()
    C.setdiag(0)
    P = pmi(C.tocsr(), "ppmi")
    return _with_unit_diagonal(sparse_cosine_similarity(P, zero_diagonal=True).toarray())


def category_similarity_ppmi_reference(sessions) -> np.ndarray:
    """Dense loops from the definitions: counts, PPMI, cosine. The reference for tests."""
    S = np.asarray(sp.csr_matrix(sessions).toarray(), dtype=np.float64)
    L = S.shape[1]
    C = S.T @ S
    np.fill_diagonal(C, 0)
    N, r = C.sum(), C.sum(1)
    P = np.zeros_like(C)
    for i in range(L):
        for j in range(L):
            if C[i, j] > 0:
                P[i, j] = max(np.log(C[i, j] * N / (r[i] * r[j])), 0.0)
    out = np.eye(L)
    for i in range(L):
        for j in range(L):
            ni, nj = np.linalg.norm(P[:, i]), np.linalg.norm(P[:, j])
            if i != j and ni > 0 and nj > 0:
                out[i, j] = P[:, i] @ P[:, j] / (ni * nj)
    return out


def category_similarity_als(sessions, *, factors: int = 32, regularization: float = 0.05, alpha: float = 2.0,
                            iterations: int = 15, seed: int = 0) -> np.ndarray:
    """(L, L) cosine of implicit's ALS leaf factors on the sessions matrix (the CF peer), unit diagonal."""
    from simrepro.methods.recommendation.baselines import als_factors

    _, Q = als_factors(sp.csr_matrix(sessions), factors=factors, regularization=regularization, alpha=alpha,
                       iterations=iterations, seed=seed)
    Qn = Q / np.maximum(np.linalg.norm(Q, axis=1, keepdims=True), EPS)
    return _with_unit_diagonal(Qn @ Qn.T)


def pair_weights(log: ClickLog, leaf_of_item: np.ndarray, sim: np.ndarray) -> np.ndarray:
    """w(A, B) = clip(sim[leaf A, leaf B], 0, 1) for CABB sessions, 0 elsewhere."""
    sim = np.asarray(sim, dtype=np.float64)
    if not np.all(np.isfinite(sim)):
        raise ValueError("category similarity contains NaN or inf")
    w = np.zeros(len(log))
    c = log.is_cabb
    w[c] = np.clip(sim[leaf_of_item[log.item[c]], leaf_of_item[log.bought[c]]], 0.0, 1.0)
    return w


# ----------------------------------------------------------------------------------------------- models

def features(log: ClickLog, leaf_of_item: np.ndarray, n_segments: int) -> sp.csr_matrix:
    """(N, I + L + n_segments) one-hot item | leaf | user segment, CSR."""
    I, L = len(leaf_of_item), int(leaf_of_item.max()) + 1
    n = len(log)
    cols = np.stack([log.item, I + leaf_of_item[log.item], I + L + log.segment], 1)
    X = sp.csr_matrix((np.ones(3 * n), (np.repeat(np.arange(n), 3), cols.ravel())), shape=(n, I + L + n_segments))
    return X


@dataclass
class Logistic:
    coef: np.ndarray
    intercept: float

    def predict(self, X) -> np.ndarray:
        return expit(X @ self.coef + self.intercept)


def fit_logistic(X, t, *, l2: float = 1.0, tol: float = 1e-7, max_iter: int = 1000) -> Logistic:
    """L2 logistic regression on soft labels t ∈ [0, 1] (module docstring), L-BFGS on the exact objective
    Σ CE(t_i, σ(x_iβ + b)) + (l2/2)‖β‖², intercept unpenalised, until the largest gradient entry of the objective
    divided by n is ≤ ``tol``. Equals scikit-learn's LogisticRegression(C=1/l2)
    on the rows duplicated with labels 1 / 0 and sample weights t / 1 − t (tested)."""
    X = sp.csr_matrix(X, dtype=np.float64)
    t = np.asarray(t, dtype=np.float64)
    if X.shape[0] != len(t) or len(t) == 0:
        raise ValueError(f"X has {X.shape[0]} rows and t {len(t)} labels; need the same, ≥ 1")
    if not np.all(np.isfinite(t)) or t.min() < 0 or t.max() > 1:
        raise ValueError("labels must be finite and in [0, 1]")
    d = X.shape[1]
    XT = X.T.tocsr()

    def f(theta):
        z = X @ theta[:d] + theta[d]
        # CE(t, σ(z)) = log(1 + e^z) − t·z, stable via logaddexp
        loss = np.sum(np.logaddexp(0.0, z) - t * z) + 0.5 * l2 * theta[:d] @ theta[:d]
        g = expit(z) - t
        return loss, np.r_[XT @ g + l2 * theta[:d], g.sum()]

    n = len(t)

    def f_scaled(theta):                                          # the objective / n: tolerances independent of n
        loss, g = f(theta)
        return loss / n, g / n

    b0 = np.log((t.mean() + EPS) / (1 - t.mean() + EPS))
    res = minimize(f_scaled, np.r_[np.zeros(d), b0], jac=True, method="L-BFGS-B",
                   options={"maxiter": max_iter, "gtol": tol, "ftol": 0.0})
    return Logistic(coef=res.x[:d], intercept=float(res.x[d]))


def fit_platt(scores, y) -> tuple[float, float]:
    """Platt recalibration p = σ(a·logit(s) + b) fitted by maximum likelihood on (scores, y)."""
    z = np.log(np.clip(scores, EPS, 1 - EPS)) - np.log1p(-np.clip(scores, EPS, 1 - EPS))
    m = fit_logistic(sp.csr_matrix(z[:, None]), y, l2=0.0)
    return float(m.coef[0]), m.intercept


def apply_platt(scores, ab) -> np.ndarray:
    z = np.log(np.clip(scores, EPS, 1 - EPS)) - np.log1p(-np.clip(scores, EPS, 1 - EPS))
    return expit(ab[0] * z + ab[1])


# ---------------------------------------------------------------------------------------------- metrics

def normalized_entropy(y, p) -> float:
    """NE = log loss / binary entropy of the base rate (He et al. 2014); p clipped to [1e-12, 1 − 1e-12]."""
    y = np.asarray(y, dtype=np.float64)
    p = np.asarray(p, dtype=np.float64)
    if y.shape != p.shape or y.size == 0:
        raise ValueError(f"y and p need the same non-empty shape, got {y.shape} and {p.shape}")
    if not (np.all(np.isfinite(p)) and np.all(np.isfinite(y))):
        raise ValueError("y or p contains NaN or inf")
    q = y.mean()
    if q <= 0 or q >= 1:
        raise ValueError("NE is undefined when every label is the same (base-rate entropy 0)")
    p = np.clip(p, EPS, 1 - EPS)
    ll = -np.mean(y * np.log(p) + (1 - y) * np.log(1 - p))
    return float(ll / -(q * np.log(q) + (1 - q) * np.log(1 - q)))
