r"""Embedding-based listwise reranking as pseudo-relevance feedback (E²Rank: Liu, Zhang, Li, Long, Xie & Mao,
arXiv 2510.22733; official code ``Alibaba-NLP/E2Rank``), with the two classic PRF peers.

A first stage returns, per query q, candidates c₁ … c_R (best first). Every reranker below scores the
candidates by a cosine with the cached, unit-norm document embeddings e(c_j) and sorts them (ties → the
earlier first-stage rank):

- *plain*:      s(q, c_j) = cos(e(q), e(c_j))                             (the embedding model as a reranker)
- *E²Rank*:     q̂ = (I, c₁ … c_K, q), the listwise prompt of an instruction I, the top-K candidates and the
                query (official ``src/eval.py`` lines 133–139: each document cut to 1024 words, numbered
                "[i] doc", one per line, after a "Documents:" line, the query last after "Search Query: ");
                s(q, c_j) = cos(e(q̂), e(c_j)): one extra encoding per query, the documents' embeddings reused
                (README "End-to-end search"). :func:`listwise_prompt` builds q̂; a word budget shortens every
                document equally so that the query at the end survives the encoder's truncation.
- *Rocchio* (vector PRF): q' = α·e(q) + β·(1/K)·Σ_{i ≤ K} e(c_i), s = cos(q', e(c_j)); no extra encoding.
- *RM3* (lexical PRF, Abdul-Jaleel et al. 2004, as in Anserini): over the top-K feedback documents,
      P(w | R) ∝ Σ_{i ≤ K} s_i · tf(w, c_i) / |c_i|      (s_i the first-stage BM25 score of c_i),
  keep the ``n_terms`` largest, L1-normalise, and mix with the L1-normalised query term counts:
      w(t) = λ · P(t | q) + (1 − λ) · P(t | R)            (λ = ``orig_weight``, Anserini's 0.5);
  the candidates are rescored by Σ_t w(t) · BM25(t, c_j) (a term-weighted BM25, :mod:`.bm25`).

The paper additionally *trains* the embedding model on listwise prompts with a RankNet loss (official
``src/modeling.py`` ``rank_net``: BCE-with-logits over every pair whose true relevance differs, on scores
scaled by ``ranknet_scale_factor``) plus an InfoNCE loss (temperature 0.03); :func:`ranknet_loss`,
:func:`info_nce` and :func:`train_head` train a linear head on frozen embeddings with that objective (our
CPU stand-in for continued training of the whole encoder).

Shapes: queries (n_q, d), documents (N, d) unit rows, candidates (n_q, R) int64 (−1 = padding, ignored and
sorted last). Costs: scoring O(n_q · R · d); Rocchio O(n_q · (K + R) · d); RM3 O(K · |c|) a query plus one
BM25 term lookup per expansion term; RankNet O(n_q · R²) pairs a step.
"""

from __future__ import annotations

from collections import Counter

import numpy as np
import torch

OFFICIAL_INSTRUCTION = "Given a web search query and some relevant documents, rerank the documents that answer the query:"


# ----------------------------------------------------------------------------------------------- validation
def _matrix(x, name: str) -> np.ndarray:
    x = np.asarray(x)
    if x.ndim != 2:
        raise ValueError(f"{name} must be 2-D (n, d), got shape {x.shape}")
    if x.dtype.kind not in "fiu":
        raise TypeError(f"{name} must be numeric, got dtype {x.dtype}")
    x = x.astype(np.float64 if x.dtype == np.float64 else np.float32, copy=False)
    if not np.isfinite(x).all():
        raise ValueError(f"{name} contains NaN or inf: check the embeddings (a failed encode?) before reranking")
    return x


def _candidates(cand, n_q: int, n_docs: int) -> np.ndarray:
    c = np.asarray(cand)
    if c.ndim != 2 or c.shape[0] != n_q:
        raise ValueError(f"candidates must be (n_q, R) = ({n_q}, R), got shape {c.shape}")
    if c.dtype.kind not in "iu":
        raise TypeError(f"candidates must be integer document ids (−1 = padding), got dtype {c.dtype}")
    if c.size and (c.max() >= n_docs or c.min() < -1):
        raise ValueError(f"candidate ids must lie in [0, {n_docs}) or be −1 (padding)")
    return c.astype(np.int64)


def _unit(x: np.ndarray) -> np.ndarray:
    n = np.linalg.norm(x, axis=-1, keepdims=True)
    return np.divide(x, n, out=np.zeros_like(x), where=n > 0)


# ----------------------------------------------------------------------------------------------- prompt
def listwise_prompt(query: str, docs: list[str], *, instruction: str = OFFICIAL_INSTRUCTION, label: str = "Documents",
                    max_words: int | None = None, doc_max_words: int = 1024) -> str:
    """The listwise prompt q̂ = (instruction, docs, query) as a string, in the official layout: the instruction,
    a "<label>:" line, one "[i] doc" line per document (i from 1), then "Search Query: <query>".

    Each document is cut to ``doc_max_words`` whitespace words (official: 1024). With ``max_words``, every
    document is further cut to the same number of words w = ⌊(max_words − words of the rest) / len(docs)⌋
    (at least 1) so that the prompt has ≲ max_words words and the query, which comes last, is not lost to the
    encoder's truncation."""
    if not isinstance(query, str) or not isinstance(docs, list) or not all(isinstance(d, str) for d in docs):
        raise TypeError("query must be a str and docs a list of str")
    if doc_max_words < 1:
        raise ValueError(f"doc_max_words must be ≥ 1, got {doc_max_words}")
    words = [d.split()[:doc_max_words] for d in docs]
    if max_words is not None and docs:
        rest = len(instruction.split()) + 1 + len(docs) + 2 + len(query.split())
        w = max(1, (max_words - rest) // len(docs))
        words = [x[:w] for x in words]
    lines = "\n".join(f"[{i}] {' '.join(x)}" for i, x in enumerate(words, start=1))
    return f"{instruction}\n{label}:\n{lines}\nSearch Query: {query}"


# ----------------------------------------------------------------------------------------------- rerank
def rerank(query_emb, doc_emb, candidates):
    """``(scores, order)``: cos(query_i, doc c_ij) as (n_q, R) float (−inf at padding), and the candidate ids
    (n_q, R) sorted by decreasing score, ties → earlier first-stage position, padding (−1) last."""
    Q, D = _matrix(query_emb, "query_emb"), _matrix(doc_emb, "doc_emb")
    if Q.shape[1] != D.shape[1]:
        raise ValueError(f"query_emb has dimension {Q.shape[1]}, doc_emb {D.shape[1]}")
    C = _candidates(candidates, Q.shape[0], D.shape[0])
    Qn, Dn = _unit(Q), _unit(D)
    S = np.einsum("id,ird->ir", Qn, Dn[np.maximum(C, 0)])
    S = np.where(C >= 0, S, -np.inf)
    pos = np.argsort(-S, axis=1, kind="stable")
    return S, np.take_along_axis(C, pos, axis=1)


def rerank_reference(query_emb, doc_emb, candidates):
    """:func:`rerank` by plain loops in float64."""
    Q, D = np.asarray(query_emb, np.float64), np.asarray(doc_emb, np.float64)
    C = np.asarray(candidates)
    S = np.full(C.shape, -np.inf)
    order = np.full(C.shape, -1, np.int64)
    for i in range(C.shape[0]):
        nq = np.linalg.norm(Q[i])
        for j in range(C.shape[1]):
            if C[i, j] >= 0:
                nd = np.linalg.norm(D[C[i, j]])
                S[i, j] = 0.0 if nq == 0 or nd == 0 else float(Q[i] @ D[C[i, j]]) / (nq * nd)
        pos = sorted(range(C.shape[1]), key=lambda j: (-S[i, j], j))
        order[i] = C[i, pos]
    return S, order


def rocchio(query_emb, doc_emb, candidates, k: int, *, alpha: float = 1.0, beta: float = 1.0) -> np.ndarray:
    """(n_q, d) unit rows of α·q̂ + β·mean of the unit embeddings of the first ``k`` candidates (q̂ = unit q;
    padding skipped; a query with no valid feedback document keeps q̂)."""
    Q, D = _matrix(query_emb, "query_emb"), _matrix(doc_emb, "doc_emb")
    C = _candidates(candidates, Q.shape[0], D.shape[0])
    if k < 1:
        raise ValueError(f"k (feedback documents) must be ≥ 1, got {k}")
    fb = C[:, :k]
    valid = (fb >= 0)[..., None]
    Dn = _unit(D)[np.maximum(fb, 0)] * valid
    mean = Dn.sum(1) / np.maximum(valid.sum(1), 1)
    return _unit(alpha * _unit(Q) + beta * mean).astype(np.float32)


def rocchio_reference(query_emb, doc_emb, candidates, k: int, *, alpha: float = 1.0, beta: float = 1.0) -> np.ndarray:
    """:func:`rocchio` by loops in float64."""
    Q, D = np.asarray(query_emb, np.float64), np.asarray(doc_emb, np.float64)
    out = np.zeros_like(Q)
    for i, row in enumerate(np.asarray(candidates)):
        q = Q[i] / np.linalg.norm(Q[i]) if np.linalg.norm(Q[i]) > 0 else Q[i]
        fb = [D[c] / np.linalg.norm(D[c]) for c in row[:k] if c >= 0 and np.linalg.norm(D[c]) > 0]
        v = alpha * q + (beta * np.mean(fb, axis=0) if fb else 0.0)
        out[i] = v / np.linalg.norm(v) if np.linalg.norm(v) > 0 else v
    return out


# ----------------------------------------------------------------------------------------------- RM3
def rm3_weights(query_tokens: list[str], feedback_tokens: list[list[str]], feedback_scores, *, n_terms: int = 10,
                orig_weight: float = 0.5) -> dict[str, float]:
    """The RM3 expanded query {term: weight} (weights sum to 1) from the query's terms and the feedback
    documents' terms with their first-stage scores (module docstring). Ties among expansion terms → the term
    first in sorted order; an empty feedback set returns the normalised query."""
    if not 0.0 <= orig_weight <= 1.0:
        raise ValueError(f"orig_weight must lie in [0, 1], got {orig_weight}")
    if n_terms < 1:
        raise ValueError(f"n_terms must be ≥ 1, got {n_terms}")
    s = np.asarray(feedback_scores, np.float64)
    if s.shape != (len(feedback_tokens),) or not np.isfinite(s).all() or (s < 0).any():
        raise ValueError("feedback_scores must be one finite non-negative score per feedback document")
    qc = Counter(query_tokens)
    out: dict[str, float] = {t: orig_weight * c / sum(qc.values()) for t, c in qc.items()} if qc else {}
    rel: Counter = Counter()
    for toks, w in zip(feedback_tokens, s):
        if toks and w > 0:
            for t, c in Counter(toks).items():
                rel[t] += w * c / len(toks)
    if not rel:
        return {t: c / sum(qc.values()) for t, c in qc.items()} if qc else {}
    top = sorted(rel.items(), key=lambda kv: (-kv[1], kv[0]))[:n_terms]
    z = sum(v for _, v in top)
    fb_weight = 1.0 - orig_weight if qc else 1.0
    for t, v in top:
        out[t] = out.get(t, 0.0) + fb_weight * v / z
    return out


def weighted_bm25(index, weights: dict[str, float], candidates: np.ndarray) -> np.ndarray:
    """Σ_t w(t)·BM25(t, c) for the candidate ids (R,) (−1 → −inf), through :class:`.bm25.BM25Index`."""
    c = np.asarray(candidates, np.int64)
    out = np.zeros(c.shape, np.float64)
    if weights:
        terms = list(weights)
        per_term = index.scores([[t] for t in terms])                      # (T, N)
        w = np.array([weights[t] for t in terms])
        out = (w[:, None] * per_term[:, np.maximum(c, 0)]).sum(0)
    return np.where(c >= 0, out, -np.inf)


def rm3_rerank(index, query_tokens: list[list[str]], doc_tokens: list[list[str]], candidates, first_scores, k: int,
               *, n_terms: int = 10, orig_weight: float = 0.5):
    """``(scores, order)`` (n_q, R): each query's candidates rescored by its RM3-expanded weighted BM25, from
    its first ``k`` candidates as feedback (first-stage scores ``first_scores`` (n_q, R)); ties → earlier
    first-stage position, padding last."""
    C = _candidates(candidates, len(query_tokens), len(doc_tokens))
    F = np.asarray(first_scores, np.float64)
    if F.shape != C.shape:
        raise ValueError(f"first_scores must have the candidates' shape {C.shape}, got {F.shape}")
    S = np.full(C.shape, -np.inf)
    for i, q in enumerate(query_tokens):
        fb = [j for j in range(min(k, C.shape[1])) if C[i, j] >= 0]
        w = rm3_weights(q, [doc_tokens[C[i, j]] for j in fb], np.maximum(F[i, fb], 0), n_terms=n_terms,
                        orig_weight=orig_weight)
        S[i] = weighted_bm25(index, w, C[i])
    pos = np.argsort(-S, axis=1, kind="stable")
    return S, np.take_along_axis(C, pos, axis=1)


# ----------------------------------------------------------------------------------------------- training
def ranknet_loss(scores: torch.Tensor, relevance: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """Mean over every ordered pair (i, j) of one slate with rel_i > rel_j (both unmasked) of
    BCE-with-logits(s_i − s_j, 1) = log(1 + exp(−(s_i − s_j))); scores, relevance (B, R), mask (B, R) bool.
    A batch without such a pair gives 0 (and no gradient)."""
    if scores.shape != relevance.shape or scores.ndim != 2:
        raise ValueError(f"scores and relevance must both be (B, R), got {tuple(scores.shape)}, {tuple(relevance.shape)}")
    m = torch.ones_like(scores, dtype=torch.bool) if mask is None else mask
    pair = (relevance[:, :, None] > relevance[:, None, :]) & m[:, :, None] & m[:, None, :]
    if not bool(pair.any()):
        return scores.sum() * 0.0
    diff = scores[:, :, None] - scores[:, None, :]
    return torch.nn.functional.softplus(-diff[pair]).mean()


def ranknet_loss_reference(scores, relevance) -> float:
    """:func:`ranknet_loss` (no mask) by loops in float64."""
    S, Y = np.asarray(scores, np.float64), np.asarray(relevance, np.float64)
    terms = [np.log1p(np.exp(-(S[b, i] - S[b, j]))) for b in range(S.shape[0]) for i in range(S.shape[1])
             for j in range(S.shape[1]) if Y[b, i] > Y[b, j]]
    return float(np.mean(terms)) if terms else 0.0


def info_nce(q: torch.Tensor, d: torch.Tensor, temperature: float = 0.03) -> torch.Tensor:
    """In-batch InfoNCE: row i of the cosine matrix q (B, d) × d (B, d) over τ, target i."""
    logits = torch.nn.functional.normalize(q, dim=-1) @ torch.nn.functional.normalize(d, dim=-1).T / temperature
    return torch.nn.functional.cross_entropy(logits, torch.arange(q.shape[0]))


def train_head(query_emb, doc_emb, candidates, relevance, *, positives=None, steps: int = 200, lr: float = 1e-3,
               batch: int = 32, scale: float = 10.0, ranknet_factor: float = 2.0, temperature: float = 0.03,
               seed: int = 0) -> np.ndarray:
    """A linear head W (d × d, initialised at the identity) on the query side, trained with Adam on
    ``ranknet_factor`` · RankNet(scale · cos(W q, e(c_j))) over each query's candidates (``relevance`` (n_q, R)
    grades, −1 candidates masked) + InfoNCE(W q, e(positive)) with in-batch negatives when ``positives``
    (n_q,) doc ids (−1 = none) are given; official defaults: scale 10, factor 2, τ 0.03
    (``scripts/train_e2rank_0.6b.sh``, ``src/arguments.py``). Returns W as float32 (apply as q @ W.T)."""
    Q = torch.from_numpy(_matrix(query_emb, "query_emb").astype(np.float32))
    D = torch.from_numpy(_matrix(doc_emb, "doc_emb").astype(np.float32))
    C = torch.from_numpy(_candidates(candidates, Q.shape[0], D.shape[0]))
    Y = torch.as_tensor(np.asarray(relevance, np.float32))
    if Y.shape != C.shape:
        raise ValueError(f"relevance must have the candidates' shape {tuple(C.shape)}, got {tuple(Y.shape)}")
    g = torch.Generator().manual_seed(seed)
    W = torch.nn.Parameter(torch.eye(Q.shape[1]))
    opt = torch.optim.Adam([W], lr=lr)
    Dn = torch.nn.functional.normalize(D, dim=-1)
    P = None if positives is None else torch.as_tensor(np.asarray(positives, np.int64))
    for _ in range(steps):
        b = torch.randperm(Q.shape[0], generator=g)[:batch]
        q = torch.nn.functional.normalize(Q[b] @ W.T, dim=-1)
        c, mask = C[b], C[b] >= 0
        s = torch.einsum("bd,brd->br", q, Dn[c.clamp(min=0)]) * scale
        loss = ranknet_factor * ranknet_loss(s, Y[b], mask)
        if P is not None:
            ok = P[b] >= 0
            if int(ok.sum()) > 1:
                loss = loss + info_nce(q[ok], Dn[P[b][ok]], temperature)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return W.detach().numpy().astype(np.float32)
