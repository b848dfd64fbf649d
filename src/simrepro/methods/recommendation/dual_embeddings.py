r"""Dual (IN / OUT) item embeddings from skip-gram with negative sampling on co-purchase pairs for complementary
vs similar item retrieval (Kvernadze, Sudyanti, Subedi & Hajiaghayi, arXiv 2211.14982).

SGNS. Over co-purchase pairs (i, j) (every ordered pair of distinct positions in a basket,
:func:`cooccurrence_pairs`), with IN vectors v (I, d) and OUT vectors u (I, d), minimise

    ℓ(i, j) = −log σ(v_i·u_j) − Σ_{n=1..k} log σ(−v_i·u_{j_n}),   j_n ~ P(j) ∝ count(j)^α  (α = ``ns_exponent``),

ours in torch (:func:`train_sgns`: mini-batch Adam, IN initialised U(±0.5/d), OUT at 0, like word2vec) and
gensim 4's ``Word2Vec(sg=1, hs=0, negative=k)`` as the peer (:func:`fit_gensim`: IN = ``wv.vectors``, OUT =
``syn1neg``; baskets as sentences with a window spanning the basket, ``sample=0``, one worker).

Retrieval (:func:`retrieve`). For a query item q: IN·OUT ranks j by v_q·u_j — the model's own estimate of the
co-purchase log-odds, i.e. *complements*; IN·IN ranks j by cos(v_q, v_j) — items with the same co-purchase
contexts, i.e. *substitutes* (items of one category are bought with the same complements but never together).
The query itself is excluded; candidates can be restricted (items with a trained vector).

Synthetic samples (:func:`synthetic_pairs`, the paper's coverage extension). A cold item c (no co-purchase) gets
the pairs of its nearest warm item w under another modality's vectors (cosine of content vectors): every pair
(w, j) and (j, w) is copied with c in place of w (at most ``max_per_item`` of them, seeded), so c is trained into
the same space and can be queried.

Costs: pairs O(Σ_b |b|²); training O(epochs · pairs · (k+1) · d); retrieval through
:func:`simrepro.kernels.topk.topk_search` (exact).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from simrepro.kernels.topk import topk_search


def cooccurrence_pairs(baskets: Sequence[np.ndarray]) -> np.ndarray:
    """(n, 2) int64: every ordered pair (b[p], b[q]), p ≠ q, of every basket (a basket of size s gives s(s−1))."""
    by_len: dict[int, list[np.ndarray]] = {}
    for b in baskets:
        b = np.asarray(b, np.int64)
        if len(b) >= 2:
            by_len.setdefault(len(b), []).append(b)
    out = []
    for n, group in sorted(by_len.items()):
        B = np.stack(group)                                                     # (g, n)
        p, q = np.nonzero(~np.eye(n, dtype=bool))
        out.append(np.stack([B[:, p].ravel(), B[:, q].ravel()], 1))
    return np.concatenate(out) if out else np.zeros((0, 2), np.int64)


def train_sgns(pairs: np.ndarray, n_items: int, *, dim: int = 32, negative: int = 5, ns_exponent: float = 0.75,
               epochs: int = 5, lr: float = 0.005, batch_size: int = 512,
               seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Our SGNS on (i, j) pairs → IN (I, d), OUT (I, d) float32 (items in no pair keep their initial vectors:
    IN random, OUT zero). Deterministic given ``seed`` (one thread)."""
    pairs = np.asarray(pairs, np.int64)
    if pairs.ndim != 2 or pairs.shape[1] != 2 or len(pairs) == 0:
        raise ValueError(f"pairs must be a non-empty (n, 2) integer array, got shape {pairs.shape}")
    if pairs.min() < 0 or pairs.max() >= n_items:
        raise ValueError(f"pair items must lie in [0, {n_items})")
    if dim < 1 or negative < 1 or epochs < 1:
        raise ValueError(f"dim, negative and epochs must be ≥ 1, got {dim}, {negative}, {epochs}")
    gen = torch.Generator().manual_seed(seed)
    v = torch.nn.Parameter((torch.rand(n_items, dim, generator=gen) - 0.5) / dim)
    u = torch.nn.Parameter(torch.zeros(n_items, dim))
    noise = torch.from_numpy(np.bincount(pairs[:, 1], minlength=n_items).astype(np.float64) ** ns_exponent)
    noise = noise / noise.sum()
    opt = torch.optim.Adam([v, u], lr=lr)
    P = torch.from_numpy(pairs)
    for _ in range(epochs):
        order = torch.randperm(len(P), generator=gen)
        for start in range(0, len(P), batch_size):
            b = P[order[start:start + batch_size]]
            neg = torch.multinomial(noise, len(b) * negative, replacement=True, generator=gen).view(len(b), negative)
            vi = v[b[:, 0]]                                                     # (B, d)
            pos = (vi * u[b[:, 1]]).sum(1)
            ngs = torch.einsum("bd,bkd->bk", vi, u[neg])
            loss = -(F.logsigmoid(pos).sum() + F.logsigmoid(-ngs).sum()) / len(b)
            opt.zero_grad()
            loss.backward()
            opt.step()
    return v.detach().numpy().copy(), u.detach().numpy().copy()


def fit_gensim(baskets: Sequence[np.ndarray], n_items: int, *, dim: int = 32, negative: int = 5,
               ns_exponent: float = 0.75, epochs: int = 5, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """gensim Word2Vec skip-gram with negative sampling on the baskets (tokens = item indices, window = the
    longest basket, no down-sampling, one worker) → IN (I, d), OUT = syn1neg (I, d) float32 (zero rows for items
    in no basket) and the (I,) bool mask of items in the vocabulary."""
    from gensim.models import Word2Vec
    sentences = [[str(int(i)) for i in b] for b in baskets if len(b) >= 2]
    if not sentences:
        raise ValueError("no basket with 2 items: nothing to train on")
    window = max(len(s) for s in sentences)
    model = Word2Vec(sentences, vector_size=dim, sg=1, hs=0, negative=negative, ns_exponent=ns_exponent,
                     window=window, min_count=1, sample=0, workers=1, epochs=epochs, seed=seed,
                     shrink_windows=False, hashfxn=_stable_hash)
    IN, OUT = np.zeros((n_items, dim), np.float32), np.zeros((n_items, dim), np.float32)
    mask = np.zeros(n_items, bool)
    keys = np.array([int(k) for k in model.wv.index_to_key])
    IN[keys], OUT[keys], mask[keys] = model.wv.vectors, model.syn1neg, True
    return IN, OUT, mask


def _stable_hash(text: str) -> int:
    import hashlib
    return int.from_bytes(hashlib.md5(text.encode()).digest()[:4], "little")


def _unit(x: np.ndarray) -> np.ndarray:
    n = np.linalg.norm(x, axis=1, keepdims=True)
    return np.where(n > 0, x / np.maximum(n, 1e-12), 0.0)


def retrieve(IN: np.ndarray, OUT: np.ndarray | None, queries: np.ndarray, k: int, mode: str = "in_out",
             candidates: np.ndarray | None = None) -> np.ndarray:
    """Top-k item ids (nq, k) per query: ``mode='in_out'`` by v_q·u_j, ``'in_in'`` by cos(v_q, v_j) (OUT unused);
    the query itself excluded; ``candidates`` (I,) bool restricts the retrievable items (default all). Ties by
    lower item id (the top-k kernel's order); −1 fills rows with fewer than k candidates."""
    if mode not in ("in_out", "in_in"):
        raise ValueError(f"mode must be 'in_out' or 'in_in', got {mode!r}")
    if mode == "in_out" and OUT is None:
        raise ValueError("mode 'in_out' needs the OUT vectors")
    if int(k) != k or k < 1:
        raise ValueError(f"k must be a positive integer, got {k}")
    queries = np.asarray(queries, np.int64)
    n_items = IN.shape[0]
    cand = np.flatnonzero(np.ones(n_items, bool) if candidates is None else np.asarray(candidates, bool))
    if mode == "in_out":
        q, db = IN[queries].astype(np.float64), OUT[cand].astype(np.float64)
    else:
        q, db = _unit(IN[queries].astype(np.float64)), _unit(IN[cand].astype(np.float64))
    kk = min(k + 1, len(cand))
    _, I = topk_search(q, db, kk, "dot")
    ids = np.where(I >= 0, cand[np.maximum(I, 0)], -1)
    out = np.full((len(queries), k), -1, np.int64)
    for r in range(len(queries)):
        row = ids[r][(ids[r] != queries[r]) & (ids[r] >= 0)][:k]
        out[r, :len(row)] = row
    return out


def relation_at_k(relation, queries: np.ndarray, ids: np.ndarray) -> float:
    """Mean over queries of the fraction of the k retrieved ids (−1 counts as a miss) for which
    ``relation(query, id)`` holds, e.g. ``catalogue.is_complement``."""
    ids = np.asarray(ids)
    q = np.repeat(np.asarray(queries)[:, None], ids.shape[1], 1)
    hit = np.where(ids >= 0, relation(q, np.maximum(ids, 0)), False)
    return float(hit.mean()) if hit.size else float("nan")


def synthetic_pairs(pairs: np.ndarray, cold_items: np.ndarray, content: np.ndarray, warm: np.ndarray, *,
                    max_per_item: int = 50, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Synthetic co-purchase pairs for cold items: each cold item c takes the nearest warm item w by content
    cosine and copies up to ``max_per_item`` (seeded sample) of w's pairs, (w, j) → (c, j) and (j, w) → (j, c).
    Returns the (m, 2) pairs and the (len(cold_items),) chosen w."""
    cold_items = np.asarray(cold_items, np.int64)
    warm_ids = np.flatnonzero(np.asarray(warm, bool))
    if len(warm_ids) == 0:
        raise ValueError("no warm item to borrow pairs from")
    if len(cold_items) == 0:
        return np.zeros((0, 2), np.int64), np.zeros(0, np.int64)
    _, I = topk_search(_unit(content[cold_items].astype(np.float64)), _unit(content[warm_ids].astype(np.float64)),
                       1, "dot")
    nearest = warm_ids[I[:, 0]]
    rng = np.random.default_rng(seed)
    pairs = np.asarray(pairs, np.int64)
    by_left = {}
    for r in np.argsort(pairs[:, 0], kind="stable"):
        by_left.setdefault(int(pairs[r, 0]), []).append(r)
    out = []
    for c, w in zip(cold_items, nearest):
        rows = np.array(by_left.get(int(w), []), np.int64)
        if len(rows) > max_per_item:
            rows = rng.choice(rows, max_per_item, replace=False)
        partners = pairs[rows, 1]
        out.append(np.stack([np.full(len(partners), c), partners], 1))
        out.append(np.stack([partners, np.full(len(partners), c)], 1))
    return np.concatenate(out).astype(np.int64), nearest
