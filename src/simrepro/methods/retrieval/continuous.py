r"""End-to-end retrieval in continuous space (Gillick, Presta & Tomar 2018, arXiv 1811.08008): a dual encoder
trained for retrieval, searched by (approximate) nearest neighbours instead of an inverted index.

Encoder (the paper's simple architecture: averaged word embeddings with IDF weighting, cosine similarity).
A text is a bag of tokens t₁ … t_m (``bm25.tokenize(..., stopwords=False)``: lower-cased ``\w\w+`` words);
with a word-embedding table E ∈ ℝ^{V×d} (initialised from GloVe 6B-50d; words GloVe lacks start at
N(0, σ²), σ the GloVe entries' standard deviation) and fixed weights idf(w) = ln((1 + N)/(1 + df(w))) + 1
(smoothed, over the N training texts; a word never seen in training gets ln(1 + N) + 1):

    v(x) = Σ_i idf(t_i) E[t_i] / Σ_i idf(t_i),      f(x) = v(x) / ‖v(x)‖,     sim(x, y) = ⟨f(x), f(y)⟩

(a text without a known token, or whose average is 0, encodes to the zero vector: cosine 0 with everything).
Training (in-batch negatives / sampled softmax): a batch holds b pairs (x_i, y_i) of texts of the same
cluster, one pair per cluster (so no in-batch negative is a true duplicate); the loss is the symmetric
InfoNCE of S = F(x) F(y)ᵀ / τ, computed by the shared tiled kernel ``kernels.contrastive.tiled_info_nce``.
Both sides share E (a tied dual encoder: queries and documents are both questions).

Evaluation (the paper's conversion of pairwise / clustered similarity data into retrieval): every item of the
evaluation set is a query against all the *other* items; its relevant documents are the other members of its
cluster (:func:`cluster_qrels`), or the items whose pairwise human rating reaches a threshold
(:func:`pairwise_qrels`). MAP (``metrics.ir``, pytrec_eval) on the top ``k`` of each query.

Search: exact (``kernels.topk.topk_search``, inner product of unit vectors) or approximate (faiss
``IndexIVFFlat``, inner product; :func:`ivf_search`), each query's own item removed (:func:`drop_self`).
Costs: encoding O(total tokens · d); a training step O(b · tokens · d + b² d); exact search O(n² d);
IVF search O(n · (nlist + nprobe · n / nlist) · d); BM25 scoring through ``methods.retrieval.bm25``.
"""

from __future__ import annotations

import math
from collections import Counter

import numpy as np
import torch

from simrepro.methods.retrieval.bm25 import tokenize


# ------------------------------------------------------------------------------------------ vocabulary
def dense_tokens(texts: list[str]) -> list[list[str]]:
    """The encoder's tokens: :func:`bm25.tokenize` without stop-word removal (IDF down-weights them)."""
    return tokenize(texts, stopwords=False)


def build_vocab(token_lists: list[list[str]]) -> dict[str, int]:
    """Word → row, in first-seen order over ``token_lists``."""
    vocab: dict[str, int] = {}
    for toks in token_lists:
        for t in toks:
            if t not in vocab:
                vocab[t] = len(vocab)
    return vocab


def idf_weights(train_tokens: list[list[str]], vocab: dict[str, int]) -> np.ndarray:
    """(V,) float32 smoothed IDF ln((1 + N)/(1 + df)) + 1 of each vocabulary word over the N training texts."""
    if not train_tokens:
        raise ValueError("idf needs at least one training text")
    N = len(train_tokens)
    df = Counter(t for toks in train_tokens for t in set(toks))
    out = np.empty(len(vocab), np.float32)
    for w, i in vocab.items():
        out[i] = math.log((1 + N) / (1 + df.get(w, 0))) + 1.0
    return out


def init_embeddings(vocab: dict[str, int], glove_vectors: np.ndarray, glove_words: list[str], *,
                    seed: int = 0) -> tuple[np.ndarray, float]:
    """(V, d) float32 table: GloVe rows for known words, N(0, σ²) for the others (σ = std of GloVe's entries);
    returns ``(table, share of vocabulary words found in GloVe)``."""
    G = np.asarray(glove_vectors, np.float32)
    if G.ndim != 2 or len(glove_words) != G.shape[0]:
        raise ValueError(f"glove_vectors must be (n_words, d) with one word each, got {G.shape} and {len(glove_words)}")
    index = {w: i for i, w in enumerate(glove_words)}
    rng = np.random.default_rng(seed)
    E = rng.normal(0.0, float(G.std()), size=(len(vocab), G.shape[1])).astype(np.float32)
    found = 0
    for w, i in vocab.items():
        j = index.get(w)
        if j is not None:
            E[i] = G[j]
            found += 1
    return E, (found / len(vocab) if vocab else float("nan"))


def to_ids(token_lists: list[list[str]], vocab: dict[str, int]) -> list[np.ndarray]:
    """Token ids per text (words outside ``vocab`` dropped)."""
    return [np.array([vocab[t] for t in toks if t in vocab], np.int64) for toks in token_lists]


# ------------------------------------------------------------------------------------------ encoder
class IdfAverageEncoder(torch.nn.Module):
    """f(x) = normalise(Σ idf·E[t] / Σ idf) (module docstring); E trainable, idf fixed."""

    def __init__(self, embeddings: np.ndarray, idf: np.ndarray):
        super().__init__()
        E = np.asarray(embeddings, np.float32)
        w = np.asarray(idf, np.float32)
        if E.ndim != 2 or w.shape != (E.shape[0],):
            raise ValueError(f"embeddings must be (V, d) and idf (V,), got {E.shape} and {w.shape}")
        if not (np.isfinite(E).all() and np.isfinite(w).all()) or (w <= 0).any():
            raise ValueError("embeddings and idf must be finite and idf > 0")
        self.bag = torch.nn.EmbeddingBag.from_pretrained(torch.from_numpy(E.copy()), freeze=False, mode="sum")
        self.register_buffer("idf", torch.from_numpy(w.copy()))

    def forward(self, ids: list[np.ndarray]) -> torch.Tensor:
        """(n, d) float32 unit rows (zero rows for texts without tokens)."""
        if len(ids) == 0:
            return torch.zeros(0, self.bag.embedding_dim)
        lengths = torch.tensor([len(x) for x in ids], dtype=torch.int64)
        flat = (torch.from_numpy(np.concatenate(ids).astype(np.int64)) if lengths.sum()
                else torch.zeros(0, dtype=torch.int64))
        offsets = torch.cat([torch.zeros(1, dtype=torch.int64), lengths.cumsum(0)[:-1]])
        w = self.idf[flat]
        num = self.bag(flat, offsets, per_sample_weights=w)                        # Σ idf·E[t]
        den = torch.zeros(len(ids)).index_add_(0, torch.repeat_interleave(torch.arange(len(ids)), lengths), w)
        v = num / den.clamp_min(1e-12)[:, None]
        n = v.norm(dim=1, keepdim=True)
        return torch.where(n > 1e-12, v / n.clamp_min(1e-12), torch.zeros_like(v))

    @torch.no_grad()
    def encode(self, ids: list[np.ndarray], batch: int = 4096) -> np.ndarray:
        """(n, d) float32 numpy unit rows."""
        d = self.bag.embedding_dim
        parts = [self(ids[a:a + batch]).numpy() for a in range(0, len(ids), batch)]
        return np.concatenate(parts) if parts else np.zeros((0, d), np.float32)


def idf_average_reference(ids: list[np.ndarray], embeddings: np.ndarray, idf: np.ndarray) -> np.ndarray:
    """:class:`IdfAverageEncoder` by plain loops in float64."""
    E, w = np.asarray(embeddings, np.float64), np.asarray(idf, np.float64)
    out = np.zeros((len(ids), E.shape[1]))
    for i, x in enumerate(ids):
        if len(x):
            v = sum(w[t] * E[t] for t in x) / sum(w[t] for t in x)
            n = np.linalg.norm(v)
            if n > 1e-12:
                out[i] = v / n
    return out


# ------------------------------------------------------------------------------------------ training
def sample_pairs(clusters: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """(n_clusters_with_≥2_members, 2) item indices: two distinct random members of every cluster with at least
    two, in a random cluster order (one pair per cluster)."""
    clusters = np.asarray(clusters)
    order = np.argsort(clusters, kind="stable")
    c = clusters[order]
    starts = np.flatnonzero(np.r_[True, c[1:] != c[:-1]])
    ends = np.r_[starts[1:], len(c)]
    pairs = []
    for s, e in zip(starts, ends):
        if e - s >= 2:
            a, b = rng.choice(e - s, 2, replace=False)
            pairs.append((order[s + a], order[s + b]))
    pairs = np.array(pairs, np.int64).reshape(-1, 2)
    return pairs[rng.permutation(len(pairs))]


def train_dual_encoder(encoder: IdfAverageEncoder, ids: list[np.ndarray], clusters, *, epochs: int = 10,
                       batch_size: int = 64, lr: float = 5e-3, temperature: float = 0.05, seed: int = 0) -> list[float]:
    """Train ``encoder`` in place with in-batch negatives (symmetric InfoNCE, one pair per cluster per epoch,
    Adam); returns the mean loss of each epoch."""
    from simrepro.kernels.contrastive import tiled_info_nce

    clusters = np.asarray(clusters)
    if len(ids) != clusters.shape[0]:
        raise ValueError(f"{len(ids)} texts but {clusters.shape[0]} cluster labels")
    if batch_size < 2:
        raise ValueError(f"batch_size must be ≥ 2 (in-batch negatives need another pair), got {batch_size}")
    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)
    opt = torch.optim.Adam(encoder.parameters(), lr=lr)
    history = []
    for _ in range(epochs):
        pairs = sample_pairs(clusters, rng)
        if len(pairs) < 2:
            raise ValueError("need at least two clusters with two members each to train with in-batch negatives")
        losses = []
        for a in range(0, len(pairs) - 1, batch_size):
            p = pairs[a:a + batch_size]
            if len(p) < 2:
                continue
            q = encoder([ids[i] for i in p[:, 0]])
            k = encoder([ids[i] for i in p[:, 1]])
            loss = tiled_info_nce(q, k, temperature, symmetric=True, backend="torch")
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(float(loss.detach()))
        history.append(float(np.mean(losses)))
    return history


# ------------------------------------------------------------------------------------------ evaluation
def cluster_qrels(clusters, item_ids=None) -> dict[str, dict[str, int]]:
    """Qrels of the leave-one-out conversion: query i's relevant docs are the *other* members of its cluster
    (a singleton's query has none and is not judged)."""
    clusters = np.asarray(clusters)
    ids = [str(i) for i in (range(len(clusters)) if item_ids is None else item_ids)]
    members: dict[object, list[int]] = {}
    for i, c in enumerate(clusters.tolist()):
        members.setdefault(c, []).append(i)
    return {ids[i]: {ids[j]: 1 for j in members[c] if j != i} for i, c in enumerate(clusters.tolist())
            if len(members[c]) > 1}


def pairwise_qrels(similarity, threshold: float) -> dict[str, dict[str, int]]:
    """Qrels from a symmetric pairwise rating matrix (n, n): item j is relevant to query i ≠ j iff
    ``similarity[i, j] ≥ threshold``; queries with no relevant item are left out."""
    S = np.asarray(similarity, np.float64)
    if S.ndim != 2 or S.shape[0] != S.shape[1]:
        raise ValueError(f"similarity must be square (n, n), got {S.shape}")
    if np.isnan(S).any():
        raise ValueError("similarity contains NaN: fill or drop the unrated pairs first")
    out = {}
    for i in range(S.shape[0]):
        rel = {str(j): 1 for j in np.flatnonzero(S[i] >= threshold) if j != i}
        if rel:
            out[str(i)] = rel
    return out


def drop_self(D, I, k: int) -> tuple[np.ndarray, np.ndarray]:
    """From a leave-one-in result (n, ≥ k+1) whose row i searched the set containing item i, remove item i
    (wherever it sits; if absent, the last column) and keep k columns."""
    D, I = np.asarray(D), np.asarray(I)
    n = I.shape[0]
    if I.shape[1] < k + 1:
        raise ValueError(f"need ≥ k+1 = {k + 1} columns to drop the query itself, got {I.shape[1]}")
    is_self = I == np.arange(n)[:, None]
    keep = ~is_self
    keep[~is_self.any(axis=1), -1] = False
    Dk = D[keep].reshape(n, -1)[:, :k]
    Ik = I[keep].reshape(n, -1)[:, :k]
    return Dk, Ik


def exact_search(X, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Each row of X (n, d) against all other rows by exact inner product (``topk_search``); (n, min(k, n−1))."""
    from simrepro.kernels.topk import topk_search

    X = np.ascontiguousarray(X, np.float32)
    if X.shape[0] < 2:
        raise ValueError("leave-one-out search needs at least two items")
    k = min(k, X.shape[0] - 1)
    D, I = topk_search(X, X, k + 1, metric="dot", device="cpu")
    return drop_self(np.asarray(D), np.asarray(I), k)


def ivf_search(X, k: int, *, nlist: int, nprobe: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Approximate :func:`exact_search`: faiss ``IndexIVFFlat`` (inner product, k-means over X with ``seed``),
    ``nprobe`` of ``nlist`` cells visited. Missing neighbours come back as id −1, score −inf."""
    import faiss

    X = np.ascontiguousarray(X, np.float32)
    n, d = X.shape
    if not 1 <= nlist <= n:
        raise ValueError(f"nlist must be in 1..{n} (the number of items), got {nlist}")
    k = min(k, n - 1)
    index = faiss.IndexIVFFlat(faiss.IndexFlatIP(d), d, nlist, faiss.METRIC_INNER_PRODUCT)
    index.cp.seed = int(seed)
    index.cp.min_points_per_centroid = 1
    index.train(X)
    index.add(X)
    index.nprobe = int(nprobe)
    D, I = index.search(X, k + 1)
    D = np.where(I < 0, -np.inf, D)
    return drop_self(D, I.astype(np.int64), k)


def scores_search(S, k: int, rows=None) -> tuple[np.ndarray, np.ndarray]:
    """Top k of each row of a score matrix S (m, n) with each row's own item removed; ties → lower column id.
    ``rows`` (m,): the item each row is the query of (default ``arange(m)``, S square)."""
    S = np.array(S, dtype=np.float64, copy=True)
    if S.ndim != 2:
        raise ValueError(f"scores must be 2-D (m, n), got {S.shape}")
    m, n = S.shape
    if rows is None:
        if m != n:
            raise ValueError(f"scores must be square (n, n) when rows is not given, got {S.shape}")
        rows = np.arange(m)
    rows = np.asarray(rows)
    if rows.shape != (m,) or rows.dtype.kind not in "iu" or (m and (rows.min() < 0 or rows.max() >= n)):
        raise ValueError(f"rows must be ({m},) integer item ids in 0..{n - 1}, got {rows.shape} {rows.dtype}")
    if np.isnan(S).any():
        raise ValueError("scores contain NaN")
    S[np.arange(m), rows] = -np.inf
    k = min(k, n - 1)
    if m == 0 or k < 1:
        return np.zeros((m, max(k, 0))), np.zeros((m, max(k, 0)), np.int64)
    # exactly k per row: everything above the k-th value, then the lowest ids among those equal to it
    kth = -np.partition(-S, k - 1, axis=1)[:, k - 1:k]
    above = S > kth
    eq = S == kth
    take = above | (eq & (np.cumsum(eq, axis=1) <= (k - above.sum(axis=1, keepdims=True))))
    I = np.nonzero(take)[1].reshape(m, k)                         # ids increasing within each row
    I = np.take_along_axis(I, np.argsort(-np.take_along_axis(S, I, axis=1), axis=1, kind="stable"), axis=1)
    return np.take_along_axis(S, I, axis=1), I.astype(np.int64)


def average_precision_at_k(I, clusters, k: int | None = None, rows=None) -> np.ndarray:
    """Per query (m,): AP cut at k of a leave-one-out result ``I`` (m, ≥ k) over items labelled ``clusters``
    (n,); row i is the query of item ``rows[i]`` (default ``arange(n)``, m = n). Relevant = same cluster, the
    query itself excluded; trec_eval's ``map_cut``: the sum of precision at each relevant rank ≤ k over the
    number of relevant items. Queries of singleton clusters give NaN."""
    I = np.asarray(I)
    c = np.asarray(clusters)
    rows = np.arange(c.shape[0]) if rows is None else np.asarray(rows, np.int64)
    if I.ndim != 2 or I.shape[0] != rows.shape[0]:
        raise ValueError(f"I must be (m, k) with m = {rows.shape[0]} query rows, got {I.shape}")
    k = I.shape[1] if k is None else k
    I = I[:, :k]
    cq = c[rows]
    rel = (I >= 0) & (c[np.where(I >= 0, I, 0)] == cq[:, None])
    labels, counts = np.unique(c, return_counts=True)
    n_rel = counts[np.searchsorted(labels, cq)] - 1
    prec = np.cumsum(rel, axis=1) / np.arange(1, I.shape[1] + 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n_rel > 0, (prec * rel).sum(axis=1) / n_rel, np.nan)


def evaluate_run(qrels, D, I, metrics=("map@100", "mrr@10", "precision@1", "recall@10")) -> dict[str, float]:
    """``metrics.ir.evaluate`` of a top-k result whose row i answers query i and whose ids index items; the
    kernel's order is kept (ties as the search broke them)."""
    from simrepro.metrics import ir

    n = np.asarray(I).shape[0]
    D = np.where(np.isfinite(D), D, -1e30)
    run = ir.run_from_topk(D, np.asarray(I), [str(i) for i in range(n)], keep_order=True)
    return ir.evaluate(qrels, run, metrics)


def bm25_scores(texts: list[str], *, k1: float = 1.5, b: float = 0.75) -> np.ndarray:
    """(n, n) BM25 (bm25s, Lucene idf, English stop words removed) of every text as a query against all."""
    from simrepro.methods.retrieval.bm25 import BM25Index

    toks = tokenize(texts)
    return BM25Index(toks, k1=k1, b=b).scores(toks)


def rank_bm25_scores(texts: list[str], rows=None, *, k1: float = 1.5, b: float = 0.75) -> np.ndarray:
    """The same with the peer ``rank_bm25.BM25Okapi`` (Robertson idf ×(k₁+1), floor 0.25·mean idf), for the
    query texts ``texts[rows]`` only (all by default): (len(rows), n)."""
    from rank_bm25 import BM25Okapi

    toks = tokenize(texts)
    if not toks:
        raise ValueError("the corpus is empty")
    rows = range(len(toks)) if rows is None else rows
    bm = BM25Okapi([t if t else [""] for t in toks], k1=k1, b=b)
    return np.stack([bm.get_scores(toks[i]) for i in rows]) if len(rows) else np.zeros((0, len(toks)))


def tfidf_scores(texts: list[str]) -> np.ndarray:
    """(n, n) cosine of scikit-learn TF-IDF vectors (smoothed idf, l2 rows) over the same tokens as BM25."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    V = TfidfVectorizer(analyzer=lambda t: t).fit_transform(tokenize(texts))
    return (V @ V.T).toarray()
