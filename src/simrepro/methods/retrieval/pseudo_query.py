r"""Pseudo-query document embeddings (Tang, Sun, Jin, Wang, Zhang & Wu, ACL 2021, arXiv 2105.03599; official
code ``midori1/drpq``).

A document with token vectors X = {x₁ … x_m} ⊂ ℝᵈ (the encoder's last layer, [CLS] and [SEP] included, not
normalised) is represented by the k centroids c₁ … c_k of a k-means over its own tokens, the "pseudo queries"
(official ``dpr/models/kmeans.py``, ``lloyd``):

  init (Forgy):      c_j ← x_{π(j)}, π a random choice of k distinct tokens of the document
  assign:            a(t) = argmin_j ‖x_t − c_j‖²          (ties → the lowest j)
  update:            c_j ← mean{x_t : a(t) = j}            (an empty cluster keeps its centroid)
  repeated ``n_iter`` times or until no assignment changes (a fixed point: more iterations change nothing, so
  a document's centroids do not depend on which documents share its batch).

The official code draws the init tokens among the first (shortest document's length) positions and zeroes an
empty cluster; we draw among all of a document's tokens and keep the centroid, which never leaves a zero
vector that would attract softmax weight. A document with m < k tokens gets m centroids (the others masked).

A query vector q scores a document by softmax attention over its centroids (official
``dot_attention``):

  a_j = softmax_j(⟨q, c_j⟩ / τ),   e_d = Σ_j a_j c_j,   y(q, d) = ⟨q, e_d⟩ = Σ_j a_j ⟨q, c_j⟩,

with τ = 1 in the official code (it has no temperature; the knob is exposed for the untrained-encoder
proxy; τ → 0 gives the max over centroids, τ → ∞ the mean of the centroid scores).

Two-step search (the abstract's "two-step score calculation"; official ``dense_cluster_retriever.py``): y is
not an inner product with a fixed vector, so it cannot be indexed directly. Step 1 searches all n·k centroids
with a flat inner-product index (faiss ``IndexFlatIP``, or our exact ``topk_search``) for the ``n_probe`` best
⟨q, c⟩; their documents, deduplicated in rank order, are the candidates. Step 2 scores the candidates exactly
by y and keeps the top k. The official retriever's index path probes ``n_docs × expand_factor`` centroids
(100 × 10 in its README, whose command also offers exhaustive exact scoring, ``--no_knn``).

Shapes: queries (n_q, d); centroids (n, k, d) float32 with a boolean mask (n, k) (True = a real centroid);
scores (n_q, n). Costs: k-means O(n_iter · T · k · d) for T tokens in all; exact scoring O(n_q · n · k · d);
step 1 O(n_q · n · k · d) for the flat index, step 2 O(n_q · n_probe · k · d).
"""

from __future__ import annotations

import numpy as np
import torch

from simrepro.kernels._validate import as_matrix
from simrepro.kernels.topk import topk_search
from simrepro.methods.search.muvera import Clouds, as_clouds

FIRST_STAGES = ("faiss", "exact")


# ----------------------------------------------------------------------------------------------- validation
def _doc_clouds(documents) -> Clouds:
    return as_clouds(documents, "documents", allow_empty_cloud=False)


def _check_centroids(centroids, mask):
    C = torch.as_tensor(np.asarray(centroids)) if not isinstance(centroids, torch.Tensor) else centroids
    if C.ndim != 3:
        raise ValueError(f"centroids: expected (n, k, d), got shape {tuple(C.shape)}")
    if not C.dtype.is_floating_point:
        raise TypeError(f"centroids: expected a float array, got {C.dtype}")
    if C.numel() and not bool(torch.isfinite(C).all()):
        raise ValueError("centroids contain NaN or inf; recompute them from finite token vectors")
    if mask is None:
        M = torch.ones(C.shape[:2], dtype=torch.bool)
    else:
        M = torch.as_tensor(np.asarray(mask)) if not isinstance(mask, torch.Tensor) else mask
        if M.shape != C.shape[:2] or M.dtype != torch.bool:
            raise ValueError(f"mask: expected a boolean (n, k) = {tuple(C.shape[:2])} array, got "
                             f"{tuple(M.shape)} {M.dtype}")
    if C.shape[0] and C.shape[1] and not bool(M.any(dim=1).all()):
        i = int(torch.nonzero(~M.any(dim=1))[0])
        raise ValueError(f"document {i} has no valid centroid; every document needs at least one")
    if C.shape[0] and C.shape[1] == 0:
        raise ValueError("centroids: k = 0 centroids per document; every document needs at least one")
    return C, M


def _check_queries(queries, d: int) -> torch.Tensor:
    q = as_matrix(queries, "queries")
    if q.shape[1] != d:
        raise ValueError(f"queries have dimension {q.shape[1]} but the centroids have {d}")
    return q


# ----------------------------------------------------------------------------------------------- k-means
def forgy_init(sizes, n_clusters: int, seed: int = 0) -> np.ndarray:
    """(n, k) int64: for document i, k distinct token positions in [0, sizes[i]) drawn uniformly without
    replacement (``default_rng(seed)``), −1 where sizes[i] < k. Shared by the fast path and the reference."""
    sizes = np.asarray(sizes, dtype=np.int64)
    if n_clusters < 1:
        raise ValueError(f"n_clusters must be ≥ 1, got {n_clusters}")
    if sizes.ndim != 1 or (sizes.size and sizes.min() < 0):
        raise ValueError("sizes must be a 1-D array of non-negative token counts")
    rng = np.random.default_rng(seed)
    L = int(sizes.max()) if sizes.size else 0
    keys = rng.random((sizes.size, max(L, n_clusters)))
    keys[np.arange(keys.shape[1])[None, :] >= sizes[:, None]] = np.inf       # padding sorts last
    order = np.argsort(keys, axis=1, kind="stable")[:, :n_clusters]
    return np.where(np.arange(n_clusters)[None, :] < sizes[:, None], order, -1).astype(np.int64)


def pseudo_query_centroids(documents, n_clusters: int = 4, *, n_iter: int = 20, seed: int = 0,
                           init: np.ndarray | None = None, batch_docs: int = 64):
    """k-means over each document's own tokens: ``(C, mask)`` with C (n, k, d) float32 centroids and mask (n, k)
    bool. ``documents``: a list of (mᵢ, d) token arrays or a :class:`Clouds`; every document needs ≥ 1 token.
    ``init`` (n, k) token positions (default :func:`forgy_init` with ``seed``). ``batch_docs`` documents are
    padded into one (B, L, d) batch per step: memory O(B · L · d); 64 keeps a batch of ~100-token documents
    in cache (on 2 cores, 2500 MiniLM gloss documents: ~2.5× faster than batches of 512)."""
    D = _doc_clouds(documents)
    if n_iter < 0:
        raise ValueError(f"n_iter must be ≥ 0, got {n_iter}")
    sizes = D.sizes
    init = forgy_init(sizes, n_clusters, seed) if init is None else np.asarray(init, dtype=np.int64)
    if init.shape != (len(D), n_clusters):
        raise ValueError(f"init: expected ({len(D)}, {n_clusters}) token positions, got {init.shape}")
    if ((init >= sizes[:, None]) | (init < -1)).any():
        raise ValueError("init: token positions must lie in [0, size) (or −1 for an unused centroid)")
    d = D.X.shape[1]
    C = np.zeros((len(D), n_clusters, d), np.float32)
    mask = init >= 0
    X = torch.from_numpy(D.X)
    for s in range(0, len(D), batch_docs):
        idx = np.arange(s, min(s + batch_docs, len(D)))
        C[idx] = _lloyd_batch(X, D.offsets, idx, init[idx], n_iter).numpy()
    return C, mask


def _lloyd_batch(X: torch.Tensor, offsets: np.ndarray, idx: np.ndarray, init: np.ndarray, n_iter: int):
    """Batched Lloyd iterations for the documents ``idx`` (B, L, d padded)."""
    sizes = offsets[idx + 1] - offsets[idx]
    B, L, k = idx.size, int(sizes.max()), init.shape[1]
    pos = np.arange(L)[None, :]
    valid = torch.from_numpy(pos < sizes[:, None])                                  # (B, L)
    rows = torch.from_numpy(np.where(pos < sizes[:, None], offsets[idx][:, None] + pos, 0))
    P = X[rows] * valid[..., None]                                                  # (B, L, d), padding = 0
    cmask = torch.from_numpy(init >= 0)                                             # (B, k)
    C = P[torch.arange(B)[:, None], torch.from_numpy(np.maximum(init, 0))].clone()  # (B, k, d)
    assign = None
    for _ in range(n_iter):
        # ‖x − c‖² = ‖x‖² − 2⟨x, c⟩ + ‖c‖²; the ‖x‖² term does not change the argmin
        dist = (C * C).sum(-1)[:, None, :] - 2 * torch.bmm(P, C.transpose(1, 2))      # (B, L, k)
        dist = dist.masked_fill(~cmask[:, None, :], float("inf"))
        new = dist.argmin(-1)                                                        # (B, L), ties → lowest j
        if assign is not None and bool(((new == assign) | ~valid).all()):
            break                                                                    # fixed point for all B
        assign = new
        onehot = torch.nn.functional.one_hot(assign, k).to(P.dtype) * valid[..., None]  # (B, L, k)
        counts = onehot.sum(1)                                                       # (B, k)
        sums = torch.bmm(onehot.transpose(1, 2), P)                                  # (B, k, d)
        C = torch.where(counts[..., None] > 0, sums / counts.clamp(min=1)[..., None], C)
    return C * cmask[..., None]


def pseudo_query_centroids_reference(tokens, init_positions, n_iter: int = 20) -> np.ndarray:
    """Plain float64 Lloyd for one document: tokens (m, d), init_positions (k,) (−1 = unused) → (k, d)
    centroids (zeros for unused slots), by the same rules as :func:`pseudo_query_centroids`."""
    x = np.asarray(tokens, np.float64)
    init_positions = np.asarray(init_positions)
    used = [j for j, p in enumerate(init_positions) if p >= 0]
    c = {j: x[init_positions[j]].copy() for j in used}
    prev = None
    for _ in range(n_iter):
        assign = []
        for t in range(x.shape[0]):
            best, best_j = np.inf, -1
            for j in used:
                dd = float(((x[t] - c[j]) ** 2).sum())
                if dd < best:
                    best, best_j = dd, j
            assign.append(best_j)
        if assign == prev:
            break
        prev = assign
        for j in used:
            members = [x[t] for t in range(x.shape[0]) if assign[t] == j]
            if members:
                c[j] = np.mean(members, axis=0)
    out = np.zeros((init_positions.size, x.shape[1]))
    for j in used:
        out[j] = c[j]
    return out


# ----------------------------------------------------------------------------------------------- scoring
def attention_scores(queries, centroids, mask=None, *, temperature: float = 1.0, query_block: int = 256) -> np.ndarray:
    """(n_q, n) float32: y(q, d) = Σ_j softmax_j(⟨q, c_j⟩/τ) ⟨q, c_j⟩ over each document's valid centroids.
    Computed ``query_block`` queries at a time (memory O(query_block · n · k))."""
    C, M = _check_centroids(centroids, mask)
    q = _check_queries(queries, C.shape[2]).to(torch.float32)
    if not temperature > 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    C = C.to(torch.float32)
    n, k, d = C.shape
    out = torch.empty((q.shape[0], n), dtype=torch.float32)
    flat = C.reshape(n * k, d)
    for s in range(0, q.shape[0], query_block):
        logits = (q[s:s + query_block] @ flat.T).reshape(-1, n, k)                    # (b, n, k) = ⟨q, c_j⟩
        w = torch.softmax((logits / temperature).masked_fill(~M, float("-inf")), dim=-1)   # a_j
        out[s:s + query_block] = (w * logits.masked_fill(~M, 0.0)).sum(-1)            # y = ⟨q, Σ a_j c_j⟩
    return out.numpy()


def attention_scores_reference(queries, centroids, mask=None, *, temperature: float = 1.0) -> np.ndarray:
    """Plain float64 loops: e_d = Σ_j a_j c_j, a = softmax(⟨q, c⟩/τ) over valid centroids; y = ⟨q, e_d⟩."""
    C, M = _check_centroids(centroids, mask)
    q = _check_queries(queries, C.shape[2]).double().numpy()
    C, M = C.double().numpy(), M.numpy()
    out = np.zeros((q.shape[0], C.shape[0]))
    for i in range(q.shape[0]):
        for j in range(C.shape[0]):
            c = C[j][M[j]]
            logit = c @ q[i]
            a = np.exp(logit / temperature - (logit / temperature).max())
            a /= a.sum()
            out[i, j] = q[i] @ (a[:, None] * c).sum(0)
    return out


def exact_search(queries, centroids, mask=None, k: int = 10, *, temperature: float = 1.0):
    """``D, I`` (n_q, k'): the top k' = min(k, n) documents by exact attention score, best first (ties → lower
    document index)."""
    if k < 1:
        raise ValueError(f"k must be ≥ 1, got {k}")
    S = torch.from_numpy(attention_scores(queries, centroids, mask, temperature=temperature))
    D, I = torch.topk(S, min(k, S.shape[1]), dim=1, sorted=True)
    return D.numpy(), I.numpy().astype(np.int64)


def first_stage_hits(queries, centroids, mask=None, n_probe: int = 100, *,
                     first_stage: str = "faiss") -> np.ndarray:
    """(n_q, n_probe') int64: the documents owning the n_probe' = min(n_probe, #centroids) best centroids by
    ⟨q, c⟩, best first, one entry per centroid (a document may repeat). ``first_stage``: 'faiss'
    (``IndexFlatIP``, the paper's) or 'exact' (our ``topk_search``)."""
    C, M = _check_centroids(centroids, mask)
    q = _check_queries(queries, C.shape[2]).to(torch.float32).numpy()
    if first_stage not in FIRST_STAGES:
        raise ValueError(f"first_stage must be one of {FIRST_STAGES}, got {first_stage!r}")
    if n_probe < 1:
        raise ValueError(f"n_probe must be ≥ 1, got {n_probe}")
    n, k, d = C.shape
    flat = np.ascontiguousarray(C.to(torch.float32).reshape(n * k, d).numpy()[M.reshape(-1).numpy()])
    owner = np.repeat(np.arange(n), k)[M.reshape(-1).numpy()]
    probe = min(n_probe, flat.shape[0])
    if first_stage == "faiss":
        import faiss
        index = faiss.IndexFlatIP(d)
        index.add(flat)
        _, hits = index.search(np.ascontiguousarray(q), probe)
    else:
        _, hits = topk_search(q, flat, probe, "dot")
    return np.where(hits >= 0, owner[np.maximum(hits, 0)], -1).astype(np.int64)


def candidates_from_hits(hits, n_probe: int | None = None) -> np.ndarray:
    """(n_q, n_probe) int64 candidate documents: the first ``n_probe`` (default all) columns of
    :func:`first_stage_hits` deduplicated in rank order, padded with −1. The hits of a larger n_probe start
    with those of a smaller one, so one search serves a whole sweep."""
    hits = np.asarray(hits, np.int64)
    n_probe = hits.shape[1] if n_probe is None else n_probe
    if n_probe < 1:
        raise ValueError(f"n_probe must be ≥ 1, got {n_probe}")
    out = np.full((hits.shape[0], n_probe), -1, np.int64)
    for i, row in enumerate(hits[:, :n_probe]):
        docs = row[row >= 0]
        _, first = np.unique(docs, return_index=True)
        uniq = docs[np.sort(first)]
        out[i, :uniq.size] = uniq
    return out


def first_stage_candidates(queries, centroids, mask=None, n_probe: int = 100, *,
                           first_stage: str = "faiss") -> np.ndarray:
    """(n_q, n_probe) int64 candidate documents: the owners of the ``n_probe`` best centroids by ⟨q, c⟩,
    deduplicated in rank order, padded with −1 (:func:`first_stage_hits` then :func:`candidates_from_hits`)."""
    hits = first_stage_hits(queries, centroids, mask, n_probe, first_stage=first_stage)
    return candidates_from_hits(hits, n_probe)


def two_step_search(queries, centroids, mask=None, k: int = 10, n_probe: int = 100, *, temperature: float = 1.0,
                    first_stage: str = "faiss", candidates=None, query_block: int = 16):
    """The two-step search: ``D, I`` (n_q, k) after exact attention scoring of the step-1 candidates
    (:func:`first_stage_candidates`, or ``candidates`` (n_q, P) given, e.g. from :func:`candidates_from_hits`;
    then ``n_probe`` and ``first_stage`` are unused), plus the candidates. Fewer than k candidates → −inf / −1
    fillers; ties → lower document index. Step 2 gathers ``query_block`` queries' candidate centroids at a
    time (memory O(query_block · n_probe · k · d))."""
    if k < 1:
        raise ValueError(f"k must be ≥ 1, got {k}")
    if not temperature > 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    C, M = _check_centroids(centroids, mask)
    q = _check_queries(queries, C.shape[2]).to(torch.float32)
    if candidates is None:
        cand = first_stage_candidates(queries, C, M, n_probe, first_stage=first_stage)
    else:
        cand = np.asarray(candidates, np.int64)
        if cand.ndim != 2 or cand.shape[0] != q.shape[0] or cand.max(initial=-1) >= C.shape[0]:
            raise ValueError(f"candidates: expected (n_q = {q.shape[0]}, P) document ids < {C.shape[0]} "
                             f"(−1 = none), got shape {cand.shape}")
    Cf = C.to(torch.float32)
    D = np.full((q.shape[0], k), -np.inf, np.float32)
    I = np.full((q.shape[0], k), -1, np.int64)
    kk = min(k, cand.shape[1])
    for s in range(0, q.shape[0], query_block):
        c = torch.from_numpy(cand[s:s + query_block])                                    # (b, P)
        ok = c >= 0
        g = c.clamp(min=0)
        logits = torch.einsum("bd,bpkd->bpk", q[s:s + query_block], Cf[g])               # (b, P, k)
        m = M[g]
        w = torch.softmax((logits / temperature).masked_fill(~m, float("-inf")), dim=-1)
        y = (w * logits.masked_fill(~m, 0.0)).sum(-1).masked_fill(~ok, float("-inf"))    # (b, P)
        # best score first, ties → lower document index: sort by index, then a stable sort by score
        by_id = torch.argsort(torch.where(ok, c, torch.iinfo(torch.int64).max), dim=1, stable=True)
        y_id, c_id = y.gather(1, by_id), c.gather(1, by_id)
        order = torch.argsort(-y_id, dim=1, stable=True)[:, :kk]
        ys, cs = y_id.gather(1, order), c_id.gather(1, order)
        D[s:s + query_block, :kk] = ys.numpy()
        I[s:s + query_block, :kk] = torch.where(torch.isfinite(ys), cs, -1).numpy()
    return D, I, cand


def two_step_search_reference(queries, candidates, centroids, mask=None, k: int = 10, *, temperature: float = 1.0):
    """Step 2 by plain loops: for each query, the float64 attention scores of its candidates (−1 = none),
    sorted by score then document index; ``D, I`` (n_q, k) with −inf / −1 fillers."""
    cand = np.asarray(candidates, np.int64)
    out_D = np.full((cand.shape[0], k), -np.inf)
    out_I = np.full((cand.shape[0], k), -1, np.int64)
    C, M = _check_centroids(centroids, mask)
    for i in range(cand.shape[0]):
        c = cand[i][cand[i] >= 0]
        if not c.size:
            continue
        s = attention_scores_reference(np.asarray(queries)[i:i + 1], C[c], M[c], temperature=temperature)[0]
        order = sorted(range(c.size), key=lambda j: (-s[j], c[j]))[:k]
        out_D[i, :len(order)], out_I[i, :len(order)] = s[order], c[order]
    return out_D, out_I


def mean_pool(documents) -> np.ndarray:
    """(n, d) float32 mean of each document's tokens (the single-vector baseline before normalisation)."""
    D = _doc_clouds(documents)
    s = np.add.reduceat(D.X.astype(np.float64), D.offsets[:-1], axis=0) if D.X.shape[0] else np.zeros((0, D.X.shape[1]))
    return (s / D.sizes[:, None]).astype(np.float32)


def first_token(documents) -> np.ndarray:
    """(n, d) float32 first token of each document (the [CLS] output)."""
    D = _doc_clouds(documents)
    return D.X[D.offsets[:-1]].copy()


def strip_ends(documents, n_head: int = 1, n_tail: int = 1) -> Clouds:
    """Each document without its first ``n_head`` and last ``n_tail`` tokens (BERT's [CLS] and [SEP]); a
    document with no more than n_head + n_tail tokens is kept whole."""
    D = _doc_clouds(documents)
    if n_head < 0 or n_tail < 0:
        raise ValueError(f"n_head and n_tail must be ≥ 0, got {n_head}, {n_tail}")
    keep = np.ones(D.X.shape[0], bool)
    for i, (a, b) in enumerate(zip(D.offsets[:-1], D.offsets[1:])):
        if b - a > n_head + n_tail:
            keep[a:a + n_head] = False
            keep[b - n_tail:b] = False
    sizes = np.add.reduceat(keep.astype(np.int64), D.offsets[:-1]) if D.X.shape[0] else np.zeros(len(D), np.int64)
    return Clouds(D.X[keep], np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64))


def unit_rows(documents) -> Clouds:
    """The same clouds with every token scaled to unit norm (a zero token stays zero)."""
    D = _doc_clouds(documents)
    n = np.linalg.norm(D.X, axis=1, keepdims=True)
    return Clouds((D.X / np.where(n > 0, n, 1)).astype(np.float32), D.offsets)
