r"""Methodology Inspiration Retrieval with a Methodology Adjacency Graph (MIR, Garikaparthi, Patwardhan, Kanade,
Hassan, Vig & Cohan, ACL 2025, arXiv 2506.00249), at small scale over frozen sentence embeddings.

Task. Queries are research problems ``q`` (m of them), the corpus is n documents; the relevant documents of a
problem are those whose methods inspired its solution (the MAG's methodological edges, ``groups[i]``).
Retrievers rank the corpus by a score matrix ``S`` (m, n), higher = better; a problem's own document (when
it is in the corpus) is excluded from its ranking (``exclude[i]``, −1 for none).

Retrievers compared:
- BM25 (bm25s, :mod:`simrepro.methods.retrieval.bm25`) and frozen dense encoders (cosine of unit embeddings);
- **MAG-tuned**: a linear adapter ``x ↦ xW`` (W ∈ R^{d×d}, identity at start, shared by queries and documents)
  over frozen embeddings, trained with in-batch InfoNCE on (training problem, MAG-inspiration) pairs, a key
  equal to a query's own positive masked (:func:`train`, loss of :mod:`~simrepro.methods.retrieval.dense_survey`);
  the paper fine-tunes the whole encoder on triplets sampled from the MAG with a joint triplet loss (official
  README), we tune a projection only;
- **topic-tuned**: the same adapter and loss, positives = each training problem's ``n_pos`` nearest
  documents *of its own topic* by frozen cosine (the signal a topic-/similarity-supervised retriever sees);
- **popularity**: a text-free prior, ``S[i, j]`` = number of training problems inspired by document j.

Metrics (per problem, then averaged; relevance binary): Recall@k = |rel ∩ top k| / |rel|; AP@K =
(1/|rel|) Σ_{r ≤ K, doc_r ∈ rel} precision@r (trec_eval ``map_cut.K``); reported through
:mod:`simrepro.metrics.ir` (pytrec_eval) beside the plain references :func:`recall_at_k_reference`,
:func:`average_precision_reference`. Ties rank the lower document index first (stable sort) in both.

Costs: scoring O(m n d); ranking O(m n log n); adapter training O(steps · b² · P · d).
"""

from __future__ import annotations

import numpy as np



# ----------------------------------------------------------------------------------------------- validation
def _check_matrix(x, name: str) -> np.ndarray:
    x = np.asarray(x, np.float64)
    if x.ndim != 2:
        raise ValueError(f"{name} must be 2-D (rows, dim), got shape {x.shape}")
    if np.isnan(x).any():
        raise ValueError(f"{name} contains NaN; check the embeddings")
    return x


def _unit(x: np.ndarray) -> np.ndarray:
    n = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.where(n == 0, 1.0, n)


def _check_groups(groups, n_docs: int) -> list[np.ndarray]:
    out = []
    for i, g in enumerate(groups):
        g = np.asarray(g, np.int64).ravel()
        if len(g) == 0:
            raise ValueError(f"problem {i} has no relevant document; drop it before evaluating")
        if g.min() < 0 or g.max() >= n_docs:
            raise ValueError(f"problem {i} names a document outside [0, {n_docs})")
        out.append(np.unique(g))
    return out


# ----------------------------------------------------------------------------------------------- graph
def groups_from_edges(edges, problems, n_docs: int) -> list[np.ndarray]:
    """Sorted inspiration documents of each problem in ``problems`` from ``edges`` (E, 2) = (problem, doc)."""
    edges = np.asarray(edges, np.int64).reshape(-1, 2)
    if len(edges) and (edges[:, 1].min() < 0 or edges[:, 1].max() >= n_docs):
        raise ValueError(f"an edge names a document outside [0, {n_docs})")
    by: dict[int, list[int]] = {}
    for p, d in edges.tolist():
        by.setdefault(p, []).append(d)
    return [np.array(sorted(set(by.get(int(p), []))), np.int64) for p in problems]


def popularity_scores(train_groups, n_queries: int, n_docs: int) -> np.ndarray:
    """(n_queries, n_docs): every row = in-degree of each document among the training problems' groups."""
    deg = np.zeros(n_docs)
    for g in train_groups:
        np.add.at(deg, np.asarray(g, np.int64), 1.0)
    return np.broadcast_to(deg, (n_queries, n_docs)).copy()


def topic_positives(Q, D, query_topics, doc_topics, n_pos: int, exclude=None) -> list[np.ndarray]:
    """For each query row, its ``n_pos`` nearest documents by cosine among those of its own topic (its own
    document excluded); a query whose topic has no other document gets an empty array."""
    Q, D = _unit(_check_matrix(Q, "Q")), _unit(_check_matrix(D, "D"))
    if n_pos < 1:
        raise ValueError(f"n_pos must be >= 1, got {n_pos}")
    doc_topics = np.asarray(doc_topics)
    S = Q @ D.T
    out = []
    for i, t in enumerate(query_topics):
        cand = np.flatnonzero(doc_topics == t)
        if exclude is not None and exclude[i] >= 0:
            cand = cand[cand != exclude[i]]
        order = np.argsort(-S[i, cand], kind="stable")[:n_pos]
        out.append(cand[order].astype(np.int64))
    return out


# ----------------------------------------------------------------------------------------------- retrieval
def dense_scores(Q, D, W=None) -> np.ndarray:
    """(m, n) cosine similarities of ``Q W`` and ``D W`` (W None = identity)."""
    Q, D = _check_matrix(Q, "Q"), _check_matrix(D, "D")
    if Q.shape[1] != D.shape[1]:
        raise ValueError(f"Q and D dims differ: {Q.shape[1]} vs {D.shape[1]}")
    if W is not None:
        W = _check_matrix(W, "W")
        Q, D = Q @ W, D @ W
    return _unit(Q) @ _unit(D).T


def mask_self(S, exclude) -> np.ndarray:
    """A copy of ``S`` with ``S[i, exclude[i]] = −inf`` wherever ``exclude[i] >= 0``."""
    S = np.array(S, np.float64)
    exclude = np.asarray(exclude, np.int64)
    if exclude.shape != (S.shape[0],):
        raise ValueError(f"exclude must be ({S.shape[0]},), got {exclude.shape}")
    rows = np.flatnonzero(exclude >= 0)
    S[rows, exclude[rows]] = -np.inf
    return S


def top_k(S, k: int) -> tuple[np.ndarray, np.ndarray]:
    """``(scores, ids)`` (m, min(k, n)) by decreasing score, ties → lower document index; −inf entries get id −1."""
    S = np.asarray(S, np.float64)
    if S.ndim != 2:
        raise ValueError(f"S must be (m, n), got {S.shape}")
    if np.isnan(S).any():
        raise ValueError("S contains NaN: a NaN cannot be ranked")
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    k = min(k, S.shape[1])
    I = np.argsort(-S, axis=1, kind="stable")[:, :k]
    V = np.take_along_axis(S, I, axis=1)
    return np.where(np.isfinite(V), V, 0.0), np.where(np.isfinite(V), I, -1).astype(np.int64)


def evaluate(S, groups, *, k: int = 3, depth: int = 100) -> dict[str, float]:
    """Recall@k and mAP (AP cut at ``depth``) over the problems, by pytrec_eval on the top ``depth``."""
    from simrepro.metrics import ir

    S = np.asarray(S, np.float64)
    if depth < k:
        raise ValueError(f"depth ({depth}) must be >= k ({k}): recall@k is read from the top depth")
    groups = _check_groups(groups, S.shape[1])
    if len(groups) != S.shape[0]:
        raise ValueError(f"{len(groups)} groups for {S.shape[0]} queries")
    V, I = top_k(S, depth)
    qids = [f"q{i}" for i in range(len(groups))]
    qrels = ir.qrels_from_pairs((f"q{i}", f"d{j}", 1) for i, g in enumerate(groups) for j in g)
    run = ir.run_from_topk(V, I, qids, [f"d{j}" for j in range(S.shape[1])], keep_order=True)
    out = ir.evaluate(qrels, run, (f"recall@{k}", f"map@{depth}"))
    return {"recall": out[f"recall@{k}"], "map": out[f"map@{depth}"]}


def recall_at_k_reference(ranked: list[int], relevant: set[int], k: int) -> float:
    """|relevant ∩ ranked[:k]| / |relevant| by a plain loop."""
    if not relevant:
        raise ValueError("relevant is empty")
    return sum(1 for d in ranked[:k] if d in relevant) / len(relevant)


def average_precision_reference(ranked: list[int], relevant: set[int], depth: int) -> float:
    """(1/|relevant|) Σ over ranks r ≤ depth holding a relevant doc of precision@r, by a plain loop."""
    if not relevant:
        raise ValueError("relevant is empty")
    hits, total = 0, 0.0
    for r, d in enumerate(ranked[:depth], start=1):
        if d in relevant:
            hits += 1
            total += hits / r
    return total / len(relevant)


def evaluate_reference(S, groups, *, k: int = 3, depth: int = 100) -> dict[str, float]:
    """:func:`evaluate` by the plain references (ties → lower index; −inf documents never ranked)."""
    S = np.asarray(S, np.float64)
    groups = _check_groups(groups, S.shape[1])
    rec, ap = [], []
    for i, g in enumerate(groups):
        ranked = [int(j) for j in sorted(range(S.shape[1]), key=lambda j: (-S[i, j], j)) if np.isfinite(S[i, j])]
        rel = set(g.tolist())
        rec.append(recall_at_k_reference(ranked, rel, k))
        ap.append(average_precision_reference(ranked, rel, depth))
    return {"recall": float(np.mean(rec)), "map": float(np.mean(ap))}


def same_topic_share(S, query_topics, doc_topics, k: int = 10) -> float:
    """Mean fraction of each query's top k documents that share its topic (the 'topic trap' of similarity)."""
    _, I = top_k(S, k)
    doc_topics = np.asarray(doc_topics)
    qt = np.asarray(query_topics)
    valid = I >= 0
    same = (doc_topics[np.where(valid, I, 0)] == qt[:, None]) & valid
    return float((same.sum(1) / np.maximum(valid.sum(1), 1)).mean())


# ----------------------------------------------------------------------------------------------- training
def train(Q, D, groups, *, steps: int = 300, batch: int = 64, lr: float = 1e-3, temperature: float = 0.05,
          seed: int = 0) -> tuple[np.ndarray, list[float]]:
    """Adapter ``W`` (d, d), identity at start, from in-batch InfoNCE on (Q[i], one of D[groups[i]]) pairs.

    Each step draws ``batch`` problems without replacement and one positive document of each; the keys are the
    batch's positives, and a key that is the *same document* as a query's own positive (a shared inspiration:
    popular methods inspire many problems) is masked rather than used as a negative — the loss is
    :func:`simrepro.methods.retrieval.dense_survey.hard_negative_loss` with ``key_ids`` / ``gold_ids``.
    Rows with an empty group are dropped. Returns ``(W, per-step losses)``. O(steps · b² · d + steps · b · d²)."""
    import torch

    from simrepro.methods.retrieval.dense_survey import hard_negative_loss

    Q, D = _check_matrix(Q, "Q"), _check_matrix(D, "D")
    if Q.shape[1] != D.shape[1]:
        raise ValueError(f"Q and D dims differ: {Q.shape[1]} vs {D.shape[1]}")
    if len(groups) != len(Q):
        raise ValueError(f"{len(groups)} groups for {len(Q)} problems")
    keep = [i for i, g in enumerate(groups) if len(g)]
    if len(keep) < 2:
        raise ValueError("need >= 2 training problems with a positive")
    if steps < 1 or batch < 2:
        raise ValueError(f"need steps >= 1 and batch >= 2, got {steps}, {batch}")
    grp = [np.asarray(groups[i], np.int64) for i in keep]
    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)
    Qt = torch.as_tensor(Q[keep], dtype=torch.float32)
    Dt = torch.as_tensor(D, dtype=torch.float32)
    W = torch.nn.Parameter(torch.eye(Q.shape[1]))
    opt = torch.optim.AdamW([W], lr=lr, weight_decay=0.0)
    b = min(batch, len(keep))
    hist = []
    for _ in range(steps):
        rows = rng.choice(len(keep), b, replace=False)
        pos = np.array([grp[i][rng.integers(len(grp[i]))] for i in rows], np.int64)
        q = torch.nn.functional.normalize(Qt[rows] @ W, dim=1)
        p = torch.nn.functional.normalize(Dt[pos] @ W, dim=1)
        loss = hard_negative_loss(q, p, None, temperature, key_ids=pos, gold_ids=pos)
        opt.zero_grad()
        loss.backward()
        opt.step()
        hist.append(float(loss.detach()))
    return W.detach().numpy().astype(np.float64), hist
