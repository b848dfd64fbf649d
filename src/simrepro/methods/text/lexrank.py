r"""LexRank: sentence salience as eigenvector centrality in a cosine-similarity graph (Erkan & Radev, JAIR 22,
2004, "LexRank: Graph-based Lexical Centrality as Salience in Text Summarization").

Pipeline, with the paper's names:
1. Sentences become tf·idf vectors: x_s[w] = tf_w(s) · idf_w, idf_w = log(N / n_w) over a collection of N
   documents of which n_w contain w.
2. idf-modified-cosine(x, y) = Σ_w tf_w(x) tf_w(y) idf_w² / (‖x‖ ‖y‖): the cosine of the tf·idf vectors, i.e.
   ``pairwise_similarity(tfidf, metric="cosine")``; S (n, n) with S_ii = 1.
3. Graph: *threshold* LexRank keeps the edges S_ij > t with weight 1 (t = 0.1 is a typical choice), *continuous*
   LexRank keeps the weights S_ij. Row-normalising gives a stochastic matrix M.
4. Scores: the stationary distribution p of the random walk with damping d (teleport to a uniform sentence with
   probability d):  p = d/n · 1 + (1 − d) Mᵀ p  (PageRank with α = 1 − d), found by power iteration.
   With d = 0 the chain must be irreducible, else p is not unique (see :func:`lexrank` for the convention).
Baselines: *degree* centrality (the number of sentences with S_ij > t, itself included) and *centroid*
(cosine between a sentence's tf·idf vector and the mean tf·idf vector of the cluster).

Shapes: tf·idf (n sentences, V words) float64; S, M (n, n); scores (n,) summing to 1 (LexRank). Cost: O(n² V)
for S, O(n² · iterations) for the power iteration.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable, Sequence

import numpy as np
import torch
from scipy.sparse.csgraph import connected_components
from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

from simrepro.kernels import pairwise_similarity
from simrepro.kernels._validate import as_matrix

STOPWORDS = frozenset(ENGLISH_STOP_WORDS)
_WORD = re.compile(r"[a-z][a-z0-9'-]*")
_SENTENCE_END = re.compile(r"(?:(?<=[.!?])|(?<=[.!?][\"')\]]))\s+(?=[\"'(\[]?[A-Z0-9])")


def split_sentences(text: str) -> list[str]:
    """Split on '.', '!' or '?' followed by white space and an upper-case letter or digit (a plain rule: it also
    splits after abbreviations such as 'Mr.'); empty pieces are dropped."""
    return [s.strip() for s in _SENTENCE_END.split(" ".join(text.split())) if s.strip()]


def tokenize(sentence: str, stopwords: Iterable[str] = STOPWORDS) -> list[str]:
    """Lower-cased words (a letter, then letters, digits, ' or -), stop words removed."""
    stop = stopwords if isinstance(stopwords, (set, frozenset)) else set(stopwords)
    words = (w.strip("'-") for w in _WORD.findall(sentence.lower()))
    return [w for w in words if w and w not in stop]


def inverse_document_frequency(documents: Sequence[Iterable[str]], *, add_one: bool = False) -> dict[str, float]:
    """idf_w = log(N / n_w) over N token collections (``add_one``: log(N / (1 + n_w)), sumy's variant).

    Raises ValueError for an empty collection."""
    bags = [set(d) for d in documents]
    if not bags:
        raise ValueError("need at least one document to compute idf")
    df = Counter(w for bag in bags for w in bag)
    n = len(bags)
    return {w: math.log(n / (c + 1 if add_one else c)) for w, c in df.items()}


def tfidf_matrix(sentences: Sequence[Sequence[str]], idf: dict[str, float], *, tf_scaling: str = "raw",
                 unseen_idf: float | None = None) -> tuple[np.ndarray, list[str]]:
    """(n, V) tf·idf matrix of tokenised sentences and its vocabulary (sorted).

    ``tf_scaling``: 'raw' counts (the paper) or 'max' (count / the sentence's largest count, sumy's choice).
    Words missing from ``idf`` get ``unseen_idf`` (default: the largest idf in the table, i.e. as rare as the
    rarest known word). A sentence without tokens is a zero row (its cosine with everything is 0).
    """
    if tf_scaling not in ("raw", "max"):
        raise ValueError(f"tf_scaling must be 'raw' or 'max', got {tf_scaling!r}")
    if not idf:
        raise ValueError("idf table is empty; build it with inverse_document_frequency(documents)")
    default = max(idf.values()) if unseen_idf is None else float(unseen_idf)
    vocab = sorted({w for s in sentences for w in s})
    index = {w: j for j, w in enumerate(vocab)}
    out = np.zeros((len(sentences), len(vocab)))
    for i, s in enumerate(sentences):
        counts = Counter(s)
        top = max(counts.values()) if counts else 1
        for w, c in counts.items():
            out[i, index[w]] = (c / top if tf_scaling == "max" else c) * idf.get(w, default)
    return out, vocab


def idf_modified_cosine(tfidf) -> np.ndarray:
    """S (n, n) = cosine of the tf·idf rows (``pairwise_similarity``), with S_ii = 1 even for empty sentences."""
    S = pairwise_similarity(as_matrix(tfidf, "tfidf", dtype=torch.float64), metric="cosine").numpy()
    np.fill_diagonal(S, 1.0)
    return S


def _check_similarity(S) -> np.ndarray:
    S = as_matrix(S, "S", dtype=torch.float64).numpy()
    if S.shape[0] != S.shape[1]:
        raise ValueError(f"S must be a square (n, n) similarity matrix, got shape {S.shape}")
    if (S < 0).any():
        raise ValueError("S has negative entries; LexRank needs non-negative similarities (clip them at 0)")
    return S


def _check_threshold(threshold: float | None) -> None:
    if threshold is not None and not (0.0 <= threshold < 1.0):
        raise ValueError(f"threshold must be None (continuous LexRank) or lie in [0, 1), got {threshold}")


def transition_matrix(S, threshold: float | None = None) -> np.ndarray:
    """Row-stochastic M (n, n): rows of 1[S > t] (threshold) or of S (continuous, ``threshold=None``), each
    divided by its sum. A row without any edge (only possible when S_ii ≤ t) becomes uniform (a dangling node
    jumps anywhere)."""
    S = _check_similarity(S)
    _check_threshold(threshold)
    A = (S > threshold).astype(np.float64) if threshold is not None else S.copy()
    rows = A.sum(1, keepdims=True)
    n = S.shape[0]
    return np.where(rows > 0, A / np.where(rows > 0, rows, 1.0), 1.0 / max(n, 1))


def _power_iteration(M: np.ndarray, damping: float, tol: float, max_iter: int) -> np.ndarray:
    n = M.shape[0]
    p = np.full(n, 1.0 / n)
    Mt = M.T
    for _ in range(max_iter):
        nxt = damping / n + (1.0 - damping) * (Mt @ p)
        nxt /= nxt.sum()
        if np.abs(nxt - p).sum() < tol:
            return nxt
        p = nxt
    raise ValueError(f"power iteration did not converge in {max_iter} iterations (tol {tol}); a periodic chain "
                     f"needs damping > 0")


def lexrank(S, *, threshold: float | None = 0.1, damping: float = 0.15, tol: float = 1e-13,
            max_iter: int = 100_000) -> np.ndarray:
    """LexRank scores p (n,), Σp = 1: power iteration of p ← d/n + (1 − d) Mᵀ p from the uniform vector until
    ‖Δp‖₁ < tol. ``threshold=None`` is continuous LexRank.

    With d = 0 on a graph that falls into several components the stationary distribution is not unique; for a
    symmetric S (an undirected graph, where every component is closed) each component gets its own stationary
    distribution scaled by its share of the sentences (the convention of the PyPI lexrank package). A
    non-symmetric S with d = 0 must be strongly connected, else ValueError. ValueError also when the iteration
    does not converge (a periodic chain without damping)."""
    if not (0.0 <= damping < 1.0):
        raise ValueError(f"damping must lie in [0, 1), got {damping}")
    M = transition_matrix(S, threshold)
    n = M.shape[0]
    if n == 0:
        return np.zeros(0)
    if damping > 0.0:
        return _power_iteration(M, damping, tol, max_iter)
    n_comp, labels = connected_components(M > 0, directed=True, connection="strong")
    if n_comp == 1:
        return _power_iteration(M, 0.0, tol, max_iter)
    S = _check_similarity(S)
    if not np.allclose(S, S.T, rtol=0, atol=1e-12):
        raise ValueError(f"the similarity graph has {n_comp} strongly connected components and S is not "
                         f"symmetric; with damping = 0 LexRank is not unique: use damping > 0")
    p = np.zeros(n)
    for c in range(n_comp):
        idx = np.flatnonzero(labels == c)
        p[idx] = _power_iteration(transition_matrix(S[np.ix_(idx, idx)], threshold), 0.0, tol, max_iter) * idx.size / n
    return p


def lexrank_reference(S, *, threshold: float | None = 0.1, damping: float = 0.15) -> np.ndarray:
    """The same scores by a dense eigen-decomposition: the eigenvector of Gᵀ for eigenvalue 1, G = d/n·11ᵀ +
    (1 − d) M, normalised to sum 1. O(n³); the ground truth for tests."""
    M = transition_matrix(S, threshold)
    n = M.shape[0]
    G = damping / n + (1.0 - damping) * M
    vals, vecs = np.linalg.eig(G.T)
    v = np.real(vecs[:, np.argmin(np.abs(vals - 1.0))])
    return v / v.sum()


def degree_centrality(S, threshold: float = 0.1) -> np.ndarray:
    """deg_i = #{j : S_ij > t} (j = i included), as float64 (n,)."""
    S = _check_similarity(S)
    _check_threshold(threshold)
    if threshold is None:
        raise ValueError("degree centrality needs a threshold in [0, 1)")
    return (S > threshold).sum(1).astype(np.float64)


def centroid_scores(tfidf) -> np.ndarray:
    """cos(x_s, c) with c = the mean tf·idf row (the cluster centroid), (n,)."""
    X = as_matrix(tfidf, "tfidf", dtype=torch.float64)
    if X.shape[0] == 0:
        return np.zeros(0)
    return pairwise_similarity(X, X.mean(0, keepdim=True), metric="cosine").numpy()[:, 0]


def top_sentences(scores, k: int) -> np.ndarray:
    """Indices of the k highest scores, best first; ties go to the earlier sentence."""
    scores = np.asarray(scores, dtype=np.float64)
    if scores.ndim != 1:
        raise ValueError(f"scores must be a vector, got shape {scores.shape}")
    if np.isnan(scores).any():
        raise ValueError("scores contain NaN")
    if not (isinstance(k, (int, np.integer)) and 1 <= k):
        raise ValueError(f"k must be a positive integer, got {k!r}")
    return np.argsort(-scores, kind="stable")[:k]


SYSTEMS = ("threshold", "continuous", "degree", "centroid")


def sentence_scores(sentences: Sequence[str], idf: dict[str, float], system: str = "threshold", *,
                    threshold: float = 0.1, damping: float = 0.15,
                    stopwords: Iterable[str] = STOPWORDS) -> np.ndarray:
    """Salience (n,) of raw sentences under one of ``SYSTEMS``: tokenize → tf·idf → idf-modified cosine →
    threshold LexRank, continuous LexRank, degree centrality (all with ``threshold``/``damping`` as given) or
    centroid. Higher is more central."""
    if system not in SYSTEMS:
        raise ValueError(f"unknown system {system!r}; expected one of {', '.join(SYSTEMS)}")
    X, _ = tfidf_matrix([tokenize(s, stopwords) for s in sentences], idf)
    if system == "centroid":
        return centroid_scores(X)
    S = idf_modified_cosine(X)
    if system == "degree":
        return degree_centrality(S, threshold)
    return lexrank(S, threshold=threshold if system == "threshold" else None, damping=damping)


def rounded_kendall_tau(a, b, decimals: int = 6) -> float:
    """Kendall τ-b of two score vectors after rounding both to ``decimals`` decimals (so that scores equal up to
    a peer's convergence error count as ties rather than being ordered by that error); 1.0 when both are
    constant after rounding (τ-b is undefined there, and the two rankings agree)."""
    from scipy.stats import kendalltau
    a = np.round(np.asarray(a, dtype=np.float64), decimals)
    b = np.round(np.asarray(b, dtype=np.float64), decimals)
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError(f"a and b must be vectors of the same length, got {a.shape} and {b.shape}")
    if np.ptp(a) == 0 and np.ptp(b) == 0:
        return 1.0
    return float(kendalltau(a, b).statistic)


def add_off_topic_documents(clusters: Sequence[Sequence], n_extra: int, rng: np.random.Generator) -> list[list]:
    """An imperfect topical clustering: cluster c gets ``n_extra`` documents drawn without replacement from the
    other clusters (its own documents first, unchanged). ``clusters[c]`` is a list of documents."""
    if not (isinstance(n_extra, (int, np.integer)) and n_extra >= 0):
        raise ValueError(f"n_extra must be a non-negative integer, got {n_extra!r}")
    out = []
    for c, docs in enumerate(clusters):
        others = [(o, j) for o in range(len(clusters)) if o != c for j in range(len(clusters[o]))]
        if n_extra > len(others):
            raise ValueError(f"cluster {c}: {n_extra} extra documents requested, only {len(others)} elsewhere")
        picks = rng.choice(len(others), size=n_extra, replace=False) if n_extra else []
        out.append(list(docs) + [clusters[others[p][0]][others[p][1]] for p in picks])
    return out
