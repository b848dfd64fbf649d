r"""BM25 (Robertson & Zaragoza 2009), the lexical baseline of every retrieval table, through ``bm25s``.

For a query Q (a bag of terms) and a document D of length |D| tokens (corpus of N documents, mean length
avgdl, df(t) documents containing t, tf(t, D) occurrences of t in D):

  BM25(Q, D) = Σ_{t ∈ Q} idf(t) · tf / (tf + k₁ · (1 − b + b · |D| / avgdl))

- ``lucene`` (bm25s's default; Lucene ≥ 8):   idf(t) = ln(1 + (N − df + 0.5) / (df + 0.5))
- ``robertson``: idf(t) = ln((N − df + 0.5) / (df + 0.5)), clamped at 0 by bm25s. ``rank_bm25.BM25Okapi``
  multiplies the term by (k₁ + 1) and floors a negative idf at 0.25 × the mean idf instead; where every idf is
  positive its scores are (k₁ + 1) × robertson's, the same ranking.
A query term repeated counts once per occurrence (as in both peers). Terms come from :func:`tokenize`:
lower-cased ``\w\w+`` words minus bm25s's English stop words (no stemming).
Costs: indexing O(total tokens); a query O(Σ_t df(t)) on the sparse index; the reference is O(n_q · N · |Q|).
"""

from __future__ import annotations

import math
import re
from collections import Counter

import numpy as np

METHODS = ("lucene", "robertson")
_WORD = re.compile(r"(?u)\b\w\w+\b")


def tokenize(texts: list[str], *, stopwords: bool = True) -> list[list[str]]:
    """Lower-cased words of ≥ 2 characters per text, minus bm25s's English stop words when ``stopwords``."""
    if isinstance(texts, str) or not all(isinstance(t, str) for t in texts):
        raise TypeError("texts must be a list of str (wrap a single text as [text])")
    stop: frozenset[str] = frozenset()
    if stopwords:
        from bm25s.stopwords import STOPWORDS_EN
        stop = frozenset(STOPWORDS_EN)
    return [[w for w in _WORD.findall(t.lower()) if w not in stop] for t in texts]


def _check(corpus_tokens, method: str, k1: float, b: float) -> None:
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    if not corpus_tokens:
        raise ValueError("the corpus is empty: BM25 needs at least one document")
    if not sum(len(d) for d in corpus_tokens):
        raise ValueError("every document is empty after tokenisation: BM25 needs at least one term")
    if k1 < 0 or not 0 <= b <= 1:
        raise ValueError(f"need k1 ≥ 0 and 0 ≤ b ≤ 1, got k1={k1}, b={b}")


class BM25Index:
    """A bm25s index over ``corpus_tokens`` (lists of terms, e.g. from :func:`tokenize`)."""

    def __init__(self, corpus_tokens: list[list[str]], *, k1: float = 1.5, b: float = 0.75, method: str = "lucene"):
        import bm25s

        _check(corpus_tokens, method, k1, b)
        self.n_docs = len(corpus_tokens)
        self._bm25 = bm25s.BM25(k1=k1, b=b, method=method)
        self._bm25.index(corpus_tokens, show_progress=False)
        self._vocab = self._bm25.vocab_dict

    def scores(self, query_tokens: list[list[str]]) -> np.ndarray:
        """(n_q, N) float32 BM25 scores; terms outside the corpus vocabulary score 0."""
        out = np.zeros((len(query_tokens), self.n_docs), np.float32)
        for i, q in enumerate(query_tokens):
            ids = [self._vocab[t] for t in q if t in self._vocab]
            if ids:
                out[i] = self._bm25.get_scores_from_ids(ids)
        return out

    def search(self, query_tokens: list[list[str]], k: int = 10):
        """``D, I`` (n_q, min(k, N)): the best documents by score, ties → lower document index."""
        if k < 1:
            raise ValueError(f"k must be ≥ 1, got {k}")
        S = self.scores(query_tokens)
        k = min(k, self.n_docs)
        I = np.argsort(-S, axis=1, kind="stable")[:, :k]
        return np.take_along_axis(S, I, axis=1), I.astype(np.int64)


def bm25_scores_reference(corpus_tokens: list[list[str]], query_tokens: list[list[str]], *, k1: float = 1.5,
                          b: float = 0.75, method: str = "lucene") -> np.ndarray:
    """(n_q, N) float64 BM25 scores by the formula above, plain Python loops."""
    _check(corpus_tokens, method, k1, b)
    N = len(corpus_tokens)
    df = Counter(t for d in corpus_tokens for t in set(d))
    avgdl = sum(len(d) for d in corpus_tokens) / N
    tfs = [Counter(d) for d in corpus_tokens]

    def idf(t: str) -> float:
        if method == "lucene":
            return math.log(1 + (N - df[t] + 0.5) / (df[t] + 0.5))
        return math.log(max(1.0, (N - df[t] + 0.5) / (df[t] + 0.5)))

    out = np.zeros((len(query_tokens), N))
    for i, q in enumerate(query_tokens):
        for j, d in enumerate(corpus_tokens):
            for t in q:
                tf = tfs[j][t]
                if tf:
                    out[i, j] += idf(t) * tf / (tf + k1 * (1 - b + b * len(d) / avgdl))
    return out
