"""Relevance filtering of embedding-retrieval results with a *Cosine Adapter* (Rossi et al., CIKM 2024).

Dense retrieval returns the top-N items by cosine but has no natural cut-off: raw cosines differ in location and
scale from query to query, so neither a top-K cut nor one global cosine threshold separates relevant from
irrelevant results well. The Cosine Adapter is a small network g fed the query embedding e_q that outputs the
parameters of a query-dependent monotone map of the raw score; one *global* threshold τ on the mapped score then
filters the results:

    s = (cos + 1) / 2 ∈ [0, 1],     (a, b, γ) = g(e_q),  a > 0, γ > 0,
    s' = σ(a · s^γ + b)                                     (a power-family map, monotone increasing in cos)
    keep item i for query q  ⇔  s'(q, i) ≥ τ.

The adapter is trained with binary cross-entropy on (query, candidate, relevance) triples with the encoder
frozen. Baselines: a top-K cut, a global raw-cosine threshold, and query-independent calibrations (Platt,
isotonic) — which, being one monotone map for every query, filter like a raw-cosine threshold (Platt exactly,
a check; isotonic up to the ties its steps create).

Evaluation (pooled over queries, one global threshold swept over all scores): precision = kept relevant / kept,
recall = kept relevant / all relevant items of those queries in the catalogue (relevant items the candidate
list missed count as lost). :func:`pr_sweep` computes the whole curve in one sort (O(P log P) for P pairs);
:func:`pr_sweep_reference` loops over thresholds.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

__all__ = ["pr_sweep", "pr_sweep_reference", "precision_at_recall", "average_precision", "CosineAdapter",
           "train_cosine_adapter", "platt_scores", "isotonic_scores", "rank_scores", "CategoryTask", "wordnet_category_task",
           "ancestor_pairs", "split_queries", "filter_experiment"]


def _check_pool(scores, labels, n_relevant) -> tuple[np.ndarray, np.ndarray, int]:
    s = np.asarray(scores, dtype=np.float64).ravel()
    y = np.asarray(labels).ravel()
    if s.shape != y.shape:
        raise ValueError(f"scores and labels must have the same number of entries, got {s.size} and {y.size}")
    if np.isnan(s).any():
        raise ValueError("scores contain NaN; the adapter or the cosines are broken upstream")
    if y.dtype != bool:
        if not np.isin(y, (0, 1)).all():
            raise ValueError("labels must be boolean or 0/1")
        y = y.astype(bool)
    n_rel = int(n_relevant)
    if n_rel < int(y.sum()):
        raise ValueError(f"n_relevant ({n_rel}) is smaller than the relevant candidates ({int(y.sum())})")
    if n_rel == 0:
        raise ValueError("no relevant items: recall is undefined")
    return s, y, n_rel


def pr_sweep(scores, labels, n_relevant: int):
    """Pooled precision/recall of every global threshold: ``(thresholds, precision, recall)``, thresholds the
    distinct scores in decreasing order, ``precision[j]`` / ``recall[j]`` for keeping all scores ≥
    ``thresholds[j]`` (ties kept together). ``n_relevant``: all relevant (query, item) pairs, retrieved or not."""
    s, y, n_rel = _check_pool(scores, labels, n_relevant)
    if s.size == 0:
        return np.zeros(0), np.zeros(0), np.zeros(0)
    order = np.argsort(-s, kind="stable")
    ss, yy = s[order], y[order]
    tp = np.cumsum(yy)
    last = np.r_[np.flatnonzero(ss[1:] != ss[:-1]), ss.size - 1]     # last index of each tie group
    kept = last + 1
    return ss[last], tp[last] / kept, tp[last] / n_rel


def pr_sweep_reference(scores, labels, n_relevant: int):
    """Plain reference of :func:`pr_sweep`: one pass over the pool per distinct threshold."""
    s, y, n_rel = _check_pool(scores, labels, n_relevant)
    th = np.unique(s)[::-1]
    prec, rec = [], []
    for t in th:
        keep = s >= t
        prec.append(y[keep].sum() / keep.sum())
        rec.append(y[keep].sum() / n_rel)
    return th, np.asarray(prec, float), np.asarray(rec, float)


def precision_at_recall(precision, recall, target: float) -> float:
    """The best precision of any threshold whose recall is ≥ ``target`` (NaN if none reaches it)."""
    p, r = np.asarray(precision, float), np.asarray(recall, float)
    ok = r >= target - 1e-12
    return float(p[ok].max()) if ok.any() else float("nan")


def average_precision(precision, recall) -> float:
    """Area under the pooled PR curve, step-wise: Σ_j (R_j − R_{j−1}) · P_j (R_0 = 0); recall is measured against
    all relevant items, so the area is at most the recall of the whole candidate pool."""
    p, r = np.asarray(precision, float), np.asarray(recall, float)
    return float(np.sum(np.diff(np.r_[0.0, r]) * p))


def rank_scores(cos) -> np.ndarray:
    """Top-K cut as a global threshold: score −rank (rank 1 = the query's best cosine), so "score ≥ −K" keeps
    each query's top K. ``cos`` (n_q, N) sorted or not."""
    c = np.asarray(cos, np.float64)
    order = np.argsort(-c, axis=1, kind="stable")
    ranks = np.empty_like(order)
    np.put_along_axis(ranks, order, np.arange(1, c.shape[1] + 1)[None, :].repeat(c.shape[0], 0), axis=1)
    return -ranks.astype(np.float64)


def platt_scores(cos_train, labels_train, cos_eval) -> np.ndarray:
    """Query-independent calibration: scikit-learn logistic regression of the label on the raw cosine, fitted
    on the training pairs, applied to ``cos_eval`` (same shape out)."""
    from sklearn.linear_model import LogisticRegression
    x = np.asarray(cos_train, np.float64).reshape(-1, 1)
    lr = LogisticRegression(C=1e4, max_iter=1000).fit(x, np.asarray(labels_train).ravel().astype(int))
    ce = np.asarray(cos_eval, np.float64)
    return lr.predict_proba(ce.reshape(-1, 1))[:, 1].reshape(ce.shape)


def isotonic_scores(cos_train, labels_train, cos_eval) -> np.ndarray:
    """Query-independent non-parametric calibration: scikit-learn ``IsotonicRegression`` (increasing, clipped
    out of range) of the label on the raw cosine, fitted on the training pairs. Its steps merge neighbouring
    cosines into ties, so its PR curve is a coarsening of the raw-cosine curve."""
    from sklearn.isotonic import IsotonicRegression
    iso = IsotonicRegression(increasing=True, out_of_bounds="clip")
    iso.fit(np.asarray(cos_train, np.float64).ravel(), np.asarray(labels_train).ravel().astype(float))
    ce = np.asarray(cos_eval, np.float64)
    return iso.predict(ce.ravel()).reshape(ce.shape)


class CosineAdapter(nn.Module):
    """g: query embedding (d,) → (a, b, γ) with a = softplus(·) + 1e-3 > 0, γ = exp(clamp(·, −3, 3)) > 0;
    ``forward(q, cos)`` returns the logit a · s^γ + b of s' (s = (cos + 1) / 2), shape of ``cos`` (n_q, N)."""

    def __init__(self, dim: int, hidden: int = 64):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(dim, hidden), nn.ReLU(), nn.Linear(hidden, 3))
        with torch.no_grad():                  # start from s' = σ(10 s − 10): steep enough to rank, γ = 1
            self.net[2].bias.copy_(torch.tensor([10.0, -10.0, 0.0]))

    def params(self, q: torch.Tensor):
        out = self.net(q)
        a = nn.functional.softplus(out[:, 0]) + 1e-3
        b = out[:, 1]
        gamma = torch.exp(out[:, 2].clamp(-3.0, 3.0))
        return a, b, gamma

    def forward(self, q: torch.Tensor, cos: torch.Tensor) -> torch.Tensor:
        a, b, gamma = self.params(q)
        s = ((cos + 1.0) / 2.0).clamp_min(1e-6)
        return a[:, None] * s ** gamma[:, None] + b[:, None]          # s' = σ(a · s^γ + b)

    @torch.no_grad()
    def mapped(self, q, cos) -> np.ndarray:
        """s' = σ(a · s^γ + b) as float64 numpy."""
        return torch.sigmoid(self(torch.as_tensor(q, dtype=torch.float32),
                                  torch.as_tensor(cos, dtype=torch.float32))).double().numpy()


@dataclass
class AdapterFit:
    model: CosineAdapter
    train_loss: list
    val_loss: list
    best_epoch: int


def train_cosine_adapter(q_train, cos_train, y_train, q_val, cos_val, y_val, *, hidden: int = 64,
                         epochs: int = 300, lr: float = 1e-2, weight_decay: float = 1e-4, seed: int = 0) -> AdapterFit:
    """Full-batch Adam on the mean binary cross-entropy of s' against the labels, the encoder frozen; the
    weights of the epoch with the lowest validation loss are kept (early stopping on disjoint queries)."""
    for name, (q, c, y) in {"train": (q_train, cos_train, y_train), "val": (q_val, cos_val, y_val)}.items():
        if np.asarray(q).shape[0] != np.asarray(c).shape[0] or np.asarray(c).shape != np.asarray(y).shape:
            raise ValueError(f"{name}: need q (n_q, d), cos and labels (n_q, N), got "
                             f"{np.asarray(q).shape}, {np.asarray(c).shape}, {np.asarray(y).shape}")
        if not np.isfinite(np.asarray(c, float)).all():
            raise ValueError(f"{name} cosines contain NaN or inf")
    torch.manual_seed(seed)
    t = lambda x: torch.as_tensor(np.asarray(x, np.float32))          # noqa: E731
    qt, ct, yt, qv, cv, yv = map(t, (q_train, cos_train, y_train, q_val, cos_val, y_val))
    model = CosineAdapter(qt.shape[1], hidden)
    opt = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    bce = nn.BCEWithLogitsLoss()
    best, best_state, best_epoch, tr, va = float("inf"), None, -1, [], []
    for epoch in range(epochs):
        opt.zero_grad()
        loss = bce(model(qt, ct), yt)
        loss.backward()
        opt.step()
        with torch.no_grad():
            v = float(bce(model(qv, cv), yv))
        tr.append(float(loss.detach())); va.append(v)
        if v < best:
            best, best_epoch = v, epoch
            best_state = {k: x.clone() for k, x in model.state_dict().items()}
    model.load_state_dict(best_state)
    return AdapterFit(model, tr, va, best_epoch)


def ancestor_pairs(parent: np.ndarray, ids) -> tuple[np.ndarray, np.ndarray]:
    """All (position in ``ids``, proper ancestor) pairs along the first-hypernym tree ``parent`` (−1 = root),
    level by level: ``(pos, ancestor)`` int64 arrays of equal length."""
    parent = np.asarray(parent, np.int64)
    pos_all, anc_all = [], []
    pos = np.arange(len(ids), dtype=np.int64)
    cur = parent[np.asarray(ids, np.int64)]
    for _ in range(parent.size):
        live = cur >= 0
        if not live.any():
            break
        pos, cur = pos[live], cur[live]
        pos_all.append(pos); anc_all.append(cur)
        cur = parent[cur]
    else:
        raise ValueError("parent has a cycle")
    if not pos_all:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    return np.concatenate(pos_all), np.concatenate(anc_all)


@dataclass
class CategoryTask:
    """A category-search task: per query the top-N candidates by cosine, their labels, and all relevant counts.
    cos, labels, cand (n_q, N) (cand: positions in the catalogue); n_relevant (n_q,) relevant catalogue items per
    query; query_emb (n_q, d); query_ids / item_ids: WordNet synset ids where the task comes from WordNet."""
    cos: np.ndarray
    labels: np.ndarray
    cand: np.ndarray
    n_relevant: np.ndarray
    query_emb: np.ndarray
    query_text: list
    item_text: list
    query_ids: np.ndarray | None = None
    item_ids: np.ndarray | None = None


def wordnet_category_task(n_items: int, n_queries: int, *, n_candidates: int = 200, min_rel: int = 2,
                          max_rel: int = 300, seed: int = 0) -> CategoryTask:
    """WordNet "category → member" search (the plan's product-search-like task). Catalogue: ``n_items`` noun
    synsets whose first lemma is unique in WordNet, drawn with ``default_rng(seed)``, text = the first lemma.
    Queries: ``n_queries`` other-or-same synsets with a unique first lemma whose first-hypernym subtree holds
    between ``min_rel`` and ``max_rel`` catalogue items, queried by their first lemma ("dog", "cheese").
    Relevant = the catalogue items in the query's subtree (the query's own synset excluded from its results).
    Embeddings: all-MiniLM-L6-v2 (cached); candidates = each query's top ``n_candidates`` items by cosine."""
    from simrepro.data._store import load_array, open_file
    from simrepro.data.derived import minilm_embeddings
    from simrepro.kernels.topk import topk_search

    from collections import Counter

    parent = load_array("wordnet_nouns", "parent.npy")
    lemma = open_file("wordnet_nouns", "lemma.txt").read_text(encoding="utf-8").splitlines()
    count = Counter(lemma)
    unique = np.array([i for i, w in enumerate(lemma) if count[w] == 1], dtype=np.int64)
    if not 1 <= n_items <= unique.size:
        raise ValueError(f"n_items must lie in [1, {unique.size}]")
    rng = np.random.default_rng(seed)
    items = np.sort(rng.choice(unique, n_items, replace=False))
    pos, anc = ancestor_pairs(parent, items)
    n_in_subtree = np.bincount(anc, minlength=parent.size)
    eligible = unique[(n_in_subtree[unique] >= min_rel) & (n_in_subtree[unique] <= max_rel)]
    if eligible.size < n_queries:
        raise ValueError(f"only {eligible.size} eligible queries for n_items={n_items}; lower n_queries")
    queries = np.sort(rng.choice(eligible, n_queries, replace=False))
    q_text, i_text = [lemma[i] for i in queries], [lemma[i] for i in items]
    qe = minilm_embeddings(q_text, name="wordnet_category_queries", batch_size=256)
    ie = minilm_embeddings(i_text, name="wordnet_category_items", batch_size=256)
    N = min(n_candidates, n_items - 1)
    D, I = topk_search(qe, ie, N + 1, "dot")
    where = {int(s): j for j, s in enumerate(items)}
    cos, cand = np.empty((n_queries, N)), np.empty((n_queries, N), np.int64)
    for r, q in enumerate(queries):
        keep = I[r] != where.get(int(q), -1)
        cos[r], cand[r] = D[r][keep][:N], I[r][keep][:N]
    relevant_keys = pos * parent.size + anc                         # (item position, ancestor) pairs
    labels = np.isin(cand * parent.size + queries[:, None], relevant_keys)
    return CategoryTask(cos=cos, labels=labels, cand=cand, n_relevant=n_in_subtree[queries],
                        query_emb=qe, query_text=q_text, item_text=i_text, query_ids=queries, item_ids=items)


def split_queries(n: int, rng: np.random.Generator, fractions=(0.7, 0.15)) -> tuple[np.ndarray, ...]:
    """A seeded query-level split (train, validation, test) of range(n), the plan's 70 / 15 / 15."""
    p = rng.permutation(n)
    a, b = int(round(fractions[0] * n)), int(round((fractions[0] + fractions[1]) * n))
    if not 0 < a < b < n:
        raise ValueError(f"{n} queries are too few for a train/validation/test split")
    return np.sort(p[:a]), np.sort(p[a:b]), np.sort(p[b:])


def filter_experiment(task: CategoryTask, seed: int, *, recall_factor: float = 0.9, ref_k: int = 100,
                      hidden: int = 64, epochs: int = 300, lr: float = 1e-2, weight_decay: float = 1e-4) -> dict:
    """One seed: split the queries, train the adapter (early stopping on validation), and on the test queries
    sweep one global threshold per method — raw cosine, top-K (−rank), Platt, isotonic, adapter. The target recall is
    ``recall_factor`` × the recall of the top-``ref_k`` cut; each method's precision is its best at recall ≥
    target. Returns {'target', 'precision': {method: p}, 'ap': {method: area}, 'curves': {method: (p, r)},
    'fit': AdapterFit, 'split': (train, val, test)}."""
    tr, va, te = split_queries(len(task.cos), np.random.default_rng(seed))
    fit = train_cosine_adapter(task.query_emb[tr], task.cos[tr], task.labels[tr], task.query_emb[va],
                               task.cos[va], task.labels[va], hidden=hidden, epochs=epochs, lr=lr,
                               weight_decay=weight_decay, seed=seed)
    y, n_rel = task.labels[te], int(task.n_relevant[te].sum())
    scores = {"raw_cosine": task.cos[te], "top_k": rank_scores(task.cos[te]),
              "platt": platt_scores(task.cos[tr], task.labels[tr], task.cos[te]),
              "isotonic": isotonic_scores(task.cos[tr], task.labels[tr], task.cos[te]),
              "adapter": fit.model.mapped(task.query_emb[te], task.cos[te])}
    curves = {m: pr_sweep(s, y, n_rel) for m, s in scores.items()}
    th_k, _, rec_k = curves["top_k"]
    K = min(ref_k, task.cos.shape[1])
    target = recall_factor * float(rec_k[np.flatnonzero(th_k == -K)[0]])
    return {"target": target,
            "precision": {m: precision_at_recall(p, r, target) for m, (_, p, r) in curves.items()},
            "ap": {m: average_precision(p, r) for m, (_, p, r) in curves.items()},
            "curves": {m: (p, r) for m, (_, p, r) in curves.items()},
            "scores": scores, "fit": fit, "split": (tr, va, te)}
