"""Multi-aspect documents from WordNet 3.0 noun glosses (asset ``wordnet_nouns``), a retrieval task in which one
vector per document must hold several unrelated topics.

Construction (deterministic given ``seed``): keep the noun synsets whose first lemma is unique among all noun
synsets (so a lemma names one definition) and whose definition has ≥ ``min_words`` words; split them by a fixed
permutation (``default_rng(83)``) into two disjoint halves, ``split='tune'`` (for pilot runs that choose
settings) and ``split='eval'`` (for the measurements that judge claims); draw ``n_docs × n_aspects`` synsets of
the split without replacement (``default_rng(seed)``); document i is the definitions (the gloss up to its first
quoted example, i.e. before ``; "``) of synsets ``aspects[i, 0 … n_aspects−1]`` joined by ``". "``. A query is
the first lemma of one aspect synset; its only relevant document is the one holding that definition (a
reverse-dictionary task: the lemma itself is rarely in its own definition, so BM25 has little to match).
:func:`draw_aspect_queries` draws a query set per seed.
"""

from __future__ import annotations

import numpy as np

from simrepro.data._store import open_file


def _lemmas_and_definitions() -> tuple[list[str], list[str]]:
    lemma = open_file("wordnet_nouns", "lemma.txt").read_text(encoding="utf-8").splitlines()
    gloss = open_file("wordnet_nouns", "gloss.txt").read_text(encoding="utf-8").splitlines()
    return lemma, [g.split('; "')[0].strip().rstrip(";").strip() for g in gloss]


def eligible_synsets(lemma: list[str], definition: list[str], min_words: int = 4) -> np.ndarray:
    """Synset ids whose first lemma occurs once among all first lemmas (case-insensitive) and whose definition
    has ≥ ``min_words`` words."""
    low = [x.lower() for x in lemma]
    uniq, counts = np.unique(low, return_counts=True)
    single = set(uniq[counts == 1].tolist())
    return np.array([i for i, (l, d) in enumerate(zip(low, definition))
                     if l in single and len(d.split()) >= min_words], dtype=np.int64)


SPLITS = ("tune", "eval")


def load_multi_aspect_glosses(n_docs: int, n_aspects: int, *, seed: int = 0, split: str = "eval",
                              min_words: int = 4) -> dict:
    """{'doc_text': list[str] (n_docs), 'aspects': (n_docs, n_aspects) int64 synset ids, 'lemma': list[str]
    (all 82,115 first lemmas), 'definition': list[str]} — see the module docstring."""
    if n_docs < 1 or n_aspects < 1:
        raise ValueError(f"n_docs and n_aspects must be ≥ 1, got {n_docs}, {n_aspects}")
    lemma, definition = _lemmas_and_definitions()
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    pool = eligible_synsets(lemma, definition, min_words)
    pool = np.sort(np.random.default_rng(83).permutation(pool)[SPLITS.index(split)::2])
    if n_docs * n_aspects > pool.size:
        raise ValueError(f"n_docs × n_aspects = {n_docs * n_aspects} exceeds the {pool.size} eligible synsets "
                         f"of split {split!r}")
    rng = np.random.default_rng(seed)
    aspects = rng.choice(pool, n_docs * n_aspects, replace=False).reshape(n_docs, n_aspects)
    docs = [". ".join(definition[s] for s in row) for row in aspects]
    return {"doc_text": docs, "aspects": aspects, "lemma": lemma, "definition": definition}


def draw_aspect_queries(aspects: np.ndarray, n_queries: int, *, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(doc index, synset id) of ``n_queries`` queries: distinct documents drawn uniformly, one aspect of each
    drawn uniformly (``default_rng(seed)``)."""
    aspects = np.asarray(aspects)
    if not 1 <= n_queries <= aspects.shape[0]:
        raise ValueError(f"n_queries must be in 1..{aspects.shape[0]} (one query per document), got {n_queries}")
    rng = np.random.default_rng(seed)
    docs = np.sort(rng.choice(aspects.shape[0], n_queries, replace=False))
    which = rng.integers(0, aspects.shape[1], n_queries)
    return docs.astype(np.int64), aspects[docs, which].astype(np.int64)
