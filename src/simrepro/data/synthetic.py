"""Seeded synthetic data sets, one function per generator; each returns its data together with its ground truth.

Generators are deterministic given ``seed`` (numpy ``default_rng``) and never touch the asset store.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def _check_positive_ints(**kw) -> None:
    for name, v in kw.items():
        if not (isinstance(v, (int, np.integer)) and v >= 1):
            raise ValueError(f"{name} must be a positive integer, got {v!r}")


def _check_probability(name: str, v: float) -> None:
    if not (0.0 <= v <= 1.0):
        raise ValueError(f"{name} must lie in [0, 1], got {v}")


@dataclass(frozen=True)
class ClusteredInteractions:
    """Binary user × item matrix with planted item clusters.

    X (n_users, n_items) float64 ∈ {0, 1}; item_cluster (n_items,) and user_cluster (n_users,) int labels (items
    are sorted by cluster, so heatmaps in item order show the blocks); item_popularity (n_items,) the power-law
    weights that drive how often each item is consumed (sum 1)."""

    X: np.ndarray
    item_cluster: np.ndarray
    user_cluster: np.ndarray
    item_popularity: np.ndarray


def clustered_interactions(n_users: int = 2000, n_items: int = 200, n_clusters: int = 5, *,
                           popularity_exponent: float = 1.0, mean_items_per_user: float = 10.0,
                           off_cluster: float = 0.1, seed: int = 0) -> ClusteredInteractions:
    """Users consume items mostly from their own cluster, popular items more often.

    Item i has popularity πᵢ ∝ rᵢ^(−a) (rᵢ a random rank 1..n_items, a = ``popularity_exponent``: a power law);
    user u belongs to cluster c(u) and draws its interactions with probability
        P(u, i) = 1 − exp(−m · πᵢ · aff(u, i) / Z_c(u)),   aff = 1 if c(u) = c(i) else ``off_cluster``,
    Z_c = Σᵢ πᵢ·aff, so that a user expects about m = ``mean_items_per_user`` items (fewer when rates saturate).
    Items are numbered cluster by cluster (cluster sizes differ by at most one).
    """
    _check_positive_ints(n_users=n_users, n_items=n_items, n_clusters=n_clusters)
    if n_clusters > n_items:
        raise ValueError(f"n_clusters ({n_clusters}) cannot exceed n_items ({n_items})")
    _check_probability("off_cluster", off_cluster)
    if not (popularity_exponent >= 0 and mean_items_per_user > 0):
        raise ValueError("popularity_exponent must be ≥ 0 and mean_items_per_user > 0")
    rng = np.random.default_rng(seed)
    item_cluster = np.arange(n_items) * n_clusters // n_items          # sorted, sizes differ by ≤ 1
    ranks = rng.permutation(n_items) + 1.0
    pop = ranks ** (-popularity_exponent)
    pop /= pop.sum()
    user_cluster = rng.integers(0, n_clusters, size=n_users)
    X = np.zeros((n_users, n_items))
    for c in range(n_clusters):
        users = np.flatnonzero(user_cluster == c)
        aff = np.where(item_cluster == c, 1.0, off_cluster)
        rate = pop * aff
        rate *= mean_items_per_user / rate.sum()
        prob = 1.0 - np.exp(-rate)
        X[users] = (rng.random((len(users), n_items)) < prob[None, :]).astype(np.float64)
    return ClusteredInteractions(X=X, item_cluster=item_cluster, user_cluster=user_cluster, item_popularity=pop)


@dataclass(frozen=True)
class SummaryClusters:
    """Multi-document clusters of sentences around a hidden central statement, with the statement as reference.

    clusters[c][d] is the list of sentences (strings) of document d of cluster c; references[c] is the central
    statement of cluster c (not itself among the sentences: an abstract, like a human model summary);
    salience[c][d][s] ∈ [0, 1] is the share of the central statement's words that sentence s carries."""

    clusters: list[list[list[str]]]
    references: list[str]
    salience: list[list[list[float]]]


def planted_summary_clusters(n_clusters: int = 10, docs_per_cluster: int = 8, sentences_per_doc: int = 10, *,
                             topic_words: int = 40, central_len: int = 10, background_words: int = 2000,
                             p_paraphrase: float = 0.3, keep: float = 0.5, seed: int = 0) -> SummaryClusters:
    """Each cluster c has a topic vocabulary T_c ("c3t17"…) and a central statement of ``central_len`` distinct
    words of T_c. Every sentence mixes 4–10 background words (Zipf-distributed over ``background_words``
    "b…" words, shared by all clusters) with either, with probability ``p_paraphrase``, a *paraphrase* (each
    central word kept with probability ``keep``, at least one, plus 0–2 other topic words) or an *elaboration*
    (2–6 topic words of T_c drawn uniformly, central ones included); word order is shuffled. The ground-truth
    salience of a sentence is the share of central words it contains."""
    _check_positive_ints(n_clusters=n_clusters, docs_per_cluster=docs_per_cluster,
                         sentences_per_doc=sentences_per_doc, topic_words=topic_words, central_len=central_len,
                         background_words=background_words)
    if central_len > topic_words:
        raise ValueError(f"central_len ({central_len}) cannot exceed topic_words ({topic_words})")
    _check_probability("p_paraphrase", p_paraphrase)
    _check_probability("keep", keep)
    rng = np.random.default_rng(seed)
    bg = np.array([f"b{j}" for j in range(background_words)])
    zipf = 1.0 / np.arange(1, background_words + 1)
    zipf /= zipf.sum()
    clusters, references, salience = [], [], []
    for c in range(n_clusters):
        topic = np.array([f"c{c}t{j}" for j in range(topic_words)])
        central_idx = rng.choice(topic_words, size=central_len, replace=False)
        central = set(topic[central_idx])
        others = np.setdiff1d(np.arange(topic_words), central_idx)
        references.append(" ".join(topic[central_idx]))
        docs, sal = [], []
        for _ in range(docs_per_cluster):
            sents, s_sal = [], []
            for _ in range(sentences_per_doc):
                if rng.random() < p_paraphrase:
                    kept = central_idx[rng.random(central_len) < keep]
                    if kept.size == 0:
                        kept = central_idx[rng.integers(central_len, size=1)]
                    extra = rng.choice(others, size=min(len(others), int(rng.integers(0, 3))), replace=False)
                    words = list(topic[kept]) + list(topic[extra])
                else:
                    words = list(topic[rng.choice(topic_words, size=int(rng.integers(2, 7)), replace=False)])
                words += list(rng.choice(bg, size=int(rng.integers(4, 11)), p=zipf))
                rng.shuffle(words)
                sents.append(" ".join(words))
                s_sal.append(len(central & set(words)) / central_len)
            docs.append(sents)
            sal.append(s_sal)
        clusters.append(docs)
        salience.append(sal)
    return SummaryClusters(clusters=clusters, references=references, salience=salience)


@dataclass(frozen=True)
class MultiVectorClouds:
    """Clustered multi-vector documents and queries drawn from them (unit vectors throughout).

    documents[i] (mᵢ, d) and queries[j] (m_q, d) float32; source (n_queries,) the document each query was drawn
    from; doc_topics (n_docs, topics_per_doc) the topics of each document; centres (n_topics, d)."""

    documents: list
    queries: list
    source: np.ndarray
    doc_topics: np.ndarray
    centres: np.ndarray


def multivector_clouds(n_docs: int = 500, n_queries: int = 50, dim: int = 64, *, n_topics: int = 32,
                       topics_per_doc: int = 3, doc_tokens: tuple[int, int] = (16, 48), query_tokens: int = 16,
                       spread: float = 0.6, query_noise: float = 0.3, seed: int = 0) -> MultiVectorClouds:
    """Topic centres c_t uniform on the sphere; document i picks ``topics_per_doc`` distinct topics and
    mᵢ ~ U{doc_tokens} tokens, each normalize(c_t + spread·z/√d) for one of its topics t, z ~ N(0, I_d).
    Query j picks a source document s (uniformly) and ``query_tokens`` of its tokens (without replacement when
    it has enough), each perturbed as normalize(p + query_noise·z/√d): query tokens lie near a subset of the
    source's tokens, so the source is (usually) the query's Chamfer nearest neighbour."""
    _check_positive_ints(n_docs=n_docs, n_queries=n_queries, dim=dim, n_topics=n_topics,
                         topics_per_doc=topics_per_doc, query_tokens=query_tokens)
    lo, hi = doc_tokens
    if not 1 <= lo <= hi:
        raise ValueError(f"doc_tokens must be (lo, hi) with 1 ≤ lo ≤ hi, got {doc_tokens}")
    if topics_per_doc > n_topics:
        raise ValueError(f"topics_per_doc ({topics_per_doc}) cannot exceed n_topics ({n_topics})")
    if not (spread >= 0 and query_noise >= 0):
        raise ValueError("spread and query_noise must be ≥ 0")
    rng = np.random.default_rng(seed)

    def unit(x):
        return (x / np.linalg.norm(x, axis=-1, keepdims=True)).astype(np.float32)

    centres = unit(rng.standard_normal((n_topics, dim)))
    doc_topics = np.stack([rng.choice(n_topics, topics_per_doc, replace=False) for _ in range(n_docs)])
    docs = []
    for i in range(n_docs):
        m = int(rng.integers(lo, hi + 1))
        t = doc_topics[i, rng.integers(0, topics_per_doc, m)]
        docs.append(unit(centres[t] + spread * rng.standard_normal((m, dim)) / np.sqrt(dim)))
    source = rng.integers(0, n_docs, n_queries)
    queries = []
    for s in source:
        p = docs[s]
        pick = rng.choice(p.shape[0], query_tokens, replace=p.shape[0] < query_tokens)
        queries.append(unit(p[pick] + query_noise * rng.standard_normal((query_tokens, dim)) / np.sqrt(dim)))
    return MultiVectorClouds(documents=docs, queries=queries, source=source, doc_topics=doc_topics,
                             centres=centres)


@dataclass
class OODGaussian:
    """Database ``X`` (n, D), out-of-distribution queries ``Q_ood`` and in-distribution queries ``Q_id`` (m, D),
    all float32; ``rotation`` (D, D) orthogonal; ``var_x``/``var_q`` (D,) the per-axis variances before it."""

    X: np.ndarray
    Q_ood: np.ndarray
    Q_id: np.ndarray
    rotation: np.ndarray
    var_x: np.ndarray
    var_q: np.ndarray


def ood_gaussian(n: int = 20000, n_queries: int = 2000, dim: int = 256, *, decay: float = 1.0,
                 seed: int = 0) -> OODGaussian:
    """X ~ N(0, R diag(λ) Rᵀ) with λᵢ = i^(−decay) (i = 1..D, a decaying spectrum), R a Haar-random rotation;
    ID queries from the same law; OOD queries ~ N(0, R diag(λ reversed) Rᵀ): their variance sits in the
    database's low-variance directions, so a database-only projection (PCA) keeps the directions the queries
    barely use (the setting of LeanVec-OOD)."""
    _check_positive_ints(n=n, n_queries=n_queries, dim=dim)
    if not decay >= 0:
        raise ValueError(f"decay must be ≥ 0, got {decay}")
    rng = np.random.default_rng(seed)
    R, r = np.linalg.qr(rng.standard_normal((dim, dim)))
    R = R * np.sign(np.diag(r))
    lam = np.arange(1, dim + 1, dtype=np.float64) ** -decay
    mu = lam[::-1].copy()

    def draw(m, var):
        return ((rng.standard_normal((m, dim)) * np.sqrt(var)) @ R.T).astype(np.float32)

    return OODGaussian(X=draw(n, lam), Q_ood=draw(n_queries, mu), Q_id=draw(n_queries, lam), rotation=R,
                       var_x=lam, var_q=mu)
