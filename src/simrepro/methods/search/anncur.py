"""ANNCUR: k-NN search under an expensive scorer through a CUR factorisation (Yadav et al., EMNLP 2022).

Setting. An expensive pairwise scorer f(q, i) (a cross-encoder in the paper) defines the score matrix
M ∈ R^{n_q × n} of queries × items; only the test query's row is unknown and each entry costs one scorer call.

Offline (the index). Draw k_q *anchor queries* and compute their full rows R = M[anchor queries, :]
(k_q × n). Draw k_i *anchor items* I_a. With U = R[:, I_a] (k_q × k_i) the CUR approximation of any row is

    M̂[q, :] = C_q · U⁺ · R,      C_q = M[q, I_a]  (1 × k_i, the query's scores against the anchor items)   (paper §3)

so each item gets the embedding column E = U⁺ R (k_i × n) once, offline, and a test query's embedding is its
k_i exact scores C_q: approximate scores are a dot product, C_q · E (a MIPS problem).

Test time, budget B scorer calls per query: k_i calls for C_q, then the top-(B − k_i) items by C_q · E among
the non-anchor items are re-scored exactly; the k_i anchor items' exact scores are known already, so the
candidate set is the B distinct items I_a ∪ top-(B − k_i), and the final top-k is the exact top-k among them.
The baseline spends the same B calls re-scoring the top-B items of a dual encoder.

Numerics. U⁺ is computed in float64 from the SVD of U, keeping singular values σ > rtol · σ_max (default
rtol = max(k_q, k_i) · ε, numpy's convention) and at most ``rank`` of them (the rank-truncated pseudo-inverse);
a reference solves the per-query least-squares problem min ‖w U − C_q‖ (min-norm, numpy's lstsq) instead.
If rank(U) = rank(M) the approximation is exact (M = C U⁺ R): the tests check this identity.
Costs: building E is O(k_q k_i min(k_q, k_i) + k_i k_q n); scoring n_t queries O(n_t k_i n).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from simrepro.kernels.topk import topk_search

__all__ = ["sample_anchors", "pseudo_inverse", "CURIndex", "build_cur_index", "cur_scores", "cur_scores_reference",
           "anncur_candidates", "rerank_candidates", "topk_recall", "kth_best", "budget_split", "split_queries", "budget_sweep",
           "cur_relative_error", "tfidf_scores", "wordnet_maxsim_task"]


def _matrix(x, name: str) -> np.ndarray:
    a = np.asarray(x, dtype=np.float64)
    if a.ndim != 2:
        raise ValueError(f"{name} must be a 2-d matrix, got shape {a.shape}")
    if not np.isfinite(a).all():
        raise ValueError(f"{name} contains NaN or inf; drop or impute those scores first")
    return a


def sample_anchors(n: int, k: int, rng: np.random.Generator) -> np.ndarray:
    """(k,) sorted distinct ids drawn uniformly without replacement from range(n) (the paper's random anchors)."""
    if not (isinstance(n, (int, np.integer)) and isinstance(k, (int, np.integer))):
        raise TypeError("n and k must be integers")
    if not 1 <= k <= n:
        raise ValueError(f"need 1 ≤ k ≤ n for anchors, got k={k}, n={n}")
    return np.sort(rng.choice(n, size=k, replace=False)).astype(np.int64)


def pseudo_inverse(U, *, rank: int | None = None, rtol: float | None = None) -> np.ndarray:
    """Moore–Penrose pseudo-inverse U⁺ (k_i × k_q) of U (k_q × k_i) in float64 via the SVD U = W Σ Vᵀ:
    U⁺ = V Σ⁺ Wᵀ keeping singular values σ_j > rtol · σ_1 (default rtol = max(U.shape) · ε) and only the
    ``rank`` largest (rank-truncated). An all-zero U gives the zero matrix."""
    A = _matrix(U, "U")
    if rank is not None and (not isinstance(rank, (int, np.integer)) or rank < 1):
        raise ValueError(f"rank must be a positive integer or None, got {rank!r}")
    if A.size == 0:
        return np.zeros(A.shape[::-1])
    W, s, Vt = np.linalg.svd(A, full_matrices=False)
    tol = (max(A.shape) * np.finfo(np.float64).eps if rtol is None else float(rtol)) * (s[0] if s.size else 0.0)
    keep = s > tol
    if rank is not None:
        keep[rank:] = False
    inv = np.where(keep, 1.0 / np.where(keep, s, 1.0), 0.0)
    return (Vt.T * inv) @ W.T


@dataclass(frozen=True)
class CURIndex:
    """anchor_items (k_i,) int64; item_emb E = U⁺ R (k_i, n) float64; rank of U⁺ kept."""
    anchor_items: np.ndarray
    item_emb: np.ndarray
    rank: int

    @property
    def n_items(self) -> int:
        return self.item_emb.shape[1]


def build_cur_index(R, anchor_items, *, rank: int | None = None, rtol: float | None = None) -> CURIndex:
    """Offline index from the anchor-query rows R (k_q × n) and the anchor item ids: E = U⁺ R, U = R[:, anchors]."""
    R = _matrix(R, "R")
    a = np.asarray(anchor_items, dtype=np.int64)
    if a.ndim != 1 or a.size == 0:
        raise ValueError("anchor_items must be a non-empty 1-d array of item ids")
    if a.min() < 0 or a.max() >= R.shape[1]:
        raise ValueError(f"anchor item ids must lie in [0, {R.shape[1]})")
    if np.unique(a).size != a.size:
        raise ValueError("anchor item ids must be distinct")
    if R.shape[0] == 0:
        raise ValueError("R needs at least one anchor query row")
    Up = pseudo_inverse(R[:, a], rank=rank, rtol=rtol)
    kept = int(np.linalg.matrix_rank(Up)) if Up.size else 0
    return CURIndex(anchor_items=a, item_emb=Up @ R, rank=kept)


def cur_scores(C, index: CURIndex) -> np.ndarray:
    """(n_t, n) approximate scores C · E for the test queries' exact anchor-item scores C (n_t, k_i)."""
    C = _matrix(C, "C")
    if C.shape[1] != index.anchor_items.size:
        raise ValueError(f"C must have one column per anchor item ({index.anchor_items.size}), got {C.shape[1]}")
    return C @ index.item_emb


def cur_scores_reference(C, R, anchor_items) -> np.ndarray:
    """Plain reference: per query the min-norm least-squares w = argmin ‖w U − C_q‖ (numpy lstsq, rcond = None),
    then w R. Equals C U⁺ R whenever both use the same singular-value cut-off."""
    C, R = _matrix(C, "C"), _matrix(R, "R")
    U = R[:, np.asarray(anchor_items, dtype=np.int64)]
    out = np.empty((C.shape[0], R.shape[1]))
    for t in range(C.shape[0]):
        w = np.linalg.lstsq(U.T, C[t], rcond=None)[0]
        out[t] = w @ R
    return out


def budget_split(budget: int, fraction: float) -> int:
    """Anchor items k_i = round(fraction · B), clipped to [1, B − 1] (at least one retrieved item)."""
    if budget < 2:
        raise ValueError(f"a budget below 2 scorer calls leaves nothing to retrieve, got {budget}")
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"fraction must lie in (0, 1), got {fraction}")
    return int(min(max(round(fraction * budget), 1), budget - 1))


def anncur_candidates(approx, anchor_items, budget: int) -> np.ndarray:
    """(n_t, B) candidate ids: the k_i anchor items followed by the top-(B − k_i) non-anchor items by the
    approximate scores ``approx`` (n_t, n); every row holds B distinct items (B scorer calls)."""
    S = np.array(approx, dtype=np.float64, copy=True)
    a = np.asarray(anchor_items, dtype=np.int64)
    n_t, n = S.shape
    if not a.size < budget <= n:
        raise ValueError(f"need k_i = {a.size} < budget ≤ n = {n}, got budget {budget}")
    S[:, a] = -np.inf                                   # anchors are already scored exactly
    I = _topk_rows(S, budget - a.size)
    return np.concatenate([np.broadcast_to(a, (n_t, a.size)), I], axis=1)


def _topk_rows(S: np.ndarray, m: int) -> np.ndarray:
    """(n_t, m) ids of the m largest entries per row (descending; ties by lower id)."""
    if m == 0:
        return np.zeros((S.shape[0], 0), np.int64)
    part = np.argpartition(-S, m - 1, axis=1)[:, :m]
    vals = np.take_along_axis(S, part, axis=1)
    order = np.lexsort((part, -vals), axis=1)
    return np.take_along_axis(part, order, axis=1).astype(np.int64)


def rerank_candidates(query_emb, item_emb, budget: int) -> np.ndarray:
    """Dual-encoder retrieve-and-rerank candidates: (n_t, B) ids of the top-B items by ⟨q, i⟩ (exact k-NN,
    ``topk_search``); re-scoring them costs B scorer calls."""
    _, I = topk_search(np.asarray(query_emb, np.float32), np.asarray(item_emb, np.float32), budget, "dot")
    return I.astype(np.int64)


def kth_best(exact, k: int) -> np.ndarray:
    """(n_t,) the k-th best exact score of each row (the tie-aware recall threshold)."""
    sc = _matrix(exact, "exact")
    if not 1 <= k <= sc.shape[1]:
        raise ValueError(f"k must be in [1, n = {sc.shape[1]}], got {k}")
    return -np.partition(-sc, k - 1, axis=1)[:, k - 1] if sc.shape[0] else np.zeros(0)


def topk_recall(candidates, exact, k: int, *, kth=None) -> np.ndarray:
    """(n_t,) Top-k recall after an exact re-rank of each query's candidate set: the share of the exact top-k
    (by ``exact`` (n_t, n)) among the candidates, tie-aware (a candidate counts when its exact score is ≥ the
    k-th best, at most k per query). ``kth``: :func:`kth_best` of ``exact`` if already computed."""
    cand = np.asarray(candidates, np.int64)
    sc = _matrix(exact, "exact")
    if cand.ndim != 2 or cand.shape[0] != sc.shape[0]:
        raise ValueError(f"candidates (n_t, B) and exact (n_t, n) must share n_t, got {cand.shape}, {sc.shape}")
    if not 1 <= k <= sc.shape[1]:
        raise ValueError(f"k must be in [1, n = {sc.shape[1]}], got {k}")
    if cand.shape[0] == 0:
        return np.zeros(0)
    kth = kth_best(sc, k) if kth is None else np.asarray(kth, np.float64)
    hit = np.take_along_axis(sc, cand, axis=1) >= kth[:, None]
    return np.minimum(hit.sum(axis=1), k) / k


def split_queries(n_queries: int, n_anchor: int, n_val: int, rng: np.random.Generator):
    """A seeded partition of range(n_queries) into (anchor, validation, test) query ids (sorted)."""
    if n_anchor < 1 or n_val < 0 or n_anchor + n_val >= n_queries:
        raise ValueError(f"need n_anchor ≥ 1, n_val ≥ 0 and n_anchor + n_val < n_queries = {n_queries}")
    p = rng.permutation(n_queries)
    return np.sort(p[:n_anchor]), np.sort(p[n_anchor:n_anchor + n_val]), np.sort(p[n_anchor + n_val:])


def budget_sweep(M, baselines: dict, *, n_anchor: int, n_val: int, budgets, ks, fractions,
                 rng: np.random.Generator, rank: int | None = None) -> list[dict]:
    """One seed of the equal-budget comparison on a known score matrix M (n_queries × n; entries stand for
    scorer calls, which are counted, not re-computed). Queries are split into k_q anchor / validation / test;
    R = M[anchor queries]. For every budget B and anchor fraction f, k_i = budget_split(B, f) anchor items are
    drawn uniformly and ANNCUR's candidates scored; the dual-encoder baseline re-ranks its top-B. The fraction
    is chosen per (B, k) on the validation queries and the chosen one is reported on the test queries.
    ``baselines``: {name: (n_queries, n) cheap retrieval scores} (e.g. dual-encoder dot products, TF-IDF);
    each re-ranks its top-B items exactly (B calls).
    Rows: {budget, k, method ('anncur' | a baseline name), fraction, k_i, recall_val, recall_test, calls}."""
    M = _matrix(M, "M")
    qa, qv, qt = split_queries(M.shape[0], n_anchor, n_val, rng)
    R = M[qa]
    exact = {"val": M[qv], "test": M[qt]}
    kth = {(name, k): kth_best(E, k) for name, E in exact.items() for k in ks}
    rows = []
    for B in budgets:
        per_f = []
        for f in fractions:
            k_i = budget_split(B, f)
            idx = build_cur_index(R, sample_anchors(M.shape[1], k_i, rng), rank=rank)
            out = {"fraction": f, "k_i": k_i}
            for name, q in (("val", qv), ("test", qt)):
                cand = anncur_candidates(cur_scores(M[np.ix_(q, idx.anchor_items)], idx), idx.anchor_items, B)
                out[name] = {k: float(topk_recall(cand, exact[name], k, kth=kth[name, k]).mean()) for k in ks}
                out["calls"] = int(cand.shape[1]) if np.all([np.unique(c).size == B for c in cand]) else -1
            per_f.append(out)
        base = {name: _topk_rows(_matrix(S, name)[qt], B) for name, S in baselines.items()}
        for k in ks:
            best = max(per_f, key=lambda o: (o["val"][k], -o["fraction"]))
            rows.append({"budget": B, "k": k, "method": "anncur", "fraction": best["fraction"], "k_i": best["k_i"],
                         "recall_val": best["val"][k], "recall_test": best["test"][k], "calls": best["calls"]})
            for name, cand in base.items():
                rows.append({"budget": B, "k": k, "method": name, "fraction": np.nan, "k_i": 0,
                             "recall_val": np.nan,
                             "recall_test": float(topk_recall(cand, exact["test"], k, kth=kth["test", k]).mean()),
                             "calls": int(cand.shape[1])})
    return rows


def cur_relative_error(M, n_anchor: int, k_i: int, rng: np.random.Generator, rank: int | None = None) -> float:
    """‖M̂ − M‖_F / ‖M‖_F over the non-anchor query rows, for k_q = n_anchor random anchor queries and k_i random
    anchor items (how well CUR approximates the whole score matrix)."""
    M = _matrix(M, "M")
    qa, _, qt = split_queries(M.shape[0], n_anchor, 0, rng)
    idx = build_cur_index(M[qa], sample_anchors(M.shape[1], k_i, rng), rank=rank)
    A = cur_scores(M[np.ix_(qt, idx.anchor_items)], idx)
    return float(np.linalg.norm(A - M[qt]) / np.linalg.norm(M[qt]))


def wordnet_maxsim_task(n_items: int, n_queries: int, *, seed: int = 0) -> dict:
    """The offline stand-in for a cross-encoder task: items and queries are WordNet noun synsets ("lemma: gloss",
    queries outside the item corpus, :func:`simrepro.data.wordnet.load_wordnet_gloss_tokens`). The expensive
    scorer is late-interaction MaxSim (Chamfer) over unit all-MiniLM-L6-v2 token vectors — not a dot product
    of two single vectors; the dual encoder is MiniLM's own pooled sentence embedding of the same texts.
    Returns {'M' (n_queries, n_items) float64 exact scores, 'query_text', 'item_text', 'query_emb' (n_queries, 384), 'item_emb'
    (n_items, 384), 'query_tokens', 'item_tokens' (muvera Clouds), 'query_ids', 'item_ids'}."""
    from simrepro.data._store import open_file
    from simrepro.data.derived import minilm_embeddings
    from simrepro.data.wordnet import load_wordnet_gloss_tokens
    from simrepro.methods.search import muvera as mv

    wn = load_wordnet_gloss_tokens(n_items, n_queries, seed=seed)
    lemma = open_file("wordnet_nouns", "lemma.txt").read_text(encoding="utf-8").splitlines()
    gloss = open_file("wordnet_nouns", "gloss.txt").read_text(encoding="utf-8").splitlines()
    D = mv.Clouds(wn["doc_tokens"], wn["doc_offsets"])
    Q = mv.Clouds(wn["query_tokens"], wn["query_offsets"])
    q_text = [f"{lemma[i]}: {gloss[i]}" for i in wn["query_ids"]]
    i_text = [f"{lemma[i]}: {gloss[i]}" for i in wn["doc_ids"]]
    return {"M": mv.chamfer_similarity(Q, D).astype(np.float64), "query_text": q_text, "item_text": i_text,
            "query_emb": minilm_embeddings([f"{lemma[i]}: {gloss[i]}" for i in wn["query_ids"]],
                                           name="wordnet_anncur_queries"),
            "item_emb": minilm_embeddings([f"{lemma[i]}: {gloss[i]}" for i in wn["doc_ids"]],
                                          name="wordnet_anncur_items"),
            "query_tokens": Q, "item_tokens": D, "query_ids": wn["query_ids"], "item_ids": wn["doc_ids"]}


def tfidf_scores(query_text: list[str], item_text: list[str]) -> np.ndarray:
    """(n_q, n) cosine similarities of TF-IDF vectors (scikit-learn ``TfidfVectorizer`` fitted on the items,
    English stop words removed, sublinear tf): the paper's sparse retrieve-and-rerank baseline."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    if not item_text:
        raise ValueError("item_text is empty")
    vec = TfidfVectorizer(stop_words="english", sublinear_tf=True).fit(item_text)
    return np.asarray((vec.transform(query_text) @ vec.transform(item_text).T).todense(), dtype=np.float64)
