r"""Parts for testing the central statements of the dense-retrieval survey (Zhao, Liu, Ren & Wen, "Dense Text
Retrieval based on Pretrained Language Models: A Survey", arXiv 2211.14876, ACM TOIS 2023) at small scale:
sparse–dense fusion (integration), training with hard negatives (training), compressed ANN indexes (indexing).

Fusion of a sparse and a dense run (queries × documents score matrices, higher = better):
- reciprocal rank fusion (Cormack, Clarke & Büttcher 2009), parameter-free apart from k_rrf = 60:

      RRF(q, d) = Σ_r 1 / (k_rrf + rank_r(q, d)),   rank_r ∈ {1, 2, …} in run r (ties → lower doc id first)

- convex combination of per-query min–max normalised scores: α·norm(S_sparse) + (1 − α)·norm(S_dense)
  (a query whose scores are all equal normalises to 0).
Training with hard negatives (DPR-style): a batch holds b queries q_i, their gold passages p_i (distinct) and
h hard negatives per query (passages ranked high by BM25 that are not gold); with keys K = [p; hard] (b + b·h
rows) and logits S = q Kᵀ / τ, the loss is mean_i −log softmax(S_i)_i, every key that *is* query i's gold
passage other than column i masked out (a false negative). With h = 0 it is in-batch InfoNCE (equal to
``kernels.contrastive.info_nce_reference``). Encoders are :class:`continuous.IdfAverageEncoder` (paper 50).
Compressed index: faiss ``IndexIVFPQ`` (inner product; ``M`` sub-quantisers of ``nbits``): code size M·nbits/8
bytes a vector against 4·d for float32.
Costs: fusion O(m · n log n) (a full sort per query); a training step O(b · tokens · d + b²(1 + h) d).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F


def _check_scores(S, name: str) -> np.ndarray:
    S = np.asarray(S, dtype=np.float64)
    if S.ndim != 2:
        raise ValueError(f"{name} must be (n_queries, n_docs), got shape {S.shape}")
    if np.isnan(S).any():
        raise ValueError(f"{name} contains NaN: a NaN cannot be ranked; check the run")
    return S


def ranks(S) -> np.ndarray:
    """(m, n) int64 rank of every document per query, 1 = best; ties → lower doc id ranked first."""
    S = _check_scores(S, "scores")
    order = np.argsort(-S, axis=1, kind="stable")
    R = np.empty_like(order)
    np.put_along_axis(R, order, np.arange(1, S.shape[1] + 1)[None, :].repeat(S.shape[0], 0), axis=1)
    return R


def rrf_fuse(*runs, k_rrf: float = 60.0) -> np.ndarray:
    """(m, n) reciprocal-rank-fusion scores of score matrices of one shape."""
    if not runs:
        raise ValueError("rrf_fuse needs at least one run")
    if k_rrf < 0:
        raise ValueError(f"k_rrf must be ≥ 0, got {k_rrf}")
    shape = np.shape(runs[0])
    if any(np.shape(r) != shape for r in runs):
        raise ValueError(f"all runs must have the same shape, got {[np.shape(r) for r in runs]}")
    return sum(1.0 / (k_rrf + ranks(r)) for r in runs)


def rrf_fuse_reference(*runs, k_rrf: float = 60.0) -> np.ndarray:
    """:func:`rrf_fuse` by plain loops (sorted lists per query)."""
    m, n = np.shape(runs[0])
    out = np.zeros((m, n))
    for S in runs:
        S = np.asarray(S, dtype=np.float64)
        for i in range(m):
            order = sorted(range(n), key=lambda j: (-S[i, j], j))
            for r, j in enumerate(order, start=1):
                out[i, j] += 1.0 / (k_rrf + r)
    return out


def minmax_fuse(sparse, dense, alpha: float = 0.5) -> np.ndarray:
    """(m, n) α·minmax(sparse) + (1 − α)·minmax(dense), min–max per query row."""
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be in [0, 1], got {alpha}")
    A, B = _check_scores(sparse, "sparse"), _check_scores(dense, "dense")
    if A.shape != B.shape:
        raise ValueError(f"sparse {A.shape} and dense {B.shape} scores must have the same shape")

    def norm(S):
        lo, hi = S.min(axis=1, keepdims=True), S.max(axis=1, keepdims=True)
        span = hi - lo
        return np.divide(S - lo, span, out=np.zeros_like(S), where=span > 0)
    return alpha * norm(A) + (1 - alpha) * norm(B)


def mine_hard_negatives(scores, gold, n_hard: int, *, depth: int = 10, seed: int = 0) -> np.ndarray:
    """(m, n_hard) int64: per query, ``n_hard`` distinct non-gold documents drawn uniformly from its top ``depth``
    non-gold documents by ``scores`` (e.g. BM25; ties → lower id), ``default_rng(seed)``."""
    S = _check_scores(scores, "scores")
    gold = np.asarray(gold, np.int64)
    m, n = S.shape
    if gold.shape != (m,):
        raise ValueError(f"gold must be ({m},), got {gold.shape}")
    if not 0 <= n_hard <= depth <= n - 1:
        raise ValueError(f"need 0 ≤ n_hard ≤ depth ≤ n_docs − 1 = {n - 1}, got n_hard={n_hard}, depth={depth}")
    S = S.copy()
    S[np.arange(m), gold] = -np.inf
    top = np.argsort(-S, axis=1, kind="stable")[:, :depth]
    rng = np.random.default_rng(seed)
    pick = np.argsort(rng.random((m, depth)), axis=1)[:, :n_hard]
    return np.take_along_axis(top, pick, axis=1).astype(np.int64)


def hard_negative_loss(q, p, hard=None, temperature: float = 0.05, *, key_ids=None, gold_ids=None) -> torch.Tensor:
    """Mean −log softmax over [in-batch passages; hard negatives] of each query's own passage (module docstring).
    ``q``, ``p`` (b, d); ``hard`` (b·h, d) or None; ``key_ids`` (b + b·h,) passage ids of the keys and
    ``gold_ids`` (b,) each query's gold id, to mask keys equal to a query's gold other than its own column."""
    if q.ndim != 2 or p.shape != q.shape:
        raise ValueError(f"q and p must both be (b, d), got {tuple(q.shape)} and {tuple(p.shape)}")
    if not temperature > 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    K = p if hard is None or len(hard) == 0 else torch.cat([p, hard])
    logits = q @ K.T / temperature
    b = q.shape[0]
    if key_ids is not None and gold_ids is not None:
        key_ids = torch.as_tensor(np.asarray(key_ids))
        gold_ids = torch.as_tensor(np.asarray(gold_ids))
        if key_ids.shape != (K.shape[0],) or gold_ids.shape != (b,):
            raise ValueError(f"key_ids must be ({K.shape[0]},) and gold_ids ({b},)")
        false_neg = key_ids[None, :] == gold_ids[:, None]
        false_neg[torch.arange(b), torch.arange(b)] = False
        logits = logits.masked_fill(false_neg, float("-inf"))
    return F.cross_entropy(logits, torch.arange(b))


def train_query_passage(encoder, query_ids: list, passage_ids: list, gold, *, hard=None, epochs: int = 10,
                        batch_size: int = 64, lr: float = 5e-3, temperature: float = 0.05,
                        seed: int = 0) -> list[float]:
    """Train a tied encoder (``continuous.IdfAverageEncoder``) in place on (query, gold passage) pairs.

    ``query_ids`` / ``passage_ids``: token-id arrays of the training queries and of the passages; ``gold`` (m,)
    each query's passage; ``hard`` (m, h) passage ids of hard negatives, or None for in-batch negatives only.
    Each epoch draws one query per gold passage (so a batch's gold passages are distinct), in random order.
    Returns each epoch's mean loss."""
    gold = np.asarray(gold, np.int64)
    if len(query_ids) != gold.shape[0]:
        raise ValueError(f"{len(query_ids)} queries but {gold.shape[0]} gold ids")
    if batch_size < 2:
        raise ValueError(f"batch_size must be ≥ 2, got {batch_size}")
    if hard is not None:
        hard = np.asarray(hard, np.int64)
        if hard.ndim != 2 or hard.shape[0] != gold.shape[0]:
            raise ValueError(f"hard must be (n_queries, h), got {hard.shape}")
    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)
    opt = torch.optim.Adam(encoder.parameters(), lr=lr)
    by_gold: dict[int, list[int]] = {}
    for i, g in enumerate(gold.tolist()):
        by_gold.setdefault(g, []).append(i)
    groups = list(by_gold.values())
    history = []
    for _ in range(epochs):
        chosen = np.array([g[rng.integers(len(g))] for g in groups], np.int64)[rng.permutation(len(groups))]
        losses = []
        for a in range(0, len(chosen), batch_size):
            idx = chosen[a:a + batch_size]
            if len(idx) < 2:
                continue
            q = encoder([query_ids[i] for i in idx])
            p = encoder([passage_ids[g] for g in gold[idx]])
            keys, h = gold[idx], None
            if hard is not None and hard.shape[1]:
                hid = hard[idx].ravel()
                h = encoder([passage_ids[j] for j in hid])
                keys = np.concatenate([keys, hid])
            loss = hard_negative_loss(q, p, h, temperature, key_ids=keys, gold_ids=gold[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(float(loss.detach()))
        history.append(float(np.mean(losses)))
    return history


def rank_metrics(S, gold, k: int = 10) -> dict[str, np.ndarray]:
    """Per query (m,): reciprocal rank cut at k (``mrr``), ``hit1`` and ``recall`` at k of a single gold document,
    ranking by ``S`` (m, n) with ties → lower doc id."""
    R = ranks(S)
    r = R[np.arange(R.shape[0]), np.asarray(gold, np.int64)]
    return {"mrr": np.where(r <= k, 1.0 / r, 0.0), "hit1": (r == 1).astype(float), "recall": (r <= k).astype(float)}


def _ivfpq_index(d: int, nlist: int, M: int, nbits: int, fastscan: bool, seed: int):
    import faiss

    if d % M:
        raise ValueError(f"M = {M} must divide the dimension {d}")
    if fastscan and nbits != 4:
        raise ValueError(f"faiss' fast-scan PQ needs nbits = 4, got {nbits}")
    quantizer = faiss.IndexFlatIP(d)
    if fastscan:
        index = faiss.IndexIVFPQFastScan(quantizer, d, nlist, M, nbits, faiss.METRIC_INNER_PRODUCT)
    else:
        index = faiss.IndexIVFPQ(quantizer, d, nlist, M, nbits, faiss.METRIC_INNER_PRODUCT)
    index.cp.seed = int(seed)
    index.pq.cp.seed = int(seed)
    return index, quantizer


def ivfpq_search(database, queries, k: int, *, nlist: int, M: int, nbits: int = 8, nprobe: int = 1,
                 seed: int = 0, fastscan: bool = False) -> tuple[np.ndarray, np.ndarray, int]:
    """faiss ``IndexIVFPQ`` (inner product; ``fastscan``: ``IndexIVFPQFastScan``, 4-bit codes scanned with SIMD
    look-ups, the same codes and ranking model), trained and filled with ``database``;
    ``(D, I, code_bytes)`` with ``code_bytes`` = M·nbits/8 bytes per stored vector."""
    X = np.ascontiguousarray(database, np.float32)
    Q = np.ascontiguousarray(queries, np.float32)
    index, _q = _ivfpq_index(X.shape[1], nlist, M, nbits, fastscan, seed)
    index.train(X)
    index.add(X)
    index.nprobe = int(nprobe)
    D, I = index.search(Q, k)
    return D, I.astype(np.int64), M * nbits // 8


def ann_ivfpq_fastscan(nlist: int, M: int, nprobe=(1, 4, 16), *, seed: int = 0, threads: int = 1):
    """``methods.search.ann_eval.AnnMethod`` for faiss ``IndexIVFPQFastScan`` (inner product, 4-bit codes), to sit
    beside ``ann_eval.faiss_ivf_pq`` in the same sweep."""
    import faiss

    from simrepro.methods.search import ann_eval

    def build(y):
        faiss.omp_set_num_threads(threads)
        index, quantizer = _ivfpq_index(y.shape[1], nlist, M, 4, True, seed)
        index.train(np.ascontiguousarray(y, np.float32))
        index.add(np.ascontiguousarray(y, np.float32))
        return index, quantizer

    def search(built, q, k, nprobe):
        faiss.omp_set_num_threads(threads)
        built[0].nprobe = int(nprobe)
        return built[0].search(np.ascontiguousarray(q, np.float32), k)[1]

    return ann_eval.AnnMethod("faiss-IVFPQFastScan", build, search, lambda b: int(faiss.serialize_index(b[0]).size),
                              [{}], ann_eval.grid(nprobe=list(nprobe)), threads)
