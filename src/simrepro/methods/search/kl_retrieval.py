r"""Retrieval by negative KL divergence between diagonal Gaussians, served as maximum inner product search
(Zamani & Bendersky, "Multivariate Representation Learning for Information Retrieval", SIGIR 2023,
arXiv 2304.14522).

A query q = N(μ_q, diag σ_q²) and a document d = N(μ_d, diag σ_d²) in ℝᵏ. Their KL divergence is

    KL(q‖d) = ½ Σᵢ [ log σ_dᵢ² − log σ_qᵢ² + (σ_qᵢ² + (μ_qᵢ − μ_dᵢ)²) / σ_dᵢ² − 1 ].

Expanding the square, every term is a product of a query factor and a document factor, so

    −KL(q‖d) = ⟨a(q), b(d)⟩ + c(q),          a, b ∈ ℝ^{2k+1},
    a(q) = −½ [1, σ_q² + μ_q², −2μ_q],        b(d) = [Σᵢ (log σ_dᵢ² + μ_dᵢ²/σ_dᵢ²), 1/σ_d², μ_d/σ_d²],
    c(q) = ½ Σᵢ (log σ_qᵢ² + 1).

c(q) is constant per query, so the top-k documents by −KL are exactly the top-k by the inner product ⟨a, b⟩:
any exact or approximate MIPS index over b(d) serves the model. The reverse direction decomposes too:

    −KL(d‖q) = ⟨a'(q), b'(d)⟩ + c'(q),   a' = −½ [1, 1/σ_q², −2μ_q/σ_q²],   b' = [−Σᵢ log σ_dᵢ², σ_d² + μ_d², μ_d],
    c'(q) = ½ Σᵢ (1 − log σ_qᵢ² − μ_qᵢ²/σ_qᵢ²).

``direction="qd"`` is KL(q‖d) (query distribution first), ``"dq"`` is KL(d‖q).

Numerics: b(d)'s first entry sums k terms that can be large (μ²/σ² for small σ²); ⟨a, b⟩ then cancels
against it, so float32 indices (faiss) carry an absolute error of roughly ε₃₂·‖a‖·‖b‖; the float64 path
matches the direct formula to ~1e-12 relative.
"""

from __future__ import annotations

import numpy as np

from simrepro.kernels.topk import topk_search

DIRECTIONS = ("qd", "dq")


def _check_gaussians(mu, var, name: str) -> tuple[np.ndarray, np.ndarray]:
    mu, var = np.asarray(mu, dtype=np.float64), np.asarray(var, dtype=np.float64)
    if mu.ndim != 2 or mu.shape != var.shape:
        raise ValueError(f"{name}: mean and variance must both be (n, k) with the same shape, got {mu.shape} "
                         f"and {var.shape}")
    if not (np.isfinite(mu).all() and np.isfinite(var).all()):
        raise ValueError(f"{name}: means/variances contain NaN or inf")
    if (var <= 0).any():
        raise ValueError(f"{name}: variances must be strictly positive (got min {var.min():.3g}); "
                         f"parameterise them as exp(log_var) or softplus")
    return mu, var


def _check_direction(direction: str) -> None:
    if direction not in DIRECTIONS:
        raise ValueError(f"direction must be 'qd' (KL(q‖d)) or 'dq' (KL(d‖q)), got {direction!r}")


def gaussian_kl(mu_q, var_q, mu_d, var_d, direction: str = "qd", *, block_size: int | None = None) -> np.ndarray:
    """Direct pairwise KL: (nq, k) × (nd, k) → (nq, nd), K[i, j] = KL(qᵢ‖dⱼ) (or KL(dⱼ‖qᵢ) for ``"dq"``).

    Float64, ``block_size`` queries at a time: O(block_size·nd·k) temporary memory; ``None`` keeps it near
    128 MiB."""
    _check_direction(direction)
    mu_q, var_q = _check_gaussians(mu_q, var_q, "queries")
    mu_d, var_d = _check_gaussians(mu_d, var_d, "documents")
    if mu_q.shape[1] != mu_d.shape[1]:
        raise ValueError(f"queries have dimension {mu_q.shape[1]} but documents {mu_d.shape[1]}")
    if direction == "dq":                                   # KL(d‖q): swap roles, then transpose
        return gaussian_kl(mu_d, var_d, mu_q, var_q, "qd", block_size=block_size).T
    out = np.empty((mu_q.shape[0], mu_d.shape[0]))
    block = block_size or max(1, (1 << 24) // max(1, mu_d.size))
    log_var_d = np.log(var_d)
    for s in range(0, mu_q.shape[0], block):
        mq, vq = mu_q[s:s + block, None, :], var_q[s:s + block, None, :]          # (b, 1, k)
        out[s:s + block] = 0.5 * (log_var_d - np.log(vq) + (vq + (mq - mu_d) ** 2) / var_d - 1.0).sum(-1)
    return out


def kl_query_vectors(mu, var, direction: str = "qd") -> tuple[np.ndarray, np.ndarray]:
    """(a(q) (n, 2k+1), c(q) (n,)) with −KL = ⟨a(q), b(d)⟩ + c(q)."""
    _check_direction(direction)
    mu, var = _check_gaussians(mu, var, "queries")
    ones = np.ones((mu.shape[0], 1))
    if direction == "qd":
        a = -0.5 * np.hstack([ones, var + mu**2, -2.0 * mu])
        c = 0.5 * (np.log(var) + 1.0).sum(1)
    else:
        a = -0.5 * np.hstack([ones, 1.0 / var, -2.0 * mu / var])
        c = 0.5 * (1.0 - np.log(var) - mu**2 / var).sum(1)
    return a, c


def kl_document_vectors(mu, var, direction: str = "qd") -> np.ndarray:
    """b(d) (n, 2k+1): the vectors a MIPS index stores."""
    _check_direction(direction)
    mu, var = _check_gaussians(mu, var, "documents")
    if direction == "qd":
        return np.hstack([(np.log(var) + mu**2 / var).sum(1, keepdims=True), 1.0 / var, mu / var])
    return np.hstack([-np.log(var).sum(1, keepdims=True), var + mu**2, mu])


def kl_retrieve(mu_q, var_q, mu_d, var_d, k: int, direction: str = "qd", *, search=None):
    """Top-k documents by −KL for every query, through an inner-product search: ``D, I`` of shape (nq, k).

    ``D[i, r]`` = −KL of the r-th best document (best first; the constant c(q) is added back), ``I`` its id.
    ``search(queries, database, k) -> (scores, ids)`` is any MIPS routine; default: the exact
    :func:`simrepro.kernels.topk.topk_search` with ``metric="dot"`` in float64.
    """
    a, c = kl_query_vectors(mu_q, var_q, direction)
    b = kl_document_vectors(mu_d, var_d, direction)
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"queries have dimension {(a.shape[1] - 1) // 2} but documents {(b.shape[1] - 1) // 2}")
    if search is None:
        scores, ids = topk_search(a, b, k, metric="dot")
    else:
        scores, ids = search(a, b, k)
    scores = np.asarray(scores, dtype=np.float64)
    return np.where(np.asarray(ids) >= 0, scores + c[:, None], -np.inf), np.asarray(ids, dtype=np.int64)


def kl_retrieve_reference(mu_q, var_q, mu_d, var_d, k: int, direction: str = "qd"):
    """Brute force: the full −KL matrix (direct formula), a stable sort, the first k; −inf / −1 as filler."""
    neg = -gaussian_kl(mu_q, var_q, mu_d, var_d, direction)
    nq, nd = neg.shape
    order = np.argsort(-neg, axis=1, kind="stable")[:, :k]
    D = np.full((nq, k), -np.inf)
    I = np.full((nq, k), -1, dtype=np.int64)
    D[:, :order.shape[1]] = np.take_along_axis(neg, order, axis=1)
    I[:, :order.shape[1]] = order
    return D, I


def random_gaussians(n: int, dim: int, rng: np.random.Generator, *, log_var_range=(-2.0, 2.0)):
    """n diagonal Gaussians: μ ~ N(0, I), log σ² ~ U(log_var_range) per coordinate; returns (μ, σ²)."""
    mu = rng.standard_normal((n, dim))
    var = np.exp(rng.uniform(*log_var_range, size=(n, dim)))
    return mu, var


# --- evaluation on a taxonomy (Part 2: learned Gaussians on WordNet) --------------------------------------

def taxonomy_relatives(parent, nodes, hops: int = 2) -> list[np.ndarray]:
    """For each node: its ancestors and descendants within ``hops`` edges of the tree ``parent`` (itself
    excluded), sorted. O(len(nodes)·(hops + descendants))."""
    parent = np.asarray(parent, dtype=np.int64)
    order = np.argsort(parent, kind="stable")
    starts = np.searchsorted(parent[order], np.arange(parent.size + 1))          # children of v: order[starts[v]:starts[v+1]]
    out = []
    for v in np.asarray(nodes, dtype=np.int64):
        rel, up, frontier = [], v, [v]
        for _ in range(hops):
            up = parent[up] if up >= 0 else -1
            if up >= 0:
                rel.append(up)
            frontier = [c for u in frontier for c in order[starts[u]:starts[u + 1]]]
            rel.extend(frontier)
        out.append(np.unique(np.asarray(rel, dtype=np.int64)))
    return out


def mrr_at_k(ranked, relevant, k: int = 10, exclude=None) -> float:
    """Mean reciprocal rank of the first relevant id within the top k of each row of ``ranked`` (nq, ≥k);
    ``exclude[i]`` (e.g. the query's own document) is removed from row i before cutting at k; −1 ids are
    padding. Queries without relevant documents are an error."""
    ranked = np.asarray(ranked)
    if len(relevant) != ranked.shape[0]:
        raise ValueError(f"{ranked.shape[0]} ranked rows but {len(relevant)} relevance sets")
    rr = []
    for i, row in enumerate(ranked):
        if len(relevant[i]) == 0:
            raise ValueError(f"query {i} has no relevant document; drop it before scoring")
        row = row[(row >= 0) & (row != (-2 if exclude is None else exclude[i]))][:k]
        hit = np.flatnonzero(np.isin(row, relevant[i]))
        rr.append(1.0 / (hit[0] + 1) if hit.size else 0.0)
    return float(np.mean(rr))


def learned_gaussian_retrieval(query_emb, query_ids, doc_emb, doc_ids, parent, *, n_queries: int,
                               test_fraction: float = 0.2, hidden: int = 256, epochs: int = 5,
                               batch_size: int = 256, lr: float = 1e-3, seed: int = 0, k: int = 10,
                               hops: int = 2) -> dict:
    """Train a vector and an MRL dual encoder on taxonomy relatives and compare them on held-out queries.

    ``parent`` is the whole taxonomy (a tree over node ids); the corpus is the nodes ``doc_ids`` with
    embeddings ``doc_emb``; queries are the first ``n_queries`` of ``query_ids`` (embeddings ``query_emb``)
    that have a relative in the corpus. A query's relevant documents are its corpus ancestors/descendants
    within ``hops`` (:func:`taxonomy_relatives`); the train/test split is by query (seeded). Retrieval runs
    over the whole corpus: exact MIPS for the vector model, :func:`kl_retrieve` (the inner-product form) for
    MRL; the query's own document is excluded. Returns MRR@k of both (and of the frozen input embeddings'
    cosine, an untrained reference), Spearman(mean learned document
    log-variance, log(1 + hyponym-closure size in the whole taxonomy)) over the corpus, and per-epoch losses."""
    from scipy.stats import spearmanr

    from simrepro.methods.measures.tree_emd import subtree_masses
    from simrepro.models.mrl import encode, train_dual_encoder

    parent = np.asarray(parent, dtype=np.int64)
    doc_ids, query_ids = np.asarray(doc_ids), np.asarray(query_ids)
    row_of = np.full(parent.size, -1, dtype=np.int64)
    row_of[doc_ids] = np.arange(doc_ids.size)
    rel = [row_of[r][row_of[r] >= 0] for r in taxonomy_relatives(parent, query_ids[:n_queries], hops)]
    rows = np.random.default_rng(seed).permutation([i for i, r in enumerate(rel) if r.size])
    n_test = max(1, int(round(test_fraction * rows.size)))
    test, train = np.sort(rows[:n_test]), rows[n_test:]
    pairs = np.array([(i, d) for i in train for d in rel[i]])
    out = {"n_train_queries": int(train.size), "n_test_queries": int(test.size), "n_train_pairs": int(len(pairs))}
    relevant_test, own_doc = [rel[i] for i in test], row_of[query_ids[test]]
    breadth = np.log1p(subtree_masses(parent, np.ones(parent.size)) - 1.0)[doc_ids]
    _, ids = topk_search(query_emb[test], doc_emb, k + 1, metric="cosine")      # untrained reference
    out["mrr_frozen_cosine"] = mrr_at_k(ids, relevant_test, k, exclude=own_doc)
    for kind in ("vector", "mrl"):
        model, losses = train_dual_encoder(kind, query_emb, doc_emb, pairs, hidden=hidden, epochs=epochs,
                                           batch_size=batch_size, lr=lr, seed=seed)
        mu_d, var_d = encode(model, doc_emb, "doc")
        mu_q, var_q = encode(model, query_emb[test], "query")
        if kind == "vector":
            _, ids = topk_search(mu_q, mu_d, k + 1, metric="dot")
        else:
            _, ids = kl_retrieve(mu_q, var_q, mu_d, var_d, k + 1)
            out["spearman_logvar_breadth"] = float(spearmanr(np.log(var_d).mean(1), breadth).statistic)
        out[f"mrr_{kind}"] = mrr_at_k(ids, relevant_test, k, exclude=own_doc)
        out[f"loss_{kind}"] = losses
    return out
