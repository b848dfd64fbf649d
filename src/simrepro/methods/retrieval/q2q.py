r"""Question-to-question retrieval (Thottingal 2025, arXiv 2501.11301): store questions about each content unit,
match a user question against the *question* store, return the unit of the best match.

Store: questions s_j (j = 1…m) with unit u(j) ∈ {0…U−1}; user query q; unit vectors (cosine = dot).
- q → q score of unit u (the paper's "highest similarity score leads to … the associated content"):

      score_q2q(q, u) = max_{j : u(j) = u} ⟨q, s_j⟩                                 (max over the unit's questions)

- q → passage baseline: score_q2p(q, u) = ⟨q, p_u⟩, p_u the unit's passage embedding.
Units without a stored question score −inf. Rankings: decreasing score, ties → lower unit id.
Costs: O(n_q · m · d) for the scores (blocked GEMM, O(block · m) memory) + O(n_q · m) for the group max
(``np.maximum.reduceat`` over columns sorted by unit) + O(n_q · U log k) for the top k.
Plain references beside the fast paths: :func:`group_max_reference`, :func:`q2q_search_reference`.
"""

from __future__ import annotations

import numpy as np


def _check_matrix(x, name: str) -> np.ndarray:
    x = np.asarray(x)
    if x.ndim != 2:
        raise ValueError(f"{name} must be 2-D (n, d), got shape {x.shape}")
    if x.dtype.kind not in "fiu":
        raise TypeError(f"{name} must be numeric, got dtype {x.dtype}")
    x = x.astype(np.float32 if x.dtype == np.float32 else np.float64, copy=False)
    if not np.isfinite(x).all():
        raise ValueError(f"{name} contains NaN or inf: check the embeddings (a failed encode?) before searching")
    return x


def _check_units(units, m: int, n_units: int | None) -> tuple[np.ndarray, int]:
    units = np.asarray(units)
    if units.shape != (m,) or units.dtype.kind not in "iu":
        raise ValueError(f"units must be an integer array of shape ({m},), got {units.shape} {units.dtype}")
    if m and units.min() < 0:
        raise ValueError("units must be ≥ 0")
    n = int(units.max()) + 1 if m else 0
    if n_units is None:
        n_units = n
    if n > n_units:
        raise ValueError(f"units hold id {n - 1} but n_units = {n_units}")
    return units.astype(np.int64), int(n_units)


def group_max(scores, units, n_units: int | None = None) -> np.ndarray:
    """``(n_q, n_units)``: column-group maxima of ``scores`` (n_q, m), group of column j = ``units[j]``;
    −inf for a unit with no column. Fast path: columns sorted by unit, ``np.maximum.reduceat``."""
    S = _check_matrix(scores, "scores")
    units, n_units = _check_units(units, S.shape[1], n_units)
    out = np.full((S.shape[0], n_units), -np.inf, dtype=S.dtype)
    if S.shape[1] == 0 or S.shape[0] == 0:
        return out
    order = np.argsort(units, kind="stable")
    su = units[order]
    starts = np.flatnonzero(np.r_[True, su[1:] != su[:-1]])
    out[:, su[starts]] = np.maximum.reduceat(S[:, order], starts, axis=1)
    return out


def group_max_reference(scores, units, n_units: int | None = None) -> np.ndarray:
    """:func:`group_max` by plain loops (float64)."""
    S = np.asarray(scores, dtype=np.float64)
    units = np.asarray(units)
    n_units = int(units.max()) + 1 if n_units is None else n_units
    out = np.full((S.shape[0], n_units), -np.inf)
    for i in range(S.shape[0]):
        for j in range(S.shape[1]):
            out[i, units[j]] = max(out[i, units[j]], S[i, j])
    return out


def _topk_rows(S: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Top k per row of S, decreasing, ties → lower column id (stable sort on −S)."""
    k = min(k, S.shape[1])
    if k < S.shape[1]:
        # candidates: everything ≥ the k-th largest value (keeps all ties), then a stable sort among them
        kth = -np.partition(-S, k - 1, axis=1)[:, k - 1:k]
        I = np.empty((S.shape[0], k), np.int64)
        for i in range(S.shape[0]):
            cand = np.flatnonzero(S[i] >= kth[i])
            I[i] = cand[np.argsort(-S[i, cand], kind="stable")[:k]]
    else:
        I = np.argsort(-S, axis=1, kind="stable")[:, :k].astype(np.int64)
    return np.take_along_axis(S, I, axis=1), I


def q2q_scores(queries, store, units, n_units: int | None = None, *, block: int = 1024) -> np.ndarray:
    """``(n_q, n_units)`` q → q unit scores: max over each unit's stored questions of ⟨q, s_j⟩, in query blocks."""
    Q, Y = _check_matrix(queries, "queries"), _check_matrix(store, "store")
    if Q.shape[1] != Y.shape[1]:
        raise ValueError(f"queries have dimension {Q.shape[1]}, the store {Y.shape[1]}")
    units, n_units = _check_units(units, Y.shape[0], n_units)
    dt = np.result_type(Q.dtype, Y.dtype)
    out = np.full((Q.shape[0], n_units), -np.inf, dtype=dt)
    for a in range(0, Q.shape[0], block):
        out[a:a + block] = group_max(Q[a:a + block].astype(dt) @ Y.astype(dt).T, units, n_units)
    return out


def q2q_search(queries, store, units, k: int, n_units: int | None = None, *, block: int = 1024):
    """``D, I`` (n_q, min(k, n_units)): the best units by :func:`q2q_scores` (ties → lower unit id)."""
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"k must be an integer ≥ 1, got {k!r}")
    S = q2q_scores(queries, store, units, n_units, block=block)
    if S.shape[1] == 0:
        raise ValueError("the store is empty: q → q retrieval needs at least one stored question")
    return _topk_rows(S, k)


def q2q_search_reference(queries, store, units, k: int, n_units: int | None = None):
    """:func:`q2q_search` by loops in float64: every unit's score, then a full stable sort."""
    Q, Y = np.asarray(queries, np.float64), np.asarray(store, np.float64)
    units = np.asarray(units)
    n_units = int(units.max()) + 1 if n_units is None else n_units
    D, I = [], []
    for q in Q:
        best = np.full(n_units, -np.inf)
        for j, y in enumerate(Y):
            best[units[j]] = max(best[units[j]], float(q @ y))
        order = sorted(range(n_units), key=lambda u: (-best[u], u))[:k]
        I.append(order)
        D.append(best[order])
    return np.array(D).reshape(len(Q), -1), np.array(I, dtype=np.int64).reshape(len(Q), -1)


def passage_search(queries, passages, k: int):
    """``D, I`` (n_q, min(k, U)) q → passage by exact inner-product search (``kernels.topk.topk_search``)."""
    from simrepro.kernels.topk import topk_search

    Q, P = _check_matrix(queries, "queries"), _check_matrix(passages, "passages")
    if P.shape[0] == 0:
        raise ValueError("no passages: q → passage retrieval needs at least one")
    return topk_search(Q.astype(np.float32), P.astype(np.float32), min(k, P.shape[0]), metric="dot", device="cpu")


def relevant_cosines(queries, store, units, query_units, passages) -> dict[str, np.ndarray]:
    """Per query (n_q,): ``qq_max`` = max cosine to a stored question of its own unit (the pair q → q retrieval
    uses; −inf if the unit has none), ``qq_mean`` = the mean over them, ``qp`` = cosine to its unit's passage."""
    Q, Y, P = _check_matrix(queries, "queries"), _check_matrix(store, "store"), _check_matrix(passages, "passages")
    units = np.asarray(units, np.int64)
    qu = np.asarray(query_units, np.int64)
    if qu.shape != (Q.shape[0],):
        raise ValueError(f"query_units must have shape ({Q.shape[0]},), got {qu.shape}")
    order = np.argsort(units, kind="stable")
    su = units[order]
    lo, hi = np.searchsorted(su, qu, "left"), np.searchsorted(su, qu, "right")
    qq_max = np.full(len(qu), -np.inf)
    qq_mean = np.full(len(qu), np.nan)
    for i in range(len(qu)):
        if hi[i] > lo[i]:
            s = Y[order[lo[i]:hi[i]]] @ Q[i]
            qq_max[i], qq_mean[i] = s.max(), s.mean()
    return {"qq_max": qq_max, "qq_mean": qq_mean, "qp": np.einsum("ij,ij->i", Q, P[qu]).astype(np.float64)}


def nonrelevant_cosines(queries, store, units, query_units, *, n_per_query: int = 20, seed: int = 0) -> np.ndarray:
    """Cosines of random (query, stored question of *another* unit) pairs: ``n_per_query`` pairs a query, drawn
    uniformly with replacement among the other units' questions (rejection sampling from ``default_rng(seed)``);
    flat array, query-major. Queries whose unit owns the whole store contribute nothing."""
    Q, Y = _check_matrix(queries, "queries"), _check_matrix(store, "store")
    units = np.asarray(units, np.int64)
    qu = np.asarray(query_units, np.int64)
    if Y.shape[0] == 0 or Q.shape[0] == 0:
        return np.zeros(0)
    ok = np.array([(units != u).any() for u in qu]) if len(np.unique(units)) < 2 else np.ones(len(qu), bool)
    Q, qu = Q[ok], qu[ok]
    rng = np.random.default_rng(seed)
    J = rng.integers(0, Y.shape[0], size=(len(qu), n_per_query))
    bad = units[J] == qu[:, None]
    while bad.any():                      # redraw the pairs that hit the query's own unit
        J[bad] = rng.integers(0, Y.shape[0], size=int(bad.sum()))
        bad = units[J] == qu[:, None]
    return np.einsum("id,ind->in", Q, Y[J]).ravel().astype(np.float64)


def hardest_nonrelevant(unit_scores, query_units) -> np.ndarray:
    """Per query, the best score among the units other than its own (what a relevant match must beat)."""
    S = np.array(unit_scores, dtype=np.float64, copy=True)
    qu = np.asarray(query_units, np.int64)
    S[np.arange(len(qu)), qu] = -np.inf
    return S.max(axis=1)


METRICS = ("ndcg@10", "mrr@10", "hit@1", "recall@10")


def evaluate_q2q(question_emb, passage_emb, question_unit, store_idx, query_idx, *, k: int = 10,
                 n_nonrel: int = 20, seed: int = 0) -> dict[str, object]:
    """One encoder, one template split: q → q (queries ``question_emb[query_idx]`` against the store
    ``question_emb[store_idx]``) and q → passage retrieval of units, judged by ``metrics.ir`` (pytrec_eval;
    each query's only relevant unit is its own), plus the cosine distributions. Returns
    ``{"q2q": {metric: mean}, "q2p": {...}, "cos": {qq_max, qq_mean, qp, qq_nonrel, qq_hardest_nonrel}}``."""
    from simrepro.metrics import ir

    E = _check_matrix(question_emb, "question_emb")
    P = _check_matrix(passage_emb, "passage_emb")
    qunit = np.asarray(question_unit, np.int64)
    Q, Y = E[query_idx], E[store_idx]
    qu, su = qunit[query_idx], qunit[store_idx]
    n_units = P.shape[0]
    qids = [f"q{i}" for i in query_idx]
    units = [f"u{u}" for u in range(n_units)]
    qrels = ir.qrels_from_pairs((q, f"u{u}", 1) for q, u in zip(qids, qu))
    S = q2q_scores(Q, Y, su, n_units)
    D, I = _topk_rows(S, k)
    Dp, Ip = passage_search(Q, P, k)
    out = {"q2q": ir.evaluate(qrels, ir.run_from_topk(D, I, qids, units, keep_order=True), METRICS),
           "q2p": ir.evaluate(qrels, ir.run_from_topk(np.asarray(Dp), np.asarray(Ip), qids, units, keep_order=True),
                              METRICS)}
    cos = relevant_cosines(Q, Y, su, qu, P)
    cos["qq_nonrel"] = nonrelevant_cosines(Q, Y, su, qu, n_per_query=n_nonrel, seed=seed)
    cos["qq_hardest_nonrel"] = hardest_nonrelevant(S, qu)
    out["cos"] = cos
    return out


def evaluate_q2q_bm25(questions: list[str], passages: list[str], question_unit, store_idx, query_idx, *,
                      k: int = 10) -> dict[str, dict[str, float]]:
    """BM25 (``methods.retrieval.bm25``, bm25s) on the same task: q → q over the stored questions (max per
    unit, as above) and q → passage; ``{"q2q": {...}, "q2p": {...}}`` by ``metrics.ir``."""
    from simrepro.methods.retrieval.bm25 import BM25Index, tokenize
    from simrepro.metrics import ir

    qunit = np.asarray(question_unit, np.int64)
    qu, su = qunit[query_idx], qunit[store_idx]
    n_units = len(passages)
    qids = [f"q{i}" for i in query_idx]
    units = [f"u{u}" for u in range(n_units)]
    qrels = ir.qrels_from_pairs((q, f"u{u}", 1) for q, u in zip(qids, qu))
    qtok = tokenize([questions[i] for i in query_idx])
    out = {}
    S_store = BM25Index(tokenize([questions[i] for i in store_idx])).scores(qtok)
    S_q2q = group_max(S_store, su, n_units)
    S_q2p = BM25Index(tokenize(passages)).scores(qtok)
    for name, S in (("q2q", S_q2q), ("q2p", S_q2p)):
        D, I = _topk_rows(np.asarray(S, np.float64), k)
        out[name] = ir.evaluate(qrels, ir.run_from_topk(D, I, qids, units, keep_order=True), METRICS)
    return out
