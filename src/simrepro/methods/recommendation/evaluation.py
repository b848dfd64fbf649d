r"""Offline evaluation of top-k recommenders: splits, full and sampled ranking, accuracy and beyond-accuracy metrics.

Data. An interaction table (user, item, rating, timestamp) is indexed once (:func:`index_interactions`:
users 0..U−1, items 0..I−1 in sorted id order) and split per user:

- :func:`leave_one_out`: each user's last interaction (by timestamp; ``by="random"``: a random one) is the
  test item; users with one interaction stay in training. Timestamp ties are broken by a seeded random key.
- :func:`temporal_split`: each user's last ``⌈f·n_u⌉`` interactions (f = ``test_fraction``) are the test set,
  keeping at least ``min_train`` in training (users with fewer stay in training).
Both are deterministic functions of the table and ``seed``.

Relevance. The test items of user u with rating ≥ ``min_rating`` (all of them when None) form Rel(u); only
users with Rel(u) ≠ ∅ are evaluated (a *judged* user).

Scores. A model is a score matrix S (U, I) float, given either dense or as factors ``(P, Q)`` with S = P Qᵀ.
:func:`topk_items` ranks every item for every judged user, the user's training items masked (*full ranking*):
factors through :func:`simrepro.kernels.topk.topk_search` (``dot``, asked for k + max_u |train(u)| and the
training items dropped), a dense matrix through the same kernel's select
(:func:`simrepro.kernels.topk.chunked_topk`) with masked entries at −∞. Ties inside the returned list are
ordered by lower item index. :func:`sampled_ranking` instead ranks, per judged user, Rel(u) together with
``n_negatives`` items drawn uniformly (seeded, without replacement) from the items the user never touched,
ties broken by a seeded random order (Koren 2008; He et al. 2017; Krichene & Rendle 2020 show the two can
disagree).

Accuracy metrics are computed by trec_eval (:mod:`simrepro.metrics.ir`, pytrec_eval) on the ranked lists,
keeping our order: HR@k (``hit@k``), nDCG@k, MRR@k, Recall@k, Precision@k, MAP@k, averaged over judged users.

Beyond-accuracy metrics on the lists L_u (|L_u| ≤ k) of the judged users 𝒰 (definitions in each function):
:func:`catalogue_coverage`, :func:`novelty`, :func:`intra_list_diversity`, :func:`serendipity`; and the
rating-prediction errors :func:`rmse`, :func:`mae`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
import torch

from simrepro.kernels.topk import chunked_topk, topk_search
from simrepro.metrics import ir

DEFAULT_METRICS = ("hit@10", "ndcg@10", "mrr@10", "recall@10", "precision@10")


@dataclass(frozen=True)
class Interactions:
    """An indexed interaction table: parallel arrays (n,), users in [0, n_users), items in [0, n_items)."""
    users: np.ndarray
    items: np.ndarray
    ratings: np.ndarray
    timestamps: np.ndarray
    user_ids: np.ndarray
    item_ids: np.ndarray

    @property
    def n_users(self) -> int:
        return len(self.user_ids)

    @property
    def n_items(self) -> int:
        return len(self.item_ids)


def index_interactions(df, user: str = "user_id", item: str = "item_id", rating: str | None = "rating",
                       time: str | None = "timestamp", *, item_ids=None) -> Interactions:
    """Index a pandas table. ``rating`` / ``time`` None → all 1 / all 0. ``item_ids``: the catalogue (sorted
    unique ids; items never interacted with then still count for coverage and sampling), default the table's.
    Duplicate (user, item) rows are an error (aggregate them first)."""
    for col in (user, item, rating, time):
        if col is not None and col not in df.columns:
            raise ValueError(f"column {col!r} not in the table (columns: {list(df.columns)})")
    u_raw, i_raw = df[user].to_numpy(), df[item].to_numpy()
    user_ids, u = np.unique(u_raw, return_inverse=True)
    if item_ids is None:
        item_ids, i = np.unique(i_raw, return_inverse=True)
    else:
        item_ids = np.unique(np.asarray(item_ids))
        i = np.searchsorted(item_ids, i_raw)
        if (i >= len(item_ids)).any() or (item_ids[np.minimum(i, len(item_ids) - 1)] != i_raw).any():
            raise ValueError("the table holds items missing from item_ids")
    r = df[rating].to_numpy(np.float64) if rating is not None else np.ones(len(df))
    t = df[time].to_numpy(np.int64) if time is not None else np.zeros(len(df), np.int64)
    if np.isnan(r).any():
        raise ValueError("ratings contain NaN; drop those rows first")
    key = u.astype(np.int64) * len(item_ids) + i
    if len(np.unique(key)) != len(key):
        raise ValueError("duplicate (user, item) rows: aggregate them (e.g. keep the last) before indexing")
    return Interactions(u.astype(np.int64), i.astype(np.int64), r, t, user_ids, item_ids)


@dataclass(frozen=True)
class Split:
    """Train and test interactions of one split (index arrays into the same users × items)."""
    n_users: int
    n_items: int
    train_users: np.ndarray
    train_items: np.ndarray
    train_ratings: np.ndarray
    test_users: np.ndarray
    test_items: np.ndarray
    test_ratings: np.ndarray

    def train_matrix(self, binary: bool = True) -> sp.csr_matrix:
        """(n_users, n_items) CSR float64: 1 per training interaction (``binary``) or its rating."""
        vals = np.ones(len(self.train_users)) if binary else self.train_ratings.astype(np.float64)
        return sp.csr_matrix((vals, (self.train_users, self.train_items)), shape=(self.n_users, self.n_items))

    def relevant(self, min_rating: float | None = None) -> dict[int, np.ndarray]:
        """Rel(u) = test items of u with rating ≥ ``min_rating`` (all when None), for users with Rel(u) ≠ ∅."""
        keep = np.ones(len(self.test_users), bool) if min_rating is None else self.test_ratings >= min_rating
        out: dict[int, list[int]] = {}
        for u, i in zip(self.test_users[keep], self.test_items[keep]):
            out.setdefault(int(u), []).append(int(i))
        return {u: np.array(sorted(v), dtype=np.int64) for u, v in sorted(out.items())}

    def qrels(self, min_rating: float | None = None) -> ir.Qrels:
        """trec qrels {user: {item: 1}} of :meth:`relevant` (string ids = indices)."""
        return {str(u): {str(i): 1 for i in items} for u, items in self.relevant(min_rating).items()}

    def item_popularity(self) -> np.ndarray:
        """c_i = number of training users of item i, (n_items,) int64."""
        return np.bincount(self.train_items, minlength=self.n_items).astype(np.int64)


def _order_within_users(inter: Interactions, seed: int, by: str) -> np.ndarray:
    """Row order grouped by user, each user's rows from oldest to newest (``by='time'``, ties seeded-random)
    or in a seeded random order (``by='random'``)."""
    rng = np.random.default_rng(seed)
    tie = rng.random(len(inter.users))
    if by == "time":
        return np.lexsort((tie, inter.timestamps, inter.users))
    if by == "random":
        return np.lexsort((tie, inter.users))
    raise ValueError(f"by must be 'time' or 'random', got {by!r}")


def _split_by_tail(inter: Interactions, order: np.ndarray, n_test_of) -> Split:
    u_sorted = inter.users[order]
    counts = np.bincount(u_sorted, minlength=inter.n_users)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    pos = np.arange(len(order)) - starts[u_sorted]                                # position in the user's list
    n_test = n_test_of(counts)[u_sorted]
    is_test = pos >= counts[u_sorted] - n_test
    tr, te = order[~is_test], order[is_test]
    return Split(inter.n_users, inter.n_items, inter.users[tr], inter.items[tr], inter.ratings[tr],
                 inter.users[te], inter.items[te], inter.ratings[te])


def leave_one_out(inter: Interactions, *, seed: int = 0, by: str = "time") -> Split:
    """Each user's last interaction (``by='time'``) or a random one (``by='random'``) is held out; users with a
    single interaction keep it in training. Deterministic given ``seed``."""
    order = _order_within_users(inter, seed, by)
    return _split_by_tail(inter, order, lambda c: (c >= 2).astype(np.int64))


def temporal_split(inter: Interactions, test_fraction: float = 0.2, *, seed: int = 0, min_train: int = 1) -> Split:
    """Per user, the last ⌈f·n_u⌉ interactions by time are test (f = ``test_fraction`` in (0, 1)), keeping at
    least ``min_train`` in training; users with ≤ ``min_train`` interactions stay in training."""
    if not 0 < test_fraction < 1:
        raise ValueError(f"test_fraction must be in (0, 1), got {test_fraction}")
    if min_train < 1:
        raise ValueError(f"min_train must be ≥ 1, got {min_train}")
    order = _order_within_users(inter, seed, "time")
    return _split_by_tail(inter, order,
                          lambda c: np.clip(np.ceil(test_fraction * c).astype(np.int64), 0, np.maximum(c - min_train, 0)))


# ----------------------------------------------------------------------------------------------- ranking
def _is_factors(scores) -> bool:
    return isinstance(scores, tuple)


def _check_scores(scores, n_users: int, n_items: int):
    if _is_factors(scores):
        if len(scores) != 2:
            raise ValueError("factor scores must be a pair (P (U, d), Q (I, d)) with S = P Qᵀ")
        P, Q = (np.asarray(a, dtype=np.float64) for a in scores)
        if P.ndim != 2 or Q.ndim != 2 or P.shape[1] != Q.shape[1] or P.shape[0] != n_users or Q.shape[0] != n_items:
            raise ValueError(f"factors must be P ({n_users}, d) and Q ({n_items}, d), got {P.shape} and {Q.shape}")
        if not (np.isfinite(P).all() and np.isfinite(Q).all()):
            raise ValueError("factors contain NaN or inf; check the model's training")
        return P, Q
    S = np.asarray(scores, dtype=np.float64)
    if S.shape != (n_users, n_items):
        raise ValueError(f"score matrix must be ({n_users}, {n_items}), got {S.shape}")
    if not np.isfinite(S).all():
        raise ValueError("score matrix contains NaN or inf; check the model")
    return S


def _pair_scores(scores, u: int, items: np.ndarray) -> np.ndarray:
    if _is_factors(scores):
        P, Q = scores
        return Q[items] @ P[u]
    return scores[u, items]


def topk_items(scores, k: int, users: np.ndarray | None = None, exclude: sp.csr_matrix | None = None):
    """Full ranking: the k best items of each user in ``users`` (default all), ``exclude``'s items masked.

    ``scores``: (U, I) array or factors ``(P, Q)``; ``exclude``: (U, I) sparse, nonzero = masked (training
    items). Returns ``(values, ids)`` (len(users), k), best first, ties by lower item index; ids −1 and
    values −inf where a user has fewer than k unmasked items."""
    if int(k) != k or k < 1:
        raise ValueError(f"k must be a positive integer, got {k}")
    k = int(k)
    if _is_factors(scores):
        n_users, n_items = np.shape(scores[0])[0], np.shape(scores[1])[0]
    else:
        n_users, n_items = np.shape(scores)
    scores = _check_scores(scores, n_users, n_items)
    users = np.arange(n_users) if users is None else np.asarray(users, dtype=np.int64)
    excl = sp.csr_matrix((n_users, n_items)) if exclude is None else sp.csr_matrix(exclude)
    if excl.shape != (n_users, n_items):
        raise ValueError(f"exclude must be ({n_users}, {n_items}), got {excl.shape}")
    excl = excl[users]
    excl.eliminate_zeros()
    n_ex = np.diff(excl.indptr)
    kk = min(k + int(n_ex.max(initial=0)), n_items)
    if len(users) == 0:
        return np.full((0, k), -np.inf), np.full((0, k), -1, np.int64)
    if _is_factors(scores):
        P, Q = scores
        _, I = topk_search(P[users], Q, kk, "dot")
        V = np.einsum("ud,ukd->uk", P[users], Q[np.maximum(I, 0)])               # exact float64 scores
        masked = np.take_along_axis(excl.toarray() != 0, np.maximum(I, 0), 1)
        V = np.where(masked | (I < 0), -np.inf, V)
    else:
        S = scores[users].copy()
        S[excl.nonzero()] = -np.inf
        V, I = (t.numpy() for t in chunked_topk(torch.from_numpy(S), kk))
    order = _row_order(V, I)
    V, I = np.take_along_axis(V, order, 1)[:, :k], np.take_along_axis(I, order, 1)[:, :k]
    I = np.where(np.isneginf(V), -1, I)
    if I.shape[1] < k:
        pad = k - I.shape[1]
        V = np.pad(V, ((0, 0), (0, pad)), constant_values=-np.inf)
        I = np.pad(I, ((0, 0), (0, pad)), constant_values=-1)
    return V, I.astype(np.int64)


def _row_order(V: np.ndarray, I: np.ndarray) -> np.ndarray:
    """Per row: by decreasing value, then increasing id."""
    return np.lexsort((I, -V), axis=-1)


def topk_items_reference(scores, k: int, users: np.ndarray | None = None, exclude: sp.csr_matrix | None = None):
    """The definition: the full (U, I) float64 score matrix, masked items at −∞, a stable sort by −score."""
    S = (np.asarray(scores[0], np.float64) @ np.asarray(scores[1], np.float64).T if _is_factors(scores)
         else np.array(scores, dtype=np.float64))
    users = np.arange(S.shape[0]) if users is None else np.asarray(users)
    if exclude is not None:
        S[sp.csr_matrix(exclude).toarray() != 0] = -np.inf
    S = S[users]
    order = np.argsort(-S, axis=1, kind="stable")[:, :k]
    V = np.take_along_axis(S, order, 1)
    I = np.where(np.isneginf(V), -1, order)
    if V.shape[1] < k:
        V = np.pad(V, ((0, 0), (0, k - V.shape[1])), constant_values=-np.inf)
        I = np.pad(I, ((0, 0), (0, k - I.shape[1])), constant_values=-1)
    return V, I


@dataclass
class Ranking:
    """Ranked lists for the judged users: ``users`` (n,), ``items`` (n, k) (−1 = empty slot), the
    trec run (our order kept) and the qrels."""
    users: np.ndarray
    items: np.ndarray
    run: ir.Run
    qrels: ir.Qrels


def full_ranking(scores, split: Split, k: int = 10, *, min_rating: float | None = None,
                 mask_train: bool = True) -> Ranking:
    """Full ranking of every item for each judged user (training items masked when ``mask_train``)."""
    rel = split.relevant(min_rating)
    if not rel:
        raise ValueError("no user has a relevant test item: lower min_rating or check the split")
    users = np.fromiter(rel.keys(), dtype=np.int64)
    V, I = topk_items(scores, k, users, split.train_matrix() if mask_train else None)
    run = ir.run_from_topk(np.where(np.isneginf(V), 0.0, V), I, [str(u) for u in users], keep_order=True)
    return Ranking(users, I, run, split.qrels(min_rating))


def sampled_ranking(scores, split: Split, n_negatives: int = 100, *, seed: int = 0, k: int | None = None,
                    min_rating: float | None = None) -> Ranking:
    """Sampled ranking: per judged user u, Rel(u) plus ``n_negatives`` items drawn uniformly without
    replacement (seeded) from the items u has in neither train nor test, ranked by score (ties by a seeded
    random order). ``items`` holds the top ``k`` (default all candidates)."""
    if int(n_negatives) != n_negatives or n_negatives < 1:
        raise ValueError(f"n_negatives must be a positive integer, got {n_negatives}")
    if _is_factors(scores):
        n_users, n_items = np.shape(scores[0])[0], np.shape(scores[1])[0]
    else:
        n_users, n_items = np.shape(scores)
    if (n_users, n_items) != (split.n_users, split.n_items):
        raise ValueError(f"scores are for ({n_users}, {n_items}), the split has ({split.n_users}, {split.n_items})")
    scores = _check_scores(scores, n_users, n_items)
    rel = split.relevant(min_rating)
    if not rel:
        raise ValueError("no user has a relevant test item: lower min_rating or check the split")
    seen = sp.csr_matrix((np.ones(len(split.train_users) + len(split.test_users)),
                          (np.concatenate([split.train_users, split.test_users]),
                           np.concatenate([split.train_items, split.test_items]))), shape=(n_users, n_items))
    rng = np.random.default_rng(seed)
    users = np.fromiter(rel.keys(), dtype=np.int64)
    run: ir.Run = {}
    lists = []
    for u in users:
        unseen = np.setdiff1d(np.arange(n_items), seen.indices[seen.indptr[u]:seen.indptr[u + 1]])
        if len(unseen) < n_negatives:
            raise ValueError(f"user {u} has only {len(unseen)} unseen items for {n_negatives} negatives")
        neg = rng.choice(unseen, size=int(n_negatives), replace=False)
        cand = rng.permutation(np.concatenate([rel[u], neg]))                      # random order = tie-break
        s = _pair_scores(scores, int(u), cand)
        ranked = cand[np.argsort(-s, kind="stable")]
        run[str(u)] = {str(int(i)): float(len(ranked) - p) for p, i in enumerate(ranked)}
        lists.append(ranked[:k] if k is not None else ranked)
    width = max(len(x) for x in lists)
    items = np.full((len(users), width), -1, np.int64)
    for r, x in enumerate(lists):
        items[r, :len(x)] = x
    return Ranking(users, items, run, split.qrels(min_rating))


def evaluate(ranking: Ranking, metrics: Sequence[str] = DEFAULT_METRICS, *, per_user: bool = False):
    """Accuracy metrics of a ranking by trec_eval (:func:`simrepro.metrics.ir.evaluate`), mean over judged
    users (or per user). The lists must be at least as long as the largest cut-off."""
    cuts = [ir.parse_metric(m)[1] for m in metrics]
    width = max(len(d) for d in ranking.run.values())
    if any(c is not None and c > ranking.items.shape[1] and c > width for c in cuts):
        raise ValueError(f"a metric cut-off exceeds the ranked lists' length {ranking.items.shape[1]}")
    return ir.evaluate(ranking.qrels, ranking.run, metrics, per_query=per_user)


# -------------------------------------------------------------------------------------- beyond accuracy
def _lists(items: np.ndarray) -> list[np.ndarray]:
    items = np.asarray(items)
    if items.ndim != 2:
        raise ValueError(f"items must be (users, k) with −1 for empty slots, got shape {items.shape}")
    return [row[row >= 0] for row in items]


def catalogue_coverage(items: np.ndarray, n_items: int) -> float:
    r"""Catalogue coverage = |⋃_{u∈𝒰} L_u| / I: the share of the catalogue recommended to anyone."""
    if n_items < 1:
        raise ValueError(f"n_items must be ≥ 1, got {n_items}")
    rec = np.unique(np.concatenate(_lists(items) or [np.zeros(0, np.int64)]))
    return float(len(rec) / n_items)


def novelty(items: np.ndarray, popularity: np.ndarray, n_users: int) -> float:
    r"""Mean self-information of recommended items (Zhou et al. 2010):

    novelty = (1/|𝒰|) Σ_u (1/|L_u|) Σ_{i∈L_u} −log₂ p_i,    p_i = (c_i + 1) / (n_users + 1),

    c_i = training users of item i (add-one smoothing so that unseen items have finite novelty). Users with
    an empty list are skipped."""
    pop = np.asarray(popularity, dtype=np.float64)
    if (pop < 0).any() or (pop > n_users).any():
        raise ValueError("popularity counts must lie in [0, n_users]")
    info = -np.log2((pop + 1.0) / (n_users + 1.0))
    vals = [info[x].mean() for x in _lists(items) if len(x)]
    if not vals:
        raise ValueError("every list is empty")
    return float(np.mean(vals))


def intra_list_diversity(items: np.ndarray, similarity=None, *, features=None) -> float:
    r"""Intra-list diversity (Ziegler et al. 2005), mean over users with |L_u| ≥ 2:

    ILD(L) = 2 / (|L| (|L| − 1)) Σ_{i<j ∈ L} (1 − sim(i, j)),

    with sim an item–item (I, I) ``similarity`` matrix (dense or sparse), or, given ``features`` (I, f) instead,
    the cosine of the items' feature rows (e.g. genre indicators; a zero row has cosine 0 with every other
    item), computed per list so that no (I, I) matrix is formed."""
    if (similarity is None) == (features is None):
        raise ValueError("give exactly one of similarity (I, I) or features (I, f)")
    if features is not None:
        F = features.toarray() if sp.issparse(features) else np.asarray(features, dtype=np.float64)
        if F.ndim != 2 or not np.isfinite(F).all():
            raise ValueError("features must be a finite (I, f) matrix")
        norms = np.linalg.norm(F, axis=1)
        Fn = F / np.where(norms > 0, norms, 1.0)[:, None]
    else:
        sim = similarity.toarray() if sp.issparse(similarity) else np.asarray(similarity, dtype=np.float64)
        if sim.ndim != 2 or sim.shape[0] != sim.shape[1]:
            raise ValueError(f"similarity must be a square (I, I) matrix, got {sim.shape}")
        if not np.isfinite(sim).all():
            raise ValueError("similarity contains NaN or inf")
    vals = []
    for x in _lists(items):
        n = len(x)
        if n >= 2:
            block = Fn[x] @ Fn[x].T if features is not None else sim[np.ix_(x, x)]
            vals.append((n * (n - 1) - (block.sum() - np.trace(block))) / (n * (n - 1)))
    if not vals:
        raise ValueError("no list holds two items; intra-list diversity is undefined")
    return float(np.mean(vals))


def serendipity(items: np.ndarray, users: np.ndarray, relevant: dict[int, np.ndarray], popularity: np.ndarray,
                top_popular: int = 100) -> float:
    r"""Serendipity proxy (unexpected and relevant; after Ge et al. 2010 with the popularity recommender as the
    'expected' list): (1/|𝒰|) Σ_u |{i ∈ L_u : i ∈ Rel(u), i ∉ Pop_N}| / k, Pop_N = the ``top_popular``
    most popular training items (ties by lower index), k = the list width."""
    items = np.asarray(items)
    pop = np.asarray(popularity)
    pop_n = set(np.lexsort((np.arange(len(pop)), -pop))[:top_popular].tolist())
    k = items.shape[1]
    vals = []
    for u, x in zip(users, _lists(items)):
        rel = set(relevant.get(int(u), np.zeros(0, np.int64)).tolist())
        vals.append(sum(1 for i in x.tolist() if i in rel and i not in pop_n) / k)
    if not vals:
        raise ValueError("no users to evaluate")
    return float(np.mean(vals))


def rmse(y_true, y_pred) -> float:
    r"""RMSE = √((1/n) Σ (y − ŷ)²)."""
    y, p = _pair(y_true, y_pred)
    return float(np.sqrt(np.mean((y - p) ** 2)))


def mae(y_true, y_pred) -> float:
    r"""MAE = (1/n) Σ |y − ŷ|."""
    y, p = _pair(y_true, y_pred)
    return float(np.mean(np.abs(y - p)))


def _pair(a, b):
    a, b = np.asarray(a, np.float64).ravel(), np.asarray(b, np.float64).ravel()
    if a.shape != b.shape or len(a) == 0:
        raise ValueError(f"y_true and y_pred must be non-empty and of one length, got {a.shape} and {b.shape}")
    if not (np.isfinite(a).all() and np.isfinite(b).all()):
        raise ValueError("ratings or predictions contain NaN or inf")
    return a, b


# ------------------------------------------------------------------------------------------ comparisons
def genre_features(genres: Sequence[str], sep: str = "|") -> tuple[sp.csr_matrix, list[str]]:
    """Binary item × genre matrix (I, G) CSR from one ``sep``-separated genre string per item ('' = none),
    with the sorted genre names; use as ``intra_list_diversity(items, features=...)``."""
    names = sorted({g for s in genres for g in str(s).split(sep) if g})
    col = {g: j for j, g in enumerate(names)}
    rows, cols = [], []
    for i, s in enumerate(genres):
        for g in sorted(set(str(s).split(sep)) - {""}):
            rows.append(i)
            cols.append(col[g])
    return sp.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(len(genres), len(names))), names


def discordant_pairs(a: dict[str, float], b: dict[str, float]) -> int:
    """Number of pairs of systems that ``a`` and ``b`` (system → score, same keys) order strictly oppositely."""
    if set(a) != set(b):
        raise ValueError("a and b must score the same systems")
    names = sorted(a)
    return sum(1 for x in range(len(names)) for y in range(x + 1, len(names))
               if (a[names[x]] - a[names[y]]) * (b[names[x]] - b[names[y]]) < 0)
