r"""Prod2Vec and Meta-Prod2Vec item embeddings (Vasile, Smirnova & Conneau, RecSys 2016) with gensim's skip-gram.

Sequences. Each user's training interactions ordered by time form a sequence s = (s_1, …, s_n) of item indices
(:func:`user_sequences`). Items and metadata values (genres, release decade) are tokens of one vocabulary:
items ``"i<index>"``, metadata ``"m:<value>"``; M(i) is the (possibly empty) set of metadata tokens of item i.

Prod2Vec (P2V). Skip-gram with negative sampling (SGNS) over the item sequences with a window w:

    L_P2V = L_{J|I} = − Σ_s Σ_p Σ_{0<|q−p|≤w} log σ(u_{s_q}·v_{s_p}) + negatives,

v = input ("word") vectors, u = output ("context") vectors; gensim ``Word2Vec(sg=1, hs=0)``.

Meta-Prod2Vec (MP2V). The paper adds four λ-weighted terms, all on one shared token space:

    L_MP2V = L_{J|I} + λ (L_{M|I} + L_{J|M} + L_{M|M} + L_{I|M}),

for each ordered position pair (p, q), 0 < |q − p| ≤ w, input item i = s_p, context item j = s_q:
L_{M|I}: input i, output m ∈ M(j) (the context item's metadata given the item);
L_{J|M}: input m ∈ M(i), output j (context items given the item's metadata);
L_{M|M}: input m ∈ M(i), output m' ∈ M(j) (context metadata given the item's metadata);
and per position p, L_{I|M}: input m ∈ M(i), output i (the item given its own metadata).

gensim's skip-gram trains every in-window pair in both directions, so each extra pair is fed as a two-token
sentence [a, b] (which trains a→b and b→a). Over ordered (p, q) the sentences [s_p, m], m ∈ M(s_q), give every
L_{M|I} pair and, reversed, every L_{J|M} pair once; the sentences [m, m'], m ∈ M(s_p), m' ∈ M(s_q), p < q, give
every L_{M|M} pair once; the sentences [s_p, m], m ∈ M(s_p), give L_{I|M} once — and also the reverse pair
(own metadata given the item), which the paper does not list: the one deviation this construction makes.
λ ∈ [0, 1] weights the extra terms *in expectation*: each extra sentence is kept independently with
probability λ (seeded), so E[loss] = L_{J|I} + λ·(…). λ = 0 gives exactly the P2V corpus.

Determinism. ``workers=1``, ``seed``, ``sample=0`` (no frequent-token down-sampling, which would otherwise drop
most genre tokens and change the loss), ``shrink_windows=False`` (exact window w, as in the pair construction)
and ``hashfxn`` = :func:`stable_hash` (gensim's default is Python's ``hash``, salted per process by
PYTHONHASHSEED): two fits with the same inputs and seed give bit-identical vectors in any process.

Recommendation. Next-item scores of user u: cosine(v_{last(u)}, v_i) for every item i (factors (P, Q) for
:mod:`~simrepro.methods.recommendation.evaluation`). Items absent from the training corpus have no P2V vector
(zero row: score 0); MP2V represents them by the mean of their metadata tokens' vectors (the paper's cold-start
use of metadata). Complexity: corpus O(n·w·(1 + |M|²)) tokens; ranking through ``topk_search``.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


def stable_hash(token: str) -> int:
    """A process-independent 64-bit hash of a string (first 8 bytes of its BLAKE2b digest), for gensim's
    ``hashfxn``; unlike ``hash`` it does not depend on PYTHONHASHSEED."""
    return int.from_bytes(hashlib.blake2b(str(token).encode("utf-8"), digest_size=8).digest(), "little")


def item_token(i: int) -> str:
    return f"i{int(i)}"


def meta_token(value: str) -> str:
    return f"m:{value}"


def user_sequences(users: np.ndarray, items: np.ndarray, timestamps: np.ndarray) -> list[np.ndarray]:
    """Per user (in increasing user index, users without rows skipped), the item indices ordered by timestamp
    (ties by row order). Arrays (n,) of one length."""
    users, items, timestamps = (np.asarray(a) for a in (users, items, timestamps))
    if not (len(users) == len(items) == len(timestamps)):
        raise ValueError("users, items and timestamps must have one length")
    if len(users) == 0:
        return []
    order = np.lexsort((np.arange(len(users)), timestamps, users))
    u, it = users[order], items[order]
    cuts = np.flatnonzero(np.diff(u)) + 1
    return [x.astype(np.int64) for x in np.split(it, cuts)]


def item_metadata(genres: Sequence[str], years: Sequence | None = None, sep: str | None = "|") -> list[list[str]]:
    """Metadata tokens per item: one per genre in ``genres[i]`` (``sep``-separated; None = whitespace; '' or
    '(no genres listed)' = none) and, when ``years`` is given, the release decade (``"decade:1990"``; a missing
    or non-numeric year gives none)."""
    out = []
    for n, g in enumerate(genres):
        g = "" if g is None or (isinstance(g, float) and np.isnan(g)) else str(g)
        vals = sorted({x for x in (g.split(sep) if sep else g.split()) if x and x != "(no genres listed)"})
        toks = [meta_token(f"genre:{x}") for x in vals]
        if years is not None:
            y = years[n]
            try:
                y = int(float(y))
                toks.append(meta_token(f"decade:{10 * (y // 10)}"))
            except (TypeError, ValueError):
                pass
        out.append(toks)
    return out


def year_from_title(title: str):
    """The last '(YYYY)' in a MovieLens title, or None."""
    m = re.findall(r"\((\d{4})\)", str(title))
    return int(m[-1]) if m else None


@dataclass
class Corpus:
    """Sentences for gensim plus the pair counts of each loss term (before λ-subsampling: ``n_*``; kept:
    ``kept_*``)."""
    sentences: list[list[str]]
    counts: dict


def _check_window(window: int):
    if int(window) != window or window < 1:
        raise ValueError(f"window must be a positive integer, got {window}")


def build_corpus(sequences: Sequence[np.ndarray], metadata: Sequence[Sequence[str]] | None = None, *,
                 window: int = 3, lam: float = 0.0, seed: int = 0) -> Corpus:
    """The P2V corpus (one sentence of item tokens per sequence) and, when ``metadata`` is given and
    ``lam`` > 0, the MP2V extra two-token sentences (module docstring), each kept with probability ``lam``.

    ``metadata[i]``: metadata tokens of item i (indexable by every item index in ``sequences``)."""
    _check_window(window)
    if not 0.0 <= lam <= 1.0 or not np.isfinite(lam):
        raise ValueError(f"lam must be in [0, 1] (it is the keep probability of the extra pairs), got {lam}")
    if lam > 0 and metadata is None:
        raise ValueError("lam > 0 needs item metadata")
    sentences = [[item_token(i) for i in s] for s in sequences if len(s)]
    counts = {"n_item_tokens": int(sum(len(s) for s in sentences))}
    if metadata is None or lam == 0:
        return Corpus(sentences, counts)
    rng = np.random.default_rng(seed)
    extra_mi, extra_mm, extra_im = [], [], []
    for s in sequences:
        n = len(s)
        for p in range(n):
            i = int(s[p])
            ti = item_token(i)
            mi = metadata[i]
            extra_im.extend([ti, m] for m in mi)                                   # L_{I|M} (+ its reverse)
            for q in range(max(0, p - window), min(n, p + window + 1)):
                if q == p:
                    continue
                mj = metadata[int(s[q])]
                extra_mi.extend([ti, m] for m in mj)                               # L_{M|I}; reversed: L_{J|M}
                if q > p:
                    extra_mm.extend([a, b] for a in mi for b in mj)                # L_{M|M}, both directions
    counts.update(n_mi=len(extra_mi), n_mm=len(extra_mm), n_im=len(extra_im))
    for name, extra in (("mi", extra_mi), ("mm", extra_mm), ("im", extra_im)):
        keep = rng.random(len(extra)) < lam
        kept = [x for x, k in zip(extra, keep) if k]
        counts[f"kept_{name}"] = len(kept)
        sentences.extend(kept)
    # one seeded shuffle of the extra sentences' positions so SGD does not see all meta pairs last
    n_items = len([s for s in sequences if len(s)])
    head, tail = sentences[:n_items], sentences[n_items:]
    perm = rng.permutation(len(head) + len(tail))
    allsent = head + tail
    return Corpus([allsent[j] for j in perm], counts)


def skipgram_pairs(sentence: Sequence[str], window: int) -> list[tuple[str, str]]:
    """Reference: the (input, output) pairs skip-gram with an exact window trains on one sentence."""
    _check_window(window)
    n = len(sentence)
    return [(sentence[p], sentence[q]) for p in range(n)
            for q in range(max(0, p - window), min(n, p + window + 1)) if q != p]


def mp2v_pairs_reference(sequences: Sequence[np.ndarray], metadata: Sequence[Sequence[str]], window: int) -> dict:
    """Reference: the multiset of (input, output) pairs of each MP2V term, straight from the definitions
    (Counter per term: 'J|I', 'M|I', 'J|M', 'M|M', 'I|M')."""
    from collections import Counter
    _check_window(window)
    terms = {k: Counter() for k in ("J|I", "M|I", "J|M", "M|M", "I|M")}
    for s in sequences:
        n = len(s)
        for p in range(n):
            i = int(s[p])
            for m in metadata[i]:
                terms["I|M"][(m, item_token(i))] += 1
            for q in range(max(0, p - window), min(n, p + window + 1)):
                if q == p:
                    continue
                j = int(s[q])
                terms["J|I"][(item_token(i), item_token(j))] += 1
                for m in metadata[j]:
                    terms["M|I"][(item_token(i), m)] += 1
                for m in metadata[i]:
                    terms["J|M"][(m, item_token(j))] += 1
                    for m2 in metadata[j]:
                        terms["M|M"][(m, m2)] += 1
    return terms


@dataclass
class Embedding:
    """Item vectors (n_items, d) float64 (input vectors; zero rows = no vector) and the gensim model."""
    vectors: np.ndarray
    has_vector: np.ndarray
    model: object


def fit_embeddings(corpus: Corpus, n_items: int, metadata: Sequence[Sequence[str]] | None = None, *,
                   dim: int = 32, window: int = 3, negative: int = 5, epochs: int = 5, alpha: float = 0.025,
                   min_alpha: float = 0.0001, seed: int = 0, cold_from_metadata: bool = False) -> Embedding:
    """gensim 4 Word2Vec skip-gram (sg=1, negative sampling, workers=1, sample=0, exact window, stable hash)
    on ``corpus``; returns the item input vectors. ``cold_from_metadata``: items with no vector get the mean
    of their metadata tokens' vectors (those present), else stay zero."""
    from gensim.models import Word2Vec
    _check_window(window)
    if dim < 1 or negative < 1 or epochs < 1:
        raise ValueError("dim, negative and epochs must be ≥ 1")
    if not corpus.sentences:
        raise ValueError("empty corpus: no training sequence")
    model = Word2Vec(sentences=corpus.sentences, vector_size=int(dim), window=int(window), min_count=1, sg=1, hs=0,
                     negative=int(negative), sample=0, workers=1, seed=int(seed), epochs=int(epochs), alpha=alpha,
                     min_alpha=min_alpha, hashfxn=stable_hash, shrink_windows=False, sorted_vocab=1)
    wv = model.wv
    V = np.zeros((n_items, int(dim)))
    has = np.zeros(n_items, bool)
    for i in range(n_items):
        t = item_token(i)
        if t in wv.key_to_index:
            V[i] = wv[t]
            has[i] = True
    if cold_from_metadata and metadata is not None:
        for i in np.flatnonzero(~has):
            toks = [m for m in metadata[i] if m in wv.key_to_index]
            if toks:
                V[i] = np.mean([wv[m] for m in toks], axis=0)
    if not np.isfinite(V).all():
        raise ValueError("training diverged (NaN vectors): lower alpha")
    return Embedding(V, has, model)


def next_item_factors(vectors: np.ndarray, last_items: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Cosine next-item scores as factors: P[u] = v_{last(u)}/‖·‖, Q[i] = v_i/‖·‖ (zero rows stay zero);
    ``last_items`` (U,) item index per user (−1 = no history → zero row)."""
    V = np.asarray(vectors, np.float64)
    if V.ndim != 2 or not np.isfinite(V).all():
        raise ValueError("vectors must be a finite (n_items, d) matrix")
    last = np.asarray(last_items, np.int64)
    if (last >= len(V)).any() or (last < -1).any():
        raise ValueError("last_items must be item indices in [0, n_items) or −1")
    nrm = np.linalg.norm(V, axis=1, keepdims=True)
    Q = V / np.where(nrm > 0, nrm, 1.0)
    P = np.where((last >= 0)[:, None], Q[np.maximum(last, 0)], 0.0)
    return P, Q


def last_training_items(n_users: int, users: np.ndarray, items: np.ndarray, timestamps: np.ndarray) -> np.ndarray:
    """(n_users,) the item of each user's latest training interaction (ties: the later row), −1 if none."""
    users, items, timestamps = (np.asarray(a) for a in (users, items, timestamps))
    out = np.full(n_users, -1, np.int64)
    order = np.lexsort((np.arange(len(users)), timestamps, users))
    out[users[order]] = items[order]                                               # later rows overwrite
    return out


def popularity_groups(counts: np.ndarray, tail_fraction: float = 0.5, cold_max: int = 5) -> dict:
    """Item groups by training count c_i: 'tail' = the ⌈f·I⁺⌉ least popular of the I⁺ items with c_i > 0 plus
    the items with c_i = 0 (ties at the cut by the count threshold: c_i ≤ c at the cut), 'head' = the rest,
    'cold' = c_i < ``cold_max``. Returns boolean masks (I,)."""
    c = np.asarray(counts)
    if not 0 < tail_fraction < 1:
        raise ValueError(f"tail_fraction must be in (0, 1), got {tail_fraction}")
    pos = np.sort(c[c > 0])
    if len(pos) == 0:
        raise ValueError("no item has a training interaction")
    cut = pos[int(np.ceil(tail_fraction * len(pos))) - 1]
    tail = c <= cut
    return {"tail": tail, "head": ~tail, "cold": c < cold_max}
