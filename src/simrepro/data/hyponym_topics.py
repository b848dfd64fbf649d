"""Topic retrieval with several relevant documents per query, from the WordNet 3.0 noun hierarchy (asset
``wordnet_nouns``): a BEIR-like ad-hoc task (short topic query, many judged-relevant passages) for rerankers and
pseudo-relevance feedback, which a one-relevant-document task cannot exercise.

Construction (deterministic given ``seed``):
- *topics*: noun synsets whose first lemma occurs once among all first lemmas (case-insensitive; so the query
  names one concept) and that have between ``min_children`` and ``max_children`` direct hyponyms (children in
  the asset's first-hypernym tree, ``parent.npy``); split by a fixed permutation (``default_rng(108)``) into
  two disjoint halves, ``split='tune'`` (pilots, training) and ``split='eval'`` (measurements that judge claims);
- *corpus*: ``n_topics`` topics of the split drawn without replacement (``default_rng(seed)``); the documents
  are all their children, each "child lemma: child definition" (the gloss up to its first quoted example), in
  synset order. A child has one parent, so each document belongs to exactly one topic;
- *queries*: a topic's first lemma; its relevant documents (grade 1) are its children. WordNet definitions
  follow genus–differentia, so many children's definitions name the topic's head word (BM25 finds some) and
  the others are related only in meaning. :func:`draw_topic_queries` draws a query set per seed.
"""

from __future__ import annotations

import numpy as np

from simrepro.data._store import load_array, open_file

SPLITS = ("tune", "eval")


def _definitions(gloss: list[str]) -> list[str]:
    return [g.split('; "')[0].strip().rstrip(";").strip() for g in gloss]


def eligible_topics(parent: np.ndarray, lemma: list[str], min_children: int = 5, max_children: int = 30) -> np.ndarray:
    """Synset ids with a unique first lemma (case-insensitive) and ``min_children``–``max_children`` children."""
    if not 1 <= min_children <= max_children:
        raise ValueError(f"need 1 ≤ min_children ≤ max_children, got {min_children}, {max_children}")
    parent = np.asarray(parent, np.int64)
    n_children = np.bincount(parent[parent >= 0], minlength=parent.size)
    low = [x.lower() for x in lemma]
    uniq, counts = np.unique(low, return_counts=True)
    single = set(uniq[counts == 1].tolist())
    ok = (n_children >= min_children) & (n_children <= max_children)
    return np.array([i for i in np.flatnonzero(ok) if low[i] in single], dtype=np.int64)


def load_hyponym_topics(n_topics: int, *, seed: int = 0, split: str = "eval", min_children: int = 5,
                        max_children: int = 30) -> dict:
    """{'doc_text': list[str], 'doc_synset': (n,) int64, 'doc_topic': (n,) int64 index into 'topics',
    'topics': (n_topics,) int64 synset ids, 'query_text': list[str] (n_topics topic lemmas)} — see the module
    docstring."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    if isinstance(n_topics, bool) or not isinstance(n_topics, (int, np.integer)) or n_topics < 1:
        raise ValueError(f"n_topics must be an integer ≥ 1, got {n_topics!r}")
    lemma = open_file("wordnet_nouns", "lemma.txt").read_text(encoding="utf-8").splitlines()
    gloss = open_file("wordnet_nouns", "gloss.txt").read_text(encoding="utf-8").splitlines()
    parent = load_array("wordnet_nouns", "parent.npy")
    pool = eligible_topics(parent, lemma, min_children, max_children)
    pool = np.sort(np.random.default_rng(108).permutation(pool)[SPLITS.index(split)::2])
    if n_topics > pool.size:
        raise ValueError(f"n_topics = {n_topics} exceeds the {pool.size} eligible topics of split {split!r}")
    topics = np.sort(np.random.default_rng(seed).choice(pool, n_topics, replace=False))
    pos = {int(t): i for i, t in enumerate(topics)}
    docs = np.flatnonzero(np.isin(parent, topics))
    definition = _definitions(gloss)
    return {"doc_text": [f"{lemma[s]}: {definition[s]}" for s in docs], "doc_synset": docs.astype(np.int64),
            "doc_topic": np.array([pos[int(parent[s])] for s in docs], np.int64), "topics": topics,
            "query_text": [lemma[t] for t in topics]}


def draw_topic_queries(n_topics: int, n_queries: int, *, seed: int) -> np.ndarray:
    """Sorted indices of ``n_queries`` distinct topics among ``n_topics``, uniformly (``default_rng(seed)``)."""
    if not 1 <= n_queries <= n_topics:
        raise ValueError(f"n_queries must be in 1..{n_topics} (one query per topic), got {n_queries}")
    return np.sort(np.random.default_rng(seed).choice(n_topics, n_queries, replace=False)).astype(np.int64)
