r"""ReCDS baselines of PMC-Patients (Zhao et al., Scientific Data 2023; official code ``zhao-zy15/PMC-Patients``,
``code/downstream_task/baseline/``) over a score matrix, and the patient-similarity classifier.

- Lexical / dense retrieval: a score matrix S (n_q, N) (BM25 from :mod:`simrepro.methods.retrieval.bm25`,
  or cosine of unit-norm embeddings = dot); rankings by ``topk_search`` or ``argsort``.
- Reciprocal rank fusion (``baseline/PPR/RRF/RRF.py`` l. 7-26): each run ranks its documents 1, 2, …;
  fused(q, d) = Σ_runs 1 / (k + rank_run(q, d)) over the runs that retrieved d (its top ``depth``).
- Nearest-neighbour label propagation (``baseline/PPR/NN/NN.py`` l. 31-61): retrieve the query's ``k``
  most similar *training* patients p (scores s_p); every p adds s_p to itself (PPR) and to each of its
  labelled neighbours (training qrels: similar training patients for PPR, relevant articles for PAR):
  cand(d) = Σ_p s_p · ([d = p] · self_weight + [d ∈ labels(p)]).  Costs O(n_q · (k + Σ labels)).
- Patient-patient similarity (PPS) as a classification: pair features [|u − v|, u ⊙ v] of unit-norm
  embeddings → logistic regression (scikit-learn), balanced similar / random-dissimilar pairs.
Metrics are pytrec_eval's through :mod:`simrepro.metrics.ir`; MRR is over the whole ranking as the official
scripts compute it (``evaluate_custom(..., [len(corpus)], metric="mrr")``, e.g. ``PPR/BM25/query.py`` l. 63).
"""

from __future__ import annotations

import numpy as np

from simrepro.metrics import ir

METRICS = ("mrr", "precision@10", "ndcg@10", "recall@100")


def _check_scores(S) -> np.ndarray:
    S = np.asarray(S, dtype=np.float64)
    if S.ndim != 2:
        raise ValueError(f"scores must be (n_queries, n_docs), got shape {S.shape}")
    if np.isnan(S).any():
        raise ValueError("scores contain NaN: check the embeddings / BM25 input for NaN")
    return S


def ranking(S, depth: int | None = None) -> np.ndarray:
    """(n_q, depth) document indices by decreasing score, ties → lower index (stable); depth ≤ N."""
    S = _check_scores(S)
    depth = S.shape[1] if depth is None else min(int(depth), S.shape[1])
    if depth < 1:
        raise ValueError(f"depth must be ≥ 1, got {depth}")
    return np.argsort(-S, axis=1, kind="stable")[:, :depth]


def rrf(score_mats, *, k: float = 60.0, depth: int | None = None) -> np.ndarray:
    """Reciprocal-rank fusion of runs given as score matrices (each (n_q, N)); returns fused scores (n_q, N),
    0 for documents no run retrieved in its top ``depth``. ``k`` ≥ 0 (the official sweep uses 0..500; k = 0
    with rank ≥ 1 stays finite)."""
    mats = [_check_scores(S) for S in score_mats]
    if not mats:
        raise ValueError("rrf needs at least one run")
    if any(M.shape != mats[0].shape for M in mats):
        raise ValueError(f"all runs must have the same shape, got {[M.shape for M in mats]}")
    if k < 0:
        raise ValueError(f"k must be ≥ 0, got {k}")
    out = np.zeros(mats[0].shape)
    rows = np.arange(mats[0].shape[0])[:, None]
    for M in mats:
        R = ranking(M, depth)
        out[rows, R] += 1.0 / (k + np.arange(1, R.shape[1] + 1))[None, :]
    return out


def rrf_reference(score_mats, *, k: float = 60.0, depth: int | None = None) -> np.ndarray:
    """Loop form of :func:`rrf` (dicts of ranks, as RRF.py), for tests."""
    mats = [np.asarray(S, dtype=np.float64) for S in score_mats]
    n_q, n = mats[0].shape
    out = np.zeros((n_q, n))
    depth = n if depth is None else min(depth, n)
    for q in range(n_q):
        fused: dict[int, float] = {}
        for M in mats:
            order = sorted(range(n), key=lambda d: (-M[q, d], d))[:depth]
            for r, d in enumerate(order, start=1):
                fused[d] = fused.get(d, 0.0) + 1.0 / (k + r)
        for d, v in fused.items():
            out[q, d] = v
    return out


def knn_propagate(S_train, labels, n_docs: int, *, k: int = 10, self_index=None, self_weight: float = 1.0):
    """Nearest-neighbour scores (n_q, n_docs): ``S_train`` (n_q, n_train) similarities of each query to the
    training patients, ``labels[p]`` the document indices labelled for training patient p, ``self_index[p]``
    the document index of p itself (PPR; None for PAR). See the module docstring."""
    S = _check_scores(S_train)
    if len(labels) != S.shape[1]:
        raise ValueError(f"{len(labels)} label lists for {S.shape[1]} training patients")
    if k < 1:
        raise ValueError(f"k must be ≥ 1, got {k}")
    out = np.zeros((S.shape[0], n_docs))
    R = ranking(S, k)
    for q in range(S.shape[0]):
        for p in R[q]:
            s = S[q, p]
            if self_index is not None:
                out[q, self_index[p]] += self_weight * s
            for d in labels[p]:
                out[q, d] += s
    return out


def run_from_scores(S, query_ids, doc_ids, *, depth: int = 1000) -> dict:
    """A pytrec_eval run of each query's top ``depth`` documents, ranked exactly as :func:`ranking` (ties by
    index: scores replaced by depth − position)."""
    S = _check_scores(S)
    R = ranking(S, depth)
    return ir.run_from_topk(np.take_along_axis(S, R, axis=1), R, list(query_ids), list(doc_ids), keep_order=True)


def evaluate(S, qrels, query_ids, doc_ids, *, metrics=METRICS, depth: int | None = None) -> dict:
    """Mean metrics of score matrix ``S`` (rows = ``query_ids``, columns = ``doc_ids``) against ``qrels``
    over the queries that have qrels (rows of other queries are dropped), full ranking by default."""
    keep = [i for i, q in enumerate(query_ids) if str(q) in qrels]
    if not keep:
        raise ValueError("no query of query_ids has qrels")
    S = _check_scores(S)[keep]
    run = run_from_scores(S, [str(query_ids[i]) for i in keep], [str(d) for d in doc_ids],
                          depth=depth or S.shape[1])
    return ir.evaluate({q: qrels[q] for q in run}, run, list(metrics))


def pair_features(U, V) -> np.ndarray:
    """[|u − v|, u ⊙ v] per row pair: (n, 2d) from U, V (n, d)."""
    U, V = np.asarray(U, np.float64), np.asarray(V, np.float64)
    if U.shape != V.shape or U.ndim != 2:
        raise ValueError(f"U and V must both be (n, d), got {U.shape} and {V.shape}")
    return np.hstack([np.abs(U - V), U * V])


def sample_pairs(sim: dict, pool, rng, *, n_pos: int, partners=None) -> tuple[np.ndarray, np.ndarray]:
    """Balanced (i, j) pairs with i in ``pool``: up to ``n_pos`` similar pairs (j ∈ sim[i] ∩ partners) and as
    many random dissimilar ones (j ∈ partners, j ∉ sim[i], j ≠ i). Returns pairs (m, 2) and labels (m,)."""
    pool = np.asarray(pool)
    partners = np.asarray(sorted(partners if partners is not None else sim.keys()))
    pset = set(partners.tolist())
    pos = [(int(i), j) for i in pool for j in sorted(sim[int(i)] & pset)]
    if not pos:
        raise ValueError("no similar pair in this pool: the corpus has no citation-linked patients here")
    pos = [pos[t] for t in rng.permutation(len(pos))[:n_pos]]
    neg = []
    while len(neg) < len(pos):
        i = int(rng.choice(pool))
        j = int(rng.choice(partners))
        if j != i and j not in sim[i]:
            neg.append((i, j))
    pairs = np.array(pos + neg, int)
    return pairs, np.r_[np.ones(len(pos), int), np.zeros(len(neg), int)]


def pps_accuracy(E, train_pairs, train_y, test_pairs, test_y, *, C: float = 1.0) -> float:
    """Accuracy of a logistic regression on :func:`pair_features` (fit on train pairs, scored on test)."""
    from sklearn.linear_model import LogisticRegression

    E = np.asarray(E)
    clf = LogisticRegression(C=C, max_iter=2000)
    clf.fit(pair_features(E[train_pairs[:, 0]], E[train_pairs[:, 1]]), train_y)
    pred = clf.predict(pair_features(E[test_pairs[:, 0]], E[test_pairs[:, 1]]))
    return float((pred == np.asarray(test_y)).mean())


def symmetric(sim: dict) -> bool:
    """True when j ∈ sim[i] ⇔ i ∈ sim[j] and no i ∈ sim[i] (annotate.py l. 117-127 checks the same)."""
    return all(i not in s and all(i in sim[j] for j in s) for i, s in sim.items())
